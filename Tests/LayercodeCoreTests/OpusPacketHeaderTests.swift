// SPDX-License-Identifier: Apache-2.0
import XCTest
@testable import LayercodeCore

// The Opus profile's binary message header (doc/opus-profile.md §3) and the uplink's
// numbering (issue 12 §2).

final class OpusPacketHeaderTests: XCTestCase {
    func testHeaderRoundTripsBigEndianFieldsAndThePacket() throws {
        let packet: [UInt8] = [0x48, 1, 2, 3]
        let header = OpusPacketHeader(sequence: 0x0102_0304, timestamp: 0xA0B0_C0D0)
        let bytes = packet.withUnsafeBytes { header.encode(packet: $0) }
        XCTAssertEqual(bytes, [1, 0, 1, 2, 3, 4, 0xA0, 0xB0, 0xC0, 0xD0, 0x48, 1, 2, 3])
        let (decoded, range) = try OpusPacketHeader.decode(bytes)
        XCTAssertEqual(decoded, header)
        XCTAssertEqual(Array(bytes[range]), packet)
    }

    func testFlagsAreIgnoredByTheReceiver() throws {
        let bytes: [UInt8] = [1, 0xFF, 0, 0, 0, 9, 0, 0, 1, 0x40, 0xFC]
        let (header, range) = try OpusPacketHeader.decode(bytes)
        XCTAssertEqual(header.sequence, 9)
        XCTAssertEqual(header.timestamp, 320)
        XCTAssertEqual(range, 10..<11)
    }

    func testEveryMalformedHeaderIsRejectedAsAProtocolViolation() {
        let good: [UInt8] = [1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0xFC]
        var cases: [(String, [UInt8])] = [("empty", [])]
        for n in 1...10 { cases.append(("\(n) bytes: no packet", Array(good.prefix(n)))) }
        for version: UInt8 in [0, 2, 0x7F, 0xFF] {
            var b = good
            b[0] = version
            cases.append(("version \(version)", b))
        }
        cases.append(("packet of 1276 bytes", Array(good.prefix(10)) + [UInt8](repeating: 0xFC, count: 1276)))
        for (name, bytes) in cases {
            XCTAssertThrowsError(try OpusPacketHeader.decode(bytes), name) { error in
                XCTAssertEqual((error as? LayercodeError)?.code, .protocolViolation, name)
            }
        }
        XCTAssertNoThrow(try OpusPacketHeader.decode(Array(good.prefix(10)) + [UInt8](repeating: 0xFC, count: 1275)))
    }

    func testUplinkNumberingCountsPacketsAndTimestampsCountCapturedFramesAcrossGatedPauses() {
        var clock = OpusPacketClock()
        // Frames 100...102 sent, 103...149 held back by the gate, 150...151 sent.
        let sent: [UInt64] = [100, 101, 102, 150, 151]
        let headers = sent.map { clock.next(frameIndex: $0) }
        XCTAssertEqual(headers.map(\.sequence), [0, 1, 2, 3, 4])
        XCTAssertEqual(headers.map(\.timestamp), [0, 320, 640, 50 * 320, 51 * 320])
        XCTAssertTrue(headers.allSatisfy { $0.version == 1 && $0.flags == 0 })
    }

    func testUplinkTimestampsNeverRepeatOrGoBackAndWrapModulo2To32() {
        var clock = OpusPacketClock()
        XCTAssertEqual(clock.next(frameIndex: 5).timestamp, 0)
        XCTAssertEqual(clock.next(frameIndex: 5).timestamp, 320, "same index: still one frame on")
        XCTAssertEqual(clock.next(frameIndex: 3).timestamp, 640, "an older index: one frame on")
        // Long pauses (each under 2^31 samples) carry the clock past 2^32: it wraps.
        var wrapping = OpusPacketClock()
        _ = wrapping.next(frameIndex: 0)
        XCTAssertEqual(wrapping.next(frameIndex: 6_000_000).timestamp, 1_920_000_000)
        XCTAssertEqual(wrapping.next(frameIndex: 12_000_000).timestamp, 3_840_000_000)
        let wrapped = wrapping.next(frameIndex: 14_000_000)
        XCTAssertEqual(wrapped.timestamp, UInt32(4_480_000_000 - (1 << 32)))
        XCTAssertEqual(wrapped.sequence, 3)
    }

    func testUplinkFrameResamplesBetweenTheProfilesRates() {
        let narrow = UplinkFrame(samples: [Int16](repeating: 100, count: 160), capturedNanoseconds: 7, frameIndex: 3)
        let wide = narrow.resampled(to: 320)
        XCTAssertEqual(wide.samples.count, 320)
        XCTAssertEqual(wide.frameIndex, 3)
        XCTAssertEqual(wide.capturedNanoseconds, 7)
        XCTAssertTrue(wide.samples.allSatisfy { $0 == 100 })
        XCTAssertEqual(wide.resampled(to: 160).samples, narrow.samples)
        XCTAssertEqual(narrow.resampled(to: 160), narrow, "same length: unchanged")
    }
}
