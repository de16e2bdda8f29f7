// SPDX-License-Identifier: Apache-2.0
/// Ogg pages (RFC 3533 §6): the container the session recorder writes (OggOpusWriter) and
/// its tests and fuzz target read back (OggReader). Pure: bytes in, bytes out.

/// The Ogg CRC-32: polynomial 0x04c11db7, not reflected, initial value 0, no final XOR,
/// computed over the whole page with its CRC field zeroed.
public enum OggCRC {
    static let table: [UInt32] = (0..<256).map { i -> UInt32 in
        var r = UInt32(i) << 24
        for _ in 0..<8 { r = (r & 0x8000_0000) != 0 ? (r << 1) ^ 0x04C1_1DB7 : r << 1 }
        return r
    }

    /// Continues `crc` over `bytes`.
    public static func update(_ crc: UInt32, _ bytes: UnsafeRawBufferPointer) -> UInt32 {
        var c = crc
        table.withUnsafeBufferPointer { t in
            for b in bytes { c = (c << 8) ^ t[Int((c >> 24) ^ UInt32(b))] }
        }
        return c
    }

    public static func checksum(_ bytes: [UInt8]) -> UInt32 {
        bytes.withUnsafeBytes { update(0, $0) }
    }
}

/// One Ogg page: its header fields, lacing values and body.
public struct OggPage: Equatable, Sendable {
    /// Header type flags (byte 5).
    public struct Flags: OptionSet, Equatable, Sendable {
        public let rawValue: UInt8
        public init(rawValue: UInt8) { self.rawValue = rawValue }
        /// The page's first packet continues one from the previous page.
        public static let continued = Flags(rawValue: 0x01)
        /// Beginning of stream: the stream's first page.
        public static let bos = Flags(rawValue: 0x02)
        /// End of stream: its last page.
        public static let eos = Flags(rawValue: 0x04)
    }

    public static let headerBytes = 27
    /// 255 lacing values of 255 bytes each.
    public static let maxBodyBytes = 255 * 255

    public var flags: Flags
    /// The codec's position at the end of the last packet completed on this page; -1 (all
    /// ones) when no packet ends here.
    public var granulePosition: UInt64
    public var serial: UInt32
    public var sequence: UInt32
    /// The lacing values (segment table), at most 255.
    public var lacing: [UInt8]
    public var body: [UInt8]

    public init(flags: Flags, granulePosition: UInt64, serial: UInt32, sequence: UInt32,
                lacing: [UInt8], body: [UInt8]) {
        self.flags = flags
        self.granulePosition = granulePosition
        self.serial = serial
        self.sequence = sequence
        self.lacing = lacing
        self.body = body
    }

    /// The page's bytes, CRC included. The lacing must describe the body (count ≤ 255,
    /// sum = body size): `OggPage.lacing(for:)` builds it for whole packets.
    public func encoded() -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(Self.headerBytes + lacing.count + body.count)
        out += [0x4F, 0x67, 0x67, 0x53, 0]  // "OggS", version 0
        out.append(flags.rawValue)
        for i in 0..<8 { out.append(UInt8(truncatingIfNeeded: granulePosition >> (8 * UInt64(i)))) }
        for i in 0..<4 { out.append(UInt8(truncatingIfNeeded: serial >> (8 * UInt32(i)))) }
        for i in 0..<4 { out.append(UInt8(truncatingIfNeeded: sequence >> (8 * UInt32(i)))) }
        out += [0, 0, 0, 0]  // CRC, filled below
        out.append(UInt8(lacing.count))
        out += lacing
        out += body
        let crc = OggCRC.checksum(out)
        for i in 0..<4 { out[22 + i] = UInt8(truncatingIfNeeded: crc >> (8 * UInt32(i))) }
        return out
    }

    /// Lacing values for one whole packet of `size` bytes: 255s then the remainder (a 0
    /// ends a packet whose size is a multiple of 255).
    public static func lacing(for size: Int) -> [UInt8] {
        var values = [UInt8](repeating: 255, count: size / 255)
        values.append(UInt8(size % 255))
        return values
    }

    /// Parses the page at the start of `bytes`. Returns nil while `bytes` holds only part
    /// of a page (read more); the page and its byte count otherwise. Throws
    /// `.protocolViolation` for a bad capture pattern, version, unknown flag bits or CRC.
    public static func parse(_ bytes: UnsafeRawBufferPointer) throws(LayercodeError) -> (page: OggPage, count: Int)? {
        let n = bytes.count
        // The capture pattern is checked as soon as its bytes are there.
        let capture: [UInt8] = [0x4F, 0x67, 0x67, 0x53]
        for i in 0..<min(4, n) where bytes[i] != capture[i] {
            throw LayercodeError(.protocolViolation, "Ogg: no capture pattern (OggS) at a page start")
        }
        if n > 4 && bytes[4] != 0 {
            throw LayercodeError(.protocolViolation, "Ogg: stream structure version \(bytes[4]), not 0")
        }
        if n > 5 && bytes[5] & ~0x07 != 0 {
            throw LayercodeError(.protocolViolation, "Ogg: unknown header type flags \(bytes[5])")
        }
        guard n >= headerBytes else { return nil }
        let segments = Int(bytes[26])
        guard n >= headerBytes + segments else { return nil }
        var bodySize = 0
        for i in 0..<segments { bodySize += Int(bytes[headerBytes + i]) }
        let total = headerBytes + segments + bodySize
        guard n >= total else { return nil }
        func le(_ at: Int, _ count: Int) -> UInt64 {
            var v: UInt64 = 0
            for i in 0..<count { v |= UInt64(bytes[at + i]) << (8 * UInt64(i)) }
            return v
        }
        let stored = UInt32(le(22, 4))
        var crc = OggCRC.update(0, UnsafeRawBufferPointer(rebasing: bytes[0..<22]))
        let zero: [UInt8] = [0, 0, 0, 0]
        crc = zero.withUnsafeBytes { OggCRC.update(crc, $0) }
        crc = OggCRC.update(crc, UnsafeRawBufferPointer(rebasing: bytes[26..<total]))
        guard crc == stored else {
            throw LayercodeError(.protocolViolation, "Ogg: page CRC mismatch")
        }
        let page = OggPage(
            flags: Flags(rawValue: bytes[5]), granulePosition: le(6, 8), serial: UInt32(le(14, 4)),
            sequence: UInt32(le(18, 4)),
            lacing: Array(UnsafeRawBufferPointer(rebasing: bytes[headerBytes..<headerBytes + segments])),
            body: Array(UnsafeRawBufferPointer(rebasing: bytes[headerBytes + segments..<total])))
        return (page, total)
    }
}
