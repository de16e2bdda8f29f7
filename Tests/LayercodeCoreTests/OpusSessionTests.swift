// SPDX-License-Identifier: Apache-2.0
import XCTest
@testable import LayercodeCore

// The session on an Opus socket (doc/opus-profile.md §1, §4): the offer, the profile of the
// socket, packets stamped with the turn of the last turn.start and the delta their marks
// name, and barge-in dropping the interrupted turn's packets.

private func openOpusSession(codecs: [String] = ["opus", "pcm16"],
                             audio: JSONValue = .object(["codec": "opus", "sample_rate": 16000, "frame_ms": 20]))
    -> (Session, [UInt8]) {
    var options = SessionOptions(agentID: "agent", sdkVersion: "1")
    options.wireCodecs = codecs
    let session = Session(options: options)
    var body: [UInt8] = []
    for action in session.handle(.connect) {
        if case .postAuthorize(let b) = action { body = b }
    }
    let answer: JSONValue = .object([
        "client_session_key": "k", "conversation_id": "c",
        "config": .object(["transcription": .object(["trigger": "automatic", "can_interrupt": true]),
                           "vad": .object(["gate_audio": false]), "audio": audio])])
    _ = session.handle(.authorizeResponse(status: 200, body: Array(answer.serialized().utf8)))
    _ = session.handle(.socketOpened)
    return (session, body)
}

private func text(_ s: String) -> SessionInput {
    do { return .received(try WireProfile.opus.decode(text: s)) } catch { return .refused(error) }
}

private func packet(_ sequence: UInt32) -> SessionInput {
    let bytes = OpusPacketHeader(sequence: sequence, timestamp: sequence &* 320).encode(packet: UnsafeRawBufferPointer(start: nil, count: 0)) + [0xFC]
    do { return .received(try WireProfile.opus.decode(binary: bytes)) } catch { return .refused(error) }
}

private func mark(_ turn: String, _ delta: String, _ sequence: UInt32) -> SessionInput {
    text(#"{"type":"response.audio.opus","turn_id":""# + turn + #"","delta_id":""# + delta
         + #"","sequence":"# + String(sequence) + "}")
}

private func played(_ actions: [SessionAction]) -> [AgentAudio] {
    actions.compactMap { if case .play(let a) = $0 { return a } else { return nil } }
}

final class OpusSessionTests: XCTestCase {
    func testOfferGoesOutOnlyWhenCodecsAreSetAndTheSocketIsOpus() throws {
        let (session, body) = openOpusSession()
        XCTAssertEqual(try JSONValue.parse(body)["audio"], .object(["codecs": .array(["opus", "pcm16"])]))
        XCTAssertEqual(session.wireProfile, .opus)
        let (plain, plainBody) = openOpusSession(codecs: [])
        XCTAssertNil(try JSONValue.parse(plainBody)["audio"])
        XCTAssertEqual(plain.wireProfile, .pcmJSON, "an answer to no offer keeps PCM JSON")
    }

    func testPacketsBelongToTheLastAssistantTurnAndCarryTheirMarkedDelta() {
        let (session, _) = openOpusSession()
        _ = session.handle(text(#"{"type":"turn.start","role":"assistant","turn_id":"t-1"}"#))
        var audio: [AgentAudio] = []
        audio += played(session.handle(packet(10)))
        _ = session.handle(mark("t-1", "d-1", 11))
        audio += played(session.handle(packet(11)))
        audio += played(session.handle(packet(12)))
        _ = session.handle(mark("t-1", "d-2", 13))
        _ = session.handle(mark("t-1", "d-3", 13))  // several deltas end in 13: the last wins
        audio += played(session.handle(packet(13)))
        XCTAssertEqual(audio.map(\.turnID), ["t-1", "t-1", "t-1", "t-1"])
        XCTAssertEqual(audio.map(\.deltaID), [nil, "d-1", "d-1", "d-3"])
        XCTAssertEqual(audio.map(\.sequence), [10, 11, 12, 13])
        // The next turn's packets follow none of the last turn's deltas.
        _ = session.handle(text(#"{"type":"turn.start","role":"assistant","turn_id":"t-2"}"#))
        let next = played(session.handle(packet(14)))
        XCTAssertEqual(next.first?.turnID, "t-2")
        XCTAssertNil(next.first?.deltaID)
    }

    func testALostMarkedPacketLeavesTheLastDeltaThatArrived() {
        let (session, _) = openOpusSession()
        _ = session.handle(text(#"{"type":"turn.start","role":"assistant","turn_id":"t"}"#))
        _ = session.handle(mark("t", "d-1", 1))
        _ = session.handle(mark("t", "d-2", 2))
        _ = session.handle(packet(1))
        // Packet 2 is lost.
        let after = played(session.handle(packet(3)))
        XCTAssertEqual(after.first?.deltaID, "d-1")
    }

    func testBargeInDropsTheInterruptedTurnsPacketsStillArriving() {
        let (session, _) = openOpusSession()
        _ = session.handle(text(#"{"type":"turn.start","role":"assistant","turn_id":"t-1"}"#))
        XCTAssertEqual(played(session.handle(packet(0))).count, 1)
        let bargeIn = session.handle(text(#"{"type":"turn.start","role":"user","turn_id":"u-1"}"#))
        XCTAssertTrue(bargeIn.contains(.flushPlayout))
        let late = session.handle(packet(1))
        XCTAssertTrue(played(late).isEmpty)
        XCTAssertTrue(late.contains(.droppedLateAudio(samples: 320)))
        _ = session.handle(text(#"{"type":"turn.start","role":"assistant","turn_id":"t-2"}"#))
        XCTAssertEqual(played(session.handle(packet(2))).first?.turnID, "t-2")
    }

    func testWaitingMarksAreBoundedAt64() {
        var marks = OpusDeltaMarks()
        for s in 0..<UInt32(200) { marks.announce(OpusDeltaMark(turnID: "t", deltaID: "d\(s)", sequence: s)) }
        XCTAssertEqual(marks.waitingCount, OpusDeltaMarks.capacity)
        XCTAssertNil(marks.delta(forPacket: 100), "pushed out: the oldest go first")
        XCTAssertEqual(marks.delta(forPacket: 199), "d199")
        // Marks far behind the packets arriving are forgotten (their packets were lost).
        var stale = OpusDeltaMarks()
        stale.announce(OpusDeltaMark(turnID: "t", deltaID: "old", sequence: 5))
        XCTAssertNil(stale.delta(forPacket: 5 + 65))
        XCTAssertEqual(stale.waitingCount, 0)
    }

    func testGatingAndPreRollWorkOn320SampleFrames() {
        var options = SessionOptions(agentID: "agent", sdkVersion: "1")
        options.wireCodecs = ["opus"]
        let session = Session(options: options)
        _ = session.handle(.connect)
        let answer: JSONValue = .object([
            "client_session_key": "k", "conversation_id": "c",
            "config": .object(["transcription": .object(["trigger": "automatic"]),
                               "vad": .object(["gate_audio": true, "buffer_frames": 4]),
                               "audio": .object(["codec": "opus", "sample_rate": 16000, "frame_ms": 20])])])
        _ = session.handle(.authorizeResponse(status: 200, body: Array(answer.serialized().utf8)))
        _ = session.handle(.socketOpened)
        func frame(_ k: Int, speech: Bool) -> UplinkFrame {
            var samples = [Int16](repeating: 0, count: 320)
            if speech { for i in 1..<320 { samples[i] = i % 2 == 0 ? 16000 : -16000 } }
            samples[0] = Int16(k)
            return UplinkFrame(samples: samples, frameIndex: UInt64(k))
        }
        var actions: [SessionAction] = []
        for k in 0..<20 { actions += session.handle(.micFrame(frame(k, speech: false))) }
        XCTAssertFalse(actions.contains { if case .sendAudio = $0 { return true } else { return false } },
                       "quiet 16 kHz frames are held")
        for k in 20..<30 { actions += session.handle(.micFrame(frame(k, speech: true))) }
        XCTAssertTrue(actions.contains(.send(.vadEvent(.start))))
        let sent = actions.compactMap { a -> UplinkFrame? in if case .sendAudio(let f) = a { return f } else { return nil } }
        XCTAssertTrue(sent.allSatisfy { $0.samples.count == 320 })
        let indices = sent.map(\.frameIndex)
        XCTAssertEqual(indices, Array(indices.first!...29), "pre-roll then speech, in capture order, each once")
        XCTAssertLessThan(indices.first!, 20, "the pre-roll reaches back before the speech")
    }
}
