// SPDX-License-Identifier: Apache-2.0
@testable import Layercode
import LayercodeAudio
import LayercodeCore
import XCTest

/// The Opus profile's options (lc_options.wire_codecs, opus_*): what is offered, the
/// defaults, and clear errors for bad values.
final class OpusOptionsTests: XCTestCase {
    private func validated(_ edit: (inout ClientOptions) -> Void) throws -> ClientOptions.Validated {
        var o = ClientOptions(agentID: "a", authorizeURL: "http://127.0.0.1:9/authorize")
        edit(&o)
        return try o.validate()
    }

    func testWireCodecsOfferOpusOnlyWhenNamed() throws {
        XCTAssertEqual(try validated { _ in }.wireCodecs, [])
        XCTAssertEqual(try validated { $0.wireCodecs = "pcm16" }.wireCodecs, [])
        XCTAssertEqual(try validated { $0.wireCodecs = "" }.wireCodecs, [])
        XCTAssertEqual(try validated { $0.wireCodecs = "opus,pcm16" }.wireCodecs, ["opus", "pcm16"])
        XCTAssertEqual(try validated { $0.wireCodecs = " opus , pcm16,opus" }.wireCodecs, ["opus", "pcm16"])
        XCTAssertEqual(try validated { $0.wireCodecs = "opus" }.wireCodecs, ["opus"])
    }

    func testUnknownCodecIsAnInvalidArgumentNamingIt() {
        XCTAssertThrowsError(try validated { $0.wireCodecs = "opus,speex" }) { error in
            let e = error as? LayercodeError
            XCTAssertEqual(e?.code, .invalidArgument)
            XCTAssertEqual(e?.message.contains("speex"), true, e?.message ?? "")
        }
    }

    func testOpusEncoderDefaultsAndLimits() throws {
        let defaults = try validated { _ in }.opus
        XCTAssertEqual(defaults.bitrate, Int32(ClientOptions.defaultOpusBitrate))
        XCTAssertEqual(defaults.complexity, Int32(ClientOptions.defaultOpusComplexity))
        XCTAssertFalse(defaults.dtx)
        XCTAssertEqual(try validated { $0.opusBitrate = 0; $0.opusComplexity = -1 }.opus, defaults)
        let set = try validated { $0.opusBitrate = 32_000; $0.opusComplexity = 0; $0.opusDTX = true }.opus
        XCTAssertEqual(set.bitrate, 32_000)
        XCTAssertEqual(set.complexity, 0, "0 is a complexity, not the default")
        XCTAssertTrue(set.dtx)
        for bad: (inout ClientOptions) -> Void in [{ $0.opusBitrate = 5999 }, { $0.opusBitrate = 600_000 },
                                                  { $0.opusComplexity = 11 }, { $0.opusComplexity = -2 }] {
            XCTAssertThrowsError(try validated(bad))
        }
    }

    func testLcOptionsInitWritesTheOpusDefaults() {
        let c = OptionsABI.defaults()
        XCTAssertNil(c.wire_codecs)
        XCTAssertEqual(c.opus_bitrate, Int32(ClientOptions.defaultOpusBitrate))
        XCTAssertEqual(c.opus_complexity, Int32(ClientOptions.defaultOpusComplexity))
        XCTAssertEqual(c.opus_dtx, 0)
    }

    func testOpusUplinkEncodesDecodablePacketsNumberedPerSocket() throws {
        let uplink = try OpusUplink(settings: OpusEncoderSettings())
        XCTAssertTrue(uplink.settings.inbandFEC)
        XCTAssertGreaterThanOrEqual(uplink.settings.expectedLossPercent, 5)
        let decoder = try OpusPacketDecoder(sampleRate: 16_000, channels: 1)
        var headers: [OpusPacketHeader] = []
        var pcm = [Int16](repeating: 0, count: 320)
        for index: UInt64 in [1, 2, 3, 10] {
            let frame = UplinkFrame(samples: (0..<320).map { Int16(4000 * sin(Double($0) / 5)) }, frameIndex: index)
            XCTAssertTrue(uplink.encode(frame) { header, packet in
                headers.append(header)
                XCTAssertEqual(pcm.withUnsafeMutableBufferPointer { decoder.decode(packet, into: $0) }, 320)
            })
        }
        XCTAssertEqual(headers.map(\.sequence), [0, 1, 2, 3])
        XCTAssertEqual(headers.map(\.timestamp), [0, 320, 640, 9 * 320])
        XCTAssertFalse(uplink.encode(UplinkFrame(samples: [Int16](repeating: 0, count: 160))) { _, _ in
            XCTFail("a frame of the other profile's length is not encoded")
        })
        uplink.setMeasuredLoss(percent: 1)
        XCTAssertEqual(uplink.settings.expectedLossPercent, 5, "never below the minimum")
        uplink.setMeasuredLoss(percent: 30)
        XCTAssertEqual(uplink.settings.expectedLossPercent, 30)
    }
}
