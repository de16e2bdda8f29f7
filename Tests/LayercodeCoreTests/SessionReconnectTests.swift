// SPDX-License-Identifier: Apache-2.0
import XCTest
@testable import LayercodeCore

// Reconnect and resume in the session state machine: every transition of the
// open → waiting → authorizing → opening → open cycle, its failures, and the backoff.

private func body(key: String, conversation: String = "conv-1") -> [UInt8] {
    let json: JSONValue = .object([
        "client_session_key": .string(key), "conversation_id": .string(conversation),
        "config": .object(["transcription": .object(["trigger": "automatic", "can_interrupt": true]),
                           "vad": .object(["gate_audio": false])]),
    ])
    return Array(json.serialized().utf8)
}

private func frame(_ k: Int) -> [Int16] { (0..<160).map { Int16(truncatingIfNeeded: k * 1000 + $0) } }

private extension Array where Element == SessionAction {
    var statuses: [SessionStatus] { compactMap { if case .status(let s) = $0 { s } else { nil } } }
    var schedules: [(attempt: Int, delay: Int)] {
        compactMap { if case .scheduleReconnect(let a, let d, _) = $0 { (a, d) } else { nil } }
    }
    var authorizeBodies: [JSONValue] {
        compactMap {
            guard case .postAuthorize(let b) = $0 else { return nil }
            return try? JSONValue.parse(String(decoding: b, as: UTF8.self))
        }
    }
    var sentTypes: [String] {
        compactMap {
            guard let text = $0.wireText else { return nil }
            return (try? JSONValue.parse(text))?["type"]?.stringValue
        }
    }
    var errors: [LayercodeError] { compactMap { if case .error(let e) = $0 { e } else { nil } } }
    var outageDrops: Int {
        reduce(0) { if case .droppedOutageAudio(let n) = $1 { $0 + n } else { $0 } }
    }
}

final class SessionReconnectTests: XCTestCase {
    private let policy = ReconnectPolicy(maxAttempts: 3, baseDelayMilliseconds: 100,
                                         maxDelayMilliseconds: 1000, outageFrames: 4)

    private func live(_ policy: ReconnectPolicy? = nil) -> Session {
        let session = Session(options: SessionOptions(agentID: "agent", sdkVersion: "1",
                                                      reconnect: policy ?? self.policy))
        session.random = { 1.0 }
        _ = session.handle(.connect)
        _ = session.handle(.authorizeResponse(status: 200, body: body(key: "k0")))
        _ = session.handle(.socketOpened)
        XCTAssertEqual(session.phase, .open)
        return session
    }

    /// Live, then the connection dropped: waiting for attempt 1.
    private func waiting() -> Session {
        let session = live()
        _ = session.handle(.transportFailed(LayercodeError(.network, "reset")))
        XCTAssertEqual(session.phase, .waiting)
        return session
    }

    // MARK: Backoff

    func testBackoffDoublesUpToTheCapWithEqualJitter() {
        let p = ReconnectPolicy(maxAttempts: 10, baseDelayMilliseconds: 500, maxDelayMilliseconds: 7000)
        XCTAssertEqual((1...6).map { p.delayMilliseconds(attempt: $0, unitRandom: 1) },
                       [500, 1000, 2000, 4000, 7000, 7000])
        XCTAssertEqual((1...6).map { p.delayMilliseconds(attempt: $0, unitRandom: 0) },
                       [250, 500, 1000, 2000, 3500, 3500])
        XCTAssertEqual(p.delayMilliseconds(attempt: 1000, unitRandom: 1), 7000, "no overflow")
        XCTAssertEqual(p.delayMilliseconds(attempt: 0, unitRandom: 2), 500, "clamped input")
    }

    func testRetryableErrors() {
        XCTAssertTrue(ReconnectPolicy.isRetryable(LayercodeError(.network, "")))
        XCTAssertTrue(ReconnectPolicy.isRetryable(LayercodeError(.timeout, "")))
        for status in [500, 502, 503, 408, 429] {
            XCTAssertTrue(ReconnectPolicy.isRetryable(LayercodeError(.authorize, "", httpStatus: status)))
            XCTAssertTrue(ReconnectPolicy.isRetryable(LayercodeError(.protocolViolation, "", httpStatus: status)))
        }
        for status in [400, 401, 402, 403, 404] {
            XCTAssertFalse(ReconnectPolicy.isRetryable(LayercodeError(.authorize, "", httpStatus: status)))
        }
        for code: ErrorCode in [.tls, .protocolViolation, .tooLarge, .audio, .closed] {
            XCTAssertFalse(ReconnectPolicy.isRetryable(LayercodeError(code, "")))
        }
    }

    func testCloseCodeClassification() {
        XCTAssertEqual(ReconnectPolicy.classify(closeCode: nil), .cleanEnd)
        XCTAssertEqual(ReconnectPolicy.classify(closeCode: 1000), .cleanEnd)
        for code: UInt16 in [1001, 1006, 1011, 1012, 1013, 1014] {
            XCTAssertEqual(ReconnectPolicy.classify(closeCode: code), .retryable)
        }
        for code: UInt16 in [1002, 1003, 1007, 1008, 1009, 1010] {
            XCTAssertEqual(ReconnectPolicy.classify(closeCode: code), .protocolError)
        }
        for code: UInt16 in [3000, 4000, 4999] {
            XCTAssertEqual(ReconnectPolicy.classify(closeCode: code), .application)
        }
    }

    // MARK: open → waiting

    func testDropWhileOpenGoesToReconnectingAndSchedulesAttemptOne() {
        let session = live()
        let actions = session.handle(.transportFailed(LayercodeError(.network, "reset")))
        XCTAssertEqual(actions.first, .abortTransport)
        XCTAssertEqual(actions.statuses, [.reconnecting])
        XCTAssertEqual(actions.schedules.map(\.attempt), [1])
        XCTAssertEqual(actions.schedules.map(\.delay), [100])
        XCTAssertTrue(actions.errors.isEmpty, "no error per attempt")
        XCTAssertFalse(actions.contains { if case .disconnected = $0 { true } else { false } })
        XCTAssertFalse(actions.contains(.flushPlayout), "playout drains what it holds")
        XCTAssertTrue(actions.contains(.assistantTurnActive(false)))
        XCTAssertEqual(session.status, .reconnecting)
        XCTAssertEqual(session.reconnectAttempt, 1)
    }

    func testKeepaliveTimeoutWhileOpenReconnects() {
        let session = live()
        let actions = session.handle(.transportFailed(LayercodeError(.timeout, "no pong")))
        XCTAssertEqual(actions.statuses, [.reconnecting])
    }

    func testRetryableCloseCodesReconnectOthersDoNot() {
        for code: UInt16 in [1001, 1011, 1012, 1013, 1014] {
            let session = live()
            let actions = session.handle(.socketClosed(code: code, reason: "x"))
            XCTAssertEqual(actions.statuses, [.reconnecting], "code \(code)")
        }
        for (code, reason) in [(UInt16(1002), FailureReason.protocolError), (1008, .protocolError),
                               (4000, .closedByServer), (3001, .closedByServer)] {
            let session = live()
            let actions = session.handle(.socketClosed(code: code, reason: "x"))
            XCTAssertEqual(actions.statuses, [.error], "code \(code)")
            XCTAssertEqual(session.failureReason, reason, "code \(code)")
        }
        for code: UInt16? in [nil, 1000] {
            let session = live()
            let actions = session.handle(.socketClosed(code: code, reason: "limit"))
            XCTAssertEqual(actions.statuses, [.disconnected], "a clean end is not reconnected")
            XCTAssertEqual(session.failureReason, .none)
            XCTAssertTrue(actions.schedules.isEmpty)
        }
    }

    /// Issue 9 item 5: a server going away (1001: a deploy, a restart) ended the session for
    /// good; it is a drop like any other, and the same conversation resumes.
    func testServerClose1001ReconnectsAndResumesTheConversation() {
        let session = live()
        let closed = session.handle(.socketClosed(code: 1001, reason: "deploy"))
        XCTAssertEqual(closed.statuses, [.reconnecting])
        XCTAssertEqual(closed.schedules.map(\.attempt), [1])
        XCTAssertFalse(closed.contains { if case .disconnected = $0 { true } else { false } })
        XCTAssertEqual(session.failureReason, .none)
        let attempt = session.handle(.reconnectTimerFired)
        XCTAssertEqual(attempt.authorizeBodies.first?["conversation_id"]?.stringValue, "conv-1")
        _ = session.handle(.authorizeResponse(status: 200, body: body(key: "k1")))
        XCTAssertEqual(session.handle(.socketOpened).statuses, [.connected])
        XCTAssertEqual(session.conversationID, "conv-1")
    }

    func testProtocolViolationWhileOpenIsFinal() {
        let session = live()
        let actions = session.handle(.transportFailed(LayercodeError(.protocolViolation, "bad frame")))
        XCTAssertEqual(actions.statuses, [.error])
        XCTAssertEqual(session.failureReason, .protocolError)
    }

    func testReconnectOffEndsInErrorAtOnce() {
        let session = live(ReconnectPolicy(maxAttempts: 0))
        let actions = session.handle(.transportFailed(LayercodeError(.network, "reset")))
        XCTAssertEqual(actions.statuses, [.error])
        XCTAssertEqual(session.failureReason, .unreachable)
    }

    // MARK: waiting → authorizing → opening → open

    func testAttemptAuthorizesAgainWithTheSameConversationAndANewKey() {
        let session = waiting()
        let actions = session.handle(.reconnectTimerFired)
        XCTAssertEqual(session.phase, .authorizing)
        XCTAssertEqual(actions.authorizeBodies.first?["conversation_id"]?.stringValue, "conv-1")
        XCTAssertEqual(session.status, .reconnecting, "still reconnecting while authorizing")
        let opened = session.handle(.authorizeResponse(status: 200, body: body(key: "k1")))
        XCTAssertEqual(opened, [.openSocket(clientSessionKey: "k1")])
        XCTAssertEqual(session.phase, .opening)
        let live = session.handle(.socketOpened)
        XCTAssertEqual(live.statuses, [.connected])
        XCTAssertTrue(live.contains { if case .connected(let c, _) = $0 { c == "conv-1" } else { false } })
        XCTAssertEqual(live.sentTypes.first, "client.ready")
        XCTAssertEqual(session.reconnectAttempt, 0)
        XCTAssertEqual(session.failureReason, .none)
    }

    func testTimerFiringOutsideWaitingIsIgnored() {
        XCTAssertEqual(live().handle(.reconnectTimerFired), [])
        let session = Session(options: SessionOptions(agentID: "a", sdkVersion: "1"))
        XCTAssertEqual(session.handle(.reconnectTimerFired), [])
    }

    func testRetryableFailuresDuringAttemptsBackOffThenGiveUpWithMaxRetries() {
        let session = waiting()
        _ = session.handle(.reconnectTimerFired)
        var actions = session.handle(.transportFailed(LayercodeError(.network, "refused")))
        XCTAssertEqual(actions.schedules.map(\.attempt), [2])
        XCTAssertEqual(actions.schedules.map(\.delay), [200])
        XCTAssertTrue(actions.statuses.isEmpty, "still reconnecting")
        _ = session.handle(.reconnectTimerFired)
        actions = session.handle(.authorizeResponse(status: 503, body: Array("busy".utf8)))
        XCTAssertEqual(actions.schedules.map(\.attempt), [3], "authorize 503 is retried")
        _ = session.handle(.reconnectTimerFired)
        _ = session.handle(.authorizeResponse(status: 200, body: body(key: "k3")))
        actions = session.handle(.transportFailed(LayercodeError(.timeout, "upgrade")))
        XCTAssertEqual(actions.statuses, [.error])
        XCTAssertEqual(session.failureReason, .maxRetries)
        XCTAssertEqual(actions.errors.first?.code, .timeout)
        XCTAssertTrue(actions.errors.first?.message.contains("gave up after 3") == true)
        XCTAssertTrue(actions.contains(.flushPlayout), "the final failure stops playout")
        XCTAssertEqual(session.phase, .idle)
    }

    func testRefusedAuthorizeDuringAttemptIsFinalWithItsStatus() {
        let session = waiting()
        _ = session.handle(.reconnectTimerFired)
        let actions = session.handle(.authorizeResponse(status: 402, body: Array("{\"error\":\"balance\"}".utf8)))
        XCTAssertEqual(actions.statuses, [.error])
        XCTAssertEqual(session.failureReason, .authorizeRejected)
        XCTAssertEqual(session.failureHTTPStatus, 402)
        XCTAssertTrue(actions.schedules.isEmpty)
    }

    func testTLSFailureDuringAttemptIsFinal() {
        let session = waiting()
        _ = session.handle(.reconnectTimerFired)
        _ = session.handle(.authorizeResponse(status: 200, body: body(key: "k1")))
        let actions = session.handle(.transportFailed(LayercodeError(.tls, "expired")))
        XCTAssertEqual(actions.statuses, [.error])
        XCTAssertEqual(session.failureReason, .tls)
    }

    func testUpgradeRefusedWith503IsRetriedWith403IsFinal() {
        var session = waiting()
        _ = session.handle(.reconnectTimerFired)
        _ = session.handle(.authorizeResponse(status: 200, body: body(key: "k1")))
        var actions = session.handle(.transportFailed(
            LayercodeError(.protocolViolation, "upgrade refused", httpStatus: 503)))
        XCTAssertEqual(actions.schedules.map(\.attempt), [2])
        session = waiting()
        _ = session.handle(.reconnectTimerFired)
        _ = session.handle(.authorizeResponse(status: 200, body: body(key: "k1")))
        actions = session.handle(.transportFailed(
            LayercodeError(.protocolViolation, "upgrade refused", httpStatus: 403)))
        XCTAssertEqual(actions.statuses, [.error])
        XCTAssertEqual(session.failureReason, .protocolError)
        XCTAssertEqual(session.failureHTTPStatus, 403)
    }

    func testFirstConnectNeverRetries() {
        let session = Session(options: SessionOptions(agentID: "a", sdkVersion: "1", reconnect: policy))
        _ = session.handle(.connect)
        let actions = session.handle(.transportFailed(LayercodeError(.network, "refused")))
        XCTAssertEqual(actions.statuses, [.error])
        XCTAssertTrue(actions.schedules.isEmpty)
        XCTAssertEqual(session.failureReason, .unreachable)
    }

    func testDropAfterAStableConnectionStartsAFreshCountOfAttempts() {
        let session = waiting()
        _ = session.handle(.reconnectTimerFired)
        _ = session.handle(.transportFailed(LayercodeError(.network, "refused")))  // attempt 2 next
        _ = session.handle(.reconnectTimerFired)
        _ = session.handle(.authorizeResponse(status: 200, body: body(key: "k2")))
        _ = session.handle(.socketOpened)
        XCTAssertEqual(session.handle(.connectionStable), [])
        let actions = session.handle(.socketClosed(code: 1011, reason: "again"))
        XCTAssertEqual(actions.schedules.map(\.attempt), [1])
        XCTAssertEqual(actions.schedules.map(\.delay), [100], "the backoff starts over too")
    }

    /// Regression (reconnect_storm_on_accept_then_1011): a server that accepts every reopen
    /// and closes it with 1011 at once was reconnected forever, each reopen resetting the
    /// attempts. Until the connection has been stable, a drop continues the same series.
    func testReconnectStormOnAcceptThen1011EndsAfterMaxAttempts() {
        let session = live()
        var schedules: [Int] = []
        var last: [SessionAction] = []
        for k in 1...10 {
            last = session.handle(.socketClosed(code: 1011, reason: "boom"))
            schedules += last.schedules.map(\.attempt)
            if session.phase == .idle { break }
            _ = session.handle(.reconnectTimerFired)
            _ = session.handle(.authorizeResponse(status: 200, body: body(key: "k\(k)")))
            _ = session.handle(.socketOpened)
        }
        XCTAssertEqual(schedules, [1, 2, 3], "one series of maxAttempts, growing backoff")
        XCTAssertEqual(last.statuses, [.error])
        XCTAssertEqual(session.failureReason, .maxRetries)
    }

    func testConnectionStableOutsideOpenIsIgnored() {
        let session = waiting()
        XCTAssertEqual(session.handle(.connectionStable), [])
        XCTAssertEqual(session.attemptsSinceStable, 1)
    }

    // MARK: Leaving while reconnecting

    func testDisconnectWhileWaitingEndsCleanly() {
        let session = waiting()
        let actions = session.handle(.disconnect)
        XCTAssertEqual(actions.statuses, [.disconnected])
        XCTAssertEqual(session.phase, .idle)
        XCTAssertEqual(session.handle(.reconnectTimerFired), [], "a late timer does nothing")
    }

    func testDisconnectWhileReauthorizingAbortsAndEndsCleanly() {
        let session = waiting()
        _ = session.handle(.reconnectTimerFired)
        let actions = session.handle(.disconnect)
        XCTAssertEqual(actions.first, .abortTransport)
        XCTAssertEqual(actions.statuses, [.disconnected])
        XCTAssertEqual(session.failureReason, .none)
    }

    func testConnectAfterAFinalFailureStartsOver() {
        let session = waiting()
        _ = session.handle(.reconnectTimerFired)
        _ = session.handle(.authorizeResponse(status: 401, body: []))
        XCTAssertEqual(session.failureReason, .authorizeRejected)
        let actions = session.handle(.connect)
        XCTAssertEqual(actions.statuses, [.connecting])
        XCTAssertEqual(session.failureReason, .none)
        XCTAssertEqual(actions.authorizeBodies.first?["conversation_id"]?.stringValue, "conv-1")
    }

    // MARK: Microphone during an outage

    func testOutageAudioIsHeldBoundedAndSentAfterReopeningInOrder() {
        let session = waiting()
        var drops = 0
        for k in 0..<6 { drops += session.handle(.micFrame(frame(k))).outageDrops }
        XCTAssertEqual(drops, 2, "capacity 4: the two oldest go")
        _ = session.handle(.reconnectTimerFired)
        _ = session.handle(.authorizeResponse(status: 200, body: body(key: "k1")))
        let actions = session.handle(.socketOpened)
        // The held frames go through the VAD like live ones (vad_events may join them).
        XCTAssertEqual(actions.sentTypes.filter { $0 != "vad_events" },
                       ["client.ready"] + Array(repeating: "client.audio", count: 4))
        let firstSamples = actions.compactMap { action -> Int16? in
            guard let text = action.wireText, text.contains("client.audio"),
                  let content = (try? JSONValue.parse(text))?["content"]?.stringValue,
                  let bytes = Base64.decode(content) else { return nil }
            return Int16(bitPattern: UInt16(bytes[0]) | UInt16(bytes[1]) << 8)
        }
        XCTAssertEqual(firstSamples, [2000, 3000, 4000, 5000], "frames 2...5, in capture order")
    }

    func testMutedOrInputOffHoldsNothingDuringAnOutage() {
        let session = waiting()
        _ = session.handle(.setMuted(true))
        XCTAssertEqual(session.handle(.micFrame(frame(1))), [])
        _ = session.handle(.setMuted(false))
        _ = session.handle(.setAudioInput(false))
        XCTAssertEqual(session.handle(.micFrame(frame(2))), [])
        _ = session.handle(.reconnectTimerFired)
        _ = session.handle(.authorizeResponse(status: 200, body: body(key: "k1")))
        XCTAssertEqual(session.handle(.socketOpened).sentTypes, ["client.ready"])
    }

    func testMicrophoneOffStopsSendingAndReportsTheChangeOnce() {
        let session = live()
        XCTAssertEqual(session.handle(.micFrame(frame(0))).sentTypes, ["client.audio"])
        XCTAssertEqual(session.handle(.setAudioInput(false)), [.audioInputChanged(false)])
        XCTAssertEqual(session.handle(.setAudioInput(false)), [])
        XCTAssertEqual(session.handle(.micFrame(frame(1))), [])
        XCTAssertEqual(session.handle(.setAudioInput(true)), [.audioInputChanged(true)])
        XCTAssertEqual(session.handle(.micFrame(frame(2))).sentTypes, ["client.audio"])
    }
}
