// SPDX-License-Identifier: Apache-2.0
import XCTest
@testable import LayercodeCore

// The session state machine against doc/protocol.md. Each test is a scenario: drive a Session
// to a phase with the helpers below, feed it inputs, and check the actions it asks for.

// MARK: - Fixtures

private let testAgentID = "agent-123"
private let testSDKVersion = "1.2.3"

/// A 20 ms, 160-sample mic frame whose samples identify it: frame k holds k*1000 + i.
private func micFrame(_ k: Int) -> [Int16] {
    (0..<160).map { Int16(truncatingIfNeeded: k * 1000 + $0) }
}

private func littleEndianBytes(_ samples: [Int16]) -> [UInt8] {
    samples.flatMap { sample -> [UInt8] in
        let bits = UInt16(bitPattern: sample)
        return [UInt8(truncatingIfNeeded: bits), UInt8(truncatingIfNeeded: bits >> 8)]
    }
}

private func samplesFromLittleEndian(_ bytes: [UInt8]) -> [Int16] {
    stride(from: 0, to: bytes.count - 1, by: 2).map {
        Int16(bitPattern: UInt16(bytes[$0]) | UInt16(bytes[$0 + 1]) << 8)
    }
}

private func jsonBytes(_ value: JSONValue) -> [UInt8] { Array(value.serialized().utf8) }

/// The body of an authorize response; pass nil to leave a field out.
private func authorizeBody(key: String? = "key-1",
                           conversationID: String? = "conv-1",
                           sessionID: String? = nil,
                           trigger: String? = "automatic",
                           canInterrupt: Bool? = true,
                           vad: JSONValue? = nil,
                           extraConfig: [(String, JSONValue)] = [],
                           includeConfig: Bool = true) -> [UInt8] {
    jsonBytes(authorizeJSON(key: key, conversationID: conversationID, sessionID: sessionID,
                            trigger: trigger, canInterrupt: canInterrupt, vad: vad,
                            extraConfig: extraConfig, includeConfig: includeConfig))
}

private func configJSON(trigger: String? = "automatic", canInterrupt: Bool? = true,
                        vad: JSONValue? = nil,
                        extraConfig: [(String, JSONValue)] = []) -> JSONValue {
    var transcription = JSONObject()
    if let trigger { transcription["trigger"] = .string(trigger) }
    if let canInterrupt { transcription["can_interrupt"] = .bool(canInterrupt) }
    var config = JSONObject()
    config["transcription"] = .object(transcription)
    if let vad { config["vad"] = vad }
    for (key, value) in extraConfig { config[key] = value }
    return .object(config)
}

private func authorizeJSON(key: String?, conversationID: String?, sessionID: String?,
                           trigger: String?, canInterrupt: Bool?, vad: JSONValue?,
                           extraConfig: [(String, JSONValue)], includeConfig: Bool) -> JSONValue {
    var root = JSONObject()
    if let key { root["client_session_key"] = .string(key) }
    if let conversationID { root["conversation_id"] = .string(conversationID) }
    if let sessionID { root["session_id"] = .string(sessionID) }
    if includeConfig {
        root["config"] = configJSON(trigger: trigger, canInterrupt: canInterrupt, vad: vad,
                                    extraConfig: extraConfig)
    }
    return .object(root)
}

// MARK: Server frames

private func server(_ message: JSONValue) -> SessionInput { .socketText(message.serialized()) }

private func responseAudio(turn: String?, delta: String?, samples: [Int16]) -> SessionInput {
    var object: JSONObject = ["type": "response.audio",
                              "content": .string(Base64.encode(littleEndianBytes(samples)))]
    if let turn { object["turn_id"] = .string(turn) }
    if let delta { object["delta_id"] = .string(delta) }
    return server(.object(object))
}

private func turnStart(role: String, turn: String? = nil) -> SessionInput {
    var object: JSONObject = ["type": "turn.start", "role": .string(role)]
    if let turn { object["turn_id"] = .string(turn) }
    return server(.object(object))
}

private let agentAudio: [Int16] = [0, 1, -1, Int16.max, Int16.min, 0x1234, -0x1234, 42]

// MARK: Reading actions

private extension Array where Element == SessionAction {
    /// Every JSON message the session asked to send, parsed.
    var sent: [JSONValue] {
        compactMap {
            guard let text = $0.wireText else { return nil }
            guard let value = try? JSONValue.parse(text) else {
                XCTFail("session sent invalid JSON: \(text)")
                return nil
            }
            return value
        }
    }

    var sentTypes: [String] { sent.map { $0["type"]?.stringValue ?? "<no type>" } }

    /// The samples of every client.audio sent, decoded from base64 little-endian PCM.
    var sentAudio: [[Int16]] {
        sent.filter { $0["type"]?.stringValue == "client.audio" }.map {
            guard let content = $0["content"]?.stringValue, let bytes = Base64.decode(content) else {
                XCTFail("client.audio without valid base64 content: \($0)")
                return []
            }
            XCTAssertEqual(bytes.count % 2, 0, "client.audio must carry whole 16-bit samples")
            return samplesFromLittleEndian(bytes)
        }
    }

    var errors: [LayercodeError] {
        compactMap { if case .error(let e) = $0 { return e } else { return nil } }
    }

    var statuses: [SessionStatus] {
        compactMap { if case .status(let s) = $0 { return s } else { return nil } }
    }

    /// The code of every `disconnected` action (nil inside: a clean end).
    var disconnects: [ErrorCode?] {
        compactMap { if case .disconnected(let code, _) = $0 { return .some(code) } else { return nil } }
    }

    var plays: [(samples: [Int16], turnID: String?, deltaID: String?)] {
        compactMap {
            $0.played
        }
    }

    var messages: [(type: String, json: String)] {
        compactMap { if case .message(let t, let j) = $0 { return (t, j) } else { return nil } }
    }

    var flushes: Int { filter { $0 == .flushPlayout }.count }

    var droppedLate: [Int] {
        compactMap { if case .droppedLateAudio(let n) = $0 { return n } else { return nil } }
    }

    var postedAuthorizeBodies: [JSONValue] {
        compactMap {
            guard case .postAuthorize(let body) = $0 else { return nil }
            guard let value = try? JSONValue.parse(body) else {
                XCTFail("authorize body is not JSON: \(String(decoding: body, as: UTF8.self))")
                return nil
            }
            return value
        }
    }

    func index(of action: SessionAction) -> Int? { firstIndex(of: action) }
}

// MARK: - Tests

final class SessionTests: XCTestCase {

    // MARK: Scenario helpers

    private func idle(audioEnabled: Bool = true, conversationID: String? = nil,
                      metadata: JSONValue? = nil, clientVAD: Bool = true) -> Session {
        Session(options: SessionOptions(agentID: testAgentID, metadata: metadata,
                                        conversationID: conversationID,
                                        sdkVersion: testSDKVersion, audioEnabled: audioEnabled,
                                        clientVAD: clientVAD))
    }

    /// Connect called; the authorize POST is in flight.
    private func authorizing(audioEnabled: Bool = true, conversationID: String? = nil,
                             clientVAD: Bool = true,
                             file: StaticString = #filePath, line: UInt = #line) -> Session {
        let session = idle(audioEnabled: audioEnabled, conversationID: conversationID,
                           clientVAD: clientVAD)
        let actions = session.handle(.connect)
        XCTAssertEqual(actions.postedAuthorizeBodies.count, 1, file: file, line: line)
        XCTAssertEqual(session.phase, .authorizing, file: file, line: line)
        return session
    }

    /// Authorized; the socket is being opened.
    private func opening(trigger: String = "automatic", canInterrupt: Bool = true,
                         vad: JSONValue? = nil, audioEnabled: Bool = true, clientVAD: Bool = true,
                         file: StaticString = #filePath, line: UInt = #line) -> Session {
        let session = authorizing(audioEnabled: audioEnabled, clientVAD: clientVAD,
                                  file: file, line: line)
        let actions = session.handle(.authorizeResponse(
            status: 200, body: authorizeBody(trigger: trigger, canInterrupt: canInterrupt, vad: vad)))
        XCTAssertEqual(actions, [.openSocket(clientSessionKey: "key-1")], file: file, line: line)
        XCTAssertEqual(session.phase, .opening, file: file, line: line)
        return session
    }

    /// The socket is open and client.ready was sent: the session is live.
    private func connected(trigger: String = "automatic", canInterrupt: Bool = true,
                           gateAudio: Bool? = nil, bufferFrames: Int? = nil,
                           audioEnabled: Bool = true, clientVAD: Bool = true,
                           file: StaticString = #filePath, line: UInt = #line) -> Session {
        var vad: JSONValue?
        if gateAudio != nil || bufferFrames != nil {
            var object = JSONObject()
            if let gateAudio { object["gate_audio"] = .bool(gateAudio) }
            if let bufferFrames { object["buffer_frames"] = .number(Double(bufferFrames)) }
            vad = .object(object)
        }
        let session = opening(trigger: trigger, canInterrupt: canInterrupt, vad: vad,
                              audioEnabled: audioEnabled, clientVAD: clientVAD,
                              file: file, line: line)
        let actions = session.handle(.socketOpened)
        XCTAssertEqual(actions.sentTypes, ["client.ready"], file: file, line: line)
        XCTAssertEqual(session.phase, .open, file: file, line: line)
        return session
    }

    /// Live, then the app disconnected: waiting for the close handshake.
    private func closing(file: StaticString = #filePath, line: UInt = #line) -> Session {
        let session = connected(file: file, line: line)
        _ = session.handle(.disconnect)
        XCTAssertEqual(session.phase, .closing, file: file, line: line)
        return session
    }

    /// A live automatic-mode session that is playing assistant turn `turn`.
    private func playing(turn: String = "a1", canInterrupt: Bool = true,
                         trigger: String = "automatic",
                         file: StaticString = #filePath, line: UInt = #line) -> Session {
        let session = connected(trigger: trigger, canInterrupt: canInterrupt, file: file, line: line)
        _ = session.handle(turnStart(role: "assistant", turn: turn))
        let actions = session.handle(responseAudio(turn: turn, delta: "d1", samples: agentAudio))
        XCTAssertEqual(actions.plays.count, 1, file: file, line: line)
        return session
    }

    /// Checks that `expected` appear in `actions` in this order (other actions may interleave).
    private func assertInOrder(_ actions: [SessionAction], _ expected: [SessionAction],
                               file: StaticString = #filePath, line: UInt = #line) {
        var from = actions.startIndex
        for action in expected {
            guard let i = actions[from...].firstIndex(of: action) else {
                XCTFail("expected \(action) (in order) in \(actions)", file: file, line: line)
                return
            }
            from = i + 1
        }
    }

    /// The ending of a failed session: the error, status error, disconnected(code).
    private func assertFailed(_ actions: [SessionAction], _ session: Session, code: ErrorCode,
                              file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(actions.errors.map(\.code), [code], "\(actions)", file: file, line: line)
        XCTAssertEqual(actions.statuses, [.error], file: file, line: line)
        XCTAssertEqual(actions.disconnects, [code], file: file, line: line)
        if let error = actions.errors.first {
            assertInOrder(actions, [.error(error), .status(.error)], file: file, line: line)
        }
        if let last = actions.last, case .disconnected = last {} else {
            XCTFail("disconnected must be the last action: \(actions)", file: file, line: line)
        }
        XCTAssertEqual(session.phase, .idle, file: file, line: line)
        XCTAssertEqual(session.status, .error, file: file, line: line)
    }

    /// A clean end: status disconnected, disconnected(nil), no error.
    private func assertCleanEnd(_ actions: [SessionAction], _ session: Session,
                                file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(actions.errors, [], file: file, line: line)
        XCTAssertEqual(actions.statuses, [.disconnected], "\(actions)", file: file, line: line)
        XCTAssertEqual(actions.disconnects, [nil], "\(actions)", file: file, line: line)
        XCTAssertEqual(session.phase, .idle, file: file, line: line)
        XCTAssertEqual(session.status, .disconnected, file: file, line: line)
    }

    // MARK: Connect and authorize

    func testConnectPostsAuthorizeBodyWithAgentMetadataAndSDKVersion() {
        let session = idle(metadata: ["user": "u-7", "plan": 2])
        let actions = session.handle(.connect)

        XCTAssertEqual(actions.first, .status(.connecting))
        XCTAssertEqual(actions.count, 2)
        let bodies = actions.postedAuthorizeBodies
        XCTAssertEqual(bodies.count, 1)
        let body = bodies.first ?? .null
        XCTAssertEqual(body.objectValue?.keys.sorted(), ["agent_id", "metadata", "sdk_version"])
        XCTAssertEqual(body["agent_id"], .string(testAgentID))
        XCTAssertEqual(body["metadata"], ["user": "u-7", "plan": 2])
        XCTAssertEqual(body["sdk_version"], .string(testSDKVersion))
        XCTAssertEqual(session.phase, .authorizing)
        XCTAssertEqual(session.status, .connecting)
    }

    func testConnectWithoutMetadataSendsEmptyMetadataObject() {
        let body = idle().handle(.connect).postedAuthorizeBodies.first
        XCTAssertEqual(body?["metadata"], .object(JSONObject()))
        XCTAssertNil(body?["conversation_id"])
    }

    func testConnectWhenResumingSendsConversationID() {
        let body = idle(conversationID: "conv-old").handle(.connect).postedAuthorizeBodies.first
        XCTAssertEqual(body?["conversation_id"], "conv-old")
        XCTAssertEqual(body?["agent_id"], .string(testAgentID))
    }

    func testConnectWhileAlreadyConnectingDoesNothing() {
        let session = authorizing()
        XCTAssertEqual(session.handle(.connect), [])
        XCTAssertEqual(session.phase, .authorizing)
    }

    func testAuthorizeSuccessOpensSocketWithClientSessionKey() {
        let session = authorizing()
        let actions = session.handle(.authorizeResponse(status: 200, body: authorizeBody(key: "sk-abc")))
        XCTAssertEqual(actions, [.openSocket(clientSessionKey: "sk-abc")])
        XCTAssertEqual(session.phase, .opening)
        XCTAssertEqual(session.status, .connecting, "not connected until the socket opens")
        XCTAssertEqual(session.conversationID, "conv-1")
    }

    func testAnyTwoHundredStatusIsSuccess() {
        let session = authorizing()
        let actions = session.handle(.authorizeResponse(status: 201, body: authorizeBody()))
        XCTAssertEqual(actions, [.openSocket(clientSessionKey: "key-1")])
    }

    func testSocketOpenedReportsConnectedAndSendsClientReadyFirst() {
        let session = opening()
        let actions = session.handle(.socketOpened)
        XCTAssertEqual(actions, [
            .status(.connected),
            .connected(conversationID: "conv-1", config: configJSON()),
            .send(.ready),
        ])
        XCTAssertEqual(actions.sentTypes.first, "client.ready")
        XCTAssertEqual(session.phase, .open)
        XCTAssertEqual(session.status, .connected)
        XCTAssertTrue(session.isOpen)
    }

    func testClientReadyIsSentOnceAndBeforeAnyAudio() {
        // Without the client VAD, automatic mode streams at once (the VAD would gate frame 1).
        let session = opening(clientVAD: false)
        var sent = session.handle(.socketOpened).sentTypes
        sent += session.handle(.micFrame(micFrame(1))).sentTypes
        sent += session.handle(.socketOpened).sentTypes
        XCTAssertEqual(sent, ["client.ready", "client.audio"])
    }

    func testConnectedHandsTheWholeConfigToTheAppIncludingUnknownKeys() {
        let session = authorizing()
        let vad: JSONValue = ["enabled": true, "gate_audio": false, "buffer_frames": 4,
                              "positive_speech_threshold": 0.5, "future_knob": "x"]
        let extra: [(String, JSONValue)] = [("custom", ["nested": [1, 2, 3]])]
        _ = session.handle(.authorizeResponse(status: 200, body: authorizeBody(
            trigger: "push_to_talk", canInterrupt: false, vad: vad, extraConfig: extra)))
        let actions = session.handle(.socketOpened)
        let expected = configJSON(trigger: "push_to_talk", canInterrupt: false, vad: vad,
                                  extraConfig: extra)
        XCTAssertTrue(actions.contains(.connected(conversationID: "conv-1", config: expected)),
                      "\(actions)")
        XCTAssertEqual(session.authorization?.trigger, .pushToTalk)
        XCTAssertEqual(session.authorization?.canInterrupt, false)
        XCTAssertEqual(session.authorization?.vad.gateAudio, false)
        XCTAssertEqual(session.authorization?.vad.bufferFrames, 4)
    }

    func testLegacySessionIDIsAcceptedAsConversationID() {
        let session = authorizing()
        let actions = session.handle(.authorizeResponse(
            status: 200, body: authorizeBody(conversationID: nil, sessionID: "sess-legacy")))
        XCTAssertEqual(actions, [.openSocket(clientSessionKey: "key-1")])
        XCTAssertTrue(session.handle(.socketOpened)
            .contains(.connected(conversationID: "sess-legacy", config: configJSON())))
        XCTAssertEqual(session.conversationID, "sess-legacy")
    }

    func testConversationIDWinsOverLegacySessionID() {
        let session = authorizing()
        _ = session.handle(.authorizeResponse(
            status: 200, body: authorizeBody(conversationID: "conv-new", sessionID: "sess-old")))
        XCTAssertEqual(session.conversationID, "conv-new")
    }

    // MARK: Authorize errors

    func testAuthorizeHTTPErrorsReportStatusAndServerMessage() {
        let cases: [(status: Int, body: [UInt8], text: String)] = [
            (400, jsonBytes(["error": "Invalid agent_id"]), "Invalid agent_id"),
            (402, jsonBytes(["error": "Insufficient balance"]), "Insufficient balance"),
            (500, jsonBytes(["error": "backend exploded"]), "backend exploded"),
            (500, Array("Internal Server Error".utf8), "Internal Server Error"),
            (401, [], "401"),
        ]
        for c in cases {
            let session = authorizing()
            let actions = session.handle(.authorizeResponse(status: c.status, body: c.body))
            assertFailed(actions, session, code: .authorize)
            let message = actions.errors.first?.message ?? ""
            XCTAssertTrue(message.contains("\(c.status)"), "status missing from \(message)")
            XCTAssertTrue(message.contains(c.text), "server text missing from \(message)")
            XCTAssertFalse(actions.contains { if case .openSocket = $0 { true } else { false } })
        }
    }

    func testAuthorizeSuccessWithoutClientSessionKeyIsProtocolViolation() {
        for body in [authorizeBody(key: nil), authorizeBody(key: "")] {
            let session = authorizing()
            assertFailed(session.handle(.authorizeResponse(status: 200, body: body)), session,
                         code: .protocolViolation)
        }
    }

    func testAuthorizeSuccessWithoutTriggerIsProtocolViolation() {
        let session = authorizing()
        let actions = session.handle(.authorizeResponse(status: 200, body: authorizeBody(trigger: nil)))
        assertFailed(actions, session, code: .protocolViolation)
        XCTAssertTrue(actions.errors.first?.message.contains("trigger") ?? false)
    }

    func testAuthorizeSuccessWithUnknownTriggerIsProtocolViolation() {
        let session = authorizing()
        assertFailed(session.handle(.authorizeResponse(status: 200, body: authorizeBody(trigger: "telepathy"))),
                     session, code: .protocolViolation)
    }

    func testAuthorizeSuccessWithoutConfigIsProtocolViolation() {
        for body in [authorizeBody(includeConfig: false),
                     jsonBytes(["client_session_key": "k", "conversation_id": "c", "config": "no"])] {
            let session = authorizing()
            assertFailed(session.handle(.authorizeResponse(status: 200, body: body)), session,
                         code: .protocolViolation)
        }
    }

    func testAuthorizeSuccessWithoutConversationIDIsProtocolViolation() {
        let session = authorizing()
        assertFailed(session.handle(.authorizeResponse(status: 200, body: authorizeBody(conversationID: nil))),
                     session, code: .protocolViolation)
    }

    func testAuthorizeSuccessWithNonObjectBodyIsProtocolViolation() {
        for body in [Array("not json".utf8), Array("[1,2]".utf8), []] {
            let session = authorizing()
            assertFailed(session.handle(.authorizeResponse(status: 200, body: body)), session,
                         code: .protocolViolation)
        }
    }

    func testLateAuthorizeResponseAfterDisconnectIsIgnored() {
        let session = authorizing()
        _ = session.handle(.disconnect)
        XCTAssertEqual(session.handle(.authorizeResponse(status: 200, body: authorizeBody())), [])
        XCTAssertEqual(session.handle(.socketOpened), [])
        XCTAssertEqual(session.phase, .idle)
    }

    func testSocketOpenedBeforeAuthorizeIsIgnored() {
        XCTAssertEqual(idle().handle(.socketOpened), [])
        let session = authorizing()
        XCTAssertEqual(session.handle(.socketOpened), [])
        XCTAssertEqual(session.phase, .authorizing)
    }

    // MARK: Reconnect

    func testReconnectAfterErrorAuthorizesAgainWithSameConversationID() {
        let session = connected()
        _ = session.handle(.socketClosed(code: 1011, reason: "boom"))
        XCTAssertEqual(session.phase, .idle)

        let actions = session.handle(.connect)
        XCTAssertEqual(actions.statuses, [.connecting])
        XCTAssertFalse(actions.contains { if case .openSocket = $0 { true } else { false } },
                       "a reconnect never reuses the old key")
        XCTAssertNil(session.authorization, "the old authorization is forgotten")
        let body = actions.postedAuthorizeBodies.first
        XCTAssertEqual(body?["conversation_id"], "conv-1")
        XCTAssertEqual(body?["agent_id"], .string(testAgentID))

        XCTAssertEqual(session.handle(.authorizeResponse(status: 200, body: authorizeBody(key: "key-2"))),
                       [.openSocket(clientSessionKey: "key-2")])
        XCTAssertEqual(session.handle(.socketOpened).sentTypes, ["client.ready"])
    }

    func testReconnectAfterAuthorizeFailureKeepsTheResumedConversationID() {
        let session = authorizing(conversationID: "conv-resume")
        _ = session.handle(.authorizeResponse(status: 500, body: []))
        let body = session.handle(.connect).postedAuthorizeBodies.first
        XCTAssertEqual(body?["conversation_id"], "conv-resume")
    }

    func testReconnectAfterTransportFailureAuthorizesAgain() {
        let session = connected()
        _ = session.handle(.transportFailed(LayercodeError(.network, "reset")))
        let actions = session.handle(.connect)
        XCTAssertEqual(actions.postedAuthorizeBodies.first?["conversation_id"], "conv-1")
    }

    func testReconnectAfterCleanServerCloseAuthorizesAgain() {
        let session = connected()
        _ = session.handle(.socketClosed(code: 1000, reason: "session limit"))
        let actions = session.handle(.connect)
        XCTAssertEqual(actions.postedAuthorizeBodies.first?["conversation_id"], "conv-1")
        XCTAssertEqual(session.phase, .authorizing)
    }

    func testPreRollAndInterruptionsDoNotSurviveAReconnect() {
        let session = connected(trigger: "push_to_talk", bufferFrames: 10)
        _ = session.handle(.micFrame(micFrame(1)))
        _ = session.handle(turnStart(role: "assistant", turn: "a1"))
        _ = session.handle(.turnStart)                  // interrupts a1
        _ = session.handle(.turnEnd)
        _ = session.handle(.micFrame(micFrame(2)))      // pre-roll of the old connection
        _ = session.handle(.transportFailed(LayercodeError(.network, "reset")))

        _ = session.handle(.connect)
        _ = session.handle(.authorizeResponse(status: 200, body: authorizeBody(trigger: "push_to_talk")))
        _ = session.handle(.socketOpened)
        XCTAssertEqual(session.handle(.turnStart).sentAudio, [], "old pre-roll must not be sent")
    }

    // MARK: Transport failures

    func testTransportFailedWhenIdleDoesNothing() {
        XCTAssertEqual(idle().handle(.transportFailed(LayercodeError(.network, "x"))), [])
    }

    func testTransportFailedWhileAuthorizingEndsInError() {
        let session = authorizing()
        let error = LayercodeError(.network, "connection refused")
        let actions = session.handle(.transportFailed(error))
        XCTAssertEqual(actions.first, .abortTransport)
        XCTAssertEqual(actions.errors, [error])
        assertFailed(actions, session, code: .network)
    }

    func testTransportFailedWhileOpeningEndsInError() {
        let session = opening()
        let error = LayercodeError(.tls, "certificate verify failed")
        let actions = session.handle(.transportFailed(error))
        XCTAssertEqual(actions.first, .abortTransport)
        XCTAssertEqual(actions.errors, [error])
        assertFailed(actions, session, code: .tls)
    }

    func testTransportFailedWhileOpenEndsInErrorAndStopsPlayout() {
        let session = playing()
        let actions = session.handle(.transportFailed(LayercodeError(.timeout, "no pong")))
        assertFailed(actions, session, code: .timeout)
        XCTAssertEqual(actions.flushes, 1)
        XCTAssertTrue(actions.contains(.assistantTurnActive(false)))
        XCTAssertEqual(session.handle(.micFrame(micFrame(1))), [], "nothing is sent after the end")
    }

    /// Regression: a socket failing after the app asked to disconnect was reported as an
    /// error (status error, disconnected(.network)) instead of the clean end the app asked for.
    func testTransportFailureWhileClosingIsACleanDisconnect() {
        let session = closing()
        let actions = session.handle(.transportFailed(LayercodeError(.network, "reset")))
        XCTAssertEqual(actions.disconnects.count, 1)
        XCTAssertTrue(actions.contains(.disconnected(code: nil, message: "disconnected by the app")),
                      "\(actions)")
        XCTAssertFalse(actions.contains(.status(.error)))
        XCTAssertEqual(session.status, .disconnected)
        XCTAssertEqual(session.phase, .idle)
        XCTAssertEqual(session.handle(.socketClosed(code: 1000, reason: "")), [],
                       "a close after the end reports nothing more")
    }

    // MARK: Disconnect

    func testDisconnectWhenIdleDoesNothing() {
        XCTAssertEqual(idle().handle(.disconnect), [])
    }

    func testDisconnectWhileAuthorizingAbortsAndEndsCleanly() {
        let session = authorizing()
        let actions = session.handle(.disconnect)
        XCTAssertEqual(actions.first, .abortTransport)
        assertCleanEnd(actions, session)
    }

    func testDisconnectWhileOpeningAbortsAndEndsCleanly() {
        let session = opening()
        let actions = session.handle(.disconnect)
        XCTAssertEqual(actions.first, .abortTransport)
        assertCleanEnd(actions, session)
        XCTAssertEqual(session.handle(.socketOpened), [], "a late open is ignored")
    }

    func testDisconnectWhileOpenClosesWith1000ThenEndsCleanlyOnClose() {
        let session = playing()
        let actions = session.handle(.disconnect)
        XCTAssertTrue(actions.contains { if case .closeSocket(1000, _) = $0 { true } else { false } },
                      "\(actions)")
        XCTAssertFalse(actions.contains(.abortTransport))
        XCTAssertEqual(actions.disconnects, [], "not disconnected until the socket closes")
        XCTAssertEqual(actions.flushes, 1, "agent audio stops at once")
        XCTAssertEqual(session.phase, .closing)
        XCTAssertEqual(actions.sent, [])

        let closed = session.handle(.socketClosed(code: 1000, reason: ""))
        assertCleanEnd(closed, session)
    }

    func testDisconnectWhileOpenEndsCleanlyWhateverTheCloseReplyCode() {
        for code: UInt16? in [nil, 1000, 1006, 1011] {
            let session = closing()
            assertCleanEnd(session.handle(.socketClosed(code: code, reason: "")), session)
        }
    }

    func testDisconnectWhileClosingDoesNothing() {
        let session = closing()
        XCTAssertEqual(session.handle(.disconnect), [])
        XCTAssertEqual(session.phase, .closing)
    }

    func testServerMessagesWhileClosingAreStillHandedToTheApp() {
        let session = closing()
        let actions = session.handle(server(["type": "response.text", "content": "bye"]))
        XCTAssertEqual(actions.messages.map(\.type), ["response.text"])
        XCTAssertEqual(session.handle(responseAudio(turn: "a1", delta: "d", samples: agentAudio)).plays.count, 0,
                       "no audio is queued after disconnect")
    }

    // MARK: Server close

    func testServerClose1000OrNoCodeIsACleanDisconnect() {
        for code: UInt16? in [1000, nil] {
            let session = playing()
            let actions = session.handle(.socketClosed(code: code, reason: "duration limit"))
            assertCleanEnd(actions, session)
            XCTAssertTrue(actions.contains(.assistantTurnActive(false)))
        }
    }

    func testServerClose1011Or4000IsAClosedError() {
        for code: UInt16 in [1011, 4000] {
            let session = playing()
            let actions = session.handle(.socketClosed(code: code, reason: "went wrong"))
            assertFailed(actions, session, code: .closed)
            let message = actions.errors.first?.message ?? ""
            XCTAssertTrue(message.contains("\(code)"), message)
            XCTAssertTrue(message.contains("went wrong"), message)
            XCTAssertEqual(actions.flushes, 1)
        }
    }

    func testSocketClosedWhenIdleOrAuthorizingIsIgnored() {
        XCTAssertEqual(idle().handle(.socketClosed(code: 1011, reason: "")), [])
        XCTAssertEqual(authorizing().handle(.socketClosed(code: 1011, reason: "")), [])
    }

    // MARK: Microphone audio

    func testMicFrameInAutomaticModeSendsClientAudioAsLittleEndianBase64() {
        // Without the client VAD, automatic mode streams at once (the VAD would gate the frame).
        let session = connected(clientVAD: false)
        var frame = micFrame(3)
        frame.replaceSubrange(0..<6, with: [Int16.min, -1, 0, 1, Int16.max, 0x0102])
        let actions = session.handle(.micFrame(frame))
        XCTAssertEqual(actions.sentTypes, ["client.audio"])
        XCTAssertEqual(actions.count, 1)
        guard let json = actions.sent.first, let content = json["content"]?.stringValue,
              let bytes = Base64.decode(content) else {
            return XCTFail("no decodable client.audio in \(actions)")
        }
        XCTAssertEqual(bytes.count, 320)
        XCTAssertEqual(bytes, littleEndianBytes(frame))
        XCTAssertEqual(Array(bytes[0..<4]), [0x00, 0x80, 0xFF, 0xFF])
        XCTAssertEqual(Array(bytes[10..<12]), [0x02, 0x01], "low byte first")
        XCTAssertEqual(samplesFromLittleEndian(bytes), frame)
    }

    func testMicFramesInAutomaticModeStreamEveryFrameInOrder() {
        let session = connected()
        var audio: [[Int16]] = []
        for k in 0..<25 { audio += session.handle(.micFrame(micFrame(k))).sentAudio }
        XCTAssertEqual(audio, (0..<25).map(micFrame))
    }

    func testMicFramesInTextOnlyModeSendNothing() {
        for trigger in ["automatic", "push_to_talk"] {
            let session = connected(trigger: trigger, audioEnabled: false)
            var actions: [SessionAction] = []
            for k in 0..<12 { actions += session.handle(.micFrame(micFrame(k))) }
            actions += session.handle(.turnStart)
            XCTAssertEqual(actions.sentAudio, [], trigger)
        }
    }

    func testPushToTalkPreRollKeepsOnlyTheLastBufferFramesAndSendsThemAfterTurnStart() {
        let session = connected(trigger: "push_to_talk", bufferFrames: 10)
        for k in 0..<15 {
            // The VAD still reports .userSpeaking in push-to-talk: only the sends matter here.
            XCTAssertEqual(session.handle(.micFrame(micFrame(k))).sent, [], "frame \(k) sent before turn start")
        }
        let start = session.handle(.turnStart)
        XCTAssertEqual(start.sentTypes, ["trigger.turn.start"] + Array(repeating: "client.audio", count: 10))
        XCTAssertEqual(start.sent.first?["role"], "user")
        XCTAssertEqual(start.sentAudio, (5..<15).map(micFrame), "exactly the last 10 frames, in order")

        var live: [[Int16]] = []
        for k in 15..<20 { live += session.handle(.micFrame(micFrame(k))).sentAudio }
        XCTAssertEqual(live, (15..<20).map(micFrame), "live frames stream during the turn")
    }

    func testPushToTalkTurnEndSendsTriggerTurnEndAndGatingResumes() {
        let session = connected(trigger: "push_to_talk", bufferFrames: 3)
        _ = session.handle(.turnStart)
        XCTAssertEqual(session.handle(.micFrame(micFrame(0))).sentAudio.count, 1)

        let end = session.handle(.turnEnd)
        XCTAssertEqual(end.sentTypes, ["trigger.turn.end"])
        XCTAssertEqual(end.sent.first?["role"], "user")
        XCTAssertFalse(session.userTurnActive)

        for k in 1...5 {
            XCTAssertEqual(session.handle(.micFrame(micFrame(k))).sent, [], "frame \(k) after turn end")
        }
        let next = session.handle(.turnStart)
        XCTAssertEqual(next.sentAudio, (3...5).map(micFrame), "pre-roll refills after turn end")
        let afterNext = session.handle(.turnStart)
        XCTAssertEqual(afterNext.sentAudio, [], "pre-roll is sent once")
    }

    func testPushToTalkDefaultPreRollIsTenFrames() {
        let session = connected(trigger: "push_to_talk")
        for k in 0..<13 { _ = session.handle(.micFrame(micFrame(k))) }
        XCTAssertEqual(session.handle(.turnStart).sentAudio, (3..<13).map(micFrame))
    }

    func testPushToTalkWithZeroBufferFramesKeepsNoPreRoll() {
        let session = connected(trigger: "push_to_talk", bufferFrames: 0)
        for k in 0..<5 { XCTAssertEqual(session.handle(.micFrame(micFrame(k))).sent, []) }
        XCTAssertEqual(session.handle(.turnStart).sentTypes, ["trigger.turn.start"])
    }

    func testPushToTalkWithGateAudioFalseStreamsContinuously() {
        let session = connected(trigger: "push_to_talk", gateAudio: false, bufferFrames: 10)
        var audio: [[Int16]] = []
        for k in 0..<4 { audio += session.handle(.micFrame(micFrame(k))).sentAudio }
        let start = session.handle(.turnStart)
        XCTAssertEqual(start.sentTypes, ["trigger.turn.start"], "nothing was held back")
        for k in 4..<8 { audio += session.handle(.micFrame(micFrame(k))).sentAudio }
        _ = session.handle(.turnEnd)
        for k in 8..<12 { audio += session.handle(.micFrame(micFrame(k))).sentAudio }
        XCTAssertEqual(audio, (0..<12).map(micFrame))
    }

    // MARK: Server messages

    func testResponseAudioIsQueuedForPlayoutWithTurnAndDeltaIDs() {
        let session = connected()
        let actions = session.handle(responseAudio(turn: "t1", delta: "d7", samples: agentAudio))
        XCTAssertEqual(actions.plays.count, 1)
        XCTAssertEqual(actions.plays.first?.samples, agentAudio)
        XCTAssertEqual(actions.plays.first?.turnID, "t1")
        XCTAssertEqual(actions.plays.first?.deltaID, "d7")
        XCTAssertTrue(actions.contains(.assistantTurnActive(true)))
        XCTAssertEqual(actions.messages.count, 0, "audio is not an app message")
        XCTAssertEqual(actions.sent, [])
    }

    func testResponseAudioAcceptsNumericTurnAndDeltaIDs() {
        let session = connected()
        let content = Base64.encode(littleEndianBytes(agentAudio))
        let actions = session.handle(server(["type": "response.audio", "content": .string(content),
                                             "turn_id": 12, "delta_id": 3]))
        XCTAssertEqual(actions.plays.first?.turnID, "12")
        XCTAssertEqual(actions.plays.first?.deltaID, "3")
    }

    func testResponseAudioWithEmptyContentIsSkipped() {
        let session = connected()
        XCTAssertEqual(session.handle(responseAudio(turn: "t1", delta: "d1", samples: [])), [])
    }

    func testResponseAudioWithBadBase64ReportsErrorAndSessionContinues() {
        let session = connected()
        for content in ["@@@not base64@@@", "A", "AQID"] {  // bad characters; impossible length; odd byte count
            let actions = session.handle(server(["type": "response.audio", "content": .string(content),
                                                 "turn_id": "t1", "delta_id": "d1"]))
            XCTAssertEqual(actions.errors.map(\.code), [.protocolViolation], content)
            XCTAssertEqual(actions.plays.count, 0)
            XCTAssertEqual(actions.disconnects, [])
        }
        XCTAssertEqual(session.phase, .open)
        XCTAssertEqual(session.status, .connected)
        XCTAssertEqual(session.handle(responseAudio(turn: "t1", delta: "d2", samples: agentAudio)).plays.count, 1)
    }

    func testResponseAudioInTextOnlyModeIsNotPlayed() {
        let session = connected(audioEnabled: false)
        XCTAssertEqual(session.handle(responseAudio(turn: "t1", delta: "d1", samples: agentAudio)).plays.count, 0)
    }

    func testMalformedServerMessagesReportErrorAndSessionContinues() {
        let session = connected()
        for text in ["{not json", "[1,2,3]", "\"hello\"", "42", #"{"content":"x"}"#, #"{"type":7}"#, ""] {
            let actions = session.handle(.socketText(text))
            XCTAssertEqual(actions.errors.map(\.code), [.protocolViolation], text)
            XCTAssertEqual(actions.messages.count, 0, text)
            XCTAssertEqual(actions.disconnects, [], text)
            XCTAssertEqual(actions.statuses, [], text)
        }
        XCTAssertEqual(session.phase, .open)
        XCTAssertEqual(session.handle(server(["type": "response.text", "content": "still here"])).messages.count, 1)
    }

    func testBinaryFrameReportsErrorAndSessionContinues() {
        let session = connected()
        let actions = session.handle(.socketBinary([1, 2, 3]))
        XCTAssertEqual(actions.errors.map(\.code), [.protocolViolation])
        XCTAssertEqual(actions.disconnects, [])
        XCTAssertEqual(session.phase, .open)
    }

    func testUnknownMessageTypeIsHandedToTheAppWithTheOriginalJSONText() {
        let session = connected()
        let text = #"{ "type" : "brand.new.thing", "payload": {"a": [1, 2.50, "x"]} }"#
        let actions = session.handle(.socketText(text))
        XCTAssertEqual(actions.count, 1)
        XCTAssertEqual(actions.messages.first?.type, "brand.new.thing")
        XCTAssertEqual(actions.messages.first?.json, text, "the original text, byte for byte")
        XCTAssertEqual(actions.errors, [])
    }

    func testKnownNonAudioMessagesAreHandedToTheApp() {
        let session = connected()
        let types = ["response.text", "user.transcript.interim_delta", "user.transcript.delta",
                     "user.transcript", "response.end"]
        for type in types {
            let text = JSONValue.object(["type": .string(type), "content": "hi", "turn_id": "t1"]).serialized()
            let actions = session.handle(.socketText(text))
            XCTAssertEqual(actions.messages.map(\.type), [type])
            XCTAssertEqual(actions.messages.first?.json, text)
            XCTAssertEqual(actions.errors, [])
        }
    }

    func testAssistantTurnStartAndResponseEndTrackTheActiveTurn() {
        let session = connected()
        let start = session.handle(turnStart(role: "assistant", turn: "a1"))
        XCTAssertEqual(start.first, .assistantTurnActive(true))
        XCTAssertEqual(start.messages.map(\.type), ["turn.start"])
        let end = session.handle(server(["type": "response.end", "turn_id": "a1"]))
        XCTAssertEqual(end.first, .assistantTurnActive(false))
        XCTAssertEqual(end.messages.map(\.type), ["response.end"])
    }

    func testResponseDataIsHandedToTheAppAsDataAndAsMessage() {
        let session = connected()
        let text = #"{"type":"response.data","content":{"score":3,"tags":["a","b"]},"turn_id":"t9"}"#
        let actions = session.handle(.socketText(text))
        guard let dataIndex = actions.firstIndex(where: { if case .data = $0 { true } else { false } }),
              case .data(let contentJSON, let turnID) = actions[dataIndex] else {
            return XCTFail("no data action in \(actions)")
        }
        XCTAssertEqual(try? JSONValue.parse(contentJSON), ["score": 3, "tags": ["a", "b"]])
        XCTAssertEqual(turnID, "t9")
        XCTAssertEqual(actions.messages.map(\.type), ["response.data"])
        XCTAssertEqual(actions.messages.first?.json, text)
    }

    func testResponseDataWithScalarContentIsHandedToTheApp() {
        let session = connected()
        let actions = session.handle(.socketText(#"{"type":"response.data","content":"plain"}"#))
        XCTAssertTrue(actions.contains(.data(contentJSON: #""plain""#, turnID: nil)), "\(actions)")
    }

    // MARK: Barge-in and interruption

    func testUserTurnStartInAutomaticModeWithCanInterruptFlushesPlayout() {
        let session = playing(turn: "a1")
        let actions = session.handle(turnStart(role: "user", turn: "u1"))
        XCTAssertEqual(actions.first, .flushPlayout, "stop playout before anything else")
        XCTAssertTrue(actions.contains(.assistantTurnActive(false)))
        XCTAssertEqual(actions.messages.map(\.type), ["turn.start"])
        XCTAssertEqual(actions.sent, [])
    }

    func testLateAudioOfTheInterruptedTurnIsDroppedNeverPlayed() {
        let session = playing(turn: "a1")
        _ = session.handle(turnStart(role: "user", turn: "u1"))
        for delta in ["d2", "d3"] {
            let actions = session.handle(responseAudio(turn: "a1", delta: delta, samples: agentAudio))
            XCTAssertEqual(actions.plays.count, 0)
            XCTAssertEqual(actions.droppedLate, [agentAudio.count])
            XCTAssertFalse(actions.contains(.assistantTurnActive(true)))
        }
    }

    func testAudioOfTheNextAssistantTurnPlaysAfterAnInterruption() {
        let session = playing(turn: "a1")
        _ = session.handle(turnStart(role: "user", turn: "u1"))
        _ = session.handle(turnStart(role: "assistant", turn: "a2"))
        let actions = session.handle(responseAudio(turn: "a2", delta: "d1", samples: agentAudio))
        XCTAssertEqual(actions.plays.map(\.turnID), ["a2"])
    }

    func testAudioWithoutTurnStartIsStillInterruptible() {
        let session = connected()
        _ = session.handle(responseAudio(turn: "a1", delta: "d1", samples: agentAudio))
        _ = session.handle(turnStart(role: "user"))
        let late = session.handle(responseAudio(turn: "a1", delta: "d2", samples: agentAudio))
        XCTAssertEqual(late.plays.count, 0)
        XCTAssertEqual(late.droppedLate, [agentAudio.count])
    }

    func testUserTurnStartWithCanInterruptFalseDoesNotFlush() {
        let session = playing(turn: "a1", canInterrupt: false)
        let actions = session.handle(turnStart(role: "user", turn: "u1"))
        XCTAssertEqual(actions.flushes, 0)
        XCTAssertEqual(actions.messages.map(\.type), ["turn.start"])
        XCTAssertEqual(session.handle(responseAudio(turn: "a1", delta: "d2", samples: agentAudio)).plays.count, 1)
    }

    func testUserTurnStartInPushToTalkModeDoesNotFlush() {
        let session = playing(turn: "a1", trigger: "push_to_talk")
        let actions = session.handle(turnStart(role: "user", turn: "u1"))
        XCTAssertEqual(actions.flushes, 0)
        XCTAssertEqual(session.handle(responseAudio(turn: "a1", delta: "d2", samples: agentAudio)).plays.count, 1)
    }

    func testPushToTalkTurnStartFlushesPlayoutAndDropsLateAudioOfTheCurrentAssistantTurn() {
        let session = playing(turn: "a1", trigger: "push_to_talk")
        let actions = session.handle(.turnStart)
        XCTAssertEqual(actions.first, .flushPlayout, "stop playout before sending anything")
        guard let flush = actions.index(of: .flushPlayout),
              let send = actions.firstIndex(where: { $0.wireText != nil }) else {
            return XCTFail("\(actions)")
        }
        XCTAssertLessThan(flush, send)
        XCTAssertEqual(actions.sentTypes.first, "trigger.turn.start")

        let late = session.handle(responseAudio(turn: "a1", delta: "d2", samples: agentAudio))
        XCTAssertEqual(late.plays.count, 0)
        XCTAssertEqual(late.droppedLate, [agentAudio.count])
    }

    func testSendTextInterruptsPlayoutThenSendsClientResponseText() {
        let session = playing(turn: "a1")
        let actions = session.handle(.sendText("What about Tuesday? \u{1F600} \"quoted\""))
        XCTAssertEqual(actions.first, .flushPlayout)
        XCTAssertEqual(actions.sentTypes, ["client.response.text"])
        XCTAssertEqual(actions.sent.first?["content"], "What about Tuesday? \u{1F600} \"quoted\"")
        if let send = actions.firstIndex(where: { $0.wireText != nil }) {
            XCTAssertLessThan(actions.index(of: .flushPlayout) ?? Int.max, send)
        }
        let late = session.handle(responseAudio(turn: "a1", delta: "d2", samples: agentAudio))
        XCTAssertEqual(late.plays.count, 0, "the interrupted turn stays silent")
    }

    func testWhitespaceOnlyTextSendsNothing() {
        let session = playing(turn: "a1")
        for text in ["", " ", "\n\t  \r\n", "\u{00A0}"] {
            XCTAssertEqual(session.handle(.sendText(text)), [], text.debugDescription)
        }
        XCTAssertEqual(session.handle(responseAudio(turn: "a1", delta: "d2", samples: agentAudio)).plays.count, 1,
                       "ignored text does not interrupt")
    }

    func testSendDataSendsClientResponseDataAndDoesNotFlush() {
        let session = playing(turn: "a1")
        let data: JSONValue = ["choice": "b", "n": 2, "nested": ["ok": true]]
        let actions = session.handle(.sendData(data))
        XCTAssertEqual(actions.sentTypes, ["client.response.data"])
        XCTAssertEqual(actions.sent.first?["data"], data)
        XCTAssertEqual(actions.flushes, 0)
        XCTAssertEqual(actions.count, 1)
        XCTAssertEqual(session.handle(responseAudio(turn: "a1", delta: "d2", samples: agentAudio)).plays.count, 1)
    }

    // MARK: Replay finished

    func testPlayoutDrainedSendsReplayFinishedWithTurnAndLastDelta() {
        let session = playing(turn: "a1")
        let actions = session.handle(.playoutDrained(turnID: "a1", lastDeltaID: "d1"))
        XCTAssertEqual(actions.count, 1)
        XCTAssertEqual(actions.sent, [[
            "type": "trigger.response.audio.replay_finished", "reason": "completed",
            "turn_id": "a1", "last_delta_id_played": "d1",
        ]])
    }

    func testPlayoutDrainedMayRepeatWithinATurn() {
        let session = playing(turn: "a1")
        _ = session.handle(.playoutDrained(turnID: "a1", lastDeltaID: "d1"))
        _ = session.handle(responseAudio(turn: "a1", delta: "d2", samples: agentAudio))
        let again = session.handle(.playoutDrained(turnID: "a1", lastDeltaID: "d2"))
        XCTAssertEqual(again.sent.first?["last_delta_id_played"], "d2")
    }

    func testPlayoutDrainedForAnInterruptedTurnSendsNothing() {
        for interrupt: SessionInput in [turnStart(role: "user"), .sendText("stop")] {
            let session = playing(turn: "a1")
            _ = session.handle(interrupt)
            XCTAssertEqual(session.handle(.playoutDrained(turnID: "a1", lastDeltaID: "d1")), [])
        }
        let ptt = playing(turn: "a1", trigger: "push_to_talk")
        _ = ptt.handle(.turnStart)
        XCTAssertEqual(ptt.handle(.playoutDrained(turnID: "a1", lastDeltaID: "d1")), [])
    }

    // MARK: Not open

    func testNothingIsSentWhenNotOpen() {
        let phases: [(String, () -> Session)] = [
            ("idle", { self.idle() }),
            ("authorizing", { self.authorizing() }),
            ("opening", { self.opening(trigger: "push_to_talk") }),
            ("closing", { self.closing() }),
            ("ended", {
                let s = self.connected()
                _ = s.handle(.socketClosed(code: 1000, reason: ""))
                return s
            }),
        ]
        let inputs: [(String, SessionInput)] = [
            ("micFrame", .micFrame(micFrame(1))),
            ("turnStart", .turnStart),
            ("turnEnd", .turnEnd),
            ("sendText", .sendText("hello")),
            ("sendData", .sendData(["a": 1])),
            ("playoutDrained", .playoutDrained(turnID: "a1", lastDeltaID: "d1")),
            ("response.audio", responseAudio(turn: "a1", delta: "d1", samples: agentAudio)),
        ]
        for (phaseName, make) in phases {
            for (inputName, input) in inputs {
                let session = make()
                let phase = session.phase
                XCTAssertEqual(session.handle(input), [], "\(inputName) while \(phaseName)")
                XCTAssertEqual(session.phase, phase, "\(inputName) while \(phaseName)")
            }
        }
    }

    func testPreRollIsNotFilledBeforeTheSocketOpens() {
        let session = opening(trigger: "push_to_talk")
        for k in 0..<5 { _ = session.handle(.micFrame(micFrame(k))) }
        _ = session.handle(.socketOpened)
        XCTAssertEqual(session.handle(.turnStart).sentAudio, [])
    }
}
