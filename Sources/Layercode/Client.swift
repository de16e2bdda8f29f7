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

/// One Layercode client: the thread-safe facade over a SessionDriver (the Session against
/// HTTP, WebSocket and timers) and a MediaBridge (audio frames ↔ session messages, the
/// AudioEngine). Session, sockets, audio switching and callbacks live on the event-loop
/// thread; the public methods may be called from any thread and post work to it.
public final class LayercodeClient: @unchecked Sendable {
    public static let sdkVersion = "0.1.0"

    public let options: ClientOptions
    public let stats = ClientStats()
    /// Events for lc_client_poll_event, once the app polls (see EventQueue).
    let events: EventQueue
    private let loop = EventLoop.shared
    private let state = ClientState()
    /// Loop thread only (the facade posts to it).
    private let driver: SessionDriver
    private let media: MediaBridge
    private let sink: EventSink
    /// Rung by this client's audio threads when a ring moved or playout changed; runs the
    /// bridge's pump on the loop. Holds the driver until cancelled at shutdown.
    private let waker: LoopWaker

    public convenience init(options: ClientOptions, callbacks: ClientCallbacks = ClientCallbacks()) throws(LayercodeError) {
        // Validation runs before the object exists: Embedded Swift does not free an instance
        // whose designated initializer throws (the regression test: a refused lc_client_new
        // under LeakSanitizer, tests/c/api_misuse.c).
        self.init(options: options, validated: try options.validate(), callbacks: callbacks)
    }

    private init(options: ClientOptions, validated: ClientOptions.Validated, callbacks: ClientCallbacks) {
        self.options = options
        sink = EventSink(callbacks: callbacks)
        events = sink.events
        media = MediaBridge(options: options, loop: loop, sink: sink, counters: stats, state: state)
        driver = SessionDriver(options: options, validated: validated, loop: loop, sink: sink,
                               state: state, counters: stats, media: media)
        state.muted.store(options.startMuted, ordering: .relaxed)
        let (loop, driver, media) = (self.loop, self.driver, self.media)
        waker = loop.makeWaker { media.pump(driver) }
        let wantsDeviceWatch = options.audioMode == .alsa || callbacks.onDevicesChanged != nil
        loop.execute {
            if loop.onLoopFailure == nil { loop.onLoopFailure = { Log.write(.error, $0) } }
            if options.startMuted { driver.run(.setMuted(true)) }
            if wantsDeviceWatch { media.startDeviceWatch(every: options.deviceWatchMilliseconds) }
        }
    }

    deinit {
        // Normally shutdown() ran already; a Swift user who just drops the client still gets
        // its sockets closed and its devices stopped (on the loop, which owns them).
        let (loop, driver, waker) = (self.loop, self.driver, self.waker)
        loop.execute {
            driver.shutDown()
            waker.cancel()
        }
    }

    // MARK: Any thread

    public var status: SessionStatus {
        SessionStatus(rawValue: state.status.load(ordering: .acquiring)) ?? .error
    }

    /// The last error this client reported asynchronously (on_error): why the last session
    /// failed (lc_client_failure_message). A refused call's detail is the caller's thread's
    /// (ThreadCallError), never this.
    public var lastError: String { state.lastError.withLock { $0 } }

    /// Why the last session failed for good, and the HTTP status behind it (nil: none).
    public var failureReason: (reason: FailureReason, httpStatus: Int?) {
        let reason = FailureReason(rawValue: state.failureReason.load(ordering: .acquiring)) ?? .none
        let status = Int(state.failureHTTPStatus.load(ordering: .relaxed))
        return (reason, status == 0 ? nil : status)
    }

    public var isMuted: Bool { state.muted.load(ordering: .relaxed) }

    /// Mute or unmute the microphone, in any state (the choice survives reconnects).
    public func setMuted(_ muted: Bool) {
        state.muted.store(muted, ordering: .relaxed)
        post { $0.run(.setMuted(muted)) }
    }

    public func connect() throws(LayercodeError) {
        // Claim the connect atomically, so two racing calls cannot both start a session.
        var claimed = false
        var previous = SessionStatus.disconnected
        for from in [SessionStatus.disconnected, .error] where !claimed {
            claimed = state.status.compareExchange(expected: from.rawValue,
                                                   desired: SessionStatus.connecting.rawValue,
                                                   ordering: .acquiringAndReleasing).exchanged
            if claimed { previous = from }
        }
        guard claimed else {
            throw LayercodeError(.invalidState, "already connecting or connected")
        }
        // record_path: a file that cannot be opened fails the call itself.
        let recordFile: RecorderFile?
        do { recordFile = try SessionRecording.open(options) } catch {
            state.status.store(previous.rawValue, ordering: .releasing)
            throw error
        }
        let waker = self.waker
        post {
            $0.media.recording.prepare(recordFile)
            $0.startConnect { waker.wake() }
        }
    }

    public func disconnect() {
        post { $0.run(.disconnect) }
    }

    public func sendText(_ text: String) throws(LayercodeError) {
        guard text.utf8.count <= 64 << 10 else {
            throw LayercodeError(.tooLarge, "text over 64 KiB")
        }
        try requireConnected()
        post { $0.run(.sendText(text)) }
    }

    public func sendData(json: String) throws(LayercodeError) {
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

    public func turnStart() throws(LayercodeError) {
        try requireConnected()
        post { $0.run(.turnStart) }
    }

    public func turnEnd() throws(LayercodeError) {
        try requireConnected()
        post { $0.run(.turnEnd) }
    }

    /// Microphone PCM at inputSampleRate (external mode). Wait-free: copies into the ring,
    /// wakes the loop. Returns the samples accepted; the rest is dropped and counted.
    public func writeAudio(_ samples: UnsafeBufferPointer<Int16>) -> Int {
        media.writeAudio(samples)
    }

    /// Agent PCM at outputSampleRate (external mode); fills `out`, returns how much of it
    /// was agent audio. What this consumes is what counts as played.
    public func readAudio(into out: UnsafeMutableBufferPointer<Int16>) -> Int {
        media.readAudio(into: out)
    }

    // MARK: Switching audio (any thread; applied on the loop before these return)

    /// Microphone on or off. Device modes close the capture device when off.
    public func setAudioInput(_ enabled: Bool) throws(LayercodeError) {
        guard options.audioMode != .none else {
            throw LayercodeError(.invalidState, "a text-only client (LC_AUDIO_NONE) has no microphone")
        }
        try onLoop { driver throws(LayercodeError) in try driver.media.setAudioInput(enabled, driver) }
    }

    /// Agent audio on or off. Device modes close the playback device when off.
    public func setAudioOutput(_ enabled: Bool) throws(LayercodeError) {
        guard options.audioMode != .none else {
            throw LayercodeError(.invalidState, "a text-only client (LC_AUDIO_NONE) has no speaker")
        }
        try onLoop { driver throws(LayercodeError) in try driver.media.setAudioOutput(enabled, driver) }
    }

    /// Another microphone (input) or speaker: an ALSA PCM name, or a WAV path in WAV mode.
    public func switchDevice(input: Bool, to name: String) throws(LayercodeError) {
        guard options.audioMode == .alsa || options.audioMode == .wav else {
            throw LayercodeError(.invalidState, "device switching needs LC_AUDIO_ALSA or LC_AUDIO_WAV; "
                                 + "with external audio the app owns the devices")
        }
        guard !name.isEmpty else { throw LayercodeError(.invalidArgument, "device name is empty") }
        try onLoop { driver throws(LayercodeError) in
            try driver.media.switchDevice(input: input, to: name, driver)
        }
    }

    /// lc_client_set_audio_delays: the device latencies the echo alignment cannot measure.
    public func setAudioDelays(playbackMilliseconds: Int, captureMilliseconds: Int) throws(LayercodeError) {
        guard (0...1000).contains(playbackMilliseconds), (0...1000).contains(captureMilliseconds) else {
            throw LayercodeError(.invalidArgument, "audio delays must be 0..1000 ms (got \(playbackMilliseconds), "
                                 + "\(captureMilliseconds))")
        }
        try onLoop { driver throws(LayercodeError) in
            driver.media.setAudioDelays(playbackMilliseconds: playbackMilliseconds,
                                        captureMilliseconds: captureMilliseconds)
        }
    }

    /// Runs `work` on the loop and waits for it (inline when already on the loop, e.g. from
    /// a callback), handing back its error.
    private func onLoop(_ work: @escaping (SessionDriver) throws(LayercodeError) -> Void) throws(LayercodeError) {
        var failure: LayercodeError?
        let driver = self.driver
        let body = {
            guard !driver.isShutDown else {
                failure = LayercodeError(.invalidState, "the client is being freed")
                return
            }
            do throws(LayercodeError) { try work(driver) } catch { failure = error }
        }
        if loop.inLoop { body() } else { loop.executeAndWait(body) }
        if let failure { throw failure }
    }

    /// The client's counters with the audio engine's, assembled in one place.
    public func snapshot() -> ClientStats.Snapshot {
        var s = stats.snapshot()
        media.addAudioStats(to: &s)
        return s
    }

    /// Stops everything and guarantees no callback runs afterwards. Blocks until the loop
    /// has done it, except when called from this client's own callback: then `release` runs
    /// once that callback returns, and this returns at once.
    public func shutdown(release: @escaping () -> Void) {
        let (loop, driver, waker) = (self.loop, self.driver, self.waker)
        if loop.inLoop && sink.inCallback {
            sink.releaseAfterCallback {
                driver.shutDown()
                waker.cancel()
                release()
            }
            return
        }
        loop.executeAndWait {
            driver.shutDown()
            waker.cancel()
        }
        release()
    }

    private func requireConnected() throws(LayercodeError) {
        guard status == .connected else {
            throw LayercodeError(.invalidState, "not connected")
        }
    }

    private func post(_ work: @escaping (SessionDriver) -> Void) {
        let driver = self.driver
        loop.execute {
            guard !driver.isShutDown else { return }
            work(driver)
        }
    }
}
