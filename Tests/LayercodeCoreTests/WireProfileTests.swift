// SPDX-License-Identifier: Apache-2.0
import Foundation
import XCTest
@testable import LayercodeCore

// The PCM JSON wire profile (issue 10 item 3): the session's values to and from today's
// Layercode wire, byte for byte, and which outgoing messages may be dropped.

private func littleEndianBase64(_ samples: [Int16]) -> String {
    Base64.encode(samples.flatMap { s -> [UInt8] in
        let bits = UInt16(bitPattern: s)
        return [UInt8(truncatingIfNeeded: bits), UInt8(truncatingIfNeeded: bits >> 8)]
    })
}

private func text(_ message: OutgoingMessage?) -> String? {
    if case .text(let t)? = message?.wire { return t }
    return nil
}

private let everyControlMessage: [ClientMessage] = [
    .ready, .vadEvent(.start), .vadEvent(.end), .turnStart, .turnEnd,
    .replayFinished(turnID: "t1", lastDeltaIDPlayed: "d9"),
    .replayFinished(turnID: "t2", lastDeltaIDPlayed: nil),
    .responseText("hi \"there\"\n"), .responseData(["a": [1, true, .null], "b": "c"]),
]

final class WireProfileTests: XCTestCase {
    let profile = WireProfile.pcmJSON

    func testPCMJSONEncodesEveryControlMessageAsTodaysWireText() {
        let expected = [
            #"{"type":"client.ready"}"#,
            #"{"type":"vad_events","event":"vad_start"}"#,
            #"{"type":"vad_events","event":"vad_end"}"#,
            #"{"type":"trigger.turn.start","role":"user"}"#,
            #"{"type":"trigger.turn.end","role":"user"}"#,
            #"{"type":"trigger.response.audio.replay_finished","reason":"completed","turn_id":"t1","last_delta_id_played":"d9"}"#,
            #"{"type":"trigger.response.audio.replay_finished","reason":"completed","turn_id":"t2","last_delta_id_played":null}"#,
            #"{"type":"client.response.text","content":"hi \"there\"\n"}"#,
            #"{"type":"client.response.data","data":{"a":[1,true,null],"b":"c"}}"#,
        ]
        XCTAssertEqual(everyControlMessage.map { text(profile.encode($0)) }, expected)
    }

    func testClientMessageTypeIsTheTypeOnTheWire() {
        for message in everyControlMessage {
            let json = text(profile.encode(message)).flatMap { try? JSONValue.parse($0) }
            XCTAssertEqual(json?["type"]?.stringValue, message.type, "\(message)")
        }
    }

    func testOnlyAudioIsDroppableAndCarriesAudioBytes() throws {
        for message in everyControlMessage {
            let out = profile.encode(message)
            XCTAssertFalse(out.droppable, "\(message) must never be dropped under backpressure")
            XCTAssertEqual(out.audioFrames, 0)
            XCTAssertEqual(out.audioBytes, 0)
        }
        let frame = UplinkFrame(samples: [Int16](repeating: 7, count: AudioFormat.layercodeUplink.frameSamples),
                                capturedNanoseconds: 42)
        let audio = try XCTUnwrap(profile.encode(frame))
        XCTAssertTrue(audio.droppable)
        XCTAssertEqual(audio.audioFrames, 1)
        XCTAssertEqual(audio.audioBytes, AudioFormat.layercodeUplink.frameBytes)
    }

    func testUplinkFrameEncodesAsClientAudioAndItsSamplesRoundTrip() throws {
        let samples: [Int16] = (0..<160).map { Int16(truncatingIfNeeded: $0 * 409 - 30_000) }
        let wire = try XCTUnwrap(text(profile.encode(UplinkFrame(samples: samples))))
        XCTAssertEqual(wire, #"{"type":"client.audio","content":""# + littleEndianBase64(samples) + #""}"#)
        // The same content as agent audio decodes back to the same samples.
        let echoed = wire.replacingOccurrences(of: "client.audio", with: "response.audio")
        XCTAssertEqual(try profile.decode(text: echoed),
                       .audio(AgentAudio(payload: .pcm16(samples), turnID: nil, deltaID: nil)))
    }

    func testResponseAudioDecodesToAgentAudioWithItsIdsAndNoWireSequence() throws {
        let samples: [Int16] = [0, 1, -1, .max, .min, 0x1234]
        let event = try profile.decode(text: #"{"type":"response.audio","content":""#
                                       + littleEndianBase64(samples) + #"","turn_id":"t1","delta_id":7}"#)
        guard case .audio(let audio) = event else { return XCTFail("not audio: \(event)") }
        XCTAssertEqual(audio.payload, .pcm16(samples))
        XCTAssertEqual(audio.payload.sampleCount, samples.count)
        XCTAssertEqual(audio.turnID, "t1")
        XCTAssertEqual(audio.deltaID, "7")
        XCTAssertNil(audio.sequence, "PCM JSON has no wire sequence numbers")
    }

    func testResponseAudioWithInvalidContentIsRefusedWithTodaysError() {
        for content in [#""content":"not base64!""#, #""content":"AA==""#, #""content":3"#, #""x":1"#] {
            XCTAssertThrowsError(try profile.decode(text: #"{"type":"response.audio","# + content + "}"), content) {
                XCTAssertEqual($0 as? LayercodeError, LayercodeError(
                    .protocolViolation, "response.audio with invalid base64 content; skipped"), content)
            }
        }
    }

    func testOtherMessagesDecodeWithTheTextAsReceived() throws {
        let raw = #"{ "type" : "response.end", "turn_id": "t1" }"#
        let event = try profile.decode(text: raw)
        guard case .message(let message, let kept) = event else { return XCTFail("\(event)") }
        XCTAssertEqual(message.kind, .responseEnd)
        XCTAssertEqual(message.turnID, "t1")
        XCTAssertEqual(kept, raw)
    }

    func testInvalidServerTextIsRefusedAsAProtocolViolation() {
        for raw in ["{not json", "[1]", #"{"content":"x"}"#, ""] {
            XCTAssertThrowsError(try profile.decode(text: raw)) {
                XCTAssertEqual(($0 as? LayercodeError)?.code, .protocolViolation, raw)
            }
        }
        XCTAssertThrowsError(try profile.decode(text: #"{"type":"a","x":[[[1]]]}"#, maxDepth: 2))
    }

    func testBinaryFramesAreUnsupportedInPCMJSON() throws {
        XCTAssertEqual(try profile.decode(binary: [1, 2, 3]), .unsupported(LayercodeError(
            .protocolViolation, "server sent a binary frame (3 bytes); ignored")))
    }

    func testAuthorizeChoosesThePCMJSONProfile() throws {
        let body = #"{"client_session_key":"k","conversation_id":"c","config":{"transcription":{"trigger":"automatic"}}}"#
        let result = try Authorize.parseResponse(status: 200, body: Array(body.utf8))
        XCTAssertEqual(result.wireProfile, .pcmJSON)
    }
}

final class AudioFormatTests: XCTestCase {
    func testLayercodeWireFormats() {
        XCTAssertEqual(AudioFormat.layercodeUplink.sampleRate, 8000)
        XCTAssertEqual(AudioFormat.layercodeUplink.channels, 1)
        XCTAssertEqual(AudioFormat.layercodeUplink.frameMilliseconds, 20)
        XCTAssertEqual(AudioFormat.layercodeUplink.frameSamples, 160)
        XCTAssertEqual(AudioFormat.layercodeUplink.frameBytes, 320)
        XCTAssertEqual(AudioFormat.layercodeDownlink.sampleRate, 16_000)
        XCTAssertEqual(AudioFormat.layercodeDownlink.frameSamples, 320)
        XCTAssertEqual(AudioFormat.layercodeDownlink.frameBytes, 640)
        XCTAssertEqual(AudioFormat(sampleRate: 48_000, channels: 2, frameMilliseconds: 10).frameSamples, 960)
    }

    func testPlayoutDefaultsAreTheDownlinkFormat() {
        let downlink = AudioFormat.layercodeDownlink
        XCTAssertEqual(JitterBufferConfig().frameSamples, downlink.frameSamples)
        XCTAssertEqual(JitterBufferConfig().sampleRate, downlink.sampleRate)
        XCTAssertEqual(AgentFrameAssembler().frameSamples, downlink.frameSamples)
        XCTAssertEqual(FrameRing(capacityFrames: 2).frameSamples, downlink.frameSamples)
    }
}
