// SPDX-License-Identifier: Apache-2.0
// An incremental HTTP/1.1 response parser (RFC 9112) for the authorize request and the
// WebSocket upgrade. Bytes can arrive in any split; memory is bounded by maxHeaderBytes and
// maxBodyBytes; every length is parsed with overflow checks. The first error is sticky.

public struct HTTPResponseHead: Sendable {
    public var status: Int
    public var reason: String
    /// "HTTP/1.1" or "HTTP/1.0".
    public var version: String
    /// In arrival order, values trimmed of surrounding whitespace.
    public var headers: [(name: String, value: String)]

    public init(status: Int, reason: String, version: String, headers: [(name: String, value: String)]) {
        self.status = status
        self.reason = reason
        self.version = version
        self.headers = headers
    }

    /// The first value of the header `name` (ASCII case-insensitive).
    public func header(_ name: String) -> String? {
        for field in headers where httpNameEqual(field.name, name) { return field.value }
        return nil
    }

    /// Every value of the header `name` (ASCII case-insensitive), in order.
    public func headers(_ name: String) -> [String] {
        headers.filter { httpNameEqual($0.name, name) }.map { $0.value }
    }
}

public struct HTTPParseError: Error, Equatable, Sendable, CustomStringConvertible {
    /// What went wrong, for the caller to map (HTTPRequest: `.tooLarge` is LC_ERR_TOO_LARGE).
    public enum Reason: Sendable, Equatable {
        /// A limit was exceeded: the head, the body, the trailers, or a declared length.
        case tooLarge
        /// Bytes that are not an HTTP/1.x response.
        case malformed
        /// The connection ended before the response did.
        case truncated
    }
    public var reason: Reason
    public var message: String
    public init(_ reason: Reason = .malformed, message: String) {
        self.reason = reason
        self.message = message
    }
    public var description: String { "HTTP parse error: \(message)" }
}

/// ASCII case-insensitive equality (header names, tokens).
private func httpNameEqual(_ a: String, _ b: String) -> Bool {
    var i = a.utf8.makeIterator()
    var j = b.utf8.makeIterator()
    while true {
        switch (i.next(), j.next()) {
        case (nil, nil): return true
        case (let x?, let y?):
            if x != y && httpLower(x) != httpLower(y) { return false }
        default: return false
        }
    }
}

@inline(__always)
private func httpLower(_ c: UInt8) -> UInt8 {
    (c >= 0x41 && c <= 0x5A) ? c | 0x20 : c
}

public struct HTTPResponseParser: Sendable {
    public enum Mode: Sendable, Equatable {
        /// Parse the head and the body.
        case full
        /// Stop after the head of the final response; later bytes go to `leftover`
        /// (the WebSocket upgrade, where frames may follow the head in the same read).
        case headOnly
    }

    private enum State: Sendable, Equatable {
        case head
        case fixedBody(remaining: Int)
        case bodyUntilEOF
        case chunkSizeLine
        case chunkData(remaining: Int)
        case chunkDataEnd(sawCR: Bool)
        case trailers
        case complete
    }

    public let mode: Mode
    public let maxHeaderBytes: Int
    public let maxBodyBytes: Int
    public let isHeadRequest: Bool

    /// The final response's head (interim 1xx responses other than 101 are skipped).
    public private(set) var head: HTTPResponseHead?
    public private(set) var body: [UInt8] = []
    /// Bytes received after the end of the message.
    public private(set) var leftover: [UInt8] = []
    public var isComplete: Bool { state == .complete }

    private var state: State = .head
    private var error: HTTPParseError?
    /// The head being received, up to and including its empty line.
    private var headBytes: [UInt8] = []
    /// Where the current (incomplete) line starts in `headBytes`.
    private var lineStart = 0
    /// The chunk-size or trailer line being received.
    private var line: [UInt8] = []
    private var trailerBytes = 0

    private static let maxChunkLineBytes = 4096

    public init(mode: Mode = .full, maxHeaderBytes: Int = 32 << 10, maxBodyBytes: Int = 1 << 20,
                isHeadRequest: Bool = false) {
        self.mode = mode
        self.maxHeaderBytes = max(0, maxHeaderBytes)
        self.maxBodyBytes = max(0, maxBodyBytes)
        self.isHeadRequest = isHeadRequest
    }

    /// Feeds received bytes; true once the message is complete.
    @discardableResult
    public mutating func feed(_ bytes: UnsafeRawBufferPointer) throws(HTTPParseError) -> Bool {
        if let error { throw error }
        do {
            try consume(bytes)
        } catch {
            self.error = error
            headBytes = []
            line = []
            throw error
        }
        return isComplete
    }

    @discardableResult
    public mutating func feed(_ bytes: [UInt8]) throws(HTTPParseError) -> Bool {
        let result = bytes.withUnsafeBytes { raw in
            Result { () throws(HTTPParseError) -> Bool in try feed(raw) }
        }
        return try result.get()
    }

    /// The connection was closed. Completes a body delimited by the end of the connection;
    /// anything else not yet complete is an error (a truncated response).
    @discardableResult
    public mutating func finishAtEOF() throws(HTTPParseError) -> Bool {
        if let error { throw error }
        let failure: HTTPParseError
        switch state {
        case .complete:
            return true
        case .bodyUntilEOF:
            state = .complete
            return true
        case .head:
            failure = HTTPParseError(.truncated, message: headBytes.isEmpty && head == nil
                ? "connection closed before a response arrived"
                : "connection closed inside the response head")
        case .fixedBody:
            failure = HTTPParseError(.truncated, message: "connection closed before the end of the body (Content-Length)")
        case .chunkSizeLine, .chunkData, .chunkDataEnd, .trailers:
            failure = HTTPParseError(.truncated, message: "connection closed inside a chunked body")
        }
        error = failure
        throw failure
    }

    private static func fail(_ message: String) -> HTTPParseError {
        HTTPParseError(.malformed, message: message)
    }

    private static func tooLarge(_ message: String) -> HTTPParseError {
        HTTPParseError(.tooLarge, message: message)
    }

    private static func indexOfLF(_ bytes: UnsafeRawBufferPointer, from start: Int) -> Int? {
        var i = start
        while i < bytes.count {
            if bytes[i] == 0x0A { return i }
            i &+= 1
        }
        return nil
    }

    private mutating func consume(_ bytes: UnsafeRawBufferPointer) throws(HTTPParseError) {
        let n = bytes.count
        var i = 0
        while i < n {
            switch state {
            case .head:
                guard let lf = HTTPResponseParser.indexOfLF(bytes, from: i) else {
                    guard n &- i <= maxHeaderBytes &- headBytes.count else {
                        throw HTTPResponseParser.tooLarge("response head larger than \(maxHeaderBytes) bytes")
                    }
                    headBytes.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[i..<n]))
                    i = n
                    continue
                }
                guard lf &+ 1 &- i <= maxHeaderBytes &- headBytes.count else {
                    throw HTTPResponseParser.tooLarge("response head larger than \(maxHeaderBytes) bytes")
                }
                headBytes.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[i...lf]))
                i = lf &+ 1
                let lineLength = headBytes.count &- 1 &- lineStart
                let isEmptyLine = lineLength == 0 || (lineLength == 1 && headBytes[lineStart] == 0x0D)
                if !isEmptyLine {
                    lineStart = headBytes.count
                } else if lineStart == 0 {
                    throw HTTPResponseParser.fail("empty line where the status line was expected")
                } else {
                    try finishHead()
                }

            case .fixedBody(let remaining):
                let take = min(remaining, n &- i)
                body.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[i..<(i &+ take)]))
                i &+= take
                state = remaining == take ? .complete : .fixedBody(remaining: remaining &- take)

            case .bodyUntilEOF:
                guard n &- i <= maxBodyBytes &- body.count else {
                    throw HTTPResponseParser.tooLarge("body larger than \(maxBodyBytes) bytes")
                }
                body.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[i..<n]))
                i = n

            case .chunkSizeLine, .trailers:
                let lf = HTTPResponseParser.indexOfLF(bytes, from: i)
                let end = lf ?? n
                let limit = state == .trailers ? maxHeaderBytes &- trailerBytes : HTTPResponseParser.maxChunkLineBytes
                guard end &- i <= limit &- line.count else {
                    throw state == .trailers ? HTTPResponseParser.tooLarge("trailers larger than \(maxHeaderBytes) bytes")
                                             : HTTPResponseParser.fail("chunk size line too long")
                }
                line.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[i..<end]))
                guard let lf else {
                    i = n
                    continue
                }
                i = lf &+ 1
                if line.last == 0x0D { line.removeLast() }
                if state == .chunkSizeLine {
                    try finishChunkSizeLine()
                } else if line.isEmpty {
                    state = .complete
                } else {
                    trailerBytes &+= line.count &+ 2
                    try HTTPResponseParser.checkTrailerLine(line)
                }
                line.removeAll(keepingCapacity: true)

            case .chunkData(let remaining):
                let take = min(remaining, n &- i)
                body.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[i..<(i &+ take)]))
                i &+= take
                state = remaining == take ? .chunkDataEnd(sawCR: false) : .chunkData(remaining: remaining &- take)

            case .chunkDataEnd(let sawCR):
                let c = bytes[i]
                i &+= 1
                if c == 0x0A {
                    state = .chunkSizeLine
                } else if c == 0x0D && !sawCR {
                    state = .chunkDataEnd(sawCR: true)
                } else {
                    throw HTTPResponseParser.fail("missing CRLF after chunk data")
                }

            case .complete:
                leftover.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[i..<n]))
                i = n
            }
        }
    }

    // MARK: Head

    private static func isTokenChar(_ c: UInt8) -> Bool {
        switch c {
        case 0x30...0x39, 0x41...0x5A, 0x61...0x7A: return true
        case 0x21, 0x23, 0x24, 0x25, 0x26, 0x27, 0x2A, 0x2B, 0x2D, 0x2E, 0x5E, 0x5F, 0x60, 0x7C, 0x7E: return true
        default: return false
        }
    }

    /// Field values and reason phrases: HTAB, SP, VCHAR, obs-text; no other controls.
    private static func isFieldChar(_ c: UInt8) -> Bool {
        c == 0x09 || (c >= 0x20 && c != 0x7F)
    }

    private mutating func finishHead() throws(HTTPParseError) {
        let parsed = try headBytes.withUnsafeBytes { raw in
            Result { () throws(HTTPParseError) in try HTTPResponseParser.parseHead(raw) }
        }.get()
        headBytes.removeAll(keepingCapacity: true)
        lineStart = 0

        let status = parsed.status
        if status >= 100 && status < 200 && status != 101 {
            return  // interim response (100 Continue, 103 Early Hints): the final one follows
        }
        head = parsed
        if mode == .headOnly || status == 101 || status < 200 || status == 204 || status == 304 || isHeadRequest {
            state = .complete
            return
        }

        let transferCodings = parsed.headers("Transfer-Encoding")
        if !transferCodings.isEmpty {
            // Chunked must be the final coding to delimit the body; otherwise the body runs to
            // the end of the connection (RFC 9112 section 6.3). Content-Length is ignored.
            let codings = transferCodings.flatMap { $0.split(separator: ",") }
                .map { $0.httpTrimmed() }
                .filter { !$0.isEmpty }
            if let last = codings.last, httpNameEqual(last, "chunked") {
                state = .chunkSizeLine
            } else {
                state = .bodyUntilEOF
            }
            return
        }
        if let length = try HTTPResponseParser.contentLength(parsed.headers("Content-Length")) {
            guard length <= maxBodyBytes else {
                throw HTTPResponseParser.tooLarge("Content-Length \(length) exceeds the limit of \(maxBodyBytes) bytes")
            }
            state = length == 0 ? .complete : .fixedBody(remaining: length)
            return
        }
        state = .bodyUntilEOF
    }

    /// nil when absent; all values (including comma-separated lists) must be the same number.
    private static func contentLength(_ values: [String]) throws(HTTPParseError) -> Int? {
        var result: Int?
        for value in values {
            for element in value.split(separator: ",", omittingEmptySubsequences: false) {
                let text = element.httpTrimmed()
                guard !text.isEmpty else { throw fail("invalid Content-Length") }
                var v = 0
                for c in text.utf8 {
                    guard c >= 0x30 && c <= 0x39 else { throw fail("invalid Content-Length") }
                    let (m, o1) = v.multipliedReportingOverflow(by: 10)
                    let (s, o2) = m.addingReportingOverflow(Int(c &- 0x30))
                    guard !o1 && !o2 else { throw tooLarge("Content-Length too large") }
                    v = s
                }
                if let result, result != v { throw fail("conflicting Content-Length values") }
                result = v
            }
        }
        return result
    }

    /// Splits the head into lines (LF, with an optional CR before it) and parses them.
    private static func parseHead(_ raw: UnsafeRawBufferPointer) throws(HTTPParseError) -> HTTPResponseHead {
        var lines: [UnsafeRawBufferPointer] = []
        var start = 0
        var i = 0
        while i < raw.count {
            if raw[i] == 0x0A {
                var end = i
                if end > start && raw[end &- 1] == 0x0D { end &-= 1 }
                lines.append(UnsafeRawBufferPointer(rebasing: raw[start..<end]))
                start = i &+ 1
            }
            i &+= 1
        }
        // The last line is the empty one that ended the head.
        guard lines.count >= 2 else { throw fail("missing status line") }
        var head = try parseStatusLine(lines[0])
        for k in 1..<(lines.count &- 1) {
            head.headers.append(try parseField(lines[k]))
        }
        return head
    }

    /// `HTTP/1.x SP 3DIGIT [SP reason]`
    private static func parseStatusLine(_ line: UnsafeRawBufferPointer) throws(HTTPParseError) -> HTTPResponseHead {
        let prefix: [UInt8] = Array("HTTP/1.".utf8)
        guard line.count >= 12 else { throw fail("malformed status line") }
        for k in 0..<prefix.count where line[k] != prefix[k] { throw fail("malformed status line") }
        let minor = line[7]
        guard minor >= 0x30 && minor <= 0x39, line[8] == 0x20 else { throw fail("malformed status line") }
        var status = 0
        for k in 9..<12 {
            let c = line[k]
            guard c >= 0x30 && c <= 0x39 else { throw fail("malformed status code") }
            status = status &* 10 &+ Int(c &- 0x30)
        }
        guard status >= 100 else { throw fail("malformed status code") }
        var reason = ""
        if line.count > 12 {
            guard line[12] == 0x20 else { throw fail("malformed status line") }
            let phrase = UnsafeRawBufferPointer(rebasing: line[13...])
            guard phrase.allSatisfy(isFieldChar) else { throw fail("control character in reason phrase") }
            reason = String(decoding: phrase, as: UTF8.self)
        }
        let version = String(decoding: UnsafeRawBufferPointer(rebasing: line[0..<8]), as: UTF8.self)
        return HTTPResponseHead(status: status, reason: reason, version: version, headers: [])
    }

    /// `name ":" OWS value OWS`; no whitespace before the colon, no obsolete line folding.
    private static func parseField(_ line: UnsafeRawBufferPointer) throws(HTTPParseError) -> (name: String, value: String) {
        guard let first = line.first else { throw fail("empty header line") }
        guard first != 0x20 && first != 0x09 else { throw fail("obsolete header line folding is not supported") }
        var colon = 0
        while colon < line.count && line[colon] != 0x3A {
            guard isTokenChar(line[colon]) else { throw fail("invalid character in header name") }
            colon &+= 1
        }
        guard colon < line.count else { throw fail("header line without a colon") }
        guard colon > 0 else { throw fail("empty header name") }
        var start = colon &+ 1
        var end = line.count
        while start < end && (line[start] == 0x20 || line[start] == 0x09) { start &+= 1 }
        while end > start && (line[end &- 1] == 0x20 || line[end &- 1] == 0x09) { end &-= 1 }
        let value = UnsafeRawBufferPointer(rebasing: line[start..<end])
        guard value.allSatisfy(isFieldChar) else { throw fail("control character in header value") }
        return (String(decoding: UnsafeRawBufferPointer(rebasing: line[0..<colon]), as: UTF8.self),
                String(decoding: value, as: UTF8.self))
    }

    // MARK: Chunked

    /// `1*HEXDIG [BWS ";" chunk-ext]`; the size counts against maxBodyBytes at once.
    private mutating func finishChunkSizeLine() throws(HTTPParseError) {
        var size = 0
        var k = 0
        while k < line.count, let d = HTTPResponseParser.hexDigit(line[k]) {
            let (m, o1) = size.multipliedReportingOverflow(by: 16)
            let (s, o2) = m.addingReportingOverflow(d)
            guard !o1 && !o2, s <= maxBodyBytes &- body.count else {
                throw HTTPResponseParser.tooLarge("chunked body larger than \(maxBodyBytes) bytes")
            }
            size = s
            k &+= 1
        }
        guard k > 0 else { throw HTTPResponseParser.fail("invalid chunk size") }
        while k < line.count && (line[k] == 0x20 || line[k] == 0x09) { k &+= 1 }
        if k < line.count {
            guard line[k] == 0x3B else { throw HTTPResponseParser.fail("invalid chunk size") }
            for c in line[k...] where !HTTPResponseParser.isFieldChar(c) {
                throw HTTPResponseParser.fail("control character in chunk extension")
            }
        }
        state = size == 0 ? .trailers : .chunkData(remaining: size)
    }

    private static func checkTrailerLine(_ line: [UInt8]) throws(HTTPParseError) {
        _ = try line.withUnsafeBytes { raw in
            Result { () throws(HTTPParseError) in try parseField(raw) }
        }.get()
    }

    private static func hexDigit(_ c: UInt8) -> Int? {
        switch c {
        case 0x30...0x39: return Int(c &- 0x30)
        case 0x41...0x46: return Int(c &- 0x41 &+ 10)
        case 0x61...0x66: return Int(c &- 0x61 &+ 10)
        default: return nil
        }
    }
}

extension StringProtocol {
    /// Drops leading and trailing spaces and tabs.
    fileprivate func httpTrimmed() -> String {
        let u = Array(utf8)
        var start = 0
        var end = u.count
        while start < end && (u[start] == 0x20 || u[start] == 0x09) { start += 1 }
        while end > start && (u[end - 1] == 0x20 || u[end - 1] == 0x09) { end -= 1 }
        return String(decoding: u[start..<end], as: UTF8.self)
    }
}
