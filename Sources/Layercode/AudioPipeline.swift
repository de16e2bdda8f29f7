// SPDX-License-Identifier: Apache-2.0
import LayercodeAudio
import LayercodeCore

/// The audio of one client: the engine halves (capture → loop, loop → playback) and, in ALSA
/// and WAV modes, the devices driving them, one per direction so that each can be switched
/// or turned off alone. External mode keeps one pipeline for the client's life (the app's
/// threads call into its halves, which never change); device modes open one per session
/// and stop it at the end.
///
/// Threads: built and changed on the event loop only; the client changes it under its
/// `current` lock, which is what other threads (stats) read it under.
final class AudioPipeline: @unchecked Sendable {
    private(set) var capture: CaptureSide?
    /// Capture rate → 8 kHz, run on the loop.
    private(set) var upsampler: Resampler?
    private(set) var playback: PlaybackSide?
    private(set) var inputDevice: AudioDevice?
    private(set) var outputDevice: AudioDevice?
    private let options: ClientOptions
    private let clock: () -> UInt64
    private let wake: @Sendable () -> Void

    private init(_ options: ClientOptions, clock: @escaping () -> UInt64,
                 wake: @escaping @Sendable () -> Void) {
        self.options = options
        self.clock = clock
        self.wake = wake
    }

    static func jitterConfig(_ options: ClientOptions) -> JitterBufferConfig {
        var config = JitterBufferConfig()
        config.minDelayMs = options.jitterMinMilliseconds
        config.maxDelayMs = options.jitterMaxMilliseconds
        config.initialDelayMs = min(max(config.initialDelayMs, config.minDelayMs), config.maxDelayMs)
        return config
    }

    /// External audio: the app's write/read calls are the devices. Both halves always exist
    /// (turning input or output off at run time is the client's business, not theirs).
    static func external(_ options: ClientOptions, clock: @escaping () -> UInt64,
                         wake: @escaping @Sendable () -> Void) throws -> AudioPipeline {
        let pipeline = AudioPipeline(options, clock: clock, wake: wake)
        let capture = CaptureSide(sampleRate: options.inputSampleRate, clock: clock, wake: wake)
        pipeline.capture = capture
        pipeline.upsampler = try Resampler(inputRate: capture.sampleRate, outputRate: 8000)
        pipeline.playback = try PlaybackSide(
            deviceRate: options.outputSampleRate, channels: 1, jitter: jitterConfig(options),
            meterUpdatesPerSecond: max(1, options.amplitudeRateHz), clock: clock, wake: wake)
        return pipeline
    }

    /// ALSA or WAV: opens the named devices (nil skips that direction; ALSA negotiates rate
    /// and channels) and starts their threads.
    static func devices(_ options: ClientOptions, input: String?, output: String?,
                        clock: @escaping () -> UInt64,
                        wake: @escaping @Sendable () -> Void) throws -> AudioPipeline {
        let pipeline = AudioPipeline(options, clock: clock, wake: wake)
        if let input { try pipeline.replaceInput(with: input) }
        do {
            if let output { try pipeline.replaceOutput(with: output) }
        } catch {
            pipeline.stop()
            throw error
        }
        return pipeline
    }

    /// Opens `name` as the microphone and starts it, then stops the old one; nil only stops
    /// it. If the new device cannot open, this throws and the old one keeps running.
    func replaceInput(with name: String?) throws {
        var opened: AudioDevice?
        var upsampler: Resampler?
        if let name {
            let device = try openDevice(input: name, output: nil, reusing: nil)
            guard let capture = device.capture else {
                throw LayercodeError(.internalError, "input device \(name) has no capture side")
            }
            do {
                upsampler = try Resampler(inputRate: capture.sampleRate, outputRate: 8000)
            } catch {
                device.stop()
                throw error
            }
            opened = device
        }
        inputDevice?.stop()
        inputDevice = opened
        capture = opened?.capture
        self.upsampler = upsampler
        opened?.start()
    }

    /// Opens `name` as the speaker, like replaceInput. The playback side (and the agent audio
    /// it holds) carries over when the new device runs at the same rate and channel count;
    /// otherwise returns the 20 ms frames left behind on the old side (0 when it carried
    /// over). The new device opens before the old one stops (its thread only starts once the
    /// old thread, which rendered the same side, has been joined).
    @discardableResult
    func replaceOutput(with name: String?) throws -> Int {
        let keep = playback
        let opened = try name.map { try openDevice(input: nil, output: $0, reusing: keep) }
        outputDevice?.stop()
        outputDevice = opened
        playback = opened?.playback
        opened?.start()
        guard let keep, opened?.playback !== keep else { return 0 }
        return keep.queuedFrames
    }

    private func openDevice(input: String?, output: String?,
                            reusing: PlaybackSide?) throws -> AudioDevice {
        let meterRate = max(1, options.amplitudeRateHz)
        let jitter = Self.jitterConfig(options)
        if options.audioMode == .wav {
            return try WavDevice(
                inputPath: input, outputPath: output, outputSampleRate: options.outputSampleRate,
                periodMilliseconds: options.periodMilliseconds, jitter: jitter,
                meterUpdatesPerSecond: meterRate, reusing: reusing, clock: clock, wake: wake)
        }
        return try AlsaDuplex(
            captureDevice: input, playbackDevice: output, sampleRate: options.deviceSampleRate,
            periodMilliseconds: options.periodMilliseconds, jitter: jitter,
            meterUpdatesPerSecond: meterRate, reusing: reusing, clock: clock, wake: wake)
    }

    func stop() {
        inputDevice?.stop()
        outputDevice?.stop()
    }

    /// The failure that ended a device thread, once.
    func takeFailure() -> LayercodeError? {
        inputDevice?.takeFailure() ?? outputDevice?.takeFailure()
    }

    var captureXruns: Int { inputDevice?.captureXruns ?? 0 }
    var playbackXruns: Int { outputDevice?.playbackXruns ?? 0 }
    var hasDevices: Bool { inputDevice != nil || outputDevice != nil }

    /// For the log: what the devices settled on.
    func describe() -> String {
        var parts: [String] = []
        if let c = capture { parts.append("capture \(c.sampleRate) Hz") }
        if let p = playback { parts.append("playback \(p.deviceRate) Hz × \(p.channels)") }
        let devices = [inputDevice, outputDevice].compactMap { $0 as? AlsaDuplex }
        if !devices.isEmpty {
            parts.append(devices.allSatisfy(\.isRealtime) ? "SCHED_FIFO" : "normal priority")
        }
        return parts.joined(separator: ", ")
    }
}
