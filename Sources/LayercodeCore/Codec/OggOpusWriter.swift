// SPDX-License-Identifier: Apache-2.0
/// An Ogg Opus stream (RFC 7845) as bytes: `OpusHead` alone on the first page (BOS),
/// `OpusTags` on the second, then audio packets on later pages, each page's granule
/// position the 48 kHz sample count decoded through its last packet (the pre-skip's samples
/// are among them: RFC 7845 §4, PCM position = granule - pre-skip), and a final EOS page
/// whose granule is trimmed to the real end of the audio (pre-skip + its length). The caller
/// decides when a page goes out (`flushPage`); `append` also closes a page by itself once
/// it holds `packetsPerPage` packets. Pure: every call returns the bytes to write.
public struct OggOpusWriter: Sendable {
    public let serial: UInt32
    public let channels: Int
    /// Samples at 48 kHz the decoder discards at the start (the encoder's lookahead).
    public let preSkip: Int
    /// Packets after which `append` closes a page by itself.
    public let packetsPerPage: Int
    private var sequence: UInt32 = 0
    /// 48 kHz samples of every packet appended so far (the pre-skip's among them).
    public private(set) var granule: UInt64 = 0
    private var pendingLacing: [UInt8] = []
    private var pendingBody: [UInt8] = []
    private var pendingPackets = 0
    public private(set) var finished = false
    private var lastPageGranule: UInt64 = 0

    public init(serial: UInt32, channels: Int, preSkip: Int, packetsPerPage: Int = 25) {
        self.serial = serial
        self.channels = channels
        self.preSkip = preSkip
        self.packetsPerPage = max(1, min(packetsPerPage, 42))  // 42 × 6 lacing values ≤ 255
    }

    /// The identification header (RFC 7845 §5.1): version 1, mapping family 0.
    public static func opusHead(channels: Int, preSkip: Int, inputSampleRate: Int) -> [UInt8] {
        var p = Array("OpusHead".utf8)
        p.append(1)
        p.append(UInt8(channels))
        p.append(UInt8(preSkip & 0xFF)); p.append(UInt8((preSkip >> 8) & 0xFF))
        for i in 0..<4 { p.append(UInt8(truncatingIfNeeded: inputSampleRate >> (8 * i))) }
        p += [0, 0]  // output gain (Q7.8 dB)
        p.append(0)  // channel mapping family 0: mono or stereo, no table
        return p
    }

    /// The comment header (RFC 7845 §5.2): vendor string, then "KEY=value" comments.
    public static func opusTags(vendor: String, comments: [String]) -> [UInt8] {
        var p = Array("OpusTags".utf8)
        func put32(_ v: Int) { for i in 0..<4 { p.append(UInt8(truncatingIfNeeded: v >> (8 * i))) } }
        put32(vendor.utf8.count)
        p += Array(vendor.utf8)
        put32(comments.count)
        for c in comments {
            put32(c.utf8.count)
            p += Array(c.utf8)
        }
        return p
    }

    /// The two header pages: OpusHead (BOS) and OpusTags, each alone on its page, granule 0.
    public mutating func headers(inputSampleRate: Int, vendor: String, comments: [String]) -> [UInt8] {
        var out = page(.bos, granule: 0, packet: Self.opusHead(channels: channels, preSkip: preSkip,
                                                                inputSampleRate: inputSampleRate))
        let tags = Self.opusTags(vendor: vendor, comments: comments)
        // OpusTags may span pages (a page body holds at most 255 × 255 bytes).
        var offset = 0
        var first = true
        repeat {
            let chunk = min(tags.count - offset, 254 * 255)
            let last = offset + chunk == tags.count
            var lacing = [UInt8](repeating: 255, count: chunk / 255)
            if last { lacing.append(UInt8(chunk % 255)) }
            let p = OggPage(flags: first ? [] : .continued, granulePosition: last ? 0 : UInt64.max,
                            serial: serial, sequence: nextSequence(), lacing: lacing,
                            body: Array(tags[offset..<offset + chunk]))
            out += p.encoded()
            offset += chunk
            first = false
        } while offset < tags.count
        return out
    }

    /// Queues one audio packet of `samples48k` samples (960 for 20 ms). Returns the bytes of
    /// a page it completed (empty: none).
    public mutating func append(packet: UnsafeRawBufferPointer, samples48k: Int) -> [UInt8] {
        var out = makeRoom(for: packet.count)
        queue(packet, samples48k)
        if pendingPackets >= packetsPerPage { out += flushPage() }
        return out
    }

    /// The page of the packets queued so far (empty: nothing queued).
    public mutating func flushPage() -> [UInt8] {
        guard pendingPackets > 0 else { return [] }
        return takePending(flags: [], granule: granule)
    }

    /// The last page (EOS): the queued packets plus `packets` (each `samples48k` long), with
    /// the granule trimmed to `endSamples48k` audio samples after the pre-skip (never more
    /// than was encoded, never less than an earlier page's). Give every packet that runs
    /// past the real end here, so no earlier page claims more than the end. Later calls
    /// return nothing.
    public mutating func finish(packets: [[UInt8]], samples48k: Int, endSamples48k: Int) -> [UInt8] {
        guard !finished else { return [] }
        finished = true
        var out: [UInt8] = []
        for packet in packets {
            packet.withUnsafeBytes { bytes in
                out += makeRoom(for: bytes.count)  // only a full lacing table closes a page here
                queue(bytes, samples48k)
            }
        }
        let end = max(lastPageGranule, min(granule, UInt64(preSkip) + UInt64(max(0, endSamples48k))))
        out += pendingPackets > 0 ? takePending(flags: .eos, granule: end) : emptyEOS(end)
        return out
    }

    /// An EOS page with no packet (only when `finish` got none and nothing was queued).
    private mutating func emptyEOS(_ granule: UInt64) -> [UInt8] {
        OggPage(flags: .eos, granulePosition: granule, serial: serial, sequence: nextSequence(),
                lacing: [], body: []).encoded()
    }

    /// Packets are at most `maxPacketBytes` (Opus: 1275 per frame, 7650 for 120 ms).
    public static let maxPacketBytes = 16_384

    /// The page so far, when a packet of `size` bytes would not fit its lacing table.
    private mutating func makeRoom(for size: Int) -> [UInt8] {
        precondition(size <= Self.maxPacketBytes, "Ogg Opus packet over 16 KiB")
        return pendingLacing.count + size / 255 + 1 > 255 ? flushPage() : []
    }

    private mutating func queue(_ packet: UnsafeRawBufferPointer, _ samples48k: Int) {
        pendingLacing += OggPage.lacing(for: packet.count)
        pendingBody += packet
        pendingPackets += 1
        granule += UInt64(max(0, samples48k))
    }

    private mutating func takePending(flags: OggPage.Flags, granule: UInt64) -> [UInt8] {
        lastPageGranule = granule
        let p = OggPage(flags: flags, granulePosition: granule, serial: serial, sequence: nextSequence(),
                        lacing: pendingLacing, body: pendingBody)
        pendingLacing.removeAll(keepingCapacity: true)
        pendingBody.removeAll(keepingCapacity: true)
        pendingPackets = 0
        return p.encoded()
    }

    private mutating func page(_ flags: OggPage.Flags, granule: UInt64, packet: [UInt8]) -> [UInt8] {
        OggPage(flags: flags, granulePosition: granule, serial: serial, sequence: nextSequence(),
                lacing: OggPage.lacing(for: packet.count), body: packet).encoded()
    }

    private mutating func nextSequence() -> UInt32 {
        defer { sequence &+= 1 }
        return sequence
    }
}
