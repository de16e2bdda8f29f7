// SPDX-License-Identifier: Apache-2.0
import LayercodeAudio
import LayercodeCore
import LayercodeNet
import Synchronization

/// The app's callbacks, as Swift closures. All run on the event-loop thread.
public struct ClientCallbacks {
    public var onStatus: ((SessionStatus) -> Void)?
    public var onConnected: ((_ conversationID: String, _ configJSON: String) -> Void)?
    public var onDisconnected: ((_ code: ErrorCode?, _ message: String) -> Void)?
    public var onError: ((LayercodeError) -> Void)?
    public var onMessage: ((_ type: String, _ json: String) -> Void)?
    public var onData: ((_ contentJSON: String, _ turnID: String?) -> Void)?
    public var onUserAmplitude: ((Float) -> Void)?
    public var onAgentAmplitude: ((Float) -> Void)?
    public var onUserSpeaking: ((Bool) -> Void)?
    public var onAgentSpeaking: ((Bool) -> Void)?
    public var onMute: ((Bool) -> Void)?
    public var onAudioInputChanged: ((Bool) -> Void)?
    public var onAudioOutputChanged: ((Bool) -> Void)?
    public var onDeviceSwitched: ((_ input: Bool, _ name: String) -> Void)?
    public var onDevicesChanged: (() -> Void)?
    public init() {}
}

/// One Layercode client: wires the pure Session to the network (authorize + WebSocket on the
/// event loop) and to the audio pipeline (capture ring → 8 kHz frames → session; agent audio
/// → 20 ms frames → jitter buffer → speaker). Session, sockets and callbacks live on the loop
/// thread; the public methods may be called from any thread and post work to it.
public final class LayercodeClient: @unchecked Sendable {
    public static let sdkVersion = "0.1.0"
    static let frameSamples = 160  // 20 ms at 8 kHz

    public let options: ClientOptions
    public let stats = ClientStats()
    /// Events for lc_client_poll_event, once the app polls (see EventQueue).
    let events: EventQueue
    private let validated: ClientOptions.Validated
    private let loop = EventLoop.shared

    // Any thread.
    private let statusValue = Atomic<Int32>(SessionStatus.disconnected.rawValue)
    private let mutedValue = Atomic<Bool>(false)
    private let lastErrorText = Mutex<String>("")
    /// lc_client_failure_reason: FailureReason raw value and HTTP status (0: none).
    private let failureReasonValue = Atomic<Int32>(FailureReason.none.rawValue)
    private let failureStatusValue = Atomic<Int32>(0)
    /// External mode's pipeline: made by the first connect (an idle client holds no audio
    /// buffers), then fixed for the client's life (the app's audio threads load it).
    private let external = AtomicLazyReference<AudioPipeline>()
    /// The pipeline in use (external, or the ALSA one of the current/last session). Swapped
    /// on the loop; read by stats from any thread.
    private let current = Mutex<AudioPipeline?>(nil)

    // Loop thread only.
    private let session: Session
    private var callbacks: ClientCallbacks
    private var authorizeRequest: HTTPRequest?
    /// Rung by the audio threads when this client's rings moved (loop thread; nil after shutdown).
    private var waker: LoopWaker?
    private var socket: WebSocketClient?
    private var pipeline: AudioPipeline?
    private var inputScratch: [Int16]
    private var resampleScratch: [Int16]
    private var frame: [Int16] = []
    private var assembler = AgentFrameAssembler()
    private var userMeter: LevelMeter
    private var userLevel: Float = 0
    private var agentSpeaking = false
    private var tickTimer: EventLoop.TimerHandle?
    private var reconnectTimer: EventLoop.TimerHandle?
    /// After a (re)connect: once it fires, the connection counts as stable and a later drop
    /// starts a fresh series of reconnect attempts.
    private var stableTimer: EventLoop.TimerHandle?
    static let stableAfterMilliseconds = 10_000
    private var uplinkLatency = LatencyWindow()
    private var downlinkLatency = LatencyWindow()
    private var bargeInLatency = LatencyWindow()
    /// While a mic frame runs through the session: its capture time, and whether the
    /// session sent it (live, not held back by the gate).
    private var micFrameCapturedAt: UInt64 = 0
    private var micFrameSentAt: UInt64 = 0
    private var connectStartedNanoseconds: UInt64 = 0
    /// The app's audio choices (JS SDK setAudioInput/Output, setInputDevice); they outlive
    /// sessions. Device names: nil means ALSA's "default" (WAV: no file).
    private var inputEnabled: Bool
    private var outputEnabled: Bool
    private var inputDeviceName: String?
    private var outputDeviceName: String?
    private var deviceWatchTimer: EventLoop.TimerHandle?
    private var knownDevices: [AlsaDeviceInfo]?
    private var isShutDown = false
    private var callbackDepth = 0
    private var freeWhenCallbackReturns: (() -> Void)?

    public init(options: ClientOptions, callbacks: ClientCallbacks = ClientCallbacks()) throws {
        self.options = options
        validated = try options.validate()
        self.callbacks = callbacks
        events = EventQueue(polling: callbacks.isEmpty)
        var sessionOptions = SessionOptions(
            agentID: options.agentID, metadata: validated.metadata,
            conversationID: options.conversationID, sdkVersion: Self.sdkVersion,
            audioEnabled: options.audioMode != .none,
            reconnect: ReconnectPolicy(
                maxAttempts: options.reconnectMaxAttempts,
                baseDelayMilliseconds: options.reconnectBaseMilliseconds,
                maxDelayMilliseconds: options.reconnectMaxDelayMilliseconds,
                outageFrames: options.outageBufferMilliseconds / 20))
        sessionOptions.inputEnabled = options.audioInputEnabled
        sessionOptions.outputEnabled = options.audioOutputEnabled
        sessionOptions.metadataJSON = validated.metadata == nil ? nil : options.metadataJSON
        session = Session(options: sessionOptions)
        session.random = { Double.random(in: 0...1) }
        let loop = self.loop
        inputScratch = [Int16](repeating: 0, count: 4096)
        resampleScratch = [Int16](repeating: 0, count: 4096 + 64)
        userMeter = LevelMeter(sampleRate: 8000, updatesPerSecond: max(1, options.amplitudeRateHz))
        frame.reserveCapacity(Self.frameSamples)
        inputEnabled = options.audioInputEnabled
        outputEnabled = options.audioOutputEnabled
        inputDeviceName = options.captureDevice
        outputDeviceName = options.playbackDevice
        mutedValue.store(options.startMuted, ordering: .relaxed)
        loop.execute { [weak self] in
            guard let self else { return }
            self.waker = loop.makeWaker { [weak self] in self?.wokeUp() }
            if loop.onLoopFailure == nil { loop.onLoopFailure = { Log.write(.error, $0) } }
            if options.startMuted { self.run(.setMuted(true)) }
            self.startDeviceWatch()
        }
    }

    deinit {
        // Normally shutdown() ran already; a Swift user who just drops the client still gets
        // its sockets closed (on the loop, which owns them).
        let socket = self.socket
        let request = authorizeRequest
        let waker = self.waker
        if socket != nil || request != nil || waker != nil {
            loop.execute {
                socket?.abort()
                request?.cancel()
                waker?.cancel()
            }
        }
    }

    // MARK: Any thread

    public var status: SessionStatus {
        SessionStatus(rawValue: statusValue.load(ordering: .acquiring)) ?? .error
    }

    public var lastError: String { lastErrorText.withLock { $0 } }

    /// Why the last session failed for good, and the HTTP status behind it (nil: none).
    public var failureReason: (reason: FailureReason, httpStatus: Int?) {
        let reason = FailureReason(rawValue: failureReasonValue.load(ordering: .acquiring)) ?? .none
        let status = Int(failureStatusValue.load(ordering: .relaxed))
        return (reason, status == 0 ? nil : status)
    }

    public var isMuted: Bool { mutedValue.load(ordering: .relaxed) }

    /// Mute or unmute the microphone, in any state (the choice survives reconnects).
    public func setMuted(_ muted: Bool) {
        mutedValue.store(muted, ordering: .relaxed)
        post { $0.run(.setMuted(muted)) }
    }

    public func connect() throws {
        // Claim the connect atomically, so two racing calls cannot both start a session.
        var claimed = false
        for from in [SessionStatus.disconnected, .error] where !claimed {
            claimed = statusValue.compareExchange(expected: from.rawValue,
                                                  desired: SessionStatus.connecting.rawValue,
                                                  ordering: .acquiringAndReleasing).exchanged
        }
        guard claimed else {
            throw LayercodeError(.invalidState, "already connecting or connected")
        }
        post { $0.startConnect() }
    }

    /// Records the detail of an API call's failure for lc_client_last_error.
    public func noteFailure(_ error: LayercodeError) {
        lastErrorText.withLock { $0 = error.message }
    }

    public func disconnect() {
        post { $0.run(.disconnect) }
    }

    public func sendText(_ text: String) throws {
        guard text.utf8.count <= 64 << 10 else {
            throw LayercodeError(.tooLarge, "text over 64 KiB")
        }
        try requireConnected()
        post { $0.run(.sendText(text)) }
    }

    public func sendData(json: String) throws {
        guard json.utf8.count <= 64 << 10 else {
            throw LayercodeError(.tooLarge, "data over 64 KiB")
        }
        let value: JSONValue
        do { value = try JSONValue.parse(json) } catch {
            throw LayercodeError(.invalidArgument, "data is not valid JSON: \(error)")
        }
        guard value.objectValue != nil else {
            throw LayercodeError(.invalidArgument, "data must be a JSON object")
        }
        try requireConnected()
        post { $0.run(.sendData(value)) }
    }

    public func turnStart() throws {
        try requireConnected()
        post { $0.run(.turnStart) }
    }

    public func turnEnd() throws {
        try requireConnected()
        post { $0.run(.turnEnd) }
    }

    /// Microphone PCM at inputSampleRate (external mode). Wait-free: copies into the ring,
    /// wakes the loop. Returns the samples accepted; the rest is dropped and counted.
    public func writeAudio(_ samples: UnsafeBufferPointer<Int16>) -> Int {
        guard let capture = external.load()?.capture, let base = samples.baseAddress else {
            return samples.count
        }
        return capture.deliver(base, frames: samples.count, channels: 1)
    }

    /// Agent PCM at outputSampleRate (external mode); fills `out`, returns how much of it
    /// was agent audio. What this consumes is what counts as played.
    public func readAudio(into out: UnsafeMutableBufferPointer<Int16>) -> Int {
        guard let base = out.baseAddress else { return 0 }
        guard let playback = external.load()?.playback else {
            base.update(repeating: 0, count: out.count)
            return 0
        }
        return playback.render(into: base, frames: out.count)
    }

    // MARK: Switching audio (any thread; applied on the loop before these return)

    /// Microphone on or off. Device modes close the capture device when off.
    public func setAudioInput(_ enabled: Bool) throws {
        guard options.audioMode != .none else {
            throw LayercodeError(.invalidState, "a text-only client (LC_AUDIO_NONE) has no microphone")
        }
        try onLoop { try $0.applyAudioInput(enabled) }
    }

    /// Agent audio on or off. Device modes close the playback device when off.
    public func setAudioOutput(_ enabled: Bool) throws {
        guard options.audioMode != .none else {
            throw LayercodeError(.invalidState, "a text-only client (LC_AUDIO_NONE) has no speaker")
        }
        try onLoop { try $0.applyAudioOutput(enabled) }
    }

    /// Another microphone (input) or speaker: an ALSA PCM name, or a WAV path in WAV mode.
    public func switchDevice(input: Bool, to name: String) throws {
        guard options.audioMode == .alsa || options.audioMode == .wav else {
            throw LayercodeError(.invalidState, "device switching needs LC_AUDIO_ALSA or LC_AUDIO_WAV; "
                                 + "with external audio the app owns the devices")
        }
        guard !name.isEmpty else { throw LayercodeError(.invalidArgument, "device name is empty") }
        try onLoop { try $0.applyDevice(input: input, name: name) }
    }

    /// Runs `work` on the loop and waits for it (inline when already on the loop, e.g. from
    /// a callback), handing back its error.
    private func onLoop(_ work: @escaping (LayercodeClient) throws -> Void) throws {
        var failure: Error?
        let body = { [self] in
            guard !isShutDown else {
                failure = LayercodeError(.invalidState, "the client is being freed")
                return
            }
            do { try work(self) } catch { failure = error }
        }
        if loop.inLoop { body() } else { loop.executeAndWait(body) }
        if let failure { throw failure }
    }

    public func snapshot() -> ClientStats.Snapshot {
        var s = ClientStats.Snapshot()
        s.audioFramesSent = stats.audioFramesSent.load(ordering: .relaxed)
        s.audioBytesSent = stats.audioBytesSent.load(ordering: .relaxed)
        s.audioFramesReceived = stats.audioFramesReceived.load(ordering: .relaxed)
        s.audioBytesReceived = stats.audioBytesReceived.load(ordering: .relaxed)
        s.messagesSent = stats.messagesSent.load(ordering: .relaxed)
        s.messagesReceived = stats.messagesReceived.load(ordering: .relaxed)
        s.inputSamplesDropped = stats.inputSamplesDropped.load(ordering: .relaxed)
        s.playoutSamplesDropped = stats.lateSamplesDropped.load(ordering: .relaxed)
        s.connectTimeMicroseconds = stats.connectTimeMicroseconds.load(ordering: .relaxed)
        s.uplinkLatencyP50Us = stats.uplinkP50.load(ordering: .relaxed)
        s.uplinkLatencyP99Us = stats.uplinkP99.load(ordering: .relaxed)
        s.downlinkLatencyP50Us = stats.downlinkP50.load(ordering: .relaxed)
        s.downlinkLatencyP99Us = stats.downlinkP99.load(ordering: .relaxed)
        s.bargeInLatencyP50Us = stats.bargeInP50.load(ordering: .relaxed)
        s.bargeInLatencyP99Us = stats.bargeInP99.load(ordering: .relaxed)
        s.reconnects = stats.reconnects.load(ordering: .relaxed)
        s.sendQueueDroppedFrames = stats.sendQueueDroppedFrames.load(ordering: .relaxed)
        s.outageDroppedFrames = stats.outageDroppedFrames.load(ordering: .relaxed)
        s.protocolErrors = stats.protocolErrors.load(ordering: .relaxed)
        current.withLock { pipeline in
            if let capture = pipeline?.capture {
                s.inputSamplesDropped += capture.droppedSamples.load(ordering: .relaxed)
            }
            if let p = pipeline?.playback {
                // Agent-side sample counters are reported at Layercode's 16 kHz.
                let rate = UInt64(p.deviceRate)
                s.playedSamples = p.playedSamples.load(ordering: .relaxed) * 16_000 / rate
                s.underrunSamples = p.underrunSamples.load(ordering: .relaxed) * 16_000 / rate
                s.jitterDelayMs = p.currentDelayMs.load(ordering: .relaxed)
                s.jitterTargetMs = p.targetDelayMs.load(ordering: .relaxed)
                s.concealedMs = p.concealedMs.load(ordering: .relaxed)
                s.interruptions = p.interruptions.load(ordering: .relaxed)
                s.interruptionMs = p.interruptionMs.load(ordering: .relaxed)
                s.lateFrames = p.lateFrames.load(ordering: .relaxed)
                s.droppedFrames = p.droppedFrames.load(ordering: .relaxed)
                    + Int(p.ringOverflowFrames.load(ordering: .relaxed))
                    + Int(stats.switchDroppedFrames.load(ordering: .relaxed))
                s.playoutSamplesDropped += UInt64(s.droppedFrames * PlaybackSide.frameSamples)
            }
            if let pipeline {
                s.captureXruns = pipeline.captureXruns
                s.playbackXruns = pipeline.playbackXruns
            }
        }
        return s
    }

    /// Stops everything and guarantees no callback runs afterwards. Blocks until the loop
    /// has done it, except when called from this client's own callback: then `release` runs
    /// once that callback returns, and this returns at once.
    public func shutdown(release: @escaping () -> Void) {
        if loop.inLoop && callbackDepth > 0 {
            freeWhenCallbackReturns = release
            return
        }
        loop.executeAndWait { [self] in shutDownOnLoop() }
        release()
    }

    private func requireConnected() throws {
        guard status == .connected else {
            throw LayercodeError(.invalidState, "not connected")
        }
    }

    private func post(_ work: @escaping (LayercodeClient) -> Void) {
        loop.execute { [weak self] in
            guard let self, !self.isShutDown else { return }
            work(self)
        }
    }

    // MARK: Loop thread

    private func shutDownOnLoop() {
        guard !isShutDown else { return }
        isShutDown = true
        events.close()
        stopTicking()
        loop.cancel(reconnectTimer)
        reconnectTimer = nil
        loop.cancel(stableTimer)
        stableTimer = nil
        loop.cancel(deviceWatchTimer)
        deviceWatchTimer = nil
        pipeline?.capture?.accepting.store(false, ordering: .relaxed)
        if pipeline !== external.load() { pipeline?.stop() }
        authorizeRequest?.cancel()
        authorizeRequest = nil
        if let socket {
            socket.close(code: WSCloseCode.goingAway, reason: "client freed")
            socket.abort()
        }
        socket = nil
        callbacks = ClientCallbacks()
        waker?.cancel()
        waker = nil
    }

    private func run(_ input: SessionInput) {
        guard !isShutDown else { return }
        let actions = session.handle(input)
        stats.protocolErrors.store(UInt64(session.refusedMessages), ordering: .relaxed)
        for action in actions {
            if isShutDown { return }
            perform(action)
        }
    }

    /// Queues an event for polling and runs its callback, honouring a free requested from
    /// inside the callback.
    private func deliver(_ event: ClientEvent) {
        if events.push(event) {
            Log.write(.warn, "the poll-event queue is over \(EventQueue.maxBytes >> 10) KiB: dropping "
                      + "the oldest events (counted in lc_stats.events_dropped)")
        }
        callbackDepth += 1
        event.dispatch(to: callbacks)
        callbackDepth -= 1
        if callbackDepth == 0, let release = freeWhenCallbackReturns {
            freeWhenCallbackReturns = nil
            shutDownOnLoop()
            release()
        }
    }

    private func perform(_ action: SessionAction) {
        switch action {
        case .status(let s):
            let before = statusValue.exchange(s.rawValue, ordering: .acquiringAndReleasing)
            if s == .connected && before == SessionStatus.reconnecting.rawValue {
                ClientStats.bump(stats.reconnects)
            }
            if s == .error || s == .connecting {
                // Published before the status callback, so a handler can read it.
                failureStatusValue.store(Int32(session.failureHTTPStatus ?? 0), ordering: .relaxed)
                failureReasonValue.store(session.failureReason.rawValue, ordering: .releasing)
            }
            deliver(.status(s))
        case .postAuthorize(let body):
            startAuthorize(body)
        case .openSocket(let key):
            openSocket(key)
        case .send(let text):
            guard let socket else { return }
            let isAudio = text.hasPrefix("{\"type\":\"client.audio\"")
            guard socket.sendText(text, droppable: isAudio) else {
                if socket.isOpen {
                    let error = LayercodeError(
                        .tooLarge, "send queue full (\(options.sendQueueMaxBytes) bytes): the server "
                        + "is not reading; message dropped")
                    lastErrorText.withLock { $0 = error.message }
                    deliver(.error(error))
                }
                return
            }
            ClientStats.bump(stats.messagesSent)
            if isAudio {
                micFrameSentAt = monotonicNanoseconds()
                ClientStats.bump(stats.audioFramesSent)
                ClientStats.bump(stats.audioBytesSent, UInt64(Self.frameSamples * 2))
            }
        case .closeSocket(let code, let reason):
            socket?.close(code: code, reason: reason)
        case .abortTransport:
            authorizeRequest?.cancel()
            authorizeRequest = nil
            socket?.abort()
            socket = nil
        case .play(let samples, let turnID, let deltaID):
            ClientStats.bump(stats.audioFramesReceived)
            ClientStats.bump(stats.audioBytesReceived, UInt64(samples.count * 2))
            guard outputEnabled, let playback = pipeline?.playback else { return }
            assembler.append(samples, turnID: turnID, deltaID: deltaID,
                             arrivalNanoseconds: monotonicNanoseconds()) { header, frame in
                playback.push(header, samples: frame)
            }
        case .flushPlayout:
            let before = assembler.flush()
            pipeline?.playback?.requestFlush(before: before)
        case .assistantTurnActive:
            break  // the jitter buffer follows turns through the frames' flags
        case .droppedLateAudio(let count):
            ClientStats.bump(stats.audioFramesReceived)
            ClientStats.bump(stats.audioBytesReceived, UInt64(count * 2))
            ClientStats.bump(stats.lateSamplesDropped, UInt64(count))
        case .connected(let conversationID, let config):
            let elapsed = (monotonicNanoseconds() &- connectStartedNanoseconds) / 1000
            Log.write(.info, "connected: conversation \(conversationID) in \(elapsed) µs")
            stats.connectTimeMicroseconds.store(Int64(elapsed), ordering: .relaxed)
            pipeline?.capture?.accepting.store(true, ordering: .relaxed)
            startTicking()
            loop.cancel(stableTimer)
            stableTimer = loop.schedule(afterMilliseconds: Self.stableAfterMilliseconds) { [weak self] in
                guard let self, !self.isShutDown else { return }
                self.stableTimer = nil
                self.run(.connectionStable)
            }
            let configJSON = config.serialized()
            deliver(.connected(conversationID: conversationID, configJSON: configJSON))
        case .message(let type, let json):
            if type == "response.end", let playback = pipeline?.playback {
                assembler.endTurn(arrivalNanoseconds: monotonicNanoseconds()) { header, frame in
                    playback.push(header, samples: frame)
                }
            }
            deliver(.message(type: type, json: json))
        case .userSpeaking(let speaking):
            deliver(.userSpeaking(speaking))
        case .muteChanged(let muted):
            deliver(.mute(muted))
        case .audioInputChanged(let enabled):
            deliver(.audioInputChanged(enabled))
        case .data(let content, let turnID):
            deliver(.data(contentJSON: content, turnID: turnID))
        case .error(let error):
            Log.write(.error, "\(error.code.text): \(error.message)")
            lastErrorText.withLock { $0 = error.message }
            deliver(.error(error))
        case .scheduleReconnect(let attempt, let delay, let cause):
            Log.write(.warn, "connection lost (\(cause.code.text): \(cause.message)); "
                      + "reconnect attempt \(attempt) in \(delay) ms")
            socket = nil
            loop.cancel(stableTimer)
            stableTimer = nil
            loop.cancel(reconnectTimer)
            reconnectTimer = loop.schedule(afterMilliseconds: delay) { [weak self] in
                guard let self, !self.isShutDown else { return }
                self.reconnectTimer = nil
                self.connectStartedNanoseconds = monotonicNanoseconds()
                self.run(.reconnectTimerFired)
            }
        case .droppedOutageAudio(let frames):
            ClientStats.bump(stats.outageDroppedFrames, UInt64(frames))
        case .disconnected(let code, let message):
            Log.write(code == nil ? .info : .warn, "disconnected: \(message)")
            loop.cancel(reconnectTimer)
            reconnectTimer = nil
            loop.cancel(stableTimer)
            stableTimer = nil
            socket = nil
            endAudio()
            deliver(.disconnected(code: code, message: message))
        }
    }

    private func startAuthorize(_ body: [UInt8]) {
        let request = HTTPRequest(
            loop: loop, method: "POST", url: validated.authorize,
            headers: options.authorizeHeaders, body: body, contentType: "application/json",
            tls: validated.authorize.isTLS ? validated.tls : nil,
            timeoutMilliseconds: options.authorizeTimeoutMilliseconds > 0
                ? options.authorizeTimeoutMilliseconds : options.connectTimeoutMilliseconds,
            maxResponseBytes: options.maxAuthorizeResponseBytes,
            userAgent: "liblayercode/\(Self.sdkVersion)",
            connectionTimeouts: connectionTimeouts)
        authorizeRequest = request
        request.start { [weak self] result in
            guard let self else { return }
            self.authorizeRequest = nil
            switch result {
            case .success(let response):
                self.run(.authorizeResponse(status: response.status, body: response.body))
            case .failure(let error):
                self.run(.transportFailed(error))
            }
        }
    }

    private func openSocket(_ key: String) {
        var url = validated.webSocket
        let separator = url.pathAndQuery.contains("?") ? "&" : "?"
        url.pathAndQuery += "\(separator)client_session_key=\(percentEncodeQueryValue(key))"
        var wsOptions = WebSocketClient.Options()
        wsOptions.maxMessageSize = options.maxMessageBytes
        wsOptions.openTimeoutMilliseconds = options.connectTimeoutMilliseconds
        wsOptions.upgradeTimeoutMilliseconds = options.upgradeTimeoutMilliseconds
        wsOptions.connectionTimeouts = connectionTimeouts
        wsOptions.keepaliveIntervalMilliseconds = options.keepaliveIntervalMilliseconds
        wsOptions.keepaliveTimeoutMilliseconds = options.keepaliveTimeoutMilliseconds
        wsOptions.sendQueueMaxBytes = options.sendQueueMaxBytes
        wsOptions.userAgent = "liblayercode/\(Self.sdkVersion)"
        let ws = WebSocketClient(loop: loop, url: url, tls: url.isTLS ? validated.tls : nil,
                                 options: wsOptions)
        socket = ws
        ws.onOpen = { [weak self] in self?.run(.socketOpened) }
        ws.onText = { [weak self] text in
            guard let self else { return }
            ClientStats.bump(self.stats.messagesReceived)
            self.run(.socketText(text))
        }
        ws.onBinary = { [weak self] bytes in
            guard let self else { return }
            ClientStats.bump(self.stats.messagesReceived)
            self.run(.socketBinary(bytes))
        }
        ws.onClosed = { [weak self] code, reason in
            self?.socket = nil
            self?.run(.socketClosed(code: code, reason: reason))
        }
        ws.onFailure = { [weak self] error in
            self?.socket = nil
            self?.run(.transportFailed(error))
        }
        ws.onDropped = { [weak self] count in
            guard let self else { return }
            ClientStats.bump(self.stats.sendQueueDroppedFrames, UInt64(count))
        }
        ws.start()
    }

    private var connectionTimeouts: StreamConnection.Timeouts {
        StreamConnection.Timeouts(dnsMilliseconds: options.dnsTimeoutMilliseconds,
                                  connectMilliseconds: options.tcpConnectTimeoutMilliseconds,
                                  tlsMilliseconds: options.tlsTimeoutMilliseconds)
    }

    // MARK: Switching audio on the loop

    /// The device a direction opens: the app's choice, else ALSA's "default" (WAV: nil, and
    /// then that direction has no file).
    private func deviceName(input: Bool) -> String? {
        let chosen = input ? inputDeviceName : outputDeviceName
        return chosen ?? (options.audioMode == .alsa ? "default" : nil)
    }

    /// Whether device-mode devices are open now (a session is starting, live or reconnecting).
    private var devicesOpen: Bool { pipeline != nil && pipeline !== external.load() }

    private func applyAudioInput(_ enabled: Bool) throws {
        guard enabled != inputEnabled else { return }
        if devicesOpen, let pipeline {
            drainInput()
            try current.withLock { _ in
                try pipeline.replaceInput(with: enabled ? deviceName(input: true) : nil)
            }
            pipeline.capture?.accepting.store(session.wantsMicrophone, ordering: .relaxed)
        }
        inputEnabled = enabled
        Log.write(.info, "microphone \(enabled ? "on" : "off")")
        run(.setAudioInput(enabled))
    }

    private func applyAudioOutput(_ enabled: Bool) throws {
        guard enabled != outputEnabled else { return }
        if !enabled {
            // What is queued goes now; later agent audio is discarded on arrival.
            let before = assembler.flush()
            pipeline?.playback?.requestFlush(before: before)
        }
        if devicesOpen, let pipeline {
            _ = try current.withLock { _ in
                try pipeline.replaceOutput(with: enabled ? deviceName(input: false) : nil)
            }
        }
        outputEnabled = enabled
        Log.write(.info, "agent audio \(enabled ? "on" : "off")")
        run(.setAudioOutput(enabled))
        deliver(.audioOutputChanged(enabled))
    }

    private func applyDevice(input: Bool, name: String) throws {
        guard name != (input ? inputDeviceName : outputDeviceName) else { return }
        let enabled = input ? inputEnabled : outputEnabled
        if devicesOpen, enabled, let pipeline {
            if input {
                drainInput()
                try current.withLock { _ in try pipeline.replaceInput(with: name) }
                pipeline.capture?.accepting.store(session.wantsMicrophone, ordering: .relaxed)
            } else {
                let lost = try current.withLock { _ in try pipeline.replaceOutput(with: name) }
                if lost > 0 {
                    Log.write(.warn, "speaker \(name) runs at another rate or channel count: "
                              + "\(lost * 20) ms of agent audio queued on the old one was dropped")
                    ClientStats.bump(stats.switchDroppedFrames, UInt64(lost))
                }
            }
            Log.write(.info, "switched \(input ? "microphone" : "speaker") to \(name): \(pipeline.describe())")
        }
        if input { inputDeviceName = name } else { outputDeviceName = name }
        deliver(.deviceSwitched(input: input, name: name))
    }

    /// onDevicesChanged: ALSA's device list, compared every deviceWatchMilliseconds, while
    /// the client uses ALSA or the app listens for it.
    private func startDeviceWatch() {
        let period = options.deviceWatchMilliseconds
        guard period > 0, options.audioMode == .alsa || callbacks.onDevicesChanged != nil else { return }
        // Listing reads ALSA's configuration (milliseconds): never on the loop itself.
        func check() {
            let started = loop.runOffLoop({ AlsaDeviceList.list() }) { [weak self] now in
                guard let self, !self.isShutDown else { return }
                if let known = self.knownDevices, known != now {
                    Log.write(.info, "audio devices changed: \(now.count) devices")
                    self.knownDevices = now
                    self.deliver(.devicesChanged)
                } else {
                    self.knownDevices = now
                }
                self.deviceWatchTimer = self.loop.schedule(afterMilliseconds: period) { [weak self] in
                    guard let self, !self.isShutDown else { return }
                    check()
                }
            }
            if !started { Log.write(.warn, "cannot start the device-watch thread; watch stopped") }
        }
        check()
    }

    // MARK: Audio on the loop

    private func startConnect() {
        Log.write(.info, "connecting: authorize \(validated.authorize.redacted), agent \(options.agentID)")
        connectStartedNanoseconds = monotonicNanoseconds()
        assembler = AgentFrameAssembler()
        run(.connect)
        let waker = self.waker
        if options.audioMode == .external, pipeline == nil, session.phase == .authorizing {
            usePipeline {
                external.storeIfNil(
                    try AudioPipeline.external(options, clock: monotonicNanoseconds) { waker?.wake() })
            }
            return
        }
        guard options.audioMode == .alsa || options.audioMode == .wav,
              session.phase == .authorizing else { return }
        // Devices open while authorize runs; a device that cannot open fails the connect.
        usePipeline {
            let opened = try AudioPipeline.devices(
                options, input: inputEnabled ? deviceName(input: true) : nil,
                output: outputEnabled ? deviceName(input: false) : nil,
                clock: monotonicNanoseconds) { waker?.wake() }
            Log.write(.info, "audio devices open: \(opened.describe())")
            return opened
        }
    }

    /// The session's pipeline (`pipeline`, and `current` for the stats) from `open`; an error
    /// from it fails the connect (one that is not a LayercodeError as `.audio`).
    private func usePipeline(_ open: () throws -> AudioPipeline) {
        do {
            let made = try open()
            pipeline = made
            current.withLock { $0 = made }
        } catch let error as LayercodeError {
            run(.transportFailed(error))
        } catch {
            run(.transportFailed(LayercodeError(.audio, "\(error)")))
        }
    }

    /// The session ended: stop taking microphone audio; ALSA devices close.
    private func endAudio() {
        publishLatencies()
        stopTicking()
        frame.removeAll(keepingCapacity: true)
        pipeline?.capture?.accepting.store(false, ordering: .relaxed)
        if let p = pipeline, p !== external.load() {
            p.stop()
            pipeline = nil  // `current` keeps it for the last session's stats
        }
        if agentSpeaking {
            agentSpeaking = false
            deliver(.agentSpeaking(false))
        }
    }

    /// Levels and agent-speaking, sampled from the audio side while a session is live.
    private func startTicking() {
        stopTicking()
        let period = options.amplitudeRateHz > 0 ? max(10, 1000 / options.amplitudeRateHz) : 50
        func tick() {
            tickTimer = loop.schedule(afterMilliseconds: period) { [weak self] in
                guard let self, !self.isShutDown, self.tickTimer != nil else { return }
                self.sampleAudioState()
                tick()
            }
        }
        tick()
    }

    private func stopTicking() {
        loop.cancel(tickTimer)
        tickTimer = nil
    }

    private func sampleAudioState() {
        publishLatencies()
        let playback = pipeline?.playback
        let speaking = playback?.agentSpeaking.load(ordering: .relaxed) ?? false
        if speaking != agentSpeaking {
            agentSpeaking = speaking
            deliver(.agentSpeaking(speaking))
        }
        guard options.amplitudeRateHz > 0 else { return }
        let user = isMuted || !inputEnabled ? 0 : userLevel
        let agent = playback?.agentLevel ?? 0
        deliver(.userAmplitude(user))
        deliver(.agentAmplitude(agent))
    }

    /// Moves the audio side's latency samples into the windows and publishes percentiles.
    private func publishLatencies() {
        if let playback = pipeline?.playback {
            var value: UInt64 = 0
            while withUnsafeMutablePointer(to: &value, {
                playback.downlinkLatencies.read(into: UnsafeMutableBufferPointer(start: $0, count: 1))
            }) == 1 { downlinkLatency.add(value) }
            while withUnsafeMutablePointer(to: &value, {
                playback.bargeInLatencies.read(into: UnsafeMutableBufferPointer(start: $0, count: 1))
            }) == 1 { bargeInLatency.add(value) }
        }
        Self.publish(uplinkLatency, stats.uplinkP50, stats.uplinkP99)
        Self.publish(downlinkLatency, stats.downlinkP50, stats.downlinkP99)
        Self.publish(bargeInLatency, stats.bargeInP50, stats.bargeInP99)
    }

    private static func publish(_ window: LatencyWindow, _ p50: borrowing Atomic<Int64>,
                                _ p99: borrowing Atomic<Int64>) {
        guard let median = window.percentileMicroseconds(50),
              let tail = window.percentileMicroseconds(99) else { return }
        p50.store(median, ordering: .relaxed)
        p99.store(tail, ordering: .relaxed)
    }

    private func wokeUp() {
        guard !isShutDown else { return }
        if let failure = pipeline?.takeFailure() {
            run(.transportFailed(failure))
            return
        }
        drainInput()
        if let playback = pipeline?.playback, playback.takeDrained() {
            let marker = playback.lastPlayedMarker.load(ordering: .relaxed)
            if let played = assembler.resolve(playedMarker: marker) {
                run(.playoutDrained(turnID: played.turnID, lastDeltaID: played.deltaID))
            }
        }
    }

    /// Capture ring → 8 kHz → 20 ms frames → session (and the user level meter).
    private func drainInput() {
        guard let capture = pipeline?.capture, let upsampler = pipeline?.upsampler else { return }
        while true {
            let n = inputScratch.withUnsafeMutableBufferPointer { capture.ring.read(into: $0) }
            if n == 0 { return }
            guard session.wantsMicrophone else { continue }
            var offset = 0
            while offset < n {
                let (consumed, produced) = inputScratch.withUnsafeBufferPointer { input in
                    resampleScratch.withUnsafeMutableBufferPointer { output in
                        upsampler.process(UnsafeBufferPointer(rebasing: input[offset..<n]),
                                          into: output)
                    }
                }
                offset += consumed
                for i in 0..<produced {
                    frame.append(resampleScratch[i])
                    if frame.count == Self.frameSamples {
                        let full = frame
                        frame.removeAll(keepingCapacity: true)
                        if let level = full.withUnsafeBufferPointer({ userMeter.process($0) }) {
                            userLevel = level
                        }
                        // Uplink latency: the frame's newest sample arrived at the last
                        // delivery; it is on the socket when the session's send returns.
                        micFrameCapturedAt = capture.lastDeliveryNanoseconds.load(ordering: .relaxed)
                        micFrameSentAt = 0
                        run(.micFrame(full))
                        if micFrameSentAt > micFrameCapturedAt && micFrameCapturedAt > 0 {
                            uplinkLatency.add(micFrameSentAt - micFrameCapturedAt)
                        }
                        if isShutDown { return }
                    }
                }
                if consumed == 0 { break }
            }
        }
    }
}
