// SPDX-License-Identifier: Apache-2.0
// Base64 (RFC 4648 section 4) for audio payloads. Encoding uses the standard alphabet with
// padding. Decoding is lenient where it is harmless (padding optional, base64url `-` `_`
// accepted, non-zero trailing bits ignored) and strict where it matters (any other character,
// misplaced `=`, or an impossible length returns nil).

public enum Base64 {
    private static let alphabet: StaticString = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"

    /// 6-bit value per byte; 0xFF marks characters outside the (standard + url) alphabet.
    private static let decodeTable: [UInt8] = {
        var table = [UInt8](repeating: 0xFF, count: 256)
        let a = alphabet.utf8Start
        for i in 0..<64 { table[Int(a[i])] = UInt8(i) }
        table[0x2D] = 62  // '-'
        table[0x5F] = 63  // '_'
        return table
    }()

    /// Length of the padded encoding of `count` bytes.
    public static func encodedLength(_ count: Int) -> Int {
        let (full, rest) = count.quotientAndRemainder(dividingBy: 3)
        return full &* 4 &+ (rest == 0 ? 0 : 4)
    }

    /// Writes exactly `encodedLength(src.count)` bytes at `dst`.
    private static func encode(_ src: UnsafeRawBufferPointer, to dst: UnsafeMutablePointer<UInt8>) {
        let table = alphabet.utf8Start
        let n = src.count
        var i = 0
        var o = 0
        while n &- i >= 3 {
            let v = UInt32(src[i]) << 16 | UInt32(src[i &+ 1]) << 8 | UInt32(src[i &+ 2])
            dst[o] = table[Int(v >> 18)]
            dst[o &+ 1] = table[Int((v >> 12) & 0x3F)]
            dst[o &+ 2] = table[Int((v >> 6) & 0x3F)]
            dst[o &+ 3] = table[Int(v & 0x3F)]
            i &+= 3
            o &+= 4
        }
        switch n &- i {
        case 1:
            let v = UInt32(src[i]) << 16
            dst[o] = table[Int(v >> 18)]
            dst[o &+ 1] = table[Int((v >> 12) & 0x3F)]
            dst[o &+ 2] = 0x3D
            dst[o &+ 3] = 0x3D
        case 2:
            let v = UInt32(src[i]) << 16 | UInt32(src[i &+ 1]) << 8
            dst[o] = table[Int(v >> 18)]
            dst[o &+ 1] = table[Int((v >> 12) & 0x3F)]
            dst[o &+ 2] = table[Int((v >> 6) & 0x3F)]
            dst[o &+ 3] = 0x3D
        default:
            break
        }
    }

    public static func encode(_ bytes: UnsafeRawBufferPointer) -> String {
        let length = encodedLength(bytes.count)
        guard length > 0 else { return "" }
        return String(unsafeUninitializedCapacity: length) { buffer in
            if let base = buffer.baseAddress { encode(bytes, to: base) }
            return length
        }
    }

    public static func encode(_ bytes: [UInt8]) -> String {
        bytes.withUnsafeBytes { encode($0) }
    }

    /// Appends the ASCII encoding of `bytes` to `out`.
    public static func encode(into out: inout [UInt8], _ bytes: UnsafeRawBufferPointer) {
        let length = encodedLength(bytes.count)
        guard length > 0 else { return }
        let start = out.count
        out.append(contentsOf: repeatElement(0, count: length))
        out.withUnsafeMutableBufferPointer { buffer in
            if let base = buffer.baseAddress { encode(bytes, to: base + start) }
        }
    }

    /// Decoded size for `text.count` characters, or nil when the length or padding is impossible.
    /// Also returns the number of significant (non-padding) characters.
    private static func plan(_ text: UnsafeRawBufferPointer) -> (significant: Int, outputLength: Int)? {
        var n = text.count
        var padding = 0
        while n > 0 && padding < 2 && text[n &- 1] == 0x3D {
            n &-= 1
            padding &+= 1
        }
        if padding > 0 && text.count % 4 != 0 { return nil }
        let (quads, rest) = n.quotientAndRemainder(dividingBy: 4)
        if rest == 1 { return nil }
        return (n, quads &* 3 &+ (rest == 0 ? 0 : rest &- 1))
    }

    /// Decodes `n` significant characters into `dst`; false on a character outside the alphabet.
    private static func decode(_ text: UnsafeRawBufferPointer, significant n: Int,
                               table: UnsafeBufferPointer<UInt8>, to dst: UnsafeMutablePointer<UInt8>) -> Bool {
        var i = 0
        var o = 0
        while n &- i >= 4 {
            let a = table[Int(text[i])], b = table[Int(text[i &+ 1])]
            let c = table[Int(text[i &+ 2])], d = table[Int(text[i &+ 3])]
            if (a | b | c | d) & 0x80 != 0 { return false }
            let v = UInt32(a) << 18 | UInt32(b) << 12 | UInt32(c) << 6 | UInt32(d)
            dst[o] = UInt8(truncatingIfNeeded: v >> 16)
            dst[o &+ 1] = UInt8(truncatingIfNeeded: v >> 8)
            dst[o &+ 2] = UInt8(truncatingIfNeeded: v)
            i &+= 4
            o &+= 3
        }
        switch n &- i {
        case 2:
            let a = table[Int(text[i])], b = table[Int(text[i &+ 1])]
            if (a | b) & 0x80 != 0 { return false }
            dst[o] = a << 2 | b >> 4
        case 3:
            let a = table[Int(text[i])], b = table[Int(text[i &+ 1])], c = table[Int(text[i &+ 2])]
            if (a | b | c) & 0x80 != 0 { return false }
            dst[o] = a << 2 | b >> 4
            dst[o &+ 1] = b << 4 | c >> 2
        default:
            break
        }
        return true
    }

    /// The decoded bytes, or nil when `text` is not base64.
    public static func decode(_ text: UnsafeRawBufferPointer) -> [UInt8]? {
        guard let (n, length) = plan(text) else { return nil }
        guard length > 0 else { return [] }
        var ok = false
        let result = decodeTable.withUnsafeBufferPointer { table in
            [UInt8](unsafeUninitializedCapacity: length) { buffer, initialized in
                guard let base = buffer.baseAddress else { return }
                ok = decode(text, significant: n, table: table, to: base)
                initialized = ok ? length : 0
            }
        }
        return ok ? result : nil
    }

    /// Appends the decoded bytes to `out` (reusing its capacity); false, with `out` unchanged,
    /// when `text` is not base64.
    public static func decode(_ text: UnsafeRawBufferPointer, appendingTo out: inout [UInt8]) -> Bool {
        guard let (n, length) = plan(text) else { return false }
        guard length > 0 else { return true }
        let start = out.count
        out.append(contentsOf: repeatElement(0, count: length))
        let ok = decodeTable.withUnsafeBufferPointer { table in
            out.withUnsafeMutableBufferPointer { buffer in
                guard let base = buffer.baseAddress else { return false }
                return decode(text, significant: n, table: table, to: base + start)
            }
        }
        if !ok { out.removeSubrange(start...) }
        return ok
    }

    public static func decode(_ text: [UInt8]) -> [UInt8]? {
        text.withUnsafeBytes { decode($0) }
    }

    public static func decode(_ text: String) -> [UInt8]? {
        if let result = text.utf8.withContiguousStorageIfAvailable({ decode(UnsafeRawBufferPointer($0)) }) {
            return result
        }
        return decode(Array(text.utf8))
    }
}
