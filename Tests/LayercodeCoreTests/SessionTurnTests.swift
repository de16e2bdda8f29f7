// SPDX-License-Identifier: Apache-2.0
import XCTest
@testable import LayercodeCore

// Turn ids in the session (issue 9 items 9, 12, 13, 17): which turns count as interrupted,
// that the list belongs to one socket, replay_finished with audio output off, and the
// server ids the session refuses to keep (oversized, or holding a NUL).

private func authorizeBody(key: String) -> [UInt8] {
    let json: JSONValue = .object([
        "client_session_key": .string(key), "conversation_id": "conv-1",
        "config": .object(["transcription": .object(["trigger": "automatic", "can_interrupt": true]),
                           "vad": .object(["gate_audio": false])]),
    ])
    return Array(json.serialized().utf8)
}

private let chunk: [Int16] = [1, -1, 2, -2, 3, -3, 4, -4]

private func pcmBase64(_ samples: [Int16]) -> String {
    Base64.encode(samples.flatMap { s -> [UInt8] in
        let bits = UInt16(bitPattern: s)
        return [UInt8(truncatingIfNeeded: bits), UInt8(truncatingIfNeeded: bits >> 8)]
    })
}

private func server(_ object: JSONObject) -> SessionInput { .socketText(JSONValue.object(object).serialized()) }

private func audio(_ turn: String, _ delta: String) -> SessionInput {
    server(["type": "response.audio", "content": .string(pcmBase64(chunk)),
            "turn_id": .string(turn), "delta_id": .string(delta)])
}

private func turnStart(_ role: String, _ turn: String) -> SessionInput {
    server(["type": "turn.start", "role": .string(role), "turn_id": .string(turn)])
}

private func responseEnd(_ turn: String) -> SessionInput {
    server(["type": "response.end", "turn_id": .string(turn)])
}

private extension Array where Element == SessionAction {
    var sent: [JSONValue] {
        compactMap { $0.wireText.flatMap { try? JSONValue.parse($0) } }
    }
    var replayFinished: [JSONValue] {
        sent.filter { $0["type"]?.stringValue == "trigger.response.audio.replay_finished" }
    }
    var plays: [(turnID: String?, deltaID: String?)] {
        compactMap { $0.played.map { ($0.turnID, $0.deltaID) } }
    }
    var droppedLate: Int {
        reduce(0) { if case .droppedLateAudio(let n) = $1 { $0 + n } else { $0 } }
    }
    var errors: [LayercodeError] { compactMap { if case .error(let e) = $0 { e } else { nil } } }
    var messages: [(type: String, json: String)] {
        compactMap { if case .message(let t, let j) = $0 { (t, j) } else { nil } }
    }
    var statuses: [SessionStatus] { compactMap { if case .status(let s) = $0 { s } else { nil } } }
}

final class SessionTurnTests: XCTestCase {
    private func live(audioEnabled: Bool = true, outputEnabled: Bool = true) -> Session {
        var options = SessionOptions(agentID: "agent", sdkVersion: "1", audioEnabled: audioEnabled,
                                     clientVAD: false,
                                     reconnect: ReconnectPolicy(maxAttempts: 3))
        options.outputEnabled = outputEnabled
        let session = Session(options: options)
        _ = session.handle(.connect)
        _ = session.handle(.authorizeResponse(status: 200, body: authorizeBody(key: "k0")))
        _ = session.handle(.socketOpened)
        XCTAssertEqual(session.phase, .open)
        return session
    }

    /// The socket dropped and the session reopened on a new one (same conversation).
    private func reconnect(_ session: Session) {
        XCTAssertEqual(session.handle(.transportFailed(LayercodeError(.network, "reset"))).statuses,
                       [.reconnecting])
        _ = session.handle(.reconnectTimerFired)
        _ = session.handle(.authorizeResponse(status: 200, body: authorizeBody(key: "k1")))
        XCTAssertEqual(session.handle(.socketOpened).statuses, [.connected])
    }

    /// A whole assistant turn that plays to the end: start, audio, end, drained.
    private func finishedTurn(_ session: Session, _ turn: String) {
        _ = session.handle(turnStart("assistant", turn))
        XCTAssertEqual(session.handle(audio(turn, "\(turn)-d1")).plays.count, 1)
        _ = session.handle(responseEnd(turn))
        XCTAssertEqual(session.handle(.playoutDrained(turnID: turn, lastDeltaID: "\(turn)-d1"))
            .replayFinished.count, 1)
    }

    // MARK: Item 12: only a barge-in interrupts; the list belongs to one socket

    func testTurnThatFinishedNormallyIsNotMarkedInterruptedByTheNextUserTurn() {
        let session = live()
        finishedTurn(session, "t1")
        _ = session.handle(turnStart("user", "u1"))  // the next user turn, not a barge-in
        let again = session.handle(audio("t1", "t1-d2"))
        XCTAssertEqual(again.plays.count, 1, "a finished turn is not an interrupted one")
        XCTAssertEqual(again.droppedLate, 0)
    }

    func testBargeInAfterResponseEndWhilePlayoutStillPlaysInterruptsTheTurn() {
        let session = live()
        _ = session.handle(turnStart("assistant", "t1"))
        _ = session.handle(audio("t1", "d1"))
        _ = session.handle(responseEnd("t1"))
        let bargeIn = session.handle(turnStart("user", "u1"))
        XCTAssertTrue(bargeIn.contains(.flushPlayout))
        XCTAssertEqual(session.handle(.playoutDrained(turnID: "t1", lastDeltaID: "d1")).replayFinished, [],
                       "playout was cut: not completed")
    }

    func testReconnectPlaysTheResumedGreetingThatReusesAFinishedTurnID() {
        let session = live()
        finishedTurn(session, "turn_1")
        _ = session.handle(turnStart("user", "u1"))
        reconnect(session)
        // The new socket numbers its turns afresh: its greeting is turn_1 again.
        _ = session.handle(turnStart("assistant", "turn_1"))
        let greeting = session.handle(audio("turn_1", "d1"))
        XCTAssertEqual(greeting.plays.count, 1, "the resumed greeting is played")
        XCTAssertEqual(greeting.droppedLate, 0)
        _ = session.handle(responseEnd("turn_1"))
        XCTAssertEqual(session.handle(.playoutDrained(turnID: "turn_1", lastDeltaID: "d1"))
            .replayFinished.first?["turn_id"], "turn_1")
    }

    func testInterruptedTurnsAreForgottenOnEachNewSocket() {
        let session = live()
        _ = session.handle(turnStart("assistant", "turn_2"))
        _ = session.handle(audio("turn_2", "d1"))
        _ = session.handle(turnStart("user", "u1"))  // a real barge-in
        XCTAssertEqual(session.handle(audio("turn_2", "d2")).droppedLate, chunk.count,
                       "late audio of the interrupted turn, same socket: dropped")
        reconnect(session)
        let fresh = session.handle(audio("turn_2", "d1"))
        XCTAssertEqual(fresh.plays.count, 1, "another socket's turn_2 is not the interrupted one")
    }

    // MARK: Item 13: replay_finished with audio output off

    func testAudioOutputOffSendsReplayFinishedAtResponseEndWithTheLastDeltaReceived() {
        for session in [live(outputEnabled: false), live(audioEnabled: false)] {
            _ = session.handle(turnStart("assistant", "a1"))
            _ = session.handle(audio("a1", "d1"))
            _ = session.handle(audio("a1", "d2"))
            let end = session.handle(responseEnd("a1"))
            XCTAssertEqual(end.replayFinished, [[
                "type": "trigger.response.audio.replay_finished", "reason": "completed",
                "turn_id": "a1", "last_delta_id_played": "d2",
            ]])
            _ = session.handle(turnStart("assistant", "a2"))
            _ = session.handle(server(["type": "response.text", "content": "hi", "turn_id": "a2"]))
            let textOnly = session.handle(responseEnd("a2"))
            XCTAssertEqual(textOnly.replayFinished.first?["turn_id"], "a2", "one per turn, audio or not")
            XCTAssertEqual(textOnly.replayFinished.first?["last_delta_id_played"], .null)
        }
    }

    func testAudioOutputTurnedOffAtRunTimeSendsReplayFinishedAtResponseEnd() {
        let session = live()
        _ = session.handle(turnStart("assistant", "a1"))
        _ = session.handle(audio("a1", "d1"))
        XCTAssertEqual(session.handle(responseEnd("a1")).replayFinished, [],
                       "output on: replay_finished waits for playout")
        _ = session.handle(.setAudioOutput(false))
        _ = session.handle(turnStart("assistant", "a2"))
        _ = session.handle(audio("a2", "d7"))
        XCTAssertEqual(session.handle(responseEnd("a2")).replayFinished.first?["last_delta_id_played"], "d7")
        _ = session.handle(.setAudioOutput(true))
        _ = session.handle(turnStart("assistant", "a3"))
        _ = session.handle(audio("a3", "d1"))
        XCTAssertEqual(session.handle(responseEnd("a3")).replayFinished, [])
    }

    func testAudioOutputOffSendsNoReplayFinishedForAnInterruptedTurn() {
        let session = live(outputEnabled: false)
        _ = session.handle(turnStart("assistant", "a1"))
        _ = session.handle(audio("a1", "d1"))
        _ = session.handle(.sendText("stop"))
        XCTAssertEqual(session.handle(responseEnd("a1")).replayFinished, [])
    }

    // MARK: Item 9: server ids are bounded

    func testServerMessageWithAnOversizedTurnIDIsRefusedAsACountedProtocolError() {
        let session = live()
        let huge = String(repeating: "x", count: 1 << 20)
        for input in [audio(huge, "d1"), audio("t1", huge), turnStart("assistant", huge)] {
            let actions = session.handle(input)
            XCTAssertEqual(actions.plays.count, 0)
            XCTAssertEqual(actions.messages.count, 0, "refused, not handed on")
            XCTAssertEqual(actions.errors.map(\.code), [.protocolViolation])
            XCTAssertTrue(actions.errors.first?.message.contains("over 256") ?? false)
        }
        XCTAssertEqual(session.refusedMessages, 3)
        XCTAssertEqual(session.phase, .open, "the session goes on")
        let limit = String(repeating: "y", count: ServerMessage.maxIDBytes)
        XCTAssertEqual(session.handle(audio(limit, limit)).plays.map(\.turnID), [limit])
    }

    func testInterruptedTurnListStaysBoundedWhateverTheServerSends() {
        let session = live()
        var actions: [SessionAction] = []
        for k in 0..<100 {
            let id = String(repeating: "\(k % 10)", count: 250) + "\(k)"
            actions += session.handle(audio(id, "d"))
            actions += session.handle(.sendText("x"))
        }
        XCTAssertEqual(actions.errors, [])
        // The newest interrupted turns are remembered; the oldest are forgotten.
        let newest = String(repeating: "9", count: 250) + "99"
        XCTAssertEqual(session.handle(audio(newest, "d2")).droppedLate, chunk.count)
        let oldest = String(repeating: "0", count: 250) + "0"
        XCTAssertEqual(session.handle(audio(oldest, "d2")).plays.count, 1)
    }

    // MARK: Item 17: NUL in server strings

    func testNULInServerIdsOrTypeIsRefusedNotTruncated() {
        let session = live()
        for input in [audio("t\u{0}1", "d1"), audio("t1", "d\u{0}1"),
                      server(["type": "response.data", "content": 1, "turn_id": "a\u{0}b"]),
                      server(["type": "custom\u{0}event"])] {
            let actions = session.handle(input)
            XCTAssertEqual(actions.errors.map(\.code), [.protocolViolation])
            XCTAssertTrue(actions.errors.first?.message.contains("NUL") ?? false)
            XCTAssertEqual(actions.messages.count, 0)
        }
        XCTAssertEqual(session.refusedMessages, 4)
    }

    func testNULInServerContentReachesTheAppEscapedInTheMessageJSON() {
        let session = live()
        let actions = session.handle(server(["type": "user.transcript", "content": "a\u{0}b", "turn_id": "u1"]))
        XCTAssertEqual(actions.messages.count, 1)
        guard let json = actions.messages.first?.json else { return }
        XCTAssertFalse(json.utf8.contains(0), "no raw NUL to cut a C string")
        XCTAssertTrue(json.contains("\\u0000"), json)
        XCTAssertEqual(try? JSONValue.parse(json)["content"], "a\u{0}b")
    }

    func testRawNULInAServerFrameIsRefusedAsInvalidJSON() {
        let session = live()
        let actions = session.handle(.socketText("{\"type\":\"user.transcript\",\"content\":\"a\u{0}b\"}"))
        XCTAssertEqual(actions.messages.count, 0)
        XCTAssertEqual(actions.errors.map(\.code), [.protocolViolation])
        XCTAssertTrue(actions.errors.first?.message.contains("at byte") ?? false)
    }

    func testNULInServerDataAndConfigReachesTheAppEscaped() {
        let session = live()
        let actions = session.handle(server(["type": "response.data", "content": ["k\u{0}": "v\u{0}"]]))
        guard let data = actions.compactMap({ a -> String? in
            if case .data(let json, _) = a { json } else { nil } }).first else {
            return XCTFail("\(actions)")
        }
        XCTAssertFalse(data.utf8.contains(0))
        XCTAssertEqual(try? JSONValue.parse(data), ["k\u{0}": "v\u{0}"])
    }

    func testNULInACloseReasonIsShownNotTruncated() {
        let session = live()
        let actions = session.handle(.socketClosed(code: 4000, reason: "bye\u{0}hidden"))
        XCTAssertEqual(actions.errors.count, 1)
        let message = actions.errors.first?.message ?? ""
        XCTAssertFalse(message.utf8.contains(0))
        XCTAssertTrue(message.contains("bye\u{FFFD}hidden"), message)
    }
}
