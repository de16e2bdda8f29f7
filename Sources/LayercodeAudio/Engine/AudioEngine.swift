// SPDX-License-Identifier: Apache-2.0
import LayercodeCore
import Synchronization

/// One client's audio: the capture chain and the playout chain, and the drivers that run
/// them (doc/architecture.md "The audio engine").
///
/// Capture: driver thread → `CaptureSide` (downmix → SPSC ring, real time) → on the loop
/// `UplinkFramer` (resample to the wire rate → whole frames → meter) → `drainCapture`'s
/// frames out. Playout: frames in (`push`, on the loop) → `PlaybackSide` (frame ring →
/// jitter buffer → resample → render, real time) → driver; what was rendered comes back as
/// one `PlayoutSnapshot` (agent audible, level, drain, jitter state, device delay) and,
/// when asked for, the render tap.
///
/// Drivers (ALSA, WAV) only call the sides; external audio is the app calling `capture` and
/// `render` on its own threads. A device switch replaces a driver, not a chain: the uplink
/// framer keeps its partial frame, and the playback side (with the agent audio it holds)
/// carries over when the new speaker runs at the same rate and channel count.
///
/// Threads: built, switched and drained on the event loop; `capture`/`render` on the app's
/// audio threads (external mode); `playoutSnapshot` and the counters from any thread.
public final class AudioEngine: @unchecked Sendable {
    public struct Config: Sendable {
        /// The wire's uplink: the rate and frame length the framer cuts (mono).
        public var uplink = AudioFormat.layercodeUplink
        public var jitter = JitterBufferConfig()
        /// Level updates per second of both meters; 0: no meters (nobody listens).
        public var meterUpdatesPerSecond = 20
        /// > 0: keep that much of what the speaker got in `PlaybackSide.renderTap`.
        public var renderTapMilliseconds = 0
        /// The echo stage on the capture path (doc/echo-cancellation.md); nil: none.
        public var echo: EchoSettings?
        public init() {}
    }

    public let config: Config
    /// The one failure latch of every driver of this engine.
    public let failures: FailureLatch
    public private(set) var capture: CaptureSide?
    public private(set) var playback: PlaybackSide?
    public private(set) var inputDriver: (any AudioDriver)?
    public private(set) var outputDriver: (any AudioDriver)?
    private let uplink: UplinkFramer
    private let clock: () -> UInt64
    private let wake: @Sendable () -> Void

    /// The playback and capture latencies an app declared (lc_client_set_audio_delays), ns;
    /// every side of this engine gets them.
    private var declaredPlaybackDelay: UInt64 = 0
    private var declaredCaptureDelay: UInt64 = 0

    /// An engine with no direction yet (device modes: `replaceInput`/`replaceOutput`). Fails
    /// when the echo engine asked for cannot start.
    public convenience init(config: Config, clock: @escaping () -> UInt64,
                            wake: @escaping @Sendable () -> Void) throws(LayercodeError) {
        var echo: EchoStage?
        if let settings = config.echo { echo = try EchoStage(settings) }
        let uplink = try UplinkFramer.make(wireRate: config.uplink.sampleRate, frameSamples: config.uplink.frameSamples,
                                           meterUpdatesPerSecond: config.meterUpdatesPerSecond, echo: echo)
        self.init(config: config, clock: clock, wake: wake, uplink: uplink)
    }

    private init(config: Config, clock: @escaping () -> UInt64, wake: @escaping @Sendable () -> Void,
                 uplink: UplinkFramer) {
        self.config = config
        self.clock = clock
        self.wake = wake
        failures = FailureLatch(wake: wake)
        self.uplink = uplink
    }

    /// External audio: both sides, mono at the app's rates, for the engine's life (the app's
    /// threads call `capture` and `render`; turning a direction off is the session's business).
    public static func external(config: Config, inputRate: Int, outputRate: Int,
                                clock: @escaping () -> UInt64,
                                wake: @escaping @Sendable () -> Void) throws(LayercodeError) -> AudioEngine {
        let engine = try AudioEngine(config: config, clock: clock, wake: wake)
        let capture = CaptureSide(sampleRate: inputRate, clock: clock, wake: wake)
        try engine.uplink.attach(capture)
        engine.capture = capture
        let playback = try engine.makePlayback(DeviceFormat(sampleRate: outputRate, channels: 1))
        try engine.uplink.attachReference(playback.echoTap)
        engine.playback = playback
        return engine
    }

    // MARK: Drivers (loop)

    /// Makes `driver` the microphone (nil: none) and starts it, after stopping the old one.
    /// Drain the capture first (`drainCapture`): what the old ring holds is dropped. When
    /// this throws, `driver` is stopped and the old one keeps running.
    public func replaceInput(with driver: (any AudioDriver)?) throws(LayercodeError) {
        var side: CaptureSide?
        if let driver {
            guard let format = driver.inputFormat else {
                driver.stop()
                throw LayercodeError(.internalError, "input driver has no capture device")
            }
            side = CaptureSide(sampleRate: format.sampleRate, clock: clock, wake: wake)
            side?.declaredDelayNanoseconds.store(declaredCaptureDelay, ordering: .relaxed)
            side?.accepting.store(capture?.accepting.load(ordering: .relaxed) ?? false, ordering: .relaxed)
            do {
                try uplink.attach(side)
            } catch {
                driver.stop()
                throw error
            }
        } else {
            try uplink.attach(nil)
        }
        inputDriver?.stop()
        inputDriver = driver
        capture = side
        driver?.start(capture: side, playback: nil, failures: failures)
    }

    /// Makes `driver` the speaker (nil: none) and starts it, after stopping the old one.
    /// The playback side (and the agent audio it holds) carries over when the new device runs
    /// at the same rate and channel count; otherwise returns the 20 ms frames left behind on
    /// the old side (0 when it carried over). When this throws, `driver` is stopped and the
    /// old one keeps running.
    @discardableResult
    public func replaceOutput(with driver: (any AudioDriver)?) throws(LayercodeError) -> Int {
        let old = playback
        var side: PlaybackSide?
        if let driver {
            guard let format = driver.outputFormat else {
                driver.stop()
                throw LayercodeError(.internalError, "output driver has no playback device")
            }
            if let old, old.deviceRate == format.sampleRate, old.channels == format.channels {
                side = old
            } else {
                do {
                    side = try makePlayback(format)
                } catch {
                    driver.stop()
                    throw error
                }
            }
        }
        do {
            try uplink.attachReference(side?.echoTap)
        } catch {
            driver?.stop()
            throw error
        }
        // The new side's render thread starts only after the old one (which may have rendered
        // the same side) has been joined.
        outputDriver?.stop()
        outputDriver = driver
        playback = side
        driver?.start(capture: nil, playback: side, failures: failures)
        guard let old, side !== old else { return 0 }
        return old.queuedFrames
    }

    private func makePlayback(_ format: DeviceFormat) throws(LayercodeError) -> PlaybackSide {
        let side = try PlaybackSide(deviceRate: format.sampleRate, channels: format.channels,
                                    jitter: config.jitter, meterUpdatesPerSecond: config.meterUpdatesPerSecond,
                                    renderTapMilliseconds: config.renderTapMilliseconds,
                                    echoTapMilliseconds: config.echo == nil ? 0 : Self.echoTapMilliseconds,
                                    clock: clock, wake: wake)
        side.declaredDelayNanoseconds.store(declaredPlaybackDelay, ordering: .relaxed)
        return side
    }

    /// The speaker's echo reference kept for the loop: ample for any wake-up delay.
    static let echoTapMilliseconds = 1000

    // MARK: Echo (loop)

    /// The device latencies an app knows (external audio: from its read to the speaker, and
    /// from the microphone to its write), for the echo stage's alignment; devices that
    /// measure their own (ALSA) keep measuring.
    public func setDeclaredDelays(playbackMilliseconds: Int, captureMilliseconds: Int) {
        declaredPlaybackDelay = UInt64(max(0, playbackMilliseconds)) * 1_000_000
        declaredCaptureDelay = UInt64(max(0, captureMilliseconds)) * 1_000_000
        playback?.declaredDelayNanoseconds.store(declaredPlaybackDelay, ordering: .relaxed)
        capture?.declaredDelayNanoseconds.store(declaredCaptureDelay, ordering: .relaxed)
    }

    /// The echo stage's figures (any thread); nil without one.
    public var echoCounters: EchoCounters? { uplink.echo?.published }

    /// Stops the drivers (their threads are joined; devices close). The sides stay for stats.
    public func stop() {
        inputDriver?.stop()
        outputDriver?.stop()
    }

    // MARK: External audio (the app's audio threads; wait-free)

    /// Microphone PCM (mono, the input rate). Returns the samples accepted.
    public func capture(_ samples: UnsafeBufferPointer<Int16>) -> Int {
        guard let capture, let base = samples.baseAddress else { return samples.count }
        return capture.deliver(base, frames: samples.count, channels: 1)
    }

    /// Agent PCM (mono, the output rate) into `out`; returns how much of it was agent audio.
    public func render(into out: UnsafeMutableBufferPointer<Int16>) -> Int {
        guard let base = out.baseAddress else { return 0 }
        guard let playback else {
            base.update(repeating: 0, count: out.count)
            return 0
        }
        return playback.render(into: base, frames: out.count)
    }

    // MARK: Capture chain (loop)

    /// Whether the capture side keeps what the microphone delivers (a session wants it).
    public func setAcceptingInput(_ accepting: Bool) {
        capture?.accepting.store(accepting, ordering: .relaxed)
    }

    /// Capture ring → wire rate → whole frames (see UplinkFramer.drain).
    public func drainCapture(wanted: () -> Bool, emit: ([Int16], UInt64) -> Bool) {
        uplink.drain(wanted: wanted, emit: emit)
    }

    /// The user's level (the last whole uplink frame), 0...1.
    public var userLevel: Float { uplink.level }

    /// Forgets the partial uplink frame (the session ended).
    public func resetUplink() { uplink.reset() }

    /// Loop: the uplink frames from now on are `format` (mono): the socket's wire profile
    /// chose it (PCM JSON 8 kHz, Opus 16 kHz; 20 ms either way). The partial frame is
    /// dropped when the format changes.
    public func setUplinkFormat(_ format: AudioFormat) throws(LayercodeError) {
        try uplink.retarget(wireRate: format.sampleRate, frameSamples: format.frameSamples)
    }

    /// The uplink frames' format now.
    public var uplinkFormat: AudioFormat { AudioFormat(sampleRate: uplink.wireRate) }

    /// The failure that ended a driver thread, once.
    public func takeFailure() -> LayercodeError? { failures.take() }

    // MARK: Playout chain

    /// Loop: queues one frame of agent audio. False (counted) if the frame ring is full.
    @discardableResult
    public func play(_ header: AudioFrameHeader, samples: UnsafeBufferPointer<Int16>) -> Bool {
        playback?.push(header, samples: samples) ?? false
    }

    /// Loop: queues one frame of any payload kind (an Opus packet). False (counted) if the
    /// frame ring is full.
    @discardableResult
    public func play(_ header: AudioFrameHeader, payload: UnsafeRawBufferPointer) -> Bool {
        playback?.push(header, payload: payload) ?? false
    }

    /// Loop: barge-in; drop every frame with a sequence below `sequence`.
    public func flushPlayout(before sequence: UInt64) {
        playback?.requestFlush(before: sequence)
    }

    /// Loop: the marker of the last frame played at a drain not yet taken, as `snapshot`
    /// (this engine's latest `playoutSnapshot()`) shows it.
    public func takeDrain(in snapshot: PlayoutSnapshot) -> UInt32? {
        playback?.takeDrain(in: snapshot)
    }

    /// Any thread: what playout last rendered (nil: no speaker side).
    public func playoutSnapshot() -> PlayoutSnapshot? { playback?.snapshot() }

    /// Loop: hands the latency samples the render thread measured (ns) to `downlink`
    /// (first audio of a turn: arrival → rendered) and `bargeIn` (flush request → silence).
    public func drainLatencies(downlink: (UInt64) -> Void, bargeIn: (UInt64) -> Void) {
        guard let playback else { return }
        Self.drain(playback.downlinkLatencies, downlink)
        Self.drain(playback.bargeInLatencies, bargeIn)
    }

    private static func drain(_ ring: SPSCRing<UInt64>, _ sink: (UInt64) -> Void) {
        var value: UInt64 = 0
        while withUnsafeMutablePointer(to: &value, {
            ring.read(into: UnsafeMutableBufferPointer(start: $0, count: 1))
        }) == 1 { sink(value) }
    }

    // MARK: Counters (any thread)

    public var captureDroppedSamples: UInt64 { capture?.droppedSamples.load(ordering: .relaxed) ?? 0 }
    public var playoutRingOverflowFrames: UInt64 {
        playback?.ringOverflowFrames.load(ordering: .relaxed) ?? 0
    }
    public var captureXruns: Int { inputDriver?.captureXruns ?? 0 }
    public var playbackXruns: Int { outputDriver?.playbackXruns ?? 0 }

    /// For the log: what the devices settled on.
    public func describe() -> String {
        var parts: [String] = []
        if let c = capture { parts.append("capture \(c.sampleRate) Hz") }
        if let p = playback { parts.append("playback \(p.deviceRate) Hz × \(p.channels)") }
        let drivers = [inputDriver, outputDriver].compactMap { $0 }
        if !drivers.isEmpty {
            parts.append(drivers.allSatisfy { $0.isRealtime } ? "SCHED_FIFO" : "normal priority")
        }
        return parts.joined(separator: ", ")
    }
}
