// SPDX-License-Identifier: Apache-2.0
// A strict RFC 8259 parser over raw bytes. Iterative (an explicit stack, not recursion), so
// the depth limit and not the thread's stack decides what nests too deeply; never traps on
// any input. Errors carry the byte offset where the input went wrong.

public struct JSONError: Error, Equatable, Sendable, CustomStringConvertible {
    public var message: String
    /// Byte offset in the input where the problem was found.
    public var offset: Int

    public init(message: String, offset: Int) {
        self.message = message
        self.offset = offset
    }

    public var description: String { "JSON error at byte \(offset): \(message)" }
}

extension JSONValue {
    /// Parses exactly one JSON value (of any type) surrounded by optional whitespace.
    /// Containers nested deeper than `maxDepth` are an error.
    public static func parse(_ bytes: UnsafeRawBufferPointer, maxDepth: Int = 64) throws(JSONError) -> JSONValue {
        var parser = JSONParser(bytes, maxDepth: maxDepth)
        return try parser.parseDocument()
    }

    public static func parse(_ bytes: [UInt8], maxDepth: Int = 64) throws(JSONError) -> JSONValue {
        let result = bytes.withUnsafeBytes { buffer in
            Result { () throws(JSONError) -> JSONValue in try parse(buffer, maxDepth: maxDepth) }
        }
        return try result.get()
    }

    public static func parse(_ text: String, maxDepth: Int = 64) throws(JSONError) -> JSONValue {
        let result = text.utf8.withContiguousStorageIfAvailable { buffer in
            Result { () throws(JSONError) -> JSONValue in
                try parse(UnsafeRawBufferPointer(buffer), maxDepth: maxDepth)
            }
        }
        if let result { return try result.get() }
        return try parse(Array(text.utf8), maxDepth: maxDepth)
    }
}

private enum JSONByte {
    static let quote: UInt8 = 0x22, backslash: UInt8 = 0x5C, slash: UInt8 = 0x2F
    static let comma: UInt8 = 0x2C, colon: UInt8 = 0x3A, minus: UInt8 = 0x2D, plus: UInt8 = 0x2B
    static let dot: UInt8 = 0x2E, zero: UInt8 = 0x30, nine: UInt8 = 0x39
    static let openBracket: UInt8 = 0x5B, closeBracket: UInt8 = 0x5D
    static let openBrace: UInt8 = 0x7B, closeBrace: UInt8 = 0x7D
    static let space: UInt8 = 0x20, tab: UInt8 = 0x09, lf: UInt8 = 0x0A, cr: UInt8 = 0x0D
}

struct JSONParser {
    private let bytes: UnsafeRawBufferPointer
    private let end: Int
    private let maxDepth: Int
    private var pos = 0
    /// Reused for strings that contain escapes.
    private var scratch: [UInt8] = []

    init(_ bytes: UnsafeRawBufferPointer, maxDepth: Int) {
        self.bytes = bytes
        self.end = bytes.count
        self.maxDepth = max(0, maxDepth)
    }

    private func fail(_ message: String, at offset: Int) -> JSONError {
        JSONError(message: message, offset: offset)
    }

    @inline(__always)
    private mutating func skipWhitespace() {
        while pos < end {
            let c = bytes[pos]
            guard c == JSONByte.space || c == JSONByte.lf || c == JSONByte.cr || c == JSONByte.tab else { return }
            pos &+= 1
        }
    }

    /// The byte at `pos`, or an "unexpected end" error.
    @inline(__always)
    private func current(_ expecting: String) throws(JSONError) -> UInt8 {
        guard pos < end else { throw fail("unexpected end of input, expected \(expecting)", at: pos) }
        return bytes[pos]
    }

    mutating func parseDocument() throws(JSONError) -> JSONValue {
        // Open containers, innermost last. Arrays and objects live in separate stacks so each
        // is mutated in place (no copy-on-write of a popped enum payload).
        var isObject: [Bool] = []
        var arrays: [[JSONValue]] = []
        var objects: [JSONObject] = []
        var pendingKeys: [String] = []

        skipWhitespace()
        parseValue: while true {
            var value: JSONValue
            let c = try current("a value")
            switch c {
            case JSONByte.openBracket:
                guard isObject.count < maxDepth else { throw fail("nesting deeper than \(maxDepth)", at: pos) }
                pos &+= 1
                skipWhitespace()
                if pos < end && bytes[pos] == JSONByte.closeBracket {
                    pos &+= 1
                    value = .array([])
                } else {
                    isObject.append(false)
                    arrays.append([])
                    continue parseValue
                }
            case JSONByte.openBrace:
                guard isObject.count < maxDepth else { throw fail("nesting deeper than \(maxDepth)", at: pos) }
                pos &+= 1
                skipWhitespace()
                if pos < end && bytes[pos] == JSONByte.closeBrace {
                    pos &+= 1
                    value = .object(JSONObject())
                } else {
                    pendingKeys.append(try parseKey())
                    isObject.append(true)
                    objects.append(JSONObject())
                    continue parseValue
                }
            case JSONByte.quote:
                value = .string(try parseString())
            case 0x74: // t
                try expectLiteral("true")
                value = .bool(true)
            case 0x66: // f
                try expectLiteral("false")
                value = .bool(false)
            case 0x6E: // n
                try expectLiteral("null")
                value = .null
            case JSONByte.minus, JSONByte.zero...JSONByte.nine:
                value = .number(try parseNumber())
            default:
                throw fail("unexpected character, expected a value", at: pos)
            }

            // A value is complete: hand it to the enclosing containers, closing as many as end here.
            while true {
                guard let inObject = isObject.last else {
                    skipWhitespace()
                    guard pos == end else { throw fail("unexpected data after the JSON value", at: pos) }
                    return value
                }
                skipWhitespace()
                let next = try current(inObject ? "',' or '}'" : "',' or ']'")
                if inObject {
                    let key = pendingKeys.removeLast()
                    objects[objects.count - 1][key] = value
                    if next == JSONByte.comma {
                        pos &+= 1
                        skipWhitespace()
                        pendingKeys.append(try parseKey())
                        continue parseValue
                    }
                    guard next == JSONByte.closeBrace else { throw fail("expected ',' or '}'", at: pos) }
                    pos &+= 1
                    isObject.removeLast()
                    value = .object(objects.removeLast())
                } else {
                    arrays[arrays.count - 1].append(value)
                    if next == JSONByte.comma {
                        pos &+= 1
                        skipWhitespace()
                        continue parseValue
                    }
                    guard next == JSONByte.closeBracket else { throw fail("expected ',' or ']'", at: pos) }
                    pos &+= 1
                    isObject.removeLast()
                    value = .array(arrays.removeLast())
                }
            }
        }
    }

    /// `"key"` then optional whitespace, `:` and optional whitespace.
    private mutating func parseKey() throws(JSONError) -> String {
        guard try current("an object key") == JSONByte.quote else {
            throw fail("expected a string object key", at: pos)
        }
        let key = try parseString()
        skipWhitespace()
        guard try current("':'") == JSONByte.colon else { throw fail("expected ':'", at: pos) }
        pos &+= 1
        skipWhitespace()
        return key
    }

    private mutating func expectLiteral(_ literal: StaticString) throws(JSONError) {
        let n = literal.utf8CodeUnitCount
        let start = literal.utf8Start
        var i = 0
        while i < n {
            guard pos &+ i < end, bytes[pos &+ i] == start[i] else {
                throw fail("invalid literal", at: pos &+ i)
            }
            i &+= 1
        }
        pos &+= n
    }

    // MARK: Strings

    /// True when some byte of `word` is '"', '\\', < 0x20 or >= 0x80.
    @inline(__always)
    private static func hasSpecialByte(_ word: UInt64) -> Bool {
        let ones: UInt64 = 0x0101_0101_0101_0101
        let high: UInt64 = 0x8080_8080_8080_8080
        let quote = word ^ (ones &* 0x22)
        let backslash = word ^ (ones &* 0x5C)
        let hasQuote = (quote &- ones) & ~quote & high
        let hasBackslash = (backslash &- ones) & ~backslash & high
        let hasControl = (word &- ones &* 0x20) & ~word & high
        return (hasQuote | hasBackslash | hasControl | (word & high)) != 0
    }

    /// Parses a string whose opening quote is at `pos`; leaves `pos` after the closing quote.
    private mutating func parseString() throws(JSONError) -> String {
        let open = pos
        var i = pos &+ 1
        var runStart = i
        var escaped = false
        while true {
            while i &+ 8 <= end, !JSONParser.hasSpecialByte(bytes.loadUnaligned(fromByteOffset: i, as: UInt64.self)) {
                i &+= 8
            }
            guard i < end else { throw fail("unterminated string", at: open) }
            let c = bytes[i]
            if c == JSONByte.quote {
                let run = UnsafeRawBufferPointer(rebasing: bytes[runStart..<i])
                pos = i &+ 1
                if !escaped { return String(decoding: run, as: UTF8.self) }
                scratch.append(contentsOf: run)
                return String(decoding: scratch, as: UTF8.self)
            } else if c == JSONByte.backslash {
                if !escaped {
                    escaped = true
                    scratch.removeAll(keepingCapacity: true)
                }
                scratch.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[runStart..<i]))
                i = try parseEscape(at: i)
                runStart = i
            } else if c < 0x20 {
                throw fail("unescaped control character in string", at: i)
            } else if c >= 0x80 {
                let length = UTF8Validator.sequenceLength(in: bytes, at: i)
                guard length > 0 else { throw fail("invalid UTF-8 in string", at: i) }
                i &+= length
            } else {
                i &+= 1
            }
        }
    }

    @inline(__always)
    private func hexValue(_ c: UInt8) -> UInt32? {
        switch c {
        case 0x30...0x39: return UInt32(c &- 0x30)
        case 0x41...0x46: return UInt32(c &- 0x41 &+ 10)
        case 0x61...0x66: return UInt32(c &- 0x61 &+ 10)
        default: return nil
        }
    }

    /// Four hex digits at `offset`, or nil when they are not there.
    private func hex4(at offset: Int) -> UInt32? {
        guard offset >= 0, end &- offset >= 4 else { return nil }
        var v: UInt32 = 0
        for k in 0..<4 {
            guard let d = hexValue(bytes[offset &+ k]) else { return nil }
            v = v << 4 | d
        }
        return v
    }

    /// Decodes the escape whose backslash is at `i` into `scratch`; returns the index after it.
    private mutating func parseEscape(at i: Int) throws(JSONError) -> Int {
        guard i &+ 1 < end else { throw fail("unterminated string", at: i) }
        let e = bytes[i &+ 1]
        let simple: UInt8
        switch e {
        case JSONByte.quote: simple = JSONByte.quote
        case JSONByte.backslash: simple = JSONByte.backslash
        case JSONByte.slash: simple = JSONByte.slash
        case 0x62: simple = 0x08  // b
        case 0x66: simple = 0x0C  // f
        case 0x6E: simple = 0x0A  // n
        case 0x72: simple = 0x0D  // r
        case 0x74: simple = 0x09  // t
        case 0x75:                // u
            guard let unit = hex4(at: i &+ 2) else { throw fail("invalid \\u escape", at: i) }
            var scalar = unit
            var next = i &+ 6
            if (0xD800...0xDBFF).contains(unit) {
                guard next &+ 1 < end, bytes[next] == JSONByte.backslash, bytes[next &+ 1] == 0x75,
                      let low = hex4(at: next &+ 2), (0xDC00...0xDFFF).contains(low)
                else { throw fail("unpaired high surrogate in \\u escape", at: i) }
                scalar = 0x10000 &+ ((unit &- 0xD800) << 10) &+ (low &- 0xDC00)
                next &+= 6
            } else if (0xDC00...0xDFFF).contains(unit) {
                throw fail("unpaired low surrogate in \\u escape", at: i)
            }
            appendUTF8(scalar)
            return next
        default:
            throw fail("invalid escape", at: i)
        }
        scratch.append(simple)
        return i &+ 2
    }

    private mutating func appendUTF8(_ v: UInt32) {
        switch v {
        case 0..<0x80:
            scratch.append(UInt8(truncatingIfNeeded: v))
        case 0x80..<0x800:
            scratch.append(UInt8(truncatingIfNeeded: 0xC0 | v >> 6))
            scratch.append(UInt8(truncatingIfNeeded: 0x80 | v & 0x3F))
        case 0x800..<0x10000:
            scratch.append(UInt8(truncatingIfNeeded: 0xE0 | v >> 12))
            scratch.append(UInt8(truncatingIfNeeded: 0x80 | (v >> 6) & 0x3F))
            scratch.append(UInt8(truncatingIfNeeded: 0x80 | v & 0x3F))
        default:
            scratch.append(UInt8(truncatingIfNeeded: 0xF0 | v >> 18))
            scratch.append(UInt8(truncatingIfNeeded: 0x80 | (v >> 12) & 0x3F))
            scratch.append(UInt8(truncatingIfNeeded: 0x80 | (v >> 6) & 0x3F))
            scratch.append(UInt8(truncatingIfNeeded: 0x80 | v & 0x3F))
        }
    }

    // MARK: Numbers

    @inline(__always)
    private func isDigit(at i: Int) -> Bool {
        i < end && bytes[i] >= JSONByte.zero && bytes[i] <= JSONByte.nine
    }

    /// number = [ "-" ] ( "0" / 1-9 *DIGIT ) [ "." 1*DIGIT ] [ ( "e" / "E" ) [ "+" / "-" ] 1*DIGIT ]
    private mutating func parseNumber() throws(JSONError) -> Double {
        let start = pos
        var i = pos
        let negative = bytes[i] == JSONByte.minus
        if negative { i &+= 1 }
        guard isDigit(at: i) else { throw fail("invalid number: expected a digit", at: i) }
        let integerStart = i
        if bytes[i] == JSONByte.zero {
            i &+= 1
        } else {
            while isDigit(at: i) { i &+= 1 }
        }
        let integerDigits = i &- integerStart
        var isPlainInteger = true
        if i < end && bytes[i] == JSONByte.dot {
            i &+= 1
            guard isDigit(at: i) else { throw fail("invalid number: expected a digit after '.'", at: i) }
            while isDigit(at: i) { i &+= 1 }
            isPlainInteger = false
        }
        if i < end && (bytes[i] == 0x65 || bytes[i] == 0x45) {
            i &+= 1
            if i < end && (bytes[i] == JSONByte.plus || bytes[i] == JSONByte.minus) { i &+= 1 }
            guard isDigit(at: i) else { throw fail("invalid number: expected a digit in the exponent", at: i) }
            while isDigit(at: i) { i &+= 1 }
            isPlainInteger = false
        }
        pos = i

        // Integers of up to 15 digits convert exactly through Int64; the rest go to the
        // correctly rounded stdlib conversion.
        if isPlainInteger && integerDigits <= 15 {
            var v: Int64 = 0
            var k = integerStart
            while k < i {
                v = v &* 10 &+ Int64(bytes[k] &- JSONByte.zero)
                k &+= 1
            }
            let d = Double(v)
            return negative ? -d : d
        }
        let text = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[start..<i]), as: UTF8.self)
        guard let d = Double(text) else { throw fail("invalid number", at: start) }
        return d
    }
}
