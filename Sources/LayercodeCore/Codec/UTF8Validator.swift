// SPDX-License-Identifier: Apache-2.0
// Streaming UTF-8 validation: a DFA over the well-formed byte sequences of Unicode Table 3-7
// (the same automaton as Hoehrmann's decoder, written as explicit states). It rejects overlong
// forms, surrogates (ED A0..BF) and anything above U+10FFFF at the first byte that makes the
// input impossible, which is what WebSocket's "fail fast" on text frames needs.

public struct UTF8Validator: Sendable {
    // States. `accept` is the only boundary state; `reject` is sticky until reset().
    @usableFromInline static let accept: UInt8 = 0
    @usableFromInline static let need1: UInt8 = 1      // one more 80..BF
    @usableFromInline static let need2: UInt8 = 2      // two more 80..BF
    @usableFromInline static let need3: UInt8 = 3      // three more 80..BF
    @usableFromInline static let afterE0: UInt8 = 4    // A0..BF, then one more
    @usableFromInline static let afterED: UInt8 = 5    // 80..9F (no surrogates), then one more
    @usableFromInline static let afterF0: UInt8 = 6    // 90..BF, then two more
    @usableFromInline static let afterF4: UInt8 = 7    // 80..8F (<= U+10FFFF), then two more
    @usableFromInline static let reject: UInt8 = 8

    private var state: UInt8 = UTF8Validator.accept

    public init() {}

    /// True when the bytes fed so far end on a character boundary (no sequence half-read).
    /// False after a failure.
    public var isAtBoundary: Bool { state == UTF8Validator.accept }

    /// True once some fed byte made the input invalid; stays true until `reset()`.
    public var hasFailed: Bool { state == UTF8Validator.reject }

    public mutating func reset() { state = UTF8Validator.accept }

    @inline(__always)
    @usableFromInline
    static func step(_ state: UInt8, _ byte: UInt8) -> UInt8 {
        switch state {
        case accept:
            switch byte {
            case 0x00...0x7F: return accept
            case 0xC2...0xDF: return need1
            case 0xE0: return afterE0
            case 0xE1...0xEC, 0xEE...0xEF: return need2
            case 0xED: return afterED
            case 0xF0: return afterF0
            case 0xF1...0xF3: return need3
            case 0xF4: return afterF4
            default: return reject   // 80..C1 (stray continuation, overlong lead), F5..FF
            }
        case need1: return byte & 0xC0 == 0x80 ? accept : reject
        case need2: return byte & 0xC0 == 0x80 ? need1 : reject
        case need3: return byte & 0xC0 == 0x80 ? need2 : reject
        case afterE0: return (0xA0...0xBF).contains(byte) ? need1 : reject
        case afterED: return (0x80...0x9F).contains(byte) ? need1 : reject
        case afterF0: return (0x90...0xBF).contains(byte) ? need2 : reject
        case afterF4: return (0x80...0x8F).contains(byte) ? need2 : reject
        default: return reject
        }
    }

    /// Feeds more bytes. Returns false as soon as the bytes so far cannot be the prefix of
    /// valid UTF-8 (and keeps returning false until `reset()`).
    @discardableResult
    public mutating func feed(_ bytes: UnsafeRawBufferPointer) -> Bool {
        var s = state
        if s == UTF8Validator.reject { return false }
        let n = bytes.count
        var i = 0
        while i < n {
            if s == UTF8Validator.accept {
                // ASCII runs, eight bytes at a time.
                while i &+ 8 <= n {
                    let word = bytes.loadUnaligned(fromByteOffset: i, as: UInt64.self)
                    if word & 0x8080_8080_8080_8080 != 0 { break }
                    i &+= 8
                }
                while i < n && bytes[i] < 0x80 { i &+= 1 }
                if i == n { break }
            }
            s = UTF8Validator.step(s, bytes[i])
            if s == UTF8Validator.reject {
                state = s
                return false
            }
            i &+= 1
        }
        state = s
        return true
    }

    @discardableResult
    public mutating func feed(_ bytes: [UInt8]) -> Bool {
        bytes.withUnsafeBytes { feed($0) }
    }

    /// Whether `bytes` is, as a whole, valid UTF-8.
    public static func isValid(_ bytes: UnsafeRawBufferPointer) -> Bool {
        var v = UTF8Validator()
        return v.feed(bytes) && v.isAtBoundary
    }

    public static func isValid(_ bytes: [UInt8]) -> Bool {
        bytes.withUnsafeBytes { isValid($0) }
    }

    /// The length (1...4) of the well-formed sequence that starts at `offset`, or 0 when the
    /// bytes there are not one (invalid, or cut off by the end of the buffer).
    @inlinable
    public static func sequenceLength(in bytes: UnsafeRawBufferPointer, at offset: Int) -> Int {
        var s = accept
        var i = offset
        let n = bytes.count
        while i >= 0 && i < n {
            s = step(s, bytes[i])
            i &+= 1
            if s == accept { return i &- offset }
            if s == reject { return 0 }
        }
        return 0
    }
}
