// SPDX-License-Identifier: Apache-2.0
/// The Layercode session as a pure state machine (doc/architecture.md "Core is pure"):
/// inputs are events (the app's calls, the authorize response, socket events, captured mic
/// frames, playout drains), outputs are actions for the driver to carry out (HTTP, socket,
/// playout, callbacks). No I/O, no clocks: every protocol rule is unit-testable here.
///
/// Microphone gating (doc/protocol.md §2 "Audio gating"). Every 20 ms mic frame of an open,
/// unmuted audio session goes through the client VAD (`EnergyVAD`, configured from
/// `config.vad`), unless the app turned it off (`SessionOptions.clientVAD`) or the server did
/// (`config.vad.enabled: false`). Its transitions are reported as `.userSpeaking(Bool)`, in
/// both modes, only on change. Then, per mode:
/// - Automatic, VAD running, `gate_audio` true (the default): frames are held in a pre-roll
///   ring until speech starts. On speech start the session sends `vad_events{vad_start}`
///   first, then the ring — the last `buffer_frames` frames before speech followed by the
///   frames that confirmed it — then the current frame, all in capture order, each once;
///   while the user speaks every frame is sent, the hangover frames included (they are part
///   of the speech). The frame that ends the hangover is sent, then `vad_events{vad_end}`,
///   and gating resumes with an empty ring.
/// - Automatic, VAD running, `gate_audio` false: every frame is streamed; `vad_start` /
///   `vad_end` are still sent (before the frame that starts speech, after the one that ends
///   it).
/// - Automatic without the VAD: every frame is streamed; no `vad_events`.
/// - Push-to-talk: frames are sent between `turnStart` (which flushes the last
///   `buffer_frames` frames of pre-roll after `trigger.turn.start`) and `turnEnd`, or always
///   with `gate_audio` false. The VAD only drives `.userSpeaking`; no `vad_events` are sent
///   (the JS SDK sends them in automatic mode only).
/// - Muted (`.setMuted(true)`, the app's choice, kept across reconnects): nothing is sent —
///   no `client.audio`, no `vad_events` — and frames are dropped, not buffered. Muting
///   clears the pre-roll and resets the VAD; if the user was speaking it reports
///   `.userSpeaking(false)` and, when a `vad_start` is outstanding, sends its `vad_end` so the
///   server never waits on an unfinished utterance (like the JS SDK, whose mute stops the
///   mic). `trigger.turn.start`/`end`, text and data are still sent while muted.
public final class Session {
    /// `waiting`: between reconnect attempts.
    public enum Phase: Equatable { case idle, authorizing, opening, open, closing, waiting }

    public private(set) var phase: Phase = .idle
    public private(set) var status: SessionStatus = .disconnected
    public private(set) var options: SessionOptions
    public private(set) var authorization: AuthorizeResult?
    /// Stable across reconnects: a resumed session authorizes with it.
    public private(set) var conversationID: String?
    /// Why the last session ended for good (`.none` after a clean end), and the HTTP status
    /// behind it, if any.
    public private(set) var failureReason = FailureReason.none
    public private(set) var failureHTTPStatus: Int?
    /// The reconnect attempt under way (1-based); 0 when not reconnecting.
    public var reconnectAttempt: Int { status == .reconnecting ? attemptsSinceStable : 0 }
    /// Attempts used since the connection was last stable (`.connectionStable`).
    public private(set) var attemptsSinceStable = 0
    /// Backoff jitter, 0...1; the driver supplies a real random source.
    public var random: () -> Double = { 1.0 }
    /// Microphone frames captured while reconnecting, sent once the session reopens.
    private var outage: [UplinkFrame] = []

    /// Push-to-talk: between turn start and turn end.
    public private(set) var userTurnActive = false
    /// The app muted the microphone; survives reconnects.
    public private(set) var isMuted = false
    /// The app turned the microphone on (the default) or off; survives reconnects.
    public private(set) var isInputEnabled = true
    /// The app turned agent audio on (the default) or off; survives reconnects.
    public private(set) var isOutputEnabled = true
    /// Server messages refused (invalid JSON, no type, an oversized or NUL-bearing id), each
    /// also reported as a `.protocolViolation` error; the session goes on.
    public private(set) var refusedMessages = 0
    /// The client VAD's view: the user is speaking.
    public private(set) var isUserSpeaking = false
    /// The client VAD of the open connection (nil: off, text-only, or not open).
    public private(set) var vad: EnergyVAD?
    /// A `vad_start` was sent and its `vad_end` not yet.
    private var vadStartOutstanding = false
    private var preRoll: [UplinkFrame] = []
    /// The assistant turns of the open socket: current, interrupted (AssistantTurns.swift).
    private var turns = AssistantTurns()
    /// The Opus socket's delta marks (doc/opus-profile.md §4).
    private var marks = OpusDeltaMarks()

    public init(options: SessionOptions) {
        self.options = options
        conversationID = options.conversationID
        isInputEnabled = options.inputEnabled
        isOutputEnabled = options.outputEnabled
    }

    /// Agent audio goes to a speaker (not text-only, output not turned off).
    private var playsAudio: Bool { options.audioEnabled && isOutputEnabled }

    public var isOpen: Bool { phase == .open }
    /// How the socket of this connection talks: the driver encodes `.send`/`.sendAudio` and
    /// decodes what the socket receives with it. Chosen by authorize; `.pcmJSON` before.
    public var wireProfile: WireProfile { authorization?.wireProfile ?? .pcmJSON }
    /// Microphone frames are wanted: the session is open, or reconnecting (they are held).
    public var wantsMicrophone: Bool { phase == .open || reconnectAttempt > 0 }

    public func handle(_ input: SessionInput) -> [SessionAction] {
        var out: [SessionAction] = []
        switch input {
        case .connect: connect(&out)
        case .disconnect: disconnect(&out)
        case .authorizeResponse(let status, let body): authorized(status, body, &out)
        case .transportFailed(let error): fail(error, &out)
        case .socketOpened: opened(&out)
        case .received(let event): received(event, &out)
        case .refused(let error):
            guard phase == .open || phase == .closing else { break }
            refusedMessages += 1
            out.append(.error(error))
        case .socketClosed(let code, let reason): closed(code, reason, &out)
        case .micFrame(let frame): mic(frame, &out)
        case .playoutDrained(let turnID, let lastDelta):
            turns.drained(turnID)
            if phase == .open, let turnID, !turns.isInterrupted(turnID) {
                out.append(.send(.replayFinished(turnID: turnID, lastDeltaIDPlayed: lastDelta)))
            }
        case .turnStart: turnStart(&out)
        case .turnEnd:
            guard phase == .open else { break }
            userTurnActive = false
            out.append(.send(.turnEnd))
        case .sendText(let text):
            guard phase == .open else { break }
            if text.allSatisfy({ $0.isWhitespace }) { break }
            interruptPlayout(&out)
            out.append(.send(.responseText(text)))
        case .sendData(let data):
            guard phase == .open else { break }
            out.append(.send(.responseData(data)))
        case .setMuted(let muted): setMuted(muted, &out)
        case .reconnectTimerFired: reconnectNow(&out)
        case .connectionStable:
            if phase == .open { attemptsSinceStable = 0 }
        case .setAudioInput(let enabled):
            guard enabled != isInputEnabled else { break }
            isInputEnabled = enabled
            out.append(.audioInputChanged(enabled))
            if !enabled { silenceMicrophone(&out) }
        case .setAudioOutput(let enabled):
            isOutputEnabled = enabled
            // What was queued is flushed by the driver: nothing of it will drain.
            if !enabled { turns.playoutDiscarded() }
        }
        return out
    }

    // MARK: Connecting

    private func setStatus(_ s: SessionStatus, _ out: inout [SessionAction]) {
        guard s != status else { return }
        status = s
        out.append(.status(s))
    }

    private func connect(_ out: inout [SessionAction]) {
        guard phase == .idle else { return }
        phase = .authorizing
        authorization = nil
        userTurnActive = false
        preRoll.removeAll()
        vad = nil
        vadStartOutstanding = false
        turns.forget()
        attemptsSinceStable = 0
        outage.removeAll()
        failureReason = .none
        failureHTTPStatus = nil
        setStatus(.connecting, &out)
        // A key is never reused: every connect authorizes again (doc/protocol.md §1.3).
        out.append(authorizeAction())
    }

    /// The authorize request, with the conversation to resume when there is one.
    private func authorizeAction() -> SessionAction {
        .postAuthorize(body: Authorize.requestBody(
            agentID: options.agentID, metadata: options.metadata, metadataJSON: options.metadataJSON,
            conversationID: conversationID, sdkVersion: options.sdkVersion, codecs: options.wireCodecs))
    }

    private func authorized(_ status: Int, _ body: [UInt8], _ out: inout [SessionAction]) {
        guard phase == .authorizing else { return }
        do {
            let result = try Authorize.parseResponse(status: status, body: body,
                                                     maxDepth: options.maxJSONDepth,
                                                     offeredOpus: options.wireCodecs.contains("opus"))
            authorization = result
            conversationID = result.conversationID
            phase = .opening
            out.append(.openSocket(clientSessionKey: result.clientSessionKey))
        } catch {
            fail(error, &out)
        }
    }

    private func opened(_ out: inout [SessionAction]) {
        guard phase == .opening, let auth = authorization else { return }
        phase = .open
        preRoll.removeAll()
        vadStartOutstanding = false
        turns.forget()
        marks = OpusDeltaMarks()
        vad = options.clientVAD && options.audioEnabled && auth.vad.enabled
            ? EnergyVAD(config: EnergyVAD.Config(settings: auth.vad)) : nil
        setStatus(.connected, &out)
        out.append(.connected(conversationID: auth.conversationID, config: auth.config))
        // Audio input is running as soon as the session is (external audio or text-only).
        out.append(.send(.ready))
        // What the microphone caught during an outage goes first, in capture order.
        let held = outage
        outage.removeAll()
        for frame in held { mic(frame, &out) }
    }

    // MARK: Ending

    private func disconnect(_ out: inout [SessionAction]) {
        switch phase {
        case .idle, .closing:
            return
        case .authorizing, .opening, .waiting:
            out.append(.abortTransport)
            end(nil, "disconnected by the app", &out)
        case .open:
            phase = .closing
            stopListening(&out)
            out.append(.flushPlayout)
            out.append(.assistantTurnActive(false))
            out.append(.closeSocket(code: 1000, reason: "client disconnect"))
        }
    }

    private func closed(_ code: UInt16?, _ reason: String, _ out: inout [SessionAction]) {
        switch phase {
        case .idle, .authorizing, .waiting:
            return
        case .closing:
            end(nil, "disconnected by the app", &out)
        case .opening, .open:
            let codeText = code.map { "code \($0)" } ?? "no status code"
            let detail = reason.isEmpty ? codeText : "\(codeText): \(CText.replacingNUL(reason))"
            switch ReconnectPolicy.classify(closeCode: code) {
            case .cleanEnd:
                // The server ending the session on purpose (e.g. its duration limit): no
                // error, no reconnect.
                end(nil, "closed by the server (\(detail))", &out)
            case .retryable:
                fail(LayercodeError(.closed, "server closed the session (\(detail))"),
                     retryable: true, &out)
            case .application:
                fail(LayercodeError(.closed, "server closed the session (\(detail))"),
                     retryable: false, &out)
            case .protocolError:
                fail(LayercodeError(.protocolViolation, "server closed the session (\(detail))"),
                     retryable: false, &out)
            }
        }
    }

    private func fail(_ error: LayercodeError, _ out: inout [SessionAction]) {
        fail(error, retryable: ReconnectPolicy.isRetryable(error), &out)
    }

    /// A failure: reconnect when the session was open (or is reconnecting) and the error is
    /// worth another attempt; otherwise the session ends in error. The first connect never
    /// retries: the app hears at once that the service or its settings are wrong.
    private func fail(_ error: LayercodeError, retryable: Bool, _ out: inout [SessionAction]) {
        guard phase != .idle else { return }
        out.append(.abortTransport)
        if phase == .closing {
            // The app asked to leave; a socket that breaks on the way out is still a clean end.
            end(nil, "disconnected by the app", &out)
            return
        }
        let policy = options.reconnect
        let reconnecting = phase == .open || reconnectAttempt > 0
        if retryable && policy.maxAttempts > 0 && reconnecting
            && attemptsSinceStable < policy.maxAttempts {
            if phase == .open {
                beginReconnect(error, &out)
            } else {
                scheduleAttempt(attemptsSinceStable + 1, cause: error, &out)
            }
            return
        }
        var reason = ReconnectPolicy.reason(for: error)
        var final = error
        if retryable && policy.maxAttempts > 0 && reconnecting {
            reason = .maxRetries
            final.message = "gave up after \(attemptsSinceStable) reconnect attempts; last: \(error.message)"
        }
        failureReason = reason
        failureHTTPStatus = error.httpStatus
        out.append(.error(final))
        phase = .idle
        attemptsSinceStable = 0
        outage.removeAll()
        stopListening(&out)
        out.append(.flushPlayout)
        out.append(.assistantTurnActive(false))
        setStatus(.error, &out)
        out.append(.disconnected(code: final.code, message: final.message))
    }

    /// The open session broke: keep the conversation, hold the microphone, let playout
    /// drain what it has, and try again after a backoff.
    private func beginReconnect(_ cause: LayercodeError, _ out: inout [SessionAction]) {
        stopListening(&out)
        userTurnActive = false
        // Playout drains what it holds, then stops (silence then is not an underrun).
        out.append(.assistantTurnActive(false))
        turns.connectionLost()
        setStatus(.reconnecting, &out)
        scheduleAttempt(attemptsSinceStable + 1, cause: cause, &out)
    }

    private func scheduleAttempt(_ attempt: Int, cause: LayercodeError, _ out: inout [SessionAction]) {
        attemptsSinceStable = attempt
        phase = .waiting
        authorization = nil
        let delay = options.reconnect.delayMilliseconds(attempt: attempt, unitRandom: random())
        out.append(.scheduleReconnect(attempt: attempt, afterMilliseconds: delay, cause: cause))
    }

    private func reconnectNow(_ out: inout [SessionAction]) {
        guard phase == .waiting else { return }
        phase = .authorizing
        // A key is never reused: every attempt authorizes again, with the same conversation.
        out.append(authorizeAction())
    }

    private func end(_ code: ErrorCode?, _ message: String, _ out: inout [SessionAction]) {
        attemptsSinceStable = 0
        outage.removeAll()
        phase = .idle
        stopListening(&out)
        out.append(.assistantTurnActive(false))
        setStatus(.disconnected, &out)
        out.append(.disconnected(code: code, message: message))
    }

    // MARK: Audio and turns

    /// Automatic mode with the client VAD running: vad_events are sent.
    private var automaticVAD: Bool {
        authorization?.trigger == .automatic && vad != nil
    }

    /// Frames kept while gated: `buffer_frames` of pre-roll, plus, when the VAD gates, the
    /// frames that confirm speech before it starts (they are sent with the pre-roll).
    private var preRollCapacity: Int {
        guard let auth = authorization else { return 0 }
        if automaticVAD, let vad {
            return auth.vad.bufferFrames + max(vad.config.minSpeechFrames, 1) - 1
        }
        return auth.vad.bufferFrames
    }


    private func setUserSpeaking(_ speaking: Bool, _ out: inout [SessionAction]) {
        guard speaking != isUserSpeaking else { return }
        isUserSpeaking = speaking
        out.append(.userSpeaking(speaking))
    }

    private func mic(_ frame: UplinkFrame, _ out: inout [SessionAction]) {
        if phase != .open && reconnectAttempt > 0 {
            holdDuringOutage(frame, &out)
            return
        }
        guard phase == .open, options.audioEnabled, !isMuted, isInputEnabled,
              let auth = authorization else {
            return
        }
        var event: EnergyVAD.Event?
        if vad != nil { event = frame.samples.withUnsafeBufferPointer { vad!.process($0) } }
        let gate: Bool
        if auth.trigger == .automatic, let vad {
            if event == .speechStart {
                out.append(.send(.vadEvent(.start)))
                vadStartOutstanding = true
            }
            // The frame that ends the hangover is still speech: sent before vad_end.
            gate = auth.vad.gateAudio && !vad.isSpeaking && event != .speechEnd
        } else if auth.trigger == .automatic {
            gate = false
        } else {
            gate = auth.vad.gateAudio
        }
        if !gate || userTurnActive {
            // Whatever the ring holds precedes this frame and was never sent.
            for held in preRoll { out.append(.sendAudio(held)) }
            preRoll.removeAll()
            out.append(.sendAudio(frame))
        } else {
            let capacity = preRollCapacity
            if capacity > 0 {
                if preRoll.count >= capacity { preRoll.removeFirst(preRoll.count - capacity + 1) }
                preRoll.append(frame)
            }
        }
        if event == .speechEnd, automaticVAD, vadStartOutstanding {
            out.append(.send(.vadEvent(.end)))
            vadStartOutstanding = false
        }
        if let event { setUserSpeaking(event == .speechStart, &out) }
    }

    private func holdDuringOutage(_ frame: UplinkFrame, _ out: inout [SessionAction]) {
        guard options.audioEnabled, !isMuted, isInputEnabled else { return }
        let capacity = options.reconnect.outageFrames
        guard capacity > 0 else {
            out.append(.droppedOutageAudio(frames: 1))
            return
        }
        if outage.count >= capacity {
            let excess = outage.count - capacity + 1
            outage.removeFirst(excess)
            out.append(.droppedOutageAudio(frames: excess))
        }
        outage.append(frame)
    }

    private func setMuted(_ muted: Bool, _ out: inout [SessionAction]) {
        guard muted != isMuted else { return }
        isMuted = muted
        out.append(.muteChanged(muted))
        if muted { silenceMicrophone(&out) }
    }

    /// Muted or turned off: drop what is held, and close an open utterance.
    private func silenceMicrophone(_ out: inout [SessionAction]) {
        preRoll.removeAll()
        outage.removeAll()
        vad?.reset()
        if vadStartOutstanding {
            if phase == .open { out.append(.send(.vadEvent(.end))) }
            vadStartOutstanding = false
        }
        setUserSpeaking(false, &out)
    }

    /// The connection is going: forget the VAD state and the pre-roll (no vad_end: the
    /// socket is closing), and report that the user no longer speaks.
    private func stopListening(_ out: inout [SessionAction]) {
        preRoll.removeAll()
        vad?.reset()
        vadStartOutstanding = false
        setUserSpeaking(false, &out)
    }

    private func turnStart(_ out: inout [SessionAction]) {
        guard phase == .open else { return }
        interruptPlayout(&out)
        userTurnActive = true
        out.append(.send(.turnStart))
        for frame in preRoll { out.append(.sendAudio(frame)) }
        preRoll.removeAll()
    }

    /// Stops agent audio now and drops late audio of the turn being played.
    private func interruptPlayout(_ out: inout [SessionAction]) {
        turns.bargeIn()
        out.append(.flushPlayout)
        out.append(.assistantTurnActive(false))
    }

    // MARK: Server messages

    private func received(_ event: ServerEvent, _ out: inout [SessionAction]) {
        switch event {
        case .audio(let audio):
            guard phase == .open else { return }
            self.audio(audio, &out)
        case .message(let message, let text):
            guard phase == .open || phase == .closing else { return }
            self.message(message, text, &out)
        case .unsupported(let error):
            if phase == .open { out.append(.error(error)) }
        case .audioMark(let mark):
            if phase == .open { marks.announce(mark) }
        }
    }

    private func message(_ message: ServerMessage, _ text: String, _ out: inout [SessionAction]) {
        switch message.kind {
        case .responseAudio:
            return  // the wire profile hands audio over as `.audio`
        case .turnStart(let role):
            if role == "user" {
                if let auth = authorization, auth.trigger == .automatic, auth.canInterrupt {
                    interruptPlayout(&out)
                }
            } else if role == "assistant" {
                turns.started(message.turnID)
                marks.turnStarted()
                out.append(.assistantTurnActive(true))
            }
        case .responseEnd:
            let ended = turns.ended(message.turnID)
            if ended.wasCurrent { out.append(.assistantTurnActive(false)) }
            if !playsAudio, phase == .open, let turn = ended.turn, !turns.isInterrupted(turn) {
                // Nothing plays: the turn's playout is over at once (JS SDK, doc/protocol.md §5).
                out.append(.send(.replayFinished(turnID: turn, lastDeltaIDPlayed: ended.lastDelta)))
            }
            out.append(.endPlayoutTurn)
        case .responseData:
            let content = message.json["content"] ?? .null
            out.append(.data(contentJSON: content.serialized(), turnID: message.turnID))
        default:
            break
        }
        out.append(.message(type: message.type, json: text))
    }

    private func audio(_ received: AgentAudio, _ out: inout [SessionAction]) {
        var audio = received
        if let sequence = audio.sequence, audio.turnID == nil {
            // A numbered packet (Opus profile) belongs to the turn the last turn.start
            // opened, and carries the delta its marks say (doc/opus-profile.md §4).
            audio.turnID = turns.packetTurn
            audio.deltaID = marks.delta(forPacket: UInt32(truncatingIfNeeded: sequence))
        }
        let samples = audio.payload.sampleCount
        if samples == 0 { return }
        if let turn = audio.turnID, turns.isInterrupted(turn) {
            out.append(.droppedLateAudio(samples: samples))
            return
        }
        // Audio may arrive without its turn.start (or after a reconnect).
        let becameCurrent = turns.audioArrived(turn: audio.turnID, delta: audio.deltaID,
                                               queued: playsAudio)
        guard options.audioEnabled else { return }
        if becameCurrent { out.append(.assistantTurnActive(true)) }
        out.append(.play(audio))
    }
}
