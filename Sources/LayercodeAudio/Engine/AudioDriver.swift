// SPDX-License-Identifier: Apache-2.0
import LayercodeCore

/// What a device settled on, as the engine needs it to build the chain behind it.
public struct DeviceFormat: Equatable, Sendable {
    public var sampleRate: Int
    public var channels: Int
    public init(sampleRate: Int, channels: Int) {
        self.sampleRate = sampleRate
        self.channels = channels
    }
}

/// A device backend (ALSA, WAV files) for one client: it opens its devices in `init`, tells
/// the engine their formats, and once started runs its own thread(s) that only call
/// `CaptureSide.deliver` and `PlaybackSide.render`, report the playback delay they read from
/// the device, and raise their failure on the engine's latch. It owns no chain: a device
/// switch replaces a driver and keeps the chain (AudioEngine). External audio has no driver:
/// the app's threads call the sides through the engine.
///
/// Thread safety: `start` and `stop` belong to the event loop; the counters may be read
/// from any thread.
public protocol AudioDriver: AnyObject, Sendable {
    /// The capture device's format (nil: this driver has no microphone).
    var inputFormat: DeviceFormat? { get }
    /// The playback device's format (nil: this driver has no speaker).
    var outputFormat: DeviceFormat? { get }
    /// Starts the device threads with the engine's sides (nil for a direction it lacks) and
    /// the latch its threads raise a failure on. Called once.
    func start(capture: CaptureSide?, playback: PlaybackSide?, failures: FailureLatch)
    /// Stops and joins the device threads and closes the devices. Idempotent.
    func stop()
    var captureXruns: Int { get }
    var playbackXruns: Int { get }
    /// Whether the device threads run under SCHED_FIFO.
    var isRealtime: Bool { get }
}
