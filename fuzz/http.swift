// SPDX-License-Identifier: Apache-2.0
// libFuzzer target: HTTPResponseParser (incremental feeding, Content-Length, chunked,
// bodies to EOF, interim responses, head-only mode, header and body limits).
//
// Input: byte 0 picks the mode (bit 0: headOnly, bit 1: HEAD request) and maxHeaderBytes
// (bits 2-4), byte 1 maxBodyBytes (bits 0-2), byte 2 how the response is split into reads;
// the rest is the bytes from the server. Checked on every input:
//  1. Fed in one read and fed split over many reads, the parser reaches the same result:
//     head, body, leftover, completion, error message; finishAtEOF agrees too. (After an
//     error only the error and the head are compared.)
//  2. Errors are sticky; limits hold (body <= maxBodyBytes); header names are tokens and
//     values carry no CR, LF, NUL or surrounding blanks; leftover is a suffix of the input;
//     a complete Content-Length body has exactly that length.
//  3. A complete response rebuilt canonically (the same head with Content-Length, and again
//     chunked over random chunk sizes with an extension and a trailer) parses back to the
//     same status, reason, version, headers and body.

private let headerLimits = [32 << 10, 0, 1, 17, 64, 256, 1024, 4096]
private let bodyLimits = [1 << 20, 0, 1, 5, 16, 100, 1000, 4096]

private struct Outcome: Equatable {
    var status: Int?
    var reason: String?
    var version: String?
    var headers: [[String]] = []
    var body: [UInt8] = []
    var leftover: [UInt8] = []
    var complete = false
    var error: String?
    var eofComplete: Bool?
    var eofError: String?
    var afterEOF: [UInt8] = []
}

private struct Config {
    var mode: HTTPResponseParser.Mode
    var maxHeaderBytes: Int
    var maxBodyBytes: Int
    var isHeadRequest: Bool

    func parser() -> HTTPResponseParser {
        HTTPResponseParser(mode: mode, maxHeaderBytes: maxHeaderBytes, maxBodyBytes: maxBodyBytes,
                           isHeadRequest: isHeadRequest)
    }
}

private func snapshot(_ p: HTTPResponseParser, into o: inout Outcome) {
    o.status = p.head?.status
    o.reason = p.head?.reason
    o.version = p.head?.version
    o.headers = p.head?.headers.map { [$0.name, $0.value] } ?? []
    o.body = p.body
    o.leftover = p.leftover
    o.complete = p.isComplete
}

private func run(_ stream: [UInt8], chunks: [Range<Int>], _ config: Config) -> Outcome {
    var p = config.parser()
    var o = Outcome()
    withChunks(stream, chunks) { chunk in
        do throws(HTTPParseError) {
            let done = try p.feed(chunk)
            fuzzCheck(done == p.isComplete, "feed's result differs from isComplete")
            return true
        } catch {
            o.error = error.message
            return false
        }
    }
    if let message = o.error {
        // Sticky: later feeds and EOF throw the same error and change nothing.
        let before = p.body
        do throws(HTTPParseError) {
            try p.feed(Array("HTTP/1.1 200 OK\r\n\r\n".utf8))
            fuzzFail("feed after an error succeeded")
        } catch {
            fuzzCheck(error.message == message, "error not sticky: \(message) then \(error.message)")
        }
        do throws(HTTPParseError) {
            try p.finishAtEOF()
            fuzzFail("finishAtEOF after an error succeeded")
        } catch {
            fuzzCheck(error.message == message, "error not sticky at EOF")
        }
        fuzzCheck(p.body == before, "body changed after an error")
    }
    snapshot(p, into: &o)
    if o.error != nil {
        // After an error only the error and the head mean anything: a body that ran over
        // its limit holds whatever earlier reads delivered.
        o.body = []
        o.complete = false
    }
    if o.error == nil {
        do throws(HTTPParseError) {
            o.eofComplete = try p.finishAtEOF()
            fuzzCheck(p.isComplete, "finishAtEOF returned without completing")
            // After completion more bytes are leftover, nothing else.
            let body = p.body
            try p.feed([0x48, 0x54])
            fuzzCheck(p.body == body, "bytes after completion reached the body")
            o.afterEOF = p.leftover
        } catch {
            o.eofError = error.message
            fuzzCheck(!o.complete, "finishAtEOF failed on a complete message")
        }
    }
    return o
}

private func isToken(_ c: UInt8) -> Bool {
    switch c {
    case 0x30...0x39, 0x41...0x5A, 0x61...0x7A: return true
    default: return Array("!#$%&'*+-.^_`|~".utf8).contains(c)
    }
}

private func checkInvariants(_ o: Outcome, _ stream: [UInt8], _ config: Config) {
    fuzzCheck(o.body.count <= config.maxBodyBytes, "body of \(o.body.count) bytes over the limit \(config.maxBodyBytes)")
    for field in o.headers {
        let name = Array(field[0].utf8), value = Array(field[1].utf8)
        fuzzCheck(!name.isEmpty && name.allSatisfy(isToken), "invalid header name \(field[0].debugDescription)")
        fuzzCheck(!value.contains(where: { $0 == 0x0A || $0 == 0x0D || $0 == 0 || $0 == 0x7F }),
                  "control character in header value \(field[1].debugDescription)")
        fuzzCheck(value.first != 0x20 && value.first != 0x09 && value.last != 0x20 && value.last != 0x09,
                  "header value not trimmed")
    }
    if let status = o.status {
        fuzzCheck((100...999).contains(status), "status \(status)")
        fuzzCheck(!(100..<200).contains(status) || status == 101, "interim response \(status) kept as the head")
        fuzzCheck(o.version == "HTTP/1.\(o.version?.last.map(String.init) ?? "")" && o.version?.count == 8,
                  "version \(String(describing: o.version))")
    }
    if o.complete {
        fuzzCheck(o.status != nil, "complete without a head")
        fuzzCheck(stream.count >= o.leftover.count && Array(stream.suffix(o.leftover.count)) == o.leftover,
                  "leftover is not a suffix of the input")
    } else {
        fuzzCheck(o.leftover.isEmpty, "leftover before completion")
    }
    if config.mode == .headOnly, o.status != nil {
        fuzzCheck(o.complete && o.body.isEmpty, "head-only parse went past the head")
    }
    // A complete Content-Length body has exactly that length.
    if o.complete, hasBody(o, config), !o.headers.contains(where: { $0[0].lowercased() == "transfer-encoding" }),
       let cl = o.headers.first(where: { $0[0].lowercased() == "content-length" }) {
        let first = cl[1].split(separator: ",").first.map { $0.trimmingBlanks() } ?? ""
        fuzzCheck(Int(first) == o.body.count, "Content-Length \(cl[1]) but a body of \(o.body.count) bytes")
    }
}

private func hasBody(_ o: Outcome, _ config: Config) -> Bool {
    guard let status = o.status, config.mode == .full, !config.isHeadRequest else { return false }
    return status >= 200 && status != 204 && status != 304
}

extension Substring {
    fileprivate func trimmingBlanks() -> String {
        var s = self
        while let c = s.first, c == " " || c == "\t" { s.removeFirst() }
        while let c = s.last, c == " " || c == "\t" { s.removeLast() }
        return String(s)
    }
}

/// The head as text: status line and fields, without the empty line.
private func head(_ o: Outcome, dropping framing: Bool) -> [UInt8] {
    var text = "\(o.version!) \(o.status!)"
    if !o.reason!.isEmpty { text += " \(o.reason!)" }
    text += "\r\n"
    for field in o.headers {
        let name = field[0].lowercased()
        if framing && (name == "content-length" || name == "transfer-encoding") { continue }
        text += "\(field[0]): \(field[1])\r\n"
    }
    return Array(text.utf8)
}

private func reparse(_ bytes: [UInt8], chunkSeed: UInt8, expect o: Outcome, what: String) {
    var p = HTTPResponseParser(mode: .full, maxHeaderBytes: 1 << 20, maxBodyBytes: max(o.body.count, 1))
    withChunks(bytes, fuzzChunks(count: bytes.count, seed: chunkSeed)) { chunk in
        do { try p.feed(chunk) } catch { fuzzFail("\(what) does not parse: \(error)") }
        return true
    }
    fuzzCheck(p.isComplete, "\(what) is not complete")
    fuzzCheck(p.head?.status == o.status && p.head?.reason == o.reason && p.head?.version == o.version,
              "\(what): status line differs")
    fuzzCheck(p.body == o.body, "\(what): body differs")
    fuzzCheck(p.leftover.isEmpty, "\(what): leftover bytes")
    let fields = p.head?.headers.map { [$0.name, $0.value] } ?? []
    let framing: Set<String> = ["content-length", "transfer-encoding"]
    fuzzCheck(fields.filter { !framing.contains($0[0].lowercased()) } ==
                o.headers.filter { !framing.contains($0[0].lowercased()) },
              "\(what): headers differ")
}

private func checkCanonical(_ o: Outcome, _ config: Config, seed: UInt8) {
    guard o.complete, o.error == nil, o.eofError == nil, hasBody(o, config) else { return }
    // Content-Length form.
    var bytes = head(o, dropping: true)
    bytes += Array("Content-Length: \(o.body.count)\r\n\r\n".utf8) + o.body
    reparse(bytes, chunkSeed: seed, expect: o, what: "Content-Length rebuild")
    // Chunked form, with a chunk extension and a trailer.
    bytes = head(o, dropping: true) + Array("Transfer-Encoding: gzip , chunked\r\n\r\n".utf8)
    for (k, range) in fuzzChunks(count: o.body.count, seed: seed &+ 3).enumerated() {
        bytes += Array(String(range.count, radix: 16, uppercase: k % 2 == 0).utf8)
        bytes += Array((k % 3 == 0 ? " ;name=\"v\"\r\n" : "\r\n").utf8)
        bytes += o.body[range] + [0x0D, 0x0A]
    }
    bytes += Array("0\r\nX-Trailer: t\r\n\r\n".utf8)
    reparse(bytes, chunkSeed: seed &+ 1, expect: o, what: "chunked rebuild")
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzHTTP(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let input = fuzzBytes(data, size)
    guard input.count >= 3 else { return 0 }
    let config = Config(mode: input[0] & 1 == 0 ? .full : .headOnly,
                        maxHeaderBytes: headerLimits[Int(input[0] >> 2) & 7],
                        maxBodyBytes: bodyLimits[Int(input[1]) & 7],
                        isHeadRequest: input[0] & 2 != 0)
    let stream = Array(input[3...])

    let whole = run(stream, chunks: stream.isEmpty ? [] : [0..<stream.count], config)
    let split = run(stream, chunks: fuzzChunks(count: stream.count, seed: input[2]), config)
    fuzzCheck(whole == split, "whole and split reads differ:\n whole \(whole)\n split \(split)")
    checkInvariants(whole, stream, config)
    checkCanonical(whole, config, seed: input[2])
    return 0
}
