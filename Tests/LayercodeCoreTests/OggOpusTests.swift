// SPDX-License-Identifier: Apache-2.0
import XCTest
@testable import LayercodeCore

/// The Ogg page writer and reader (RFC 3533, RFC 7845): CRC, pages, granules, EOS, and the
/// reader refusing malformed streams.
final class OggOpusTests: XCTestCase {
    /// The OpusHead page opusenc 0.2 wrote for a 16 kHz mono file with `--serial 1234`.
    static let opusencHeadPage: [UInt8] = hex(
        "4f67675300020000000000000000d204000000000000725b018a01134f7075734865616401013801803e0000000000")

    static func hex(_ s: String) -> [UInt8] {
        var out: [UInt8] = []
        var i = s.startIndex
        while i < s.endIndex {
            let j = s.index(i, offsetBy: 2)
            out.append(UInt8(s[i..<j], radix: 16)!)
            i = j
        }
        return out
    }

    func read(_ bytes: [UInt8], split: Int = 0) throws -> (OggReader, [OggReader.Packet]) {
        var reader = OggReader()
        var packets: [OggReader.Packet] = []
        if split <= 0 {
            packets = try bytes.withUnsafeBytes { try reader.push($0) }
        } else {
            for start in stride(from: 0, to: bytes.count, by: split) {
                let chunk = Array(bytes[start..<min(bytes.count, start + split)])
                packets += try chunk.withUnsafeBytes { try reader.push($0) }
            }
        }
        try reader.finish()
        return (reader, packets)
    }

    func testCRCKnownVectors() {
        // CRC-32/OGG's check value (poly 0x04c11db7, init 0, no reflection, no xor-out).
        XCTAssertEqual(OggCRC.checksum(Array("123456789".utf8)), 0x89A1_897F)
        XCTAssertEqual(OggCRC.checksum([]), 0)
        // opusenc's page: its stored CRC is what we compute over it with the field zeroed.
        var page = Self.opusencHeadPage
        let stored = UInt32(page[22]) | UInt32(page[23]) << 8 | UInt32(page[24]) << 16 | UInt32(page[25]) << 24
        for i in 22..<26 { page[i] = 0 }
        XCTAssertEqual(OggCRC.checksum(page), stored)
    }

    func testWriterReproducesOpusencHeadPageByteForByte() throws {
        var writer = OggOpusWriter(serial: 1234, channels: 1, preSkip: 312)
        let headers = writer.headers(inputSampleRate: 16_000, vendor: "x", comments: [])
        XCTAssertEqual(Array(headers[0..<47]), Self.opusencHeadPage)
        let parsed = try Self.opusencHeadPage.withUnsafeBytes { try OggPage.parse($0) }
        XCTAssertEqual(parsed?.count, 47)
        XCTAssertEqual(parsed?.page.flags, .bos)
        XCTAssertEqual(try OpusHead.parse(parsed!.page.body),
                       OpusHead(version: 1, channels: 1, preSkip: 312, inputSampleRate: 16_000,
                                outputGain: 0, mappingFamily: 0))
    }

    /// 52 packets of varied sizes (one of 255 bytes, one of 600) → pages → the same packets.
    func testRoundTripGranulesPreSkipAndEOS() throws {
        var writer = OggOpusWriter(serial: 0xCAFE, channels: 2, preSkip: 312, packetsPerPage: 25)
        var file = writer.headers(inputSampleRate: 16_000, vendor: "liblayercode test",
                                  comments: ["CONVERSATION_ID=c1", "AGENT_ID=a1"])
        var sent: [[UInt8]] = []
        for i in 0..<50 {
            let size = i == 7 ? 255 : i == 9 ? 600 : 20 + i
            let packet = (0..<size).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ i) }
            sent.append(packet)
            file += packet.withUnsafeBytes { writer.append(packet: $0, samples48k: 960) }
        }
        let tail: [[UInt8]] = [[1, 2, 3], [4, 5]]
        sent += tail
        // The real audio is 50 × 960 + 400 samples: the EOS granule is the pre-skip plus
        // that (49,712), inside the last packet (the 52 decode to 49,920).
        file += writer.finish(packets: tail, samples48k: 960, endSamples48k: 50 * 960 + 400)
        XCTAssertTrue(writer.finished)
        for split in [0, 1, 13, 4096] {
            let (reader, packets) = try read(file, split: split)
            XCTAssertEqual(packets.count, 2 + sent.count)
            XCTAssertEqual(Array(packets.dropFirst(2).map(\.bytes)), sent)
            let head = try OpusHead.parse(packets[0].bytes)
            XCTAssertEqual(head.channels, 2)
            XCTAssertEqual(head.preSkip, 312)
            XCTAssertEqual(head.inputSampleRate, 16_000)
            XCTAssertEqual(head.mappingFamily, 0)
            let tags = try OpusTags.parse(packets[1].bytes)
            XCTAssertEqual(tags.vendor, "liblayercode test")
            XCTAssertEqual(tags.comments, ["CONVERSATION_ID=c1", "AGENT_ID=a1"])
            // Header pages: granule 0. Audio pages: 25 packets each, granule at their end.
            XCTAssertEqual(packets[0].granulePosition, 0)
            XCTAssertEqual(packets[1].granulePosition, 0)
            // Audio pages: samples decoded through their last packet (pre-skip among them).
            XCTAssertEqual(packets[2 + 24].granulePosition, 25 * 960)
            XCTAssertTrue(packets[2 + 24].lastOnPage)
            XCTAssertEqual(packets[2 + 49].granulePosition, 50 * 960)
            // EOS: pre-skip + the real length, not the 52 packets' 49,920 samples.
            XCTAssertTrue(packets.last!.endOfStream)
            XCTAssertEqual(reader.lastGranule, 312 + 50 * 960 + 400)
            XCTAssertEqual(reader.pageCount, 5)
        }
    }

    func testFlushPageEmitsWhatIsQueuedAndNothingWhenEmpty() throws {
        var writer = OggOpusWriter(serial: 1, channels: 1, preSkip: 0)
        var file = writer.headers(inputSampleRate: 16_000, vendor: "v", comments: [])
        XCTAssertEqual(writer.flushPage(), [])
        let p: [UInt8] = [9, 9]
        file += p.withUnsafeBytes { writer.append(packet: $0, samples48k: 960) }
        let page = writer.flushPage()
        XCTAssertFalse(page.isEmpty)
        file += page
        file += writer.finish(packets: [], samples48k: 960, endSamples48k: 960)
        let (reader, packets) = try read(file)
        XCTAssertEqual(packets.count, 3)
        XCTAssertTrue(reader.sawEndOfStream)
        XCTAssertEqual(reader.lastGranule, 960)
    }

    func testLargeTagsSpanPages() throws {
        var writer = OggOpusWriter(serial: 5, channels: 1, preSkip: 0)
        // 65,000 bytes: over one page body (64,770), under the reader's 64 KiB packet limit.
        let big = "X=" + String(repeating: "y", count: 65_000)
        var file = writer.headers(inputSampleRate: 16_000, vendor: "v", comments: [big])
        file += writer.finish(packets: [[1]], samples48k: 960, endSamples48k: 960)
        let (_, packets) = try read(file)
        XCTAssertEqual(try OpusTags.parse(packets[1].bytes).comments, [big])
    }

    func validFile() -> [UInt8] {
        var writer = OggOpusWriter(serial: 77, channels: 2, preSkip: 312, packetsPerPage: 2)
        var file = writer.headers(inputSampleRate: 16_000, vendor: "v", comments: [])
        for i in 0..<4 {
            let p: [UInt8] = [UInt8(i), 1, 2]
            file += p.withUnsafeBytes { writer.append(packet: $0, samples48k: 960) }
        }
        file += writer.finish(packets: [[7]], samples48k: 960, endSamples48k: 4 * 960)
        return file
    }

    func assertRefused(_ bytes: [UInt8], _ fragment: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try read(bytes), file: file, line: line) { error in
            let message = (error as? LayercodeError)?.message ?? ""
            XCTAssertTrue(message.contains(fragment), "\(message) lacks \(fragment)", file: file, line: line)
        }
    }

    /// Offsets of each page in `file`.
    func pageOffsets(_ file: [UInt8]) throws -> [Int] {
        var offsets: [Int] = []
        var at = 0
        while at < file.count {
            offsets.append(at)
            at += try file[at...].withUnsafeBytes { try OggPage.parse($0)!.count }
        }
        return offsets
    }

    func testMalformedPagesRejected() throws {
        let good = validFile()
        XCTAssertNoThrow(try read(good))
        let offsets = try pageOffsets(good)
        var bad = good
        bad[offsets[2] + 40] ^= 0x01  // a body byte: CRC
        assertRefused(bad, "CRC")
        bad = good
        bad[0] = UInt8(ascii: "X")
        assertRefused(bad, "capture pattern")
        bad = good
        bad[4] = 1
        assertRefused(bad, "version")
        bad = good
        bad[5] |= 0x08
        assertRefused(bad, "flags")
        // A page removed: the sequence numbers skip.
        bad = Array(good[0..<offsets[2]] + good[offsets[3]...])
        assertRefused(bad, "sequence")
        // Truncated: inside a page; no EOS page at all.
        assertRefused(Array(good.dropLast(3)), "inside a page")
        assertRefused(Array(good[0..<offsets.last!]), "no end-of-stream")
        assertRefused([], "no pages")
    }

    /// Pages rebuilt with their CRC right but their structure wrong.
    func testStructurallyWrongPagesRejected() throws {
        func page(_ flags: OggPage.Flags, serial: UInt32 = 1, seq: UInt32, granule: UInt64 = 0,
                  lacing: [UInt8], body: [UInt8]) -> [UInt8] {
            OggPage(flags: flags, granulePosition: granule, serial: serial, sequence: seq, lacing: lacing,
                    body: body).encoded()
        }
        let bos = page(.bos, seq: 0, lacing: [1], body: [0])
        assertRefused(page([], seq: 0, lacing: [1], body: [0]), "not BOS")
        assertRefused(bos + page(.bos, seq: 1, lacing: [1], body: [0]), "BOS on a later page")
        assertRefused(bos + page(.eos, serial: 2, seq: 1, lacing: [1], body: [0]), "serial")
        assertRefused(bos + page(.continued, seq: 1, lacing: [1], body: [0]), "no open packet")
        let open = page([], seq: 1, granule: UInt64.max, lacing: [255], body: [UInt8](repeating: 1, count: 255))
        assertRefused(bos + open + page(.eos, seq: 2, lacing: [1], body: [0]), "not continued")
        assertRefused(bos + page(.eos, seq: 1, lacing: [1], body: [0]) + page([], seq: 2, lacing: [1], body: [0]),
                      "after EOS")
        assertRefused(bos + page([], seq: 1, granule: 100, lacing: [1], body: [0])
                      + page(.eos, seq: 2, granule: 50, lacing: [1], body: [0]), "went back")
        assertRefused(bos + page(.eos, seq: 1, granule: UInt64.max, lacing: [1], body: [0]), "granule -1")
        // A packet continued across pages beyond the reader's limit.
        var reader = OggReader(maxPacketBytes: 300)
        let long = bos + open + page([.continued, .eos], seq: 2, lacing: [255, 0],
                                     body: [UInt8](repeating: 2, count: 255))
        XCTAssertThrowsError(try long.withUnsafeBytes { try reader.push($0) })
        // Sticky: the next push fails too.
        XCTAssertThrowsError(try bos.withUnsafeBytes { try reader.push($0) })
    }

    func testOpusHeadAndTagsRefuseBadPackets() {
        XCTAssertThrowsError(try OpusHead.parse(Array("OpusHead".utf8)))
        var head = OggOpusWriter.opusHead(channels: 2, preSkip: 312, inputSampleRate: 16_000)
        head[8] = 0x10
        XCTAssertThrowsError(try OpusHead.parse(head))
        head = OggOpusWriter.opusHead(channels: 3, preSkip: 312, inputSampleRate: 16_000)
        XCTAssertThrowsError(try OpusHead.parse(head))
        var tags = OggOpusWriter.opusTags(vendor: "v", comments: ["A=b"])
        XCTAssertEqual(try OpusTags.parse(tags), OpusTags(vendor: "v", comments: ["A=b"]))
        tags[8] = 200  // vendor length past the end
        XCTAssertThrowsError(try OpusTags.parse(tags))
        tags = OggOpusWriter.opusTags(vendor: "v", comments: [])
        tags[13] = 0xFF; tags[14] = 0xFF; tags[15] = 0xFF; tags[16] = 0x7F  // 2^31 comments
        XCTAssertThrowsError(try OpusTags.parse(tags))
    }
}
