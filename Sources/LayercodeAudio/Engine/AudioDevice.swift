// SPDX-License-Identifier: Apache-2.0
import LayercodeCore

/// A backend that drives the engine halves from its own thread(s): ALSA (AlsaDuplex) or WAV
/// files (WavDevice). External audio has none: the app's threads call the halves directly.
public protocol AudioDevice: AnyObject, Sendable {
    var capture: CaptureSide? { get }
    var playback: PlaybackSide? { get }
    func start()
    /// Stops and joins the device threads.
    func stop()
    /// The failure that ended a device thread, once.
    func takeFailure() -> LayercodeError?
    var captureXruns: Int { get }
    var playbackXruns: Int { get }
}

extension AlsaDuplex: AudioDevice {}

extension WavDevice: AudioDevice {
    public var captureXruns: Int { 0 }
    public var playbackXruns: Int { 0 }
}
