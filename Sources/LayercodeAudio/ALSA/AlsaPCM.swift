// SPDX-License-Identifier: Apache-2.0
import CALSA
import CPosix
import LayercodeCore
import Synchronization

/// One ALSA PCM, capture or playback, as signed 16-bit little-endian interleaved frames,
/// opened in blocking mode.
///
/// ALSA converts whatever it can: through a `plug` (as `default`, `plughw:` and most
/// configured devices are) rate, channels and format are adapted to the request, so the
/// negotiated values equal the requested ones. A bare `hw:` device gets no resampling: the
/// rate asked for if the hardware has it, else the nearest it has. Read the negotiated
/// values after `init` and resample or remix accordingly.
///
/// Thread safety: `read`/`write` from one thread at a time (the audio thread);
/// `xrunCount` and `delayFrames` from any thread. `drop`, `drain` and `close` must not
/// run concurrently with `read`/`write` (stop and join the audio thread first).
/// Ownership: buffers passed to `read`/`write` stay the caller's.
public final class AlsaPCM: @unchecked Sendable {
    public enum Direction: Sendable { case capture, playback }

    public struct Config: Sendable {
        /// An ALSA PCM name: `default`, `hw:1,0`, `plughw:CARD=USB`, `null`, a name from
        /// ~/.asoundrc or from `configText`.
        public var device: String
        public var direction: Direction
        /// Requested rate in Hz; 0 means 48000.
        public var sampleRate: Int
        /// Requested channels; 0 means mono if the device has it, else (playback) stereo if
        /// it has that, else the device's minimum.
        public var channels: Int
        public var periodMilliseconds: Int
        public var periods: Int
        /// Extra ALSA configuration in asoundrc syntax, e.g. `pcm.rec { type file ... }`,
        /// merged over the system configuration for this PCM only (snd_pcm_open_lconf):
        /// a device can be defined without touching ~/.asoundrc or the process environment.
        public var configText: String?

        public init(device: String = "default", direction: Direction, sampleRate: Int = 48_000,
                    channels: Int = 0, periodMilliseconds: Int = 10, periods: Int = 4,
                    configText: String? = nil) {
            self.device = device
            self.direction = direction
            self.sampleRate = sampleRate
            self.channels = channels
            self.periodMilliseconds = periodMilliseconds
            self.periods = periods
            self.configText = configText
        }
    }

    public let device: String
    public let direction: Direction
    /// The negotiated values.
    public private(set) var sampleRate: Int
    public private(set) var channels: Int
    public private(set) var periodFrames: Int
    public private(set) var bufferFrames: Int

    private var pcm: OpaquePointer?          // snd_pcm_t *, nil once closed
    private var localConfig: OpaquePointer?  // snd_config_t * owned for snd_pcm_open_lconf
    // Counted on the audio thread, read anywhere; a statistic, so relaxed both ways.
    private let xruns = Atomic<Int>(0)

    /// Underruns (playback), overruns (capture) and suspends recovered so far.
    public var xrunCount: Int { xruns.load(ordering: .relaxed) }

    /// Opens and configures the PCM and prepares it; playback starts once a period is
    /// queued, capture on the first read.
    /// Throws LayercodeError(.invalidArgument) for a config out of range, and
    /// LayercodeError(.audio, "<device>: <what failed>: <ALSA's reason>") when ALSA refuses.
    public convenience init(_ config: Config) throws(LayercodeError) {
        self.init(config, try Self.open(config))  // fails before the object exists (EmbeddedInit)
    }

    private init(_ config: Config, _ opened: Opened) {
        device = config.device
        direction = config.direction
        pcm = opened.pcm
        localConfig = opened.localConfig
        sampleRate = opened.sampleRate
        channels = opened.channels
        periodFrames = opened.periodFrames
        bufferFrames = opened.bufferFrames
    }

    deinit { close() }

    // MARK: Audio thread

    /// Reads exactly `frames` frames into `buffer` (room for `frames * channels` samples),
    /// blocking; short reads are continued, overruns and suspends recovered and counted.
    /// Returns `frames`. Throws on an unrecoverable error. Does not allocate unless it throws.
    public func read(into buffer: UnsafeMutablePointer<Int16>, frames: Int) throws(LayercodeError) -> Int {
        guard let pcm else { throw closedError("read") }
        guard direction == .capture else {
            throw LayercodeError(.invalidState, "\(device): read on a playback PCM")
        }
        var done = 0
        while done < frames {
            let n = snd_pcm_readi(pcm, buffer + done * channels, snd_pcm_uframes_t(frames - done))
            if n > 0 {
                done += n
            } else if n == 0 {
                snd_pcm_wait(pcm, 100)
            } else {
                try recover(pcm, Int32(truncatingIfNeeded: n), "read")
            }
        }
        return done
    }

    /// Writes exactly `frames` frames from `buffer` (`frames * channels` samples), blocking
    /// while the device buffer is full; short writes are continued, underruns and suspends
    /// recovered and counted. Returns `frames`. Throws on an unrecoverable error. Does not
    /// allocate unless it throws.
    public func write(from buffer: UnsafePointer<Int16>, frames: Int) throws(LayercodeError) -> Int {
        guard let pcm else { throw closedError("write") }
        guard direction == .playback else {
            throw LayercodeError(.invalidState, "\(device): write on a capture PCM")
        }
        var done = 0
        while done < frames {
            let n = snd_pcm_writei(pcm, buffer + done * channels, snd_pcm_uframes_t(frames - done))
            if n > 0 {
                done += n
            } else if n == 0 {
                snd_pcm_wait(pcm, 100)
            } else {
                try recover(pcm, Int32(truncatingIfNeeded: n), "write")
            }
        }
        return done
    }

    /// Frames between the application and the speaker (playback) or microphone (capture),
    /// snd_pcm_delay; 0 when it cannot be had (not running, closed).
    public var delayFrames: Int {
        guard let pcm else { return 0 }
        var delay: snd_pcm_sframes_t = 0
        return snd_pcm_delay(pcm, &delay) == 0 ? max(0, delay) : 0
    }

    // MARK: Control

    /// Stops at once, discarding what is queued (barge-in), and prepares the PCM again, so
    /// `read`/`write` can go on.
    public func drop() {
        guard let pcm else { return }
        snd_pcm_drop(pcm)
        snd_pcm_prepare(pcm)
    }

    /// Playback: blocks until everything queued has been played, then prepares the PCM
    /// again. Capture: the same as `drop`.
    public func drain() {
        guard let pcm else { return }
        if direction == .playback {
            snd_pcm_drain(pcm)
        } else {
            snd_pcm_drop(pcm)
        }
        snd_pcm_prepare(pcm)
    }

    /// Closes the PCM (queued playback is dropped: `drain()` first to hear it). Idempotent;
    /// `read`/`write` afterwards throw LayercodeError(.invalidState).
    public func close() {
        if let pcm {
            snd_pcm_close(pcm)
            self.pcm = nil
        }
        if let localConfig {
            snd_config_delete(localConfig)
            self.localConfig = nil
        }
    }

    // MARK: Private

    private func recover(_ pcm: OpaquePointer, _ err: Int32, _ what: String) throws(LayercodeError) {
        if err == -EAGAIN {
            snd_pcm_wait(pcm, 100)
            return
        }
        // Handles -EPIPE (xrun: prepare), -ESTRPIPE (suspend: resume or prepare) and -EINTR;
        // silent, as the count is the report.
        if snd_pcm_recover(pcm, err, 1) < 0 {
            throw Self.failure(device, what, err)
        }
        if err == -EPIPE || err == -ESTRPIPE {
            xruns.add(1, ordering: .relaxed)
        }
    }

    private func closedError(_ what: String) -> LayercodeError {
        LayercodeError(.invalidState, "\(device): \(what) after close")
    }

    private static func failure(_ device: String, _ what: String, _ err: Int32) -> LayercodeError {
        LayercodeError(.audio, "\(device): \(what): \(String(cString: snd_strerror(err)))")
    }

    private struct Opened {
        var pcm: OpaquePointer
        var localConfig: OpaquePointer?
        var sampleRate = 0, channels = 0, periodFrames = 0, bufferFrames = 0
    }

    private static func open(_ config: Config) throws(LayercodeError) -> Opened {
        let device = config.device
        guard config.sampleRate >= 0, config.sampleRate <= 768_000,
              (0...64).contains(config.channels),
              (1...1000).contains(config.periodMilliseconds),
              (2...64).contains(config.periods) else {
            throw LayercodeError(.invalidArgument,
                                 "\(device): rate 0...768000, channels 0...64, period 1...1000 ms "
                                 + "and periods 2...64 expected (got \(config.sampleRate) Hz, "
                                 + "\(config.channels) ch, \(config.periodMilliseconds) ms, "
                                 + "\(config.periods) periods)")
        }
        let stream = config.direction == .capture ? SND_PCM_STREAM_CAPTURE : SND_PCM_STREAM_PLAYBACK

        var localConfig: OpaquePointer?
        if let text = config.configText {
            localConfig = try loadConfig(text, device: device)
        }
        var handle: OpaquePointer?
        let openErr = localConfig.map { snd_pcm_open_lconf(&handle, device, stream, 0, $0) }
            ?? snd_pcm_open(&handle, device, stream, 0)
        guard openErr >= 0, let pcm = handle else {
            if let localConfig { snd_config_delete(localConfig) }
            throw failure(device, "cannot open \(config.direction == .capture ? "capture" : "playback")",
                          openErr)
        }
        do {
            var opened = Opened(pcm: pcm, localConfig: localConfig)
            try configure(pcm, config, into: &opened)
            return opened
        } catch {
            snd_pcm_close(pcm)
            if let localConfig { snd_config_delete(localConfig) }
            throw error
        }
    }

    /// The system configuration (alsa.conf, its hooks, ~/.asoundrc) with `text` loaded over
    /// a copy of it. The caller owns the result (snd_config_delete).
    private static func loadConfig(_ text: String, device: String) throws(LayercodeError) -> OpaquePointer {
        var global: OpaquePointer?
        var err = snd_config_update_ref(&global)
        guard err >= 0, let global else { throw failure(device, "cannot load the ALSA configuration", err) }
        var top: OpaquePointer?
        err = snd_config_copy(&top, global)
        snd_config_unref(global)
        guard err >= 0, let top else { throw failure(device, "cannot copy the ALSA configuration", err) }
        var input: OpaquePointer?
        err = text.withCString { snd_input_buffer_open(&input, $0, strlen($0)) }
        if err >= 0, let input {
            err = snd_config_load(top, input)
            snd_input_close(input)
        }
        guard err >= 0 else {
            snd_config_delete(top)
            throw failure(device, "cannot parse configText", err)
        }
        return top
    }

    private static func configure(_ pcm: OpaquePointer, _ config: Config, into opened: inout Opened) throws(LayercodeError) {
        let device = config.device
        func check(_ err: Int32, _ what: @autoclosure () -> String) throws(LayercodeError) {
            if err < 0 { throw failure(device, what(), err) }
        }

        var hwOut: OpaquePointer?
        try check(snd_pcm_hw_params_malloc(&hwOut), "hw_params_malloc")
        guard let hw = hwOut else { throw LayercodeError(.noMemory, "\(device): hw_params_malloc") }
        defer { snd_pcm_hw_params_free(hw) }

        try check(snd_pcm_hw_params_any(pcm, hw), "no hardware configuration")
        // A bare hw: device cannot resample; take its nearest native rate rather than fail.
        let isBareHardware = device == "hw" || device.hasPrefix("hw:")
        try check(snd_pcm_hw_params_set_rate_resample(pcm, hw, isBareHardware ? 0 : 1),
                  "cannot set rate resampling")
        try check(snd_pcm_hw_params_set_access(pcm, hw, SND_PCM_ACCESS_RW_INTERLEAVED),
                  "interleaved access not supported")
        try check(snd_pcm_hw_params_set_format(pcm, hw, SND_PCM_FORMAT_S16_LE),
                  isBareHardware ? "S16_LE not supported (try plug\(device))" : "S16_LE not supported")

        var channels = UInt32(config.channels)
        if channels == 0 {
            if snd_pcm_hw_params_test_channels(pcm, hw, 1) == 0 {
                channels = 1
            } else if config.direction == .playback, snd_pcm_hw_params_test_channels(pcm, hw, 2) == 0 {
                channels = 2
            } else {
                try check(snd_pcm_hw_params_get_channels_min(hw, &channels), "no channel count")
            }
        }
        try check(snd_pcm_hw_params_set_channels_near(pcm, hw, &channels),
                  "cannot set \(channels) channels")

        var rate = UInt32(config.sampleRate == 0 ? 48_000 : config.sampleRate)
        var dir: Int32 = 0
        try check(snd_pcm_hw_params_set_rate_near(pcm, hw, &rate, &dir), "cannot set rate \(rate) Hz")

        var period = snd_pcm_uframes_t(max(1, Int(rate) * config.periodMilliseconds / 1000))
        dir = 0
        try check(snd_pcm_hw_params_set_period_size_near(pcm, hw, &period, &dir),
                  "cannot set period \(period) frames")
        var buffer = period * snd_pcm_uframes_t(config.periods)
        try check(snd_pcm_hw_params_set_buffer_size_near(pcm, hw, &buffer),
                  "cannot set buffer \(buffer) frames")
        try check(snd_pcm_hw_params(pcm, hw), "cannot apply hardware parameters")

        // Read back what was granted: the *_near calls may have moved.
        try check(snd_pcm_hw_params_get_channels(hw, &channels), "get channels")
        dir = 0
        try check(snd_pcm_hw_params_get_rate(hw, &rate, &dir), "get rate")
        dir = 0
        try check(snd_pcm_hw_params_get_period_size(hw, &period, &dir), "get period size")
        try check(snd_pcm_hw_params_get_buffer_size(hw, &buffer), "get buffer size")

        var swOut: OpaquePointer?
        try check(snd_pcm_sw_params_malloc(&swOut), "sw_params_malloc")
        guard let sw = swOut else { throw LayercodeError(.noMemory, "\(device): sw_params_malloc") }
        defer { snd_pcm_sw_params_free(sw) }
        try check(snd_pcm_sw_params_current(pcm, sw), "get software parameters")
        // Low latency: capture runs from the first read, playback once one period is queued.
        let startThreshold = config.direction == .capture ? 1 : period
        try check(snd_pcm_sw_params_set_start_threshold(pcm, sw, startThreshold), "set start threshold")
        try check(snd_pcm_sw_params_set_avail_min(pcm, sw, period), "set avail_min")
        try check(snd_pcm_sw_params(pcm, sw), "cannot apply software parameters")
        try check(snd_pcm_prepare(pcm), "cannot prepare")

        opened.sampleRate = Int(rate)
        opened.channels = Int(channels)
        opened.periodFrames = Int(period)
        opened.bufferFrames = Int(buffer)
    }
}
