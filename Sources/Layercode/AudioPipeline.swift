import LayercodeAudio
import LayercodeCore

/// The audio of one client: the engine halves (capture → loop, loop → playback) and, in ALSA
/// and WAV modes, the device driving them. External mode keeps one pipeline for the client's
/// life (the app's threads call into it); device modes open one per session and stop it at
/// the end.
final class AudioPipeline: @unchecked Sendable {
    let capture: CaptureSide?
    let playback: PlaybackSide?
    /// Capture rate → 8 kHz, run on the loop.
    let upsampler: Resampler?
    let devices: AudioDevice?

    init(capture: CaptureSide?, playback: PlaybackSide?, devices: AudioDevice?) throws {
        self.capture = capture
        self.playback = playback
        self.devices = devices
        upsampler = try capture.map { try Resampler(inputRate: $0.sampleRate, outputRate: 8000) }
    }

    static func jitterConfig(_ options: ClientOptions) -> JitterBufferConfig {
        var config = JitterBufferConfig()
        config.minDelayMs = options.jitterMinMilliseconds
        config.maxDelayMs = options.jitterMaxMilliseconds
        config.initialDelayMs = min(max(config.initialDelayMs, config.minDelayMs), config.maxDelayMs)
        return config
    }

    /// External audio: the app's write/read calls are the devices.
    static func external(_ options: ClientOptions, clock: @escaping () -> UInt64,
                         wake: @escaping @Sendable () -> Void) throws -> AudioPipeline {
        let capture = options.audioInputEnabled
            ? CaptureSide(sampleRate: options.inputSampleRate, clock: clock, wake: wake) : nil
        let playback = options.audioOutputEnabled
            ? try PlaybackSide(deviceRate: options.outputSampleRate, channels: 1,
                               jitter: jitterConfig(options),
                               meterUpdatesPerSecond: max(1, options.amplitudeRateHz),
                               clock: clock, wake: wake) : nil
        return try AudioPipeline(capture: capture, playback: playback, devices: nil)
    }

    /// ALSA or WAV: opens the device (ALSA negotiates rate and channels), starts its threads.
    static func device(_ options: ClientOptions, clock: @escaping () -> UInt64,
                       wake: @escaping @Sendable () -> Void) throws -> AudioPipeline {
        let meterRate = max(1, options.amplitudeRateHz)
        let device: AudioDevice
        if options.audioMode == .wav {
            device = try WavDevice(
                inputPath: options.audioInputEnabled ? options.captureDevice : nil,
                outputPath: options.audioOutputEnabled ? options.playbackDevice : nil,
                outputSampleRate: options.outputSampleRate,
                periodMilliseconds: options.periodMilliseconds, jitter: jitterConfig(options),
                meterUpdatesPerSecond: meterRate, clock: clock, wake: wake)
        } else {
            device = try AlsaDuplex(
                captureDevice: options.audioInputEnabled ? options.captureDevice ?? "default" : nil,
                playbackDevice: options.audioOutputEnabled ? options.playbackDevice ?? "default" : nil,
                sampleRate: options.deviceSampleRate, periodMilliseconds: options.periodMilliseconds,
                jitter: jitterConfig(options), meterUpdatesPerSecond: meterRate,
                clock: clock, wake: wake)
        }
        let pipeline = try AudioPipeline(capture: device.capture, playback: device.playback,
                                         devices: device)
        device.start()
        return pipeline
    }

    func stop() {
        devices?.stop()
    }

    /// For the log: what the devices settled on.
    func describe() -> String {
        var parts: [String] = []
        if let c = capture { parts.append("capture \(c.sampleRate) Hz") }
        if let p = playback { parts.append("playback \(p.deviceRate) Hz × \(p.channels)") }
        if let d = devices as? AlsaDuplex { parts.append(d.isRealtime ? "SCHED_FIFO" : "normal priority") }
        return parts.joined(separator: ", ")
    }
}
