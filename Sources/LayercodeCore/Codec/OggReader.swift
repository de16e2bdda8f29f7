// SPDX-License-Identifier: Apache-2.0
/// Reads one logical Ogg stream back into packets (RFC 3533), checking every page: capture
/// pattern, version, CRC, one serial, consecutive sequence numbers, BOS first and only
/// first, nothing after EOS, continuation flags that match a packet left open, granule
/// positions that never go back. The recorder's tests and the `ogg` fuzz target use it; the
/// library itself only writes Ogg. Bytes may arrive split anywhere. Errors are sticky.
/// Memory is bounded: at most one page (≤ 65,307 bytes) plus the unparsed part of the last
/// push, and one packet of `maxPacketBytes`.
public struct OggReader: Sendable {
    public struct Packet: Equatable, Sendable {
        public var bytes: [UInt8]
        /// The granule position of the page this packet ends on.
        public var granulePosition: UInt64
        /// Whether it is the last packet ending on its page (the one the granule describes).
        public var lastOnPage: Bool
        /// Whether its page is the stream's last (EOS).
        public var endOfStream: Bool
    }

    public let maxPacketBytes: Int
    public private(set) var pageCount = 0
    public private(set) var serial: UInt32 = 0
    public private(set) var sawEndOfStream = false
    public private(set) var lastGranule: UInt64 = 0
    private var buffer: [UInt8] = []
    private var partial: [UInt8] = []
    private var partialOpen = false
    private var error: LayercodeError?

    public init(maxPacketBytes: Int = 1 << 16) {
        self.maxPacketBytes = maxPacketBytes
    }

    /// Feeds bytes; returns the packets completed by the pages they finish.
    public mutating func push(_ bytes: UnsafeRawBufferPointer) throws(LayercodeError) -> [Packet] {
        if let error { throw error }
        buffer += bytes
        var packets: [Packet] = []
        var consumed = 0
        do throws(LayercodeError) {
            while true {
                var failure: LayercodeError?
                let parsed = buffer.withUnsafeBytes { all -> (page: OggPage, count: Int)? in
                    do throws(LayercodeError) {
                        return try OggPage.parse(UnsafeRawBufferPointer(rebasing: all[consumed...]))
                    } catch {
                        failure = error
                        return nil
                    }
                }
                if let failure { throw failure }
                guard let parsed else { break }
                consumed += parsed.count
                try accept(parsed.page, into: &packets)
            }
        } catch {
            self.error = error
            buffer = []
            throw error
        }
        buffer.removeFirst(consumed)
        return packets
    }

    /// The stream is over: throws if a page or a packet was left incomplete or no EOS came.
    public mutating func finish() throws(LayercodeError) {
        if let error { throw error }
        let failure: String? = !buffer.isEmpty ? "Ogg: the stream ends inside a page"
            : partialOpen ? "Ogg: the stream ends inside a packet"
            : pageCount == 0 ? "Ogg: no pages" : !sawEndOfStream ? "Ogg: no end-of-stream page" : nil
        if let failure {
            let e = LayercodeError(.protocolViolation, failure)
            error = e
            throw e
        }
    }

    private mutating func accept(_ page: OggPage, into packets: inout [Packet]) throws(LayercodeError) {
        func fail(_ message: String) -> LayercodeError { LayercodeError(.protocolViolation, "Ogg: " + message) }
        if pageCount == 0 {
            guard page.flags.contains(.bos) else { throw fail("the first page is not BOS") }
            serial = page.serial
        } else {
            guard !page.flags.contains(.bos) else { throw fail("BOS on a later page") }
            guard page.serial == serial else { throw fail("a second logical stream (serial changed)") }
        }
        guard !sawEndOfStream else { throw fail("a page after EOS") }
        guard page.sequence == UInt32(truncatingIfNeeded: pageCount) else {
            throw fail("page sequence \(page.sequence), expected \(pageCount) (a page lost?)")
        }
        guard page.flags.contains(.continued) == partialOpen else {
            throw fail(partialOpen ? "an open packet is not continued" : "a continued page with no open packet")
        }
        pageCount += 1
        if page.flags.contains(.eos) { sawEndOfStream = true }
        var completed: [[UInt8]] = []
        var offset = 0
        for value in page.lacing {
            let size = Int(value)
            guard partial.count + size <= maxPacketBytes else { throw fail("a packet over \(maxPacketBytes) bytes") }
            partial += page.body[offset..<offset + size]
            offset += size
            partialOpen = true
            if value < 255 {
                completed.append(partial)
                partial = []
                partialOpen = false
            }
        }
        if !completed.isEmpty {
            // -1 marks a page where no packet ends; a page that ends one must carry a position.
            guard page.granulePosition != UInt64.max else { throw fail("a page ending packets has granule -1") }
            guard page.granulePosition >= lastGranule else {
                throw fail("granule position went back")
            }
            lastGranule = page.granulePosition
        }
        for (i, bytes) in completed.enumerated() {
            packets.append(Packet(bytes: bytes, granulePosition: page.granulePosition,
                                  lastOnPage: i == completed.count - 1,
                                  endOfStream: page.flags.contains(.eos)))
        }
    }
}

/// What an Ogg Opus stream's headers say (RFC 7845 §5).
public struct OpusHead: Equatable, Sendable {
    public var version: UInt8
    public var channels: Int
    public var preSkip: Int
    public var inputSampleRate: Int
    public var outputGain: Int16
    public var mappingFamily: UInt8

    /// Parses an identification header: "OpusHead", version 1 (major 0), 1+ channels,
    /// family 0 (1 or 2 channels, 19 bytes) or another family with its table.
    public static func parse(_ p: [UInt8]) throws(LayercodeError) -> OpusHead {
        func fail(_ m: String) -> LayercodeError { LayercodeError(.protocolViolation, "OpusHead: " + m) }
        guard p.count >= 19, Array(p[0..<8]) == Array("OpusHead".utf8) else { throw fail("missing or short") }
        guard p[8] >> 4 == 0 else { throw fail("unsupported version \(p[8])") }
        let head = OpusHead(version: p[8], channels: Int(p[9]), preSkip: Int(p[10]) | Int(p[11]) << 8,
                            inputSampleRate: Int(p[12]) | Int(p[13]) << 8 | Int(p[14]) << 16 | Int(p[15]) << 24,
                            outputGain: Int16(bitPattern: UInt16(p[16]) | UInt16(p[17]) << 8),
                            mappingFamily: p[18])
        guard head.channels >= 1 else { throw fail("0 channels") }
        if head.mappingFamily == 0 {
            guard head.channels <= 2 else { throw fail("family 0 with \(head.channels) channels") }
        } else {
            guard p.count >= 21 + head.channels else { throw fail("channel mapping table short") }
        }
        return head
    }
}

/// An Ogg Opus comment header (RFC 7845 §5.2).
public struct OpusTags: Equatable, Sendable {
    public var vendor: String
    public var comments: [String]

    /// Parses "OpusTags", the vendor string and the comments, every length checked against
    /// the packet (a comment count no packet could hold is refused before anything is kept).
    public static func parse(_ p: [UInt8]) throws(LayercodeError) -> OpusTags {
        func fail(_ m: String) -> LayercodeError { LayercodeError(.protocolViolation, "OpusTags: " + m) }
        guard p.count >= 16, Array(p[0..<8]) == Array("OpusTags".utf8) else { throw fail("missing or short") }
        var at = 8
        func u32() throws(LayercodeError) -> Int {
            guard p.count - at >= 4 else { throw fail("truncated") }
            defer { at += 4 }
            return Int(p[at]) | Int(p[at + 1]) << 8 | Int(p[at + 2]) << 16 | Int(p[at + 3]) << 24
        }
        func string() throws(LayercodeError) -> String {
            let n = try u32()
            guard p.count - at >= n else { throw fail("a string runs past the packet") }
            defer { at += n }
            return String(decoding: p[at..<at + n], as: UTF8.self)
        }
        let vendor = try string()
        let count = try u32()
        guard count <= (p.count - at) / 4 else { throw fail("\(count) comments cannot fit") }
        var comments: [String] = []
        for _ in 0..<count { comments.append(try string()) }
        return OpusTags(vendor: vendor, comments: comments)
    }
}
