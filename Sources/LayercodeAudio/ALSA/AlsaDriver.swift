// SPDX-License-Identifier: Apache-2.0
import LayercodeCore

/// The ALSA driver of the audio engine: a capture device feeding the engine's CaptureSide
/// and a playback device fed by its PlaybackSide, each on its own AudioThread (SCHED_FIFO
/// when the system allows). Each thread's loop is one blocking ALSA call and one engine call
/// on preallocated buffers, plus, on playback, `snd_pcm_delay` for the engine's delay figure:
/// no allocation, lock or log. A device that fails for good (unplugged) ends its thread and
/// raises the engine's FailureLatch.
public final class AlsaDriver: AudioDriver, @unchecked Sendable {
    private let capturePCM: AlsaPCM?
    private let playbackPCM: AlsaPCM?
    private var threads: [AudioThread] = []
    private let captureBuffer: UnsafeMutablePointer<Int16>
    private let playbackBuffer: UnsafeMutablePointer<Int16>

    /// Opens the devices (nil skips that direction). `configText` is extra ALSA
    /// configuration (asoundrc syntax) for both, e.g. a test's file/null devices.
    public convenience init(captureDevice: String?, playbackDevice: String?, sampleRate: Int,
                periodMilliseconds: Int, configText: String? = nil) throws(LayercodeError) {
        func open(_ name: String?, _ direction: AlsaPCM.Direction) throws(LayercodeError) -> AlsaPCM? {
            guard let name else { return nil }
            return try AlsaPCM(.init(device: name, direction: direction, sampleRate: sampleRate,
                                     periodMilliseconds: periodMilliseconds, configText: configText))
        }
        let capture = try open(captureDevice, .capture)
        self.init(capturePCM: capture, playbackPCM: try open(playbackDevice, .playback))
    }

    private init(capturePCM: AlsaPCM?, playbackPCM: AlsaPCM?) {
        self.capturePCM = capturePCM
        self.playbackPCM = playbackPCM
        let captureCount = max(1, (capturePCM?.periodFrames ?? 0) * (capturePCM?.channels ?? 0))
        let playbackCount = max(1, (playbackPCM?.periodFrames ?? 0) * (playbackPCM?.channels ?? 0))
        captureBuffer = .allocate(capacity: captureCount)
        captureBuffer.initialize(repeating: 0, count: captureCount)
        playbackBuffer = .allocate(capacity: playbackCount)
        playbackBuffer.initialize(repeating: 0, count: playbackCount)
    }

    deinit {
        stop()
        captureBuffer.deallocate()
        playbackBuffer.deallocate()
    }

    public var inputFormat: DeviceFormat? {
        capturePCM.map { DeviceFormat(sampleRate: $0.sampleRate, channels: $0.channels) }
    }
    public var outputFormat: DeviceFormat? {
        playbackPCM.map { DeviceFormat(sampleRate: $0.sampleRate, channels: $0.channels) }
    }
    public var captureXruns: Int { capturePCM?.xrunCount ?? 0 }
    public var playbackXruns: Int { playbackPCM?.xrunCount ?? 0 }
    public var isRealtime: Bool { !threads.isEmpty && threads.allSatisfy { $0.isRealtime } }

    public func start(capture: CaptureSide?, playback: PlaybackSide?, failures: FailureLatch) {
        guard threads.isEmpty else { return }
        if let pcm = capturePCM, let side = capture {
            let buffer = captureBuffer
            threads.append(AudioThread(name: "lc-capture") { thread in
                let frames = pcm.periodFrames, channels = pcm.channels
                while !thread.isStopRequested {
                    do throws(LayercodeError) {
                        let n = try pcm.read(into: buffer, frames: frames)
                        // How long ago the newest frame read was captured (the echo stage's
                        // alignment).
                        side.deliver(buffer, frames: n, channels: channels, delayFrames: pcm.delayFrames)
                    } catch {
                        failures.raise(error)
                        return
                    }
                }
            })
        }
        if let pcm = playbackPCM, let side = playback {
            let buffer = playbackBuffer
            side.deviceReportsDelay = true
            threads.append(AudioThread(name: "lc-playback") { thread in
                let frames = pcm.periodFrames
                while !thread.isStopRequested {
                    side.render(into: buffer, frames: frames)
                    do throws(LayercodeError) {
                        _ = try pcm.write(from: buffer, frames: frames)
                    } catch {
                        failures.raise(error)
                        return
                    }
                    // What the device holds now: audible only after it has played out.
                    side.noteDeviceDelay(frames: pcm.delayFrames)
                }
            })
        }
        for thread in threads {
            do { try thread.start() } catch { failures.raise(error) }
        }
    }

    /// Stops and joins both threads (within about one period), then closes the devices.
    public func stop() {
        for thread in threads { thread.requestStop() }
        for thread in threads { thread.join() }
        threads.removeAll()
        capturePCM?.close()
        playbackPCM?.close()
    }
}
