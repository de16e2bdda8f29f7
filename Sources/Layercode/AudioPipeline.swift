import LayercodeAudio
import LayercodeCore

/// The audio of one client: the engine halves (capture → loop, loop → playback) and, in ALSA
/// mode, the devices driving them. External mode keeps one pipeline for the client's life
/// (the app's threads call into it); ALSA mode opens one per session and stops it at the end.
final class AudioPipeline: @unchecked Sendable {
    let capture: CaptureSide?
    let playback: PlaybackSide?
    /// Capture rate → 8 kHz, run on the loop.
    let upsampler: Resampler?
    let devices: AlsaDuplex?

    init(capture: CaptureSide?, playback: PlaybackSide?, devices: AlsaDuplex?) throws {
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

    /// ALSA: opens the devices (negotiating rate and channels), starts their threads.
    static func alsa(_ options: ClientOptions, clock: @escaping () -> UInt64,
                     wake: @escaping @Sendable () -> Void) throws -> AudioPipeline {
        let duplex = try AlsaDuplex(
            captureDevice: options.audioInputEnabled ? options.captureDevice : nil,
            playbackDevice: options.audioOutputEnabled ? options.playbackDevice : nil,
            sampleRate: options.deviceSampleRate, periodMilliseconds: options.periodMilliseconds,
            jitter: jitterConfig(options), meterUpdatesPerSecond: max(1, options.amplitudeRateHz),
            clock: clock, wake: wake)
        let pipeline = try AudioPipeline(capture: duplex.capture, playback: duplex.playback,
                                         devices: duplex)
        duplex.start()
        return pipeline
    }

    func stop() {
        devices?.stop()
    }
}
