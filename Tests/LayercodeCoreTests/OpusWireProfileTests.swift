// SPDX-License-Identifier: Apache-2.0
import XCTest
@testable import LayercodeCore

// The Opus wire profile's encoders and decoders, and its negotiation at authorize
// (doc/opus-profile.md §1-§4).

private func binary(_ message: OutgoingMessage?) -> [UInt8]? {
    if case .binary(let b)? = message?.wire { return b }
    return nil
}

private func authorizeResponse(audio: JSONValue?) -> [UInt8] {
    var config: JSONObject = ["transcription": .object(["trigger": "automatic"])]
    if let audio { config["audio"] = audio }
    let json: JSONValue = .object(["client_session_key": "k", "conversation_id": "c",
                                   "config": .object(config)])
    return Array(json.serialized().utf8)
}

private let opusAnswer: JSONValue = .object(["codec": "opus", "sample_rate": 16000, "frame_ms": 20])

final class OpusWireProfileTests: XCTestCase {
    func testControlMessagesAreExactlyThePCMJSONText() {
        let messages: [ClientMessage] = [.ready, .vadEvent(.start), .turnStart, .turnEnd,
                                         .replayFinished(turnID: "t", lastDeltaIDPlayed: "d"),
                                         .responseText("hi"), .responseData(["a": 1])]
        for m in messages { XCTAssertEqual(WireProfile.opus.encode(m), WireProfile.pcmJSON.encode(m)) }
    }

    func testUplinkPacketIsABinaryDroppableMessageWithItsHeader() throws {
        XCTAssertNil(WireProfile.opus.encode(UplinkFrame(samples: [0, 0])), "no PCM JSON on an Opus socket")
        let packet: [UInt8] = [0x48, 9, 9]
        let header = OpusPacketHeader(sequence: 7, timestamp: 2240)
        let out = try XCTUnwrap(packet.withUnsafeBytes { WireProfile.opus.encode(packet: $0, header: header) })
        XCTAssertEqual(binary(out), [1, 0, 0, 0, 0, 7, 0, 0, 0x08, 0xC0, 0x48, 9, 9])
        XCTAssertTrue(out.droppable)
        XCTAssertEqual(out.audioFrames, 1)
        XCTAssertEqual(out.audioBytes, 3)
        XCTAssertNil(packet.withUnsafeBytes { WireProfile.pcmJSON.encode(packet: $0, header: header) })
    }

    func testBinaryMessageDecodesToANumberedOpusPacket() throws {
        let event = try WireProfile.opus.decode(binary: [1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0xFC, 1])
        XCTAssertEqual(event, .audio(AgentAudio(payload: .opus([0xFC, 1]), turnID: nil, deltaID: nil,
                                                sequence: 256)))
        XCTAssertEqual(AudioPayload.opus([1, 2]).sampleCount, 320)
        XCTAssertEqual(AudioPayload.opus([1, 2]).byteCount, 2)
    }

    func testAgentPacketOver640BytesOrAMalformedHeaderIsRefused() {
        let header: [UInt8] = [1, 0, 0, 0, 0, 0, 0, 0, 0, 0]
        XCTAssertNoThrow(try WireProfile.opus.decode(binary: header + [UInt8](repeating: 0xFC, count: 640)))
        for bytes in [header + [UInt8](repeating: 0xFC, count: 641), header, [2] + header.dropFirst() + [0xFC]] {
            XCTAssertThrowsError(try WireProfile.opus.decode(binary: Array(bytes))) {
                XCTAssertEqual(($0 as? LayercodeError)?.code, .protocolViolation)
            }
        }
    }

    func testTextAudioOnAnOpusSocketIsAProtocolErrorAndOtherTextPassesThrough() throws {
        XCTAssertThrowsError(try WireProfile.opus.decode(
            text: #"{"type":"response.audio","content":"AAA=","turn_id":"t","delta_id":"d"}"#)) {
            XCTAssertEqual(($0 as? LayercodeError)?.code, .protocolViolation)
        }
        let text = #"{"type":"turn.start","role":"assistant","turn_id":"t"}"#
        guard case .message(let m, let raw) = try WireProfile.opus.decode(text: text) else {
            return XCTFail("turn.start is a message")
        }
        XCTAssertEqual(m.turnID, "t")
        XCTAssertEqual(raw, text)
    }

    func testDeltaMarkMessageDecodesToAnAudioMark() throws {
        let event = try WireProfile.opus.decode(
            text: #"{"type":"response.audio.opus","turn_id":"t-1","delta_id":"d-7","sequence":1234}"#)
        XCTAssertEqual(event, .audioMark(OpusDeltaMark(turnID: "t-1", deltaID: "d-7", sequence: 1234)))
        for bad in ["-1", "4294967296", "1.5", "\"12\"", "null"] {
            XCTAssertThrowsError(try WireProfile.opus.decode(
                text: #"{"type":"response.audio.opus","turn_id":"t","delta_id":"d","sequence":"# + bad + "}"), bad)
        }
    }

    func testBinaryOnAPCMSocketStaysUnsupported() throws {
        guard case .unsupported(let e) = try WireProfile.pcmJSON.decode(binary: [1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFC]) else {
            return XCTFail("binary on PCM JSON is unsupported")
        }
        XCTAssertEqual(e.code, .protocolViolation)
    }

    // MARK: Negotiation

    func testAuthorizeBodyOffersCodecsOnlyWhenAsked() throws {
        let plain = Authorize.requestBody(agentID: "a", metadata: nil, conversationID: nil, sdkVersion: "1")
        XCTAssertEqual(String(decoding: plain, as: UTF8.self),
                       #"{"agent_id":"a","metadata":{},"sdk_version":"1"}"#)
        let offer = Authorize.requestBody(agentID: "a", metadata: nil, conversationID: "c", sdkVersion: "1",
                                          codecs: ["opus", "pcm16"])
        XCTAssertEqual(String(decoding: offer, as: UTF8.self),
                       #"{"agent_id":"a","metadata":{},"sdk_version":"1","conversation_id":"c","audio":{"codecs":["opus","pcm16"]}}"#)
    }

    func testOnlyTheExactOpusAnswerToAnOfferChoosesOpus() throws {
        let chosen = try Authorize.parseResponse(status: 200, body: authorizeResponse(audio: opusAnswer),
                                                 offeredOpus: true)
        XCTAssertEqual(chosen.wireProfile, .opus)
        XCTAssertNil(chosen.wireProfileNote)
        XCTAssertEqual(chosen.config["audio"]?["codec"], "opus")
        let fallbacks: [(String, JSONValue?, Bool)] = [
            ("no audio", nil, true),
            ("pcm16", .object(["codec": "pcm16"]), true),
            ("8 kHz", .object(["codec": "opus", "sample_rate": 8000, "frame_ms": 20]), true),
            ("40 ms", .object(["codec": "opus", "sample_rate": 16000, "frame_ms": 40]), true),
            ("rate as text", .object(["codec": "opus", "sample_rate": "16000", "frame_ms": 20]), true),
            ("no frame_ms", .object(["codec": "opus", "sample_rate": 16000]), true),
            ("codec not a string", .object(["codec": 1]), true),
            ("audio not an object", "opus", true),
            ("unknown codec", .object(["codec": "g711"]), true),
            ("not offered", opusAnswer, false),
        ]
        for (name, audio, offered) in fallbacks {
            let r = try Authorize.parseResponse(status: 200, body: authorizeResponse(audio: audio), offeredOpus: offered)
            XCTAssertEqual(r.wireProfile, .pcmJSON, name)
            if offered { XCTAssertEqual(r.config["audio"]?["codec"], "pcm16", name) }
        }
        let unknown = try Authorize.parseResponse(status: 200, body: authorizeResponse(audio: .object(["codec": "g711"])),
                                                  offeredOpus: true)
        XCTAssertEqual(unknown.wireProfileNote?.contains("g711"), true, "the log says why")
    }

    func testWithoutAnOfferTheConfigIsHandedOnUntouched() throws {
        let audio: JSONValue = .object(["codec": "opus", "sample_rate": 16000, "frame_ms": 20, "x": 1])
        let r = try Authorize.parseResponse(status: 200, body: authorizeResponse(audio: audio))
        XCTAssertEqual(r.config["audio"], audio)
        XCTAssertEqual(r.wireProfile, .pcmJSON)
    }
}
