// SPDX-License-Identifier: Apache-2.0
import LayercodeAudio
import LayercodeCore
import LayercodeNet
import Synchronization

/// The one place where audio frames meet session messages, on the event loop: it opens the
/// client's AudioEngine (per session with devices, once for external audio), turns the
/// engine's uplink frames into `.micFrame` inputs, cuts the session's agent audio into
/// numbered frames for playout (AgentFrameAssembler), turns playout drains back into
/// `.playoutDrained`, and reports levels, "agent speaking" and the latency figures.
/// It keeps the app's audio choices (input/output on, device names) across sessions.
///
/// Threads: everything runs on the loop, except `external` (the app's audio threads load
/// it) and `current` (stats read it from any thread, under its lock).
final class MediaBridge: @unchecked Sendable {
    private let options: ClientOptions
    private let loop: EventLoop
    let sink: EventSink
    private let counters: ClientStats
    let state: ClientState
    private var deviceWatch: DeviceWatch?
    /// External mode's engine: made by the first connect (an idle client holds no audio
    /// buffers), then fixed for the client's life.
    let external = AtomicLazyReference<AudioEngine>()
    /// The engine in use or last used (stats).
    private let current = Locked<AudioEngine?>(nil)
    /// The engine of the session under way (loop).
    private(set) var engine: AudioEngine?
    var assembler = AgentFrameAssembler()
    private var agentSpeaking = false
    private var tickTimer: EventLoop.TimerHandle?
    private let uplinkLatency = LatencyWindow()
    private let downlinkLatency = LatencyWindow()
    private let bargeInLatency = LatencyWindow()
    /// While a mic frame runs through the session: whether an audio message went out.
    private var micFrameSentAt: UInt64 = 0
    /// record_path: the session recorder (SessionRecording.swift).
    let recording: SessionRecording
    /// Microphone frames cut so far (`UplinkFrame.frameIndex`: the Opus timestamps).
    private var micFrameIndex: UInt64 = 0
    /// The Opus downlink's bookkeeping (MediaBridgeWire.swift).
    var wire = WireDownlink()

    /// The app's audio choices (JS SDK setAudioInput/Output, setInputDevice); they outlive
    /// sessions. Device names: nil means ALSA's "default" (WAV: no file).
    private(set) var inputEnabled: Bool
    private(set) var outputEnabled: Bool
    private var inputDeviceName: String?
    private var outputDeviceName: String?
    /// lc_client_set_audio_delays (ms): every engine gets them.
    private var declaredDelays = (playback: 0, capture: 0)

    init(options: ClientOptions, loop: EventLoop, sink: EventSink, counters: ClientStats,
         state: ClientState) {
        self.options = options
        self.state = state
        self.loop = loop
        self.sink = sink
        self.counters = counters
        inputEnabled = options.audioInputEnabled
        outputEnabled = options.audioOutputEnabled
        inputDeviceName = options.captureDevice
        outputDeviceName = options.playbackDevice
        recording = SessionRecording(options: options, counters: counters)
    }

    private var engineConfig: AudioEngine.Config {
        var config = AudioEngine.Config()
        config.uplink = AudioFormat.layercodeUplink
        config.jitter.minDelayMs = options.jitterMinMilliseconds
        config.jitter.maxDelayMs = options.jitterMaxMilliseconds
        config.jitter.initialDelayMs = min(max(config.jitter.initialDelayMs, config.jitter.minDelayMs),
                                           config.jitter.maxDelayMs)
        config.meterUpdatesPerSecond = sink.listensToAmplitude ? max(0, options.amplitudeRateHz) : 0
        config.renderTapMilliseconds = recording.renderTapMilliseconds
        // Checked by validate() at lc_client_new: cannot fail here.
        config.echo = (try? options.echoSettings()) ?? nil
        return config
    }

    private var isDeviceMode: Bool { options.audioMode == .alsa || options.audioMode == .wav }

    // MARK: Session lifecycle

    /// A session starts authorizing: devices open now (a device that cannot open fails the
    /// connect: the error is returned for the session).
    func sessionStarting(wake: @escaping @Sendable () -> Void) -> LayercodeError? {
        assembler = AgentFrameAssembler()
        do throws(LayercodeError) {
            if options.audioMode == .external {
                if engine == nil {
                    var made = external.load()
                    if made == nil {
                        made = try AudioEngine.external(
                            config: engineConfig, inputRate: options.inputSampleRate,
                            outputRate: options.outputSampleRate, clock: monotonicNanoseconds, wake: wake)
                    }
                    if let made {
                        made.setDeclaredDelays(playbackMilliseconds: declaredDelays.playback,
                                               captureMilliseconds: declaredDelays.capture)
                        use(external.storeIfNil(made))
                    }
                }
            } else if isDeviceMode {
                let opened = try AudioEngine(config: engineConfig, clock: monotonicNanoseconds, wake: wake)
                opened.setDeclaredDelays(playbackMilliseconds: declaredDelays.playback,
                                         captureMilliseconds: declaredDelays.capture)
                do throws(LayercodeError) {
                    if inputEnabled { try opened.replaceInput(with: openDriver(input: deviceName(input: true))) }
                    if outputEnabled { try opened.replaceOutput(with: openDriver(output: deviceName(input: false))) }
                } catch {
                    opened.stop()
                    throw error
                }
                Log.write(.info, "audio devices open: \(opened.describe())")
                if let echo = opened.config.echo { Log.write(.info, Self.describe(echo)) }
                use(opened)
            }
        } catch {
            return error
        }
        return nil
    }

    private func use(_ made: AudioEngine) {
        engine = made
        current.withLock { $0 = made }
    }

    /// The session is live: the microphone's audio is kept; levels are sampled; the first
    /// connect starts the recording.
    func sessionConnected(conversationID: String) {
        recording.connected(conversationID: conversationID, playback: engine?.playback)
        engine?.setAcceptingInput(true)
        startTicking()
    }

    /// The session ended: stop taking microphone audio; devices close.
    func sessionEnded() {
        recording.finish()
        drainLatencies()
        stopTicking()
        engine?.resetUplink()
        engine?.setAcceptingInput(false)
        if let e = engine, e !== external.load() {
            e.stop()
            engine = nil  // `current` keeps it for the last session's stats
        }
        if agentSpeaking {
            agentSpeaking = false
            sink.deliver(.agentSpeaking(false))
        }
    }

    /// onDevicesChanged (loop).
    func startDeviceWatch(every milliseconds: Int) {
        let watch = DeviceWatch(loop: loop, sink: sink, periodMilliseconds: milliseconds)
        deviceWatch = watch
        watch.start()
    }

    /// The client is being freed (loop).
    func shutDown() {
        recording.finish()
        deviceWatch?.stop()
        deviceWatch = nil
        stopTicking()
        engine?.setAcceptingInput(false)
        if let e = engine, e !== external.load() { e.stop() }
    }

    // MARK: Uplink

    /// A wake-up: a driver failed, microphone audio arrived, playout drained or started or
    /// stopped playing a turn.
    func pump(_ driver: SessionDriver) {
        guard !driver.isShutDown, let engine else { return }
        if let failure = engine.takeFailure() {
            driver.run(.transportFailed(failure))
            return
        }
        drainMicrophone(driver)
        drainLatencies()
        recording.poll()
        let playout = engine.playoutSnapshot()
        if let playout, let marker = engine.takeDrain(in: playout),
           let played = assembler.resolve(playedMarker: marker) {
            driver.run(.playoutDrained(turnID: played.turnID, lastDeltaID: played.deltaID))
        }
        noteAgentSpeaking(playout?.agentAudible ?? false)
        noteDecodeErrors(playout)
    }

    /// Capture ring → wire frames → session, measuring the uplink latency of live frames.
    private func drainMicrophone(_ driver: SessionDriver) {
        engine?.drainCapture(wanted: { driver.session.wantsMicrophone }) { samples, capturedAt in
            micFrameSentAt = 0
            micFrameIndex &+= 1
            driver.run(.micFrame(UplinkFrame(samples: samples, capturedNanoseconds: capturedAt,
                                             frameIndex: micFrameIndex)))
            // The frame's newest sample arrived at `capturedAt`; it is on the socket when the
            // session's send returns.
            if micFrameSentAt > capturedAt && capturedAt > 0 {
                uplinkLatency.add(micFrameSentAt - capturedAt)
                Self.publish(uplinkLatency, counters.uplinkP50, counters.uplinkP99)
            }
            return !driver.isShutDown
        }
    }

    /// An audio message went out on the socket (the uplink latency's end).
    func audioSent() {
        micFrameSentAt = monotonicNanoseconds()
    }

    // MARK: Downlink

    /// Agent audio from the session: cut into frames for playout (nothing when output is off).
    func play(_ audio: AgentAudio) {
        guard outputEnabled, let engine else { return }
        switch audio.payload {
        case .pcm16(let samples):
            assembler.append(samples, turnID: audio.turnID, deltaID: audio.deltaID,
                             arrivalNanoseconds: monotonicNanoseconds()) { header, frame in
                engine.play(header, samples: frame)
            }
        case .opus(let packet):
            playPacket(packet, of: audio, on: engine)
        }
    }

    /// No more audio of the playing turn: its short remainder closes it in playout.
    func endTurn() {
        guard let engine else { return }
        assembler.endTurn(arrivalNanoseconds: monotonicNanoseconds()) { header, frame in
            engine.play(header, samples: frame)
        }
    }

    /// Barge-in: silence playout now and drop what is queued.
    func flushPlayout() {
        let before = assembler.flush()
        engine?.flushPlayout(before: before)
    }

    // MARK: Levels and "agent speaking"

    private func noteAgentSpeaking(_ speaking: Bool) {
        guard speaking != agentSpeaking else { return }
        agentSpeaking = speaking
        sink.deliver(.agentSpeaking(speaking))
    }

    /// Levels, sampled while a session is live, for an app that listens to them: amplitude
    /// callbacks set, or events polled (decided when a session connects). Nothing else
    /// runs on a timer: "agent speaking" and playout drains wake the loop themselves, the
    /// latency figures are published as their samples arrive, and the recorder's counters
    /// are read on each wake-up.
    private func startTicking() {
        stopTicking()
        guard options.amplitudeRateHz > 0, sink.listensToAmplitude else { return }
        let period = max(10, 1000 / options.amplitudeRateHz)
        func tick() {
            tickTimer = loop.schedule(afterMilliseconds: period) { [self] in
                guard tickTimer != nil else { return }
                sampleLevels()
                tick()
            }
        }
        tick()
    }

    private func stopTicking() {
        loop.cancel(tickTimer)
        tickTimer = nil
    }

    private func sampleLevels() {
        let muted = state.muted.load(ordering: .relaxed)
        sink.deliver(.userAmplitude(muted || !inputEnabled ? 0 : engine?.userLevel ?? 0))
        sink.deliver(.agentAmplitude(engine?.playoutSnapshot()?.agentLevel ?? 0))
    }

    /// Moves the render thread's latency samples into the windows and publishes the
    /// percentiles of a window that moved.
    private func drainLatencies() {
        var downlinkMoved = false
        var bargeInMoved = false
        engine?.drainLatencies(downlink: { downlinkLatency.add($0); downlinkMoved = true },
                               bargeIn: { bargeInLatency.add($0); bargeInMoved = true })
        if downlinkMoved { Self.publish(downlinkLatency, counters.downlinkP50, counters.downlinkP99) }
        if bargeInMoved { Self.publish(bargeInLatency, counters.bargeInP50, counters.bargeInP99) }
    }

    private static func publish(_ window: LatencyWindow, _ p50: borrowing Atomic<Int64>,
                                _ p99: borrowing Atomic<Int64>) {
        guard let median = window.percentileMicroseconds(50),
              let tail = window.percentileMicroseconds(99) else { return }
        p50.store(median, ordering: .relaxed)
        p99.store(tail, ordering: .relaxed)
    }

    // MARK: Switching audio (loop)

    /// The device a direction opens: the app's choice, else ALSA's "default" (WAV: nil, and
    /// then that direction has no file).
    private func deviceName(input: Bool) -> String? {
        let chosen = input ? inputDeviceName : outputDeviceName
        return chosen ?? (options.audioMode == .alsa ? "default" : nil)
    }

    private func openDriver(input: String? = nil, output: String? = nil) throws(LayercodeError) -> (any AudioDriver)? {
        guard input != nil || output != nil else { return nil }
        if options.audioMode == .wav {
            return try WavDriver(inputPath: input, outputPath: output,
                                 outputSampleRate: options.outputSampleRate,
                                 periodMilliseconds: options.periodMilliseconds)
        }
        return try AlsaDriver(captureDevice: input, playbackDevice: output,
                              sampleRate: options.deviceSampleRate,
                              periodMilliseconds: options.periodMilliseconds)
    }

    /// Whether device-mode devices are open now (a session is starting, live or reconnecting).
    private var devicesOpen: Bool { engine != nil && engine !== external.load() }

    func setAudioInput(_ enabled: Bool, _ driver: SessionDriver) throws(LayercodeError) {
        guard enabled != inputEnabled else { return }
        if devicesOpen, let engine {
            drainMicrophone(driver)
            try engine.replaceInput(with: enabled ? openDriver(input: deviceName(input: true)) : nil)
            engine.setAcceptingInput(driver.session.wantsMicrophone)
        }
        inputEnabled = enabled
        Log.write(.info, "microphone \(enabled ? "on" : "off")")
        driver.run(.setAudioInput(enabled))
    }

    func setAudioOutput(_ enabled: Bool, _ driver: SessionDriver) throws(LayercodeError) {
        guard enabled != outputEnabled else { return }
        // What is queued goes now; later agent audio is discarded on arrival.
        if !enabled { flushPlayout() }
        if devicesOpen, let engine {
            try engine.replaceOutput(with: enabled ? openDriver(output: deviceName(input: false)) : nil)
            recording.attach(engine.playback)
        }
        outputEnabled = enabled
        Log.write(.info, "agent audio \(enabled ? "on" : "off")")
        driver.run(.setAudioOutput(enabled))
        sink.deliver(.audioOutputChanged(enabled))
    }

    func switchDevice(input: Bool, to name: String, _ driver: SessionDriver) throws(LayercodeError) {
        guard name != (input ? inputDeviceName : outputDeviceName) else { return }
        let enabled = input ? inputEnabled : outputEnabled
        if devicesOpen, enabled, let engine {
            if input {
                drainMicrophone(driver)
                try engine.replaceInput(with: openDriver(input: name))
                engine.setAcceptingInput(driver.session.wantsMicrophone)
            } else {
                let lost = try engine.replaceOutput(with: openDriver(output: name))
                recording.attach(engine.playback)
                if lost > 0 {
                    Log.write(.warn, "speaker \(name) runs at another rate or channel count: "
                              + "\(lost * 20) ms of agent audio queued on the old one was dropped")
                    ClientStats.bump(counters.switchDroppedFrames, UInt64(lost))
                }
            }
            Log.write(.info, "switched \(input ? "microphone" : "speaker") to \(name): \(engine.describe())")
        }
        if input { inputDeviceName = name } else { outputDeviceName = name }
        sink.deliver(.deviceSwitched(input: input, name: name))
    }

    // MARK: Stats (any thread)

    /// The audio part of the stats, from the engine's counters and playout snapshot.
    func addAudioStats(to s: inout ClientStats.Snapshot) {
        current.withLock { engine in
            guard let engine else { return }
            s.inputSamplesDropped += engine.captureDroppedSamples
            if let playback = engine.playback {
                let p = playback.snapshot()
                // Agent-side sample counters are reported at Layercode's 16 kHz.
                let rate = UInt64(playback.deviceRate)
                let wireRate = UInt64(AudioFormat.layercodeDownlink.sampleRate)
                s.playedSamples = p.playedSamples * wireRate / rate
                s.underrunSamples = p.underrunSamples * wireRate / rate
                s.jitterDelayMs = p.jitterDelayMs
                s.jitterTargetMs = p.jitterTargetMs
                s.concealedMs = p.concealedMs
                s.interruptions = p.interruptions
                s.interruptionMs = p.interruptionMs
                s.lateFrames = p.lateFrames
                s.droppedFrames = p.droppedFrames + Int(engine.playoutRingOverflowFrames)
                    + Int(counters.switchDroppedFrames.load(ordering: .relaxed))
                s.playoutSamplesDropped += UInt64(s.droppedFrames * PlaybackSide.frameSamples)
                s.deviceDelayMs = p.deviceDelayFrames * 1000 / playback.deviceRate
                s.fecRecoveredFrames = UInt64(p.fecRecoveredFrames)
            }
            s.captureXruns = engine.captureXruns
            s.playbackXruns = engine.playbackXruns
            if let echo = engine.echoCounters { s.addEcho(echo) }
        }
    }

    // MARK: Echo (loop)

    /// lc_client_set_audio_delays: the engine now and every later one.
    func setAudioDelays(playbackMilliseconds: Int, captureMilliseconds: Int) {
        declaredDelays = (playbackMilliseconds, captureMilliseconds)
        engine?.setDeclaredDelays(playbackMilliseconds: playbackMilliseconds, captureMilliseconds: captureMilliseconds)
    }

    static func describe(_ echo: EchoSettings) -> String {
        guard let p = echo.processing else { return "echo: half duplex (no canceller)" }
        var parts = [p.aec ? "echo cancellation (\(p.engine.name))" : "no echo cancellation (\(p.engine.name))"]
        if p.ns { parts.append("noise suppression") }
        if p.agc { parts.append("automatic gain") }
        return "echo: " + parts.joined(separator: ", ")
    }

    // MARK: External audio (the app's audio threads)

    func writeAudio(_ samples: UnsafeBufferPointer<Int16>) -> Int {
        guard let engine = external.load() else { return samples.count }
        return engine.capture(samples)
    }

    func readAudio(into out: UnsafeMutableBufferPointer<Int16>) -> Int {
        guard let engine = external.load() else {
            out.baseAddress?.update(repeating: 0, count: out.count)
            return 0
        }
        return engine.render(into: out)
    }
}
