// SPDX-License-Identifier: Apache-2.0
import LayercodeAudio
import LayercodeCore
import LayercodeNet
import Synchronization

/// Runs the pure Session against the world, on the event loop: its actions become the
/// authorize request, the WebSocket, the reconnect and stability timers, playout work (given
/// to the MediaBridge) and app events (given to the EventSink); socket events, timer firings
/// and the bridge's frames and drains become its inputs.
final class SessionDriver {
    let session: Session
    let media: MediaBridge
    private let options: ClientOptions
    private let validated: ClientOptions.Validated
    private let loop: EventLoop
    private let sink: EventSink
    private let state: ClientState
    private let counters: ClientStats
    private var authorizeRequest: HTTPRequest?
    private var socket: WebSocketClient?
    /// How `socket` talks: the session's wire profile when it was opened.
    private var profile = WireProfile.pcmJSON
    /// The Opus socket's uplink encoder (nil on PCM JSON); one per socket.
    private var opusUplink: OpusUplink?
    private var opusPacketsSinceLossUpdate = 0
    private var reconnectTimer: EventLoop.TimerHandle?
    /// After a (re)connect: once it fires, the connection counts as stable and a later drop
    /// starts a fresh series of reconnect attempts.
    private var stableTimer: EventLoop.TimerHandle?
    static let stableAfterMilliseconds = 10_000
    private var connectStartedNanoseconds: UInt64 = 0
    private(set) var isShutDown = false

    init(options: ClientOptions, validated: ClientOptions.Validated, loop: EventLoop,
         sink: EventSink, state: ClientState, counters: ClientStats, media: MediaBridge) {
        self.options = options
        self.validated = validated
        self.loop = loop
        self.sink = sink
        self.state = state
        self.counters = counters
        self.media = media
        var sessionOptions = SessionOptions(
            agentID: options.agentID, metadata: validated.metadata,
            conversationID: options.conversationID, sdkVersion: LayercodeClient.sdkVersion,
            audioEnabled: options.audioMode != .none,
            reconnect: ReconnectPolicy(
                maxAttempts: options.reconnectMaxAttempts,
                baseDelayMilliseconds: options.reconnectBaseMilliseconds,
                maxDelayMilliseconds: options.reconnectMaxDelayMilliseconds,
                outageFrames: options.outageBufferMilliseconds
                    / AudioFormat.layercodeUplink.frameMilliseconds))
        sessionOptions.inputEnabled = options.audioInputEnabled
        sessionOptions.outputEnabled = options.audioOutputEnabled
        sessionOptions.metadataJSON = validated.metadata == nil ? nil : options.metadataJSON
        sessionOptions.wireCodecs = validated.wireCodecs
        session = Session(options: sessionOptions)
        session.random = { Double.random(in: 0...1) }
    }

    // MARK: Inputs

    func run(_ input: SessionInput) {
        guard !isShutDown else { return }
        let actions = session.handle(input)
        counters.protocolErrors.store(UInt64(session.refusedMessages), ordering: .relaxed)
        for action in actions {
            if isShutDown { return }
            perform(action)
        }
    }

    func startConnect(wake: @escaping @Sendable () -> Void) {
        Log.write(.info, "connecting: authorize \(validated.authorize.redacted), agent \(options.agentID)")
        connectStartedNanoseconds = monotonicNanoseconds()
        run(.connect)
        guard session.phase == .authorizing else { return }
        // Devices open while authorize runs; a device that cannot open fails the connect.
        if let failure = media.sessionStarting(wake: wake) { run(.transportFailed(failure)) }
    }

    /// Stops everything; no callback runs afterwards (loop thread).
    func shutDown() {
        guard !isShutDown else { return }
        isShutDown = true
        sink.close()
        loop.cancel(reconnectTimer)
        reconnectTimer = nil
        loop.cancel(stableTimer)
        stableTimer = nil
        media.shutDown()
        authorizeRequest?.cancel()
        authorizeRequest = nil
        if let socket {
            socket.close(code: WSCloseCode.goingAway, reason: "client freed")
            socket.abort()
        }
        socket = nil
    }

    // MARK: Actions

    private func perform(_ action: SessionAction) {
        switch action {
        case .status(let s):
            let before = state.status.exchange(s.rawValue, ordering: .acquiringAndReleasing)
            if s == .connected && before == SessionStatus.reconnecting.rawValue {
                ClientStats.bump(counters.reconnects)
            }
            if s == .error || s == .connecting {
                // Published before the status callback, so a handler can read it.
                state.failureHTTPStatus.store(Int32(session.failureHTTPStatus ?? 0), ordering: .relaxed)
                state.failureReason.store(session.failureReason.rawValue, ordering: .releasing)
            }
            sink.deliver(.status(s))
        case .postAuthorize(let body):
            startAuthorize(body)
        case .openSocket(let key):
            openSocket(key)
        case .send(let message):
            send(profile.encode(message))
        case .sendAudio(let frame):
            sendAudio(frame)
        case .closeSocket(let code, let reason):
            socket?.close(code: code, reason: reason)
        case .abortTransport:
            authorizeRequest?.cancel()
            authorizeRequest = nil
            socket?.abort()
            socket = nil
        case .play(let audio):
            ClientStats.bump(counters.audioFramesReceived)
            ClientStats.bump(counters.audioBytesReceived, UInt64(audio.payload.byteCount))
            media.play(audio)
        case .flushPlayout:
            media.flushPlayout()
        case .assistantTurnActive:
            break  // the jitter buffer follows turns through the frames' flags
        case .endPlayoutTurn:
            media.endTurn()
        case .droppedLateAudio(let count):
            ClientStats.bump(counters.audioFramesReceived)
            ClientStats.bump(counters.audioBytesReceived, UInt64(count * 2))
            ClientStats.bump(counters.lateSamplesDropped, UInt64(count))
        case .connected(let conversationID, let config):
            let elapsed = (monotonicNanoseconds() &- connectStartedNanoseconds) / 1000
            Log.write(.info, "connected: conversation \(conversationID) in \(elapsed) µs")
            counters.connectTimeMicroseconds.store(Int64(elapsed), ordering: .relaxed)
            media.sessionConnected(conversationID: conversationID)
            loop.cancel(stableTimer)
            stableTimer = loop.schedule(afterMilliseconds: Self.stableAfterMilliseconds) { [self] in
                guard !isShutDown else { return }
                stableTimer = nil
                run(.connectionStable)
            }
            sink.deliver(.connected(conversationID: conversationID, configJSON: config.serialized()))
        case .message(let type, let json):
            sink.deliver(.message(type: type, json: json))
        case .userSpeaking(let speaking):
            sink.deliver(.userSpeaking(speaking))
        case .muteChanged(let muted):
            sink.deliver(.mute(muted))
        case .audioInputChanged(let enabled):
            sink.deliver(.audioInputChanged(enabled))
        case .data(let content, let turnID):
            sink.deliver(.data(contentJSON: content, turnID: turnID))
        case .error(let error):
            Log.write(.error, "\(error.code.text): \(error.message)")
            state.lastError.withLock { $0 = error.message }
            sink.deliver(.error(error))
        case .scheduleReconnect(let attempt, let delay, let cause):
            Log.write(.warn, "connection lost (\(cause.code.text): \(cause.message)); "
                      + "reconnect attempt \(attempt) in \(delay) ms")
            socket = nil
            loop.cancel(stableTimer)
            stableTimer = nil
            loop.cancel(reconnectTimer)
            reconnectTimer = loop.schedule(afterMilliseconds: delay) { [self] in
                guard !isShutDown else { return }
                reconnectTimer = nil
                connectStartedNanoseconds = monotonicNanoseconds()
                run(.reconnectTimerFired)
            }
        case .droppedOutageAudio(let frames):
            ClientStats.bump(counters.outageDroppedFrames, UInt64(frames))
        case .disconnected(let code, let message):
            Log.write(code == nil ? .info : .warn, "disconnected: \(message)")
            loop.cancel(reconnectTimer)
            reconnectTimer = nil
            loop.cancel(stableTimer)
            stableTimer = nil
            socket = nil
            media.sessionEnded()
            sink.deliver(.disconnected(code: code, message: message))
        }
    }

    // MARK: Transport

    /// One message on the socket, counted; audio may be dropped under backpressure.
    /// Returns whether it went out.
    @discardableResult
    private func send(_ message: OutgoingMessage) -> Bool {
        guard let socket else { return false }
        let accepted: Bool
        switch message.wire {
        case .text(let text): accepted = socket.sendText(text, droppable: message.droppable)
        case .binary(let bytes): accepted = socket.sendBinary(bytes, droppable: message.droppable)
        }
        guard accepted else {
            if socket.isOpen {
                let error = LayercodeError(
                    .tooLarge, "send queue full (\(options.sendQueueMaxBytes) bytes): the server "
                    + "is not reading; message dropped")
                state.lastError.withLock { $0 = error.message }
                sink.deliver(.error(error))
            }
            return false
        }
        ClientStats.bump(counters.messagesSent)
        if message.audioFrames > 0 {
            media.audioSent()
            ClientStats.bump(counters.audioFramesSent, UInt64(message.audioFrames))
            ClientStats.bump(counters.audioBytesSent, UInt64(message.audioBytes))
        }
        return true
    }

    /// A microphone frame, in the socket's profile. A frame captured at the other profile's
    /// rate (held across a reconnect that changed profile) is converted first.
    private func sendAudio(_ captured: UplinkFrame) {
        let frame = captured.resampled(to: profile.uplinkFormat.frameSamples)
        guard let opusUplink else {
            if let message = profile.encode(frame), send(message) { media.recording.sent(frame) }
            return
        }
        opusPacketsSinceLossUpdate += 1
        if opusPacketsSinceLossUpdate >= 50 {
            // FEC planned for the loss the downlink measures (doc/opus-profile.md §6).
            opusPacketsSinceLossUpdate = 0
            opusUplink.setMeasuredLoss(percent: media.downlinkLossPercent)
        }
        var sent = false
        opusUplink.encode(frame) { header, packet in
            if let message = profile.encode(packet: packet, header: header), send(message) { sent = true }
        }
        // The recording gets the frame as the encoder got it, when its packet went out.
        if sent { media.recording.sent(frame) }
    }

    /// The socket's profile is chosen: the uplink's format and encoder follow it.
    private func useProfile(_ chosen: WireProfile) {
        profile = chosen
        media.socketChanged()
        opusUplink = nil
        opusPacketsSinceLossUpdate = 0
        if let note = session.authorization?.wireProfileNote { Log.write(.warn, note) }
        if chosen == .opus {
            do throws(LayercodeError) {
                opusUplink = try OpusUplink(settings: validated.opus)
            } catch {
                Log.write(.error, "Opus encoder: \(error.message); the microphone is not sent")
            }
        }
        media.setUplinkFormat(chosen.uplinkFormat)
        counters.wireCodec.store(chosen == .opus ? 1 : 0, ordering: .relaxed)
        if !validated.wireCodecs.isEmpty {
            Log.write(.info, "wire profile: " + (chosen == .opus ? "opus (16 kHz, 20 ms packets)" : "pcm16 JSON"))
        }
    }

    /// A socket message, decoded by the socket's wire profile, into the session.
    private func receive(_ decode: () throws(LayercodeError) -> ServerEvent) {
        let event: ServerEvent
        do { event = try decode() } catch {
            run(.refused(error))
            return
        }
        run(.received(event))
    }

    private func startAuthorize(_ body: [UInt8]) {
        let request = HTTPRequest(
            loop: loop, method: "POST", url: validated.authorize,
            headers: options.authorizeHeaders, body: body, contentType: "application/json",
            tls: validated.authorize.isTLS ? validated.tls : nil,
            timeoutMilliseconds: options.authorizeTimeoutMilliseconds > 0
                ? options.authorizeTimeoutMilliseconds : options.connectTimeoutMilliseconds,
            maxResponseBytes: options.maxAuthorizeResponseBytes,
            userAgent: "liblayercode/\(LayercodeClient.sdkVersion)",
            connectionTimeouts: connectionTimeouts)
        authorizeRequest = request
        let id = ObjectIdentifier(request)
        request.start { [self] result in
            guard let current = authorizeRequest, ObjectIdentifier(current) == id else { return }
            authorizeRequest = nil
            switch result {
            case .success(let response):
                run(.authorizeResponse(status: response.status, body: response.body))
            case .failure(let error):
                run(.transportFailed(error))
            }
        }
    }

    private func openSocket(_ key: String) {
        let url = Authorize.socketURL(validated.webSocket, clientSessionKey: key)
        var wsOptions = WebSocketClient.Options()
        wsOptions.maxMessageSize = options.maxMessageBytes
        wsOptions.openTimeoutMilliseconds = options.connectTimeoutMilliseconds
        wsOptions.upgradeTimeoutMilliseconds = options.upgradeTimeoutMilliseconds
        wsOptions.connectionTimeouts = connectionTimeouts
        wsOptions.keepaliveIntervalMilliseconds = options.keepaliveIntervalMilliseconds
        wsOptions.keepaliveTimeoutMilliseconds = options.keepaliveTimeoutMilliseconds
        wsOptions.sendQueueMaxBytes = options.sendQueueMaxBytes
        wsOptions.userAgent = "liblayercode/\(LayercodeClient.sdkVersion)"
        let ws = WebSocketClient(loop: loop, url: url, tls: url.isTLS ? validated.tls : nil,
                                 options: wsOptions)
        socket = ws
        useProfile(session.wireProfile)
        // The callbacks hold this driver until the socket is released (closed, failed,
        // aborted, or the client shut down). Events of a socket the driver has already let go
        // of are not the session's any more: they are ignored.
        let id = ObjectIdentifier(ws)
        func isCurrent() -> Bool { socket.map { ObjectIdentifier($0) == id } ?? false }
        ws.onOpen = { [self] in
            guard isCurrent() else { return }
            run(.socketOpened)
        }
        ws.onText = { [self] text in
            guard isCurrent() else { return }
            ClientStats.bump(counters.messagesReceived)
            receive { () throws(LayercodeError) in
                try profile.decode(text: text, maxDepth: session.options.maxJSONDepth)
            }
        }
        ws.onBinary = { [self] bytes in
            guard isCurrent() else { return }
            ClientStats.bump(counters.messagesReceived)
            receive { () throws(LayercodeError) in try profile.decode(binary: bytes) }
        }
        ws.onClosed = { [self] code, reason in
            guard isCurrent() else { return }
            socket = nil
            run(.socketClosed(code: code, reason: reason))
        }
        ws.onFailure = { [self] error in
            guard isCurrent() else { return }
            socket = nil
            run(.transportFailed(error))
        }
        ws.onDropped = { [self] count in
            ClientStats.bump(counters.sendQueueDroppedFrames, UInt64(count))
        }
        ws.onWireBytes = { [self] sent, received in
            if sent > 0 { ClientStats.bump(counters.wireBytesSent, UInt64(sent)) }
            if received > 0 { ClientStats.bump(counters.wireBytesReceived, UInt64(received)) }
        }
        ws.start()
    }

    private var connectionTimeouts: StreamConnection.Timeouts {
        StreamConnection.Timeouts(dnsMilliseconds: options.dnsTimeoutMilliseconds,
                                  connectMilliseconds: options.tcpConnectTimeoutMilliseconds,
                                  tlsMilliseconds: options.tlsTimeoutMilliseconds)
    }
}
