// SPDX-License-Identifier: Apache-2.0
import XCTest
@testable import LayercodeCore

// The session's typed actions (issue 10 item 2): frames keep their capture time, agent audio
// arrives as values, every response.end closes the playout turn (`.endPlayoutTurn`, where the
// driver used to sniff the type), and refused or unsupported server messages count as before.

private func authorizeBody(trigger: String = "automatic", vad: String = #"{"gate_audio":false}"#) -> [UInt8] {
    Array(("{\"client_session_key\":\"k\",\"conversation_id\":\"c\",\"config\":{\"transcription\":"
           + "{\"trigger\":\"\(trigger)\",\"can_interrupt\":true},\"vad\":\(vad)}}").utf8)
}

private func open(trigger: String = "automatic", vad: String = #"{"gate_audio":false}"#,
                  reconnect: ReconnectPolicy = ReconnectPolicy()) -> Session {
    let session = Session(options: SessionOptions(agentID: "a", sdkVersion: "1", reconnect: reconnect))
    _ = session.handle(.connect)
    _ = session.handle(.authorizeResponse(status: 200, body: authorizeBody(trigger: trigger, vad: vad)))
    _ = session.handle(.socketOpened)
    return session
}

private func pcmBase64(_ samples: [Int16]) -> String {
    Base64.encode(samples.flatMap { s -> [UInt8] in
        let bits = UInt16(bitPattern: s)
        return [UInt8(truncatingIfNeeded: bits), UInt8(truncatingIfNeeded: bits >> 8)]
    })
}

private let chunk: [Int16] = [5, -5, 6, -6]

private func audioText(turn: String?) -> String {
    var text = #"{"type":"response.audio","content":""# + pcmBase64(chunk) + "\""
    if let turn { text += #","turn_id":""# + turn + "\"" }
    return text + "}"
}

private func frame(_ k: Int, captured: UInt64) -> UplinkFrame {
    UplinkFrame(samples: [Int16](repeating: Int16(k), count: 160), capturedNanoseconds: captured)
}

private extension Array where Element == SessionAction {
    var sentFrames: [UplinkFrame] { compactMap { if case .sendAudio(let f) = $0 { f } else { nil } } }
    var turnActive: [Bool] { compactMap { if case .assistantTurnActive(let a) = $0 { a } else { nil } } }
    var playoutTurnEnds: Int { filter { $0 == .endPlayoutTurn }.count }
    var errors: [LayercodeError] { compactMap { if case .error(let e) = $0 { e } else { nil } } }
}

final class SessionActionTests: XCTestCase {

    func testAssistantTurnEndsAtResponseEndWithoutTurnIDs() {
        // An --omit-turn-id style server: audio carries no turn id, so no turn is current.
        let session = open()
        let audio = session.handle(.socketText(audioText(turn: nil)))
        XCTAssertEqual(audio.compactMap(\.played).map(\.samples), [chunk])
        let end = session.handle(.socketText(#"{"type":"response.end","turn_id":"t9"}"#))
        XCTAssertEqual(end.playoutTurnEnds, 1, "the driver closes the playout turn")
        XCTAssertLessThan(end.firstIndex(of: .endPlayoutTurn)!,
                          end.firstIndex { if case .message = $0 { true } else { false } }!,
                          "closed before the app hears of the response.end")
        _ = session.handle(.socketText(audioText(turn: nil)))
        XCTAssertEqual(session.handle(.socketText(#"{"type":"response.end"}"#)).playoutTurnEnds, 1)
    }

    func testResponseEndOfTheCurrentTurnEndsItAndItsPlayoutTurn() {
        let session = open()
        XCTAssertEqual(session.handle(.socketText(audioText(turn: "a1"))).turnActive, [true])
        let end = session.handle(.socketText(#"{"type":"response.end","turn_id":"a1"}"#))
        XCTAssertEqual(end.turnActive, [false])
        XCTAssertEqual(end.playoutTurnEnds, 1)
    }

    func testResponseEndWithAudioOffClosesThePlayoutTurnAfterReplayFinished() {
        let session = open()
        _ = session.handle(.setAudioOutput(false))
        _ = session.handle(.socketText(audioText(turn: "a1")))
        let end = session.handle(.socketText(#"{"type":"response.end","turn_id":"a1"}"#))
        let send = end.firstIndex { $0.wireText != nil }
        XCTAssertNotNil(send, "replay_finished at response.end")
        XCTAssertLessThan(send ?? 0, end.firstIndex(of: .endPlayoutTurn) ?? -1)
    }

    func testAReconnectKeepsThePlayoutTurnOpenAndDoesNotFlush() {
        let session = open(reconnect: ReconnectPolicy(maxAttempts: 3))
        _ = session.handle(.socketText(audioText(turn: "a1")))
        let drop = session.handle(.socketClosed(code: 1006, reason: ""))
        XCTAssertEqual(drop.turnActive, [false])
        XCTAssertEqual(drop.playoutTurnEnds, 0, "the resumed audio continues the playout turn")
        XCTAssertFalse(drop.contains(.flushPlayout), "playout drains what it holds")
    }

    func testNoPlayoutTurnEndsOutsideResponseEnd() {
        let session = open()
        var all = session.handle(.socketText(audioText(turn: "a1")))
        all += session.handle(.socketText(#"{"type":"turn.start","role":"user","turn_id":"u1"}"#))
        all += session.handle(.sendText("hi"))
        all += session.handle(.disconnect)
        all += session.handle(.socketClosed(code: 1000, reason: ""))
        XCTAssertEqual(all.playoutTurnEnds, 0)
    }

    func testAgentAudioIsPlayedAsTheDecodedValue() {
        let session = open()
        let actions = session.handle(.socketText(audioText(turn: "a1")))
        XCTAssertTrue(actions.contains(.play(AgentAudio(payload: .pcm16(chunk), turnID: "a1", deltaID: nil))),
                      "\(actions)")
    }

    func testLiveFramesKeepTheirCaptureTime() {
        let session = open()
        let f = frame(1, captured: 123_456)
        XCTAssertEqual(session.handle(.micFrame(f)).sentFrames, [f])
    }

    func testPreRollFramesKeepTheirCaptureTime() {
        let session = open(trigger: "push_to_talk", vad: #"{"gate_audio":true,"buffer_frames":2}"#)
        let frames = (0..<3).map { frame($0, captured: UInt64(1000 + $0)) }
        for f in frames { XCTAssertEqual(session.handle(.micFrame(f)).sentFrames, []) }
        XCTAssertEqual(session.handle(.turnStart).sentFrames, Array(frames[1...]),
                       "the last buffer_frames frames, each with its own capture time")
    }

    func testOutageFramesKeepTheirCaptureTime() {
        let session = open(reconnect: ReconnectPolicy(maxAttempts: 3, outageFrames: 10))
        _ = session.handle(.socketClosed(code: 1006, reason: ""))
        let held = (0..<3).map { frame($0, captured: UInt64(77 + $0)) }
        for f in held { _ = session.handle(.micFrame(f)) }
        _ = session.handle(.reconnectTimerFired)
        _ = session.handle(.authorizeResponse(status: 200, body: authorizeBody()))
        XCTAssertEqual(session.handle(.socketOpened).sentFrames, held)
    }

    func testSessionUsesTheWireProfileAuthorizeChose() {
        let session = open()
        XCTAssertEqual(session.authorization?.wireProfile, .pcmJSON)
        XCTAssertEqual(session.wireProfile, .pcmJSON)
    }

    func testRefusedMessagesAreCountedOnlyWhileTheSocketIsUp() {
        let idle = Session(options: SessionOptions(agentID: "a", sdkVersion: "1"))
        XCTAssertEqual(idle.handle(.socketText("{bad")), [])
        XCTAssertEqual(idle.refusedMessages, 0)
        let session = open()
        XCTAssertEqual(session.handle(.socketText("{bad")).errors.map(\.code), [.protocolViolation])
        XCTAssertEqual(session.refusedMessages, 1)
    }

    func testBinaryFramesAreReportedButNotCountedAsRefused() {
        let session = open()
        XCTAssertEqual(session.handle(.socketBinary([1, 2])).errors.map(\.code), [.protocolViolation])
        XCTAssertEqual(session.refusedMessages, 0)
    }
}
