// SPDX-License-Identifier: Apache-2.0
// Compact RFC 8259 output: no whitespace, `/` and non-ASCII left as they are, integral
// numbers without a fraction, non-finite numbers as `null`. The byte-level helpers here
// are shared with JSONWriter.

extension JSONValue {
    /// The compact JSON text of this value.
    public func serialized() -> String {
        var out: [UInt8] = []
        out.reserveCapacity(64)
        serialize(into: &out)
        return String(decoding: out, as: UTF8.self)
    }

    /// Appends the compact JSON text of this value, as UTF-8.
    public func serialize(into out: inout [UInt8]) {
        switch self {
        case .null:
            JSONOutput.appendNull(to: &out)
        case .bool(let b):
            JSONOutput.appendBool(b, to: &out)
        case .number(let d):
            JSONOutput.appendNumber(d, to: &out)
        case .string(let s):
            JSONOutput.appendString(s, to: &out)
        case .array(let elements):
            out.append(0x5B)
            var first = true
            for element in elements {
                if !first { out.append(0x2C) }
                first = false
                element.serialize(into: &out)
            }
            out.append(0x5D)
        case .object(let object):
            out.append(0x7B)
            var first = true
            for (key, value) in object {
                if !first { out.append(0x2C) }
                first = false
                JSONOutput.appendString(key, to: &out)
                out.append(0x3A)
                value.serialize(into: &out)
            }
            out.append(0x7D)
        }
    }
}

/// Byte-level JSON output primitives.
enum JSONOutput {
    private static let hexDigits: StaticString = "0123456789abcdef"

    static func appendNull(to out: inout [UInt8]) {
        out.append(contentsOf: [0x6E, 0x75, 0x6C, 0x6C] as [UInt8])
    }

    static func appendBool(_ b: Bool, to out: inout [UInt8]) {
        if b {
            out.append(contentsOf: [0x74, 0x72, 0x75, 0x65] as [UInt8])
        } else {
            out.append(contentsOf: [0x66, 0x61, 0x6C, 0x73, 0x65] as [UInt8])
        }
    }

    /// Integral values below 2^53 in magnitude print as integers; other finite values use
    /// Swift's shortest round-trip `description` (always valid JSON for finite doubles).
    static func appendNumber(_ d: Double, to out: inout [UInt8]) {
        guard d.isFinite else { return appendNull(to: &out) }
        if d.magnitude < 9007199254740992.0, d == d.rounded(.towardZero) {
            appendInteger(Int64(d), to: &out)
        } else {
            out.append(contentsOf: d.description.utf8)
        }
    }

    static func appendInteger(_ v: Int64, to out: inout [UInt8]) {
        var magnitude = v.magnitude
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 20) { digits in
            var n = 0
            repeat {
                digits[19 &- n] = 0x30 &+ UInt8(truncatingIfNeeded: magnitude % 10)
                magnitude /= 10
                n &+= 1
            } while magnitude != 0
            if v < 0 { out.append(0x2D) }
            out.append(contentsOf: UnsafeBufferPointer(rebasing: digits[(20 &- n)...]))
        }
    }

    /// Appends `s` as a quoted JSON string.
    static func appendString(_ s: String, to out: inout [UInt8]) {
        out.append(0x22)
        let done: Void? = s.utf8.withContiguousStorageIfAvailable { appendEscaped($0, to: &out) }
        if done == nil {
            Array(s.utf8).withUnsafeBufferPointer { appendEscaped($0, to: &out) }
        }
        out.append(0x22)
    }

    /// Appends the escaped body of a string (no quotes) from valid UTF-8 bytes.
    static func appendEscaped(_ bytes: UnsafeBufferPointer<UInt8>, to out: inout [UInt8]) {
        let n = bytes.count
        var runStart = 0
        var i = 0
        while i < n {
            let c = bytes[i]
            if c >= 0x20 && c != 0x22 && c != 0x5C {
                i &+= 1
                continue
            }
            if runStart < i { out.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[runStart..<i])) }
            out.append(0x5C)
            switch c {
            case 0x22: out.append(0x22)
            case 0x5C: out.append(0x5C)
            case 0x0A: out.append(0x6E)
            case 0x0D: out.append(0x72)
            case 0x09: out.append(0x74)
            case 0x08: out.append(0x62)
            case 0x0C: out.append(0x66)
            default:
                let hex = hexDigits.utf8Start
                out.append(contentsOf: [0x75, 0x30, 0x30, hex[Int(c >> 4)], hex[Int(c & 0xF)]] as [UInt8])
            }
            i &+= 1
            runStart = i
        }
        if runStart < n { out.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[runStart..<n])) }
    }
}
