// SPDX-License-Identifier: Apache-2.0
// The few URL forms this library connects to: http, https, ws and wss with a host, an
// optional port and a path/query. Anything we cannot send safely on a request line
// (userinfo, control characters, odd hosts) is refused rather than guessed at.

public struct URLParseError: Error, Equatable, Sendable, CustomStringConvertible {
    public var message: String
    public init(message: String) { self.message = message }
    public var description: String { "invalid URL: \(message)" }
}

public struct URLParts: Equatable, Sendable {
    /// Lowercased: http, https, ws or wss.
    public var scheme: String
    /// Lowercased; an IPv6 address without its brackets.
    public var host: String
    public var port: Int
    /// Path and query as sent on the request line; "/" when the URL has no path. No fragment.
    public var pathAndQuery: String
    /// https or wss.
    public var isTLS: Bool
    /// An IPv4 dotted quad or a bracketed IPv6 address (no DNS lookup, no TLS SNI).
    public var hostIsIPLiteral: Bool
    /// For the Host header: host, with ":port" when not the scheme's default; IPv6 bracketed.
    public var hostHeader: String

    /// The URL for a log line or an error message: the query (tokens, signatures) replaced
    /// by "?<redacted>". There is no userinfo to hide: `parse` refuses it.
    public var redacted: String {
        var path = pathAndQuery
        if let query = path.firstIndex(of: "?") { path = path[..<query] + "?<redacted>" }
        return scheme + "://" + hostHeader + path
    }

    public init(scheme: String, host: String, port: Int, pathAndQuery: String, isTLS: Bool,
                hostIsIPLiteral: Bool, hostHeader: String) {
        self.scheme = scheme
        self.host = host
        self.port = port
        self.pathAndQuery = pathAndQuery
        self.isTLS = isTLS
        self.hostIsIPLiteral = hostIsIPLiteral
        self.hostHeader = hostHeader
    }

    public static func parse(_ text: String) throws(URLParseError) -> URLParts {
        var bytes = Array(text.utf8)
        // Surrounding whitespace is a copy-paste accident, not part of the URL.
        while let last = bytes.last, last <= 0x20 { bytes.removeLast() }
        let leading = bytes.prefix { $0 <= 0x20 }.count
        bytes.removeFirst(leading)

        // Scheme.
        guard let colon = bytes.firstIndex(of: 0x3A),
              bytes.count >= colon + 3, bytes[colon + 1] == 0x2F, bytes[colon + 2] == 0x2F
        else { throw URLParseError(message: "expected scheme://host") }
        let scheme = String(decoding: bytes[..<colon].map(URLSyntax.lowercased), as: UTF8.self)
        let defaultPort: Int
        let isTLS: Bool
        switch scheme {
        case "http": (defaultPort, isTLS) = (80, false)
        case "ws": (defaultPort, isTLS) = (80, false)
        case "https": (defaultPort, isTLS) = (443, true)
        case "wss": (defaultPort, isTLS) = (443, true)
        default: throw URLParseError(message: "unsupported scheme '\(scheme)'")
        }

        // Authority: up to the first '/', '?' or '#'.
        let authorityStart = colon + 3
        var authorityEnd = authorityStart
        while authorityEnd < bytes.count && ![0x2F, 0x3F, 0x23].contains(bytes[authorityEnd]) { authorityEnd += 1 }
        let authority = Array(bytes[authorityStart..<authorityEnd])
        if authority.contains(0x40) { throw URLParseError(message: "userinfo not supported") }

        var hostBytes: [UInt8]
        var portBytes: ArraySlice<UInt8>?
        var isIPv6 = false
        if authority.first == 0x5B {
            guard let close = authority.firstIndex(of: 0x5D) else { throw URLParseError(message: "unterminated IPv6 address") }
            hostBytes = Array(authority[1..<close])
            isIPv6 = true
            let rest = authority[(close + 1)...]
            if let first = rest.first {
                guard first == 0x3A else { throw URLParseError(message: "unexpected characters after IPv6 address") }
                portBytes = rest.dropFirst()
            }
            guard !hostBytes.isEmpty else { throw URLParseError(message: "empty host") }
            guard URLSyntax.isIPv6Address(hostBytes) else { throw URLParseError(message: "invalid IPv6 address") }
        } else {
            if let portColon = authority.firstIndex(of: 0x3A) {
                hostBytes = Array(authority[..<portColon])
                portBytes = authority[(portColon + 1)...]
            } else {
                hostBytes = authority
            }
            guard !hostBytes.isEmpty else { throw URLParseError(message: "empty host") }
            guard hostBytes.allSatisfy(URLSyntax.isHostChar) else { throw URLParseError(message: "invalid character in host") }
        }
        hostBytes = hostBytes.map(URLSyntax.lowercased)
        let host = String(decoding: hostBytes, as: UTF8.self)

        var port = defaultPort
        if let portBytes, !portBytes.isEmpty {
            guard portBytes.count <= 5, portBytes.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else {
                throw URLParseError(message: "bad port")
            }
            port = portBytes.reduce(0) { $0 * 10 + Int($1 - 0x30) }
            guard port >= 1 && port <= 65535 else { throw URLParseError(message: "bad port") }
        }

        // Path and query (the fragment is never sent).
        var end = authorityEnd
        while end < bytes.count && bytes[end] != 0x23 { end += 1 }
        var path: [UInt8] = []
        if authorityEnd == end || bytes[authorityEnd] != 0x2F { path.append(0x2F) }
        for c in bytes[authorityEnd..<end] {
            if c < 0x20 || c == 0x7F { throw URLParseError(message: "control character in path") }
            if c == 0x20 || c >= 0x80 {
                URLSyntax.appendPercentEncoded(c, to: &path)
            } else {
                path.append(c)
            }
        }

        // A host whose last label is a number is an IPv4 address to getaddrinfo, which reads
        // "010" as octal 8, "127.1" as 127.0.0.1 and "0x7f..." as hex. Only the dotted-decimal
        // form without leading zeros means the same address to it and to the certificate
        // check; anything else is refused rather than connected to one address and
        // verified as another.
        if !isIPv6, let last = hostBytes.split(separator: 0x2E).last,
           URLSyntax.looksNumeric(last), !URLSyntax.isIPv4Address(hostBytes) {
            throw URLParseError(message: "ambiguous IPv4 address \"\(host)\": write it as four "
                                + "decimal numbers without leading zeros")
        }
        let isIPLiteral = isIPv6 || URLSyntax.isIPv4Address(hostBytes)
        var hostHeader = isIPv6 ? "[" + host + "]" : host
        if port != defaultPort { hostHeader += ":" + String(port) }
        return URLParts(scheme: scheme, host: host, port: port, pathAndQuery: String(decoding: path, as: UTF8.self),
                        isTLS: isTLS, hostIsIPLiteral: isIPLiteral, hostHeader: hostHeader)
    }
}

/// Percent-encodes everything but RFC 3986 unreserved characters (ALPHA DIGIT - . _ ~),
/// byte by byte of the UTF-8 form, with uppercase hex.
public func percentEncodeQueryValue(_ s: String) -> String {
    var out: [UInt8] = []
    out.reserveCapacity(s.utf8.count)
    for c in s.utf8 {
        if URLSyntax.isUnreserved(c) {
            out.append(c)
        } else {
            URLSyntax.appendPercentEncoded(c, to: &out)
        }
    }
    return String(decoding: out, as: UTF8.self)
}

private enum URLSyntax {
    static func isUnreserved(_ c: UInt8) -> Bool {
        switch c {
        case 0x30...0x39, 0x41...0x5A, 0x61...0x7A, 0x2D, 0x2E, 0x5F, 0x7E: return true
        default: return false
        }
    }

    static func appendPercentEncoded(_ c: UInt8, to out: inout [UInt8]) {
        let hex: StaticString = "0123456789ABCDEF"
        out.append(0x25)
        out.append(hex.utf8Start[Int(c >> 4)])
        out.append(hex.utf8Start[Int(c & 0xF)])
    }

    static func lowercased(_ c: UInt8) -> UInt8 {
        (c >= 0x41 && c <= 0x5A) ? c | 0x20 : c
    }

    /// Registered names as DNS understands them (letters, digits, '-', '.', '_', '~').
    static func isHostChar(_ c: UInt8) -> Bool { URLSyntax.isUnreserved(c) }

    /// A label inet_aton would take as a number: decimal digits, or 0x and hex digits.
    static func looksNumeric(_ label: ArraySlice<UInt8>) -> Bool {
        guard !label.isEmpty else { return false }
        if label.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) { return true }
        let bytes = Array(label)
        guard bytes.count >= 2, bytes[0] == 0x30, bytes[1] | 0x20 == 0x78 else { return false }
        return bytes.dropFirst(2).allSatisfy {
            ($0 >= 0x30 && $0 <= 0x39) || ($0 | 0x20 >= 0x61 && $0 | 0x20 <= 0x66)
        }
    }

    static func isIPv4Address(_ b: [UInt8]) -> Bool {
        let parts = b.split(separator: 0x2E, omittingEmptySubsequences: false)
        guard parts.count == 4 else { return false }
        for part in parts {
            guard !part.isEmpty, part.count <= 3, part.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }),
                  part.count == 1 || part.first != 0x30 else { return false }
            guard part.reduce(0, { $0 * 10 + Int($1 - 0x30) }) <= 255 else { return false }
        }
        return true
    }

    /// RFC 4291 text form: up to eight hex groups, one "::", optionally ending in an IPv4 quad.
    static func isIPv6Address(_ b: [UInt8]) -> Bool {
        guard b.count >= 2, b.count <= 45 else { return false }
        let text = b
        var groups = 0
        var sawDoubleColon = false
        var i = 0
        if text.starts(with: [0x3A, 0x3A]) {
            sawDoubleColon = true
            i = 2
            if i == text.count { return true }
        } else if text.first == 0x3A {
            return false
        }
        while i < text.count {
            // One group: hex digits, or a final IPv4 quad.
            var j = i
            while j < text.count && text[j] != 0x3A { j += 1 }
            let group = Array(text[i..<j])
            if j == text.count && group.contains(0x2E) {
                guard URLSyntax.isIPv4Address(group) else { return false }
                groups += 2
            } else {
                guard !group.isEmpty, group.count <= 4, group.allSatisfy(URLSyntax.isHexDigit) else { return false }
                groups += 1
            }
            if j == text.count { break }
            // j is at ':'
            if j + 1 < text.count && text[j + 1] == 0x3A {
                guard !sawDoubleColon else { return false }
                sawDoubleColon = true
                i = j + 2
                if i == text.count { break }
            } else {
                i = j + 1
                if i == text.count { return false }  // trailing single ':'
            }
        }
        return sawDoubleColon ? groups <= 7 : groups == 8
    }

    static func isHexDigit(_ c: UInt8) -> Bool {
        (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x46) || (c >= 0x61 && c <= 0x66)
    }
}
