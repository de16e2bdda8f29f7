// SPDX-License-Identifier: Apache-2.0
import LayercodeCore
import Synchronization

/// The ALSA backend of the audio engine: a capture device feeding a CaptureSide and a
/// playback device fed by a PlaybackSide, each on its own AudioThread (SCHED_FIFO when the
/// system allows). Each thread's loop is one blocking ALSA call and one engine call on
/// preallocated buffers: no allocation, lock or log. A device that fails for good (unplugged)
/// ends its thread and raises `takeFailure()` for the loop.
public final class AlsaDuplex: @unchecked Sendable {
    public let capture: CaptureSide?
    public let playback: PlaybackSide?
    private let capturePCM: AlsaPCM?
    private let playbackPCM: AlsaPCM?
    private var threads: [AudioThread] = []
    private let captureBuffer: UnsafeMutablePointer<Int16>
    private let playbackBuffer: UnsafeMutablePointer<Int16>
    private let failed = Atomic<Bool>(false)
    private let failure = Mutex<LayercodeError?>(nil)
    private let wake: @Sendable () -> Void

    /// Opens the devices (nil skips that direction). `configText` is extra ALSA
    /// configuration (asoundrc syntax) for both, e.g. a test's file/null devices.
    /// `reusing`: a playback side to keep (its queued agent audio with it) when the new
    /// device settles on the same rate and channel count.
    public init(captureDevice: String?, playbackDevice: String?, sampleRate: Int,
                periodMilliseconds: Int, jitter: JitterBufferConfig, meterUpdatesPerSecond: Int,
                configText: String? = nil, reusing existingPlayback: PlaybackSide? = nil,
                clock: @escaping () -> UInt64,
                wake: @escaping @Sendable () -> Void) throws {
        self.wake = wake
        capturePCM = try captureDevice.map {
            try AlsaPCM(.init(device: $0, direction: .capture, sampleRate: sampleRate,
                              periodMilliseconds: periodMilliseconds, configText: configText))
        }
        playbackPCM = try playbackDevice.map {
            try AlsaPCM(.init(device: $0, direction: .playback, sampleRate: sampleRate,
                              periodMilliseconds: periodMilliseconds, configText: configText))
        }
        capture = capturePCM.map { CaptureSide(sampleRate: $0.sampleRate, clock: clock, wake: wake) }
        playback = try playbackPCM.map { pcm in
            if let existing = existingPlayback, existing.deviceRate == pcm.sampleRate,
               existing.channels == pcm.channels {
                return existing
            }
            return try PlaybackSide(deviceRate: pcm.sampleRate, channels: pcm.channels, jitter: jitter,
                                    meterUpdatesPerSecond: meterUpdatesPerSecond, clock: clock, wake: wake)
        }
        let captureCount = (capturePCM?.periodFrames ?? 0) * (capturePCM?.channels ?? 0)
        let playbackCount = (playbackPCM?.periodFrames ?? 0) * (playbackPCM?.channels ?? 0)
        captureBuffer = .allocate(capacity: max(1, captureCount))
        captureBuffer.initialize(repeating: 0, count: max(1, captureCount))
        playbackBuffer = .allocate(capacity: max(1, playbackCount))
        playbackBuffer.initialize(repeating: 0, count: max(1, playbackCount))
    }

    deinit {
        stop()
        captureBuffer.deallocate()
        playbackBuffer.deallocate()
    }

    public var captureXruns: Int { capturePCM?.xrunCount ?? 0 }
    public var playbackXruns: Int { playbackPCM?.xrunCount ?? 0 }
    /// Negotiated device formats, for the app's information.
    public var captureFormat: (rate: Int, channels: Int, periodFrames: Int)? {
        capturePCM.map { ($0.sampleRate, $0.channels, $0.periodFrames) }
    }
    public var playbackFormat: (rate: Int, channels: Int, periodFrames: Int)? {
        playbackPCM.map { ($0.sampleRate, $0.channels, $0.periodFrames) }
    }
    /// Whether the threads run under SCHED_FIFO.
    public var isRealtime: Bool { !threads.isEmpty && threads.allSatisfy(\.isRealtime) }

    public func start() {
        guard threads.isEmpty else { return }
        if let pcm = capturePCM, let side = capture {
            let buffer = captureBuffer
            threads.append(AudioThread(name: "lc-capture") { [unowned self] thread in
                let frames = pcm.periodFrames, channels = pcm.channels
                while !thread.isStopRequested {
                    do {
                        let n = try pcm.read(into: buffer, frames: frames)
                        side.deliver(buffer, frames: n, channels: channels)
                    } catch {
                        self.fail(error)
                        return
                    }
                }
            })
        }
        if let pcm = playbackPCM, let side = playback {
            let buffer = playbackBuffer
            threads.append(AudioThread(name: "lc-playback") { [unowned self] thread in
                let frames = pcm.periodFrames
                while !thread.isStopRequested {
                    side.render(into: buffer, frames: frames)
                    do {
                        _ = try pcm.write(from: buffer, frames: frames)
                    } catch {
                        self.fail(error)
                        return
                    }
                }
            })
        }
        for thread in threads {
            do { try thread.start() } catch { fail(error) }
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

    /// The failure that ended a device thread, once.
    public func takeFailure() -> LayercodeError? {
        guard failed.exchange(false, ordering: .acquiringAndReleasing) else { return nil }
        return failure.withLock { $0 }
    }

    /// Off the real-time path: the thread is ending.
    private func fail(_ error: Error) {
        let e = error as? LayercodeError ?? LayercodeError(.audio, "\(error)")
        failure.withLock { $0 = e }
        failed.store(true, ordering: .releasing)
        wake()
    }
}
