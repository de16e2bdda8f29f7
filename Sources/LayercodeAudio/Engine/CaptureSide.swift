// SPDX-License-Identifier: Apache-2.0
import LayercodeCore
import Synchronization

/// The microphone half of the audio engine, shared by every audio source (ALSA capture
/// thread, lc_client_write_audio, a WAV file). `deliver` runs on the source's thread and is
/// real-time safe: downmix into a preallocated buffer, copy into the SPSC ring, wake the loop.
/// The event loop drains the ring (`drain`), resamples to 8 kHz and frames it.
public final class CaptureSide: @unchecked Sendable {
    public let sampleRate: Int
    public let ring: SPSCRing<Int16>
    /// Samples lost because the ring was full (the loop fell behind by a whole ring).
    public let droppedSamples = Atomic<UInt64>(0)
    /// Producer gate: audio delivered while false is discarded (not in a session, muted
    /// input, or input disabled). Loop stores, source loads; relaxed: a frame either way.
    public let accepting = Atomic<Bool>(false)
    /// When the newest samples arrived (monotonic ns): the capture time of a frame completed
    /// from them, for the uplink latency figure. Source stores, loop loads; relaxed.
    public let lastDeliveryNanoseconds = Atomic<UInt64>(0)
    /// When the accepted samples were captured, for the echo stage's alignment (stamps
    /// only: the samples are in `ring`).
    public let stamps: StampedTap
    /// The capture latency an app declared (lc_client_set_audio_delays), for sources that
    /// cannot measure their own (external audio, WAV). Loop stores, source loads; relaxed.
    public let declaredDelayNanoseconds = Atomic<UInt64>(0)
    private let clock: () -> UInt64
    private let mono: UnsafeMutablePointer<Int16>
    private let monoCapacity: Int
    private let wake: @Sendable () -> Void

    public init(sampleRate: Int, ringSeconds: Int = 2, maxChunkFrames: Int = 8192,
                clock: @escaping () -> UInt64, wake: @escaping @Sendable () -> Void) {
        self.clock = clock
        self.sampleRate = sampleRate
        frameSamples = UInt64(max(1, sampleRate / 50))
        ring = SPSCRing(capacity: sampleRate * ringSeconds, zero: 0)
        stamps = StampedTap(sampleRate: sampleRate, keepMilliseconds: 0)
        monoCapacity = maxChunkFrames
        mono = .allocate(capacity: maxChunkFrames)
        mono.initialize(repeating: 0, count: maxChunkFrames)
        self.wake = wake
    }

    deinit { mono.deallocate() }

    /// `frames` interleaved frames of `channels` channels. Returns frames accepted.
    /// `delayFrames`: how long ago (in frames) the newest of them was captured, when the
    /// source can tell (ALSA's snd_pcm_delay); nil: the declared delay.
    @discardableResult
    public func deliver(_ interleaved: UnsafePointer<Int16>, frames: Int, channels: Int,
                        delayFrames: Int? = nil) -> Int {
        guard accepting.load(ordering: .relaxed) else { return frames }
        delayNanoseconds = delayFrames.map { stamps.nanoseconds(ofFrames: $0) }
            ?? declaredDelayNanoseconds.load(ordering: .relaxed)
        if channels == 1 {
            return write(UnsafeBufferPointer(start: interleaved, count: frames))
        }
        var done = 0
        while done < frames {
            let n = min(frames - done, monoCapacity)
            for i in 0..<n {
                var sum = 0
                let base = interleaved + (done + i) * channels
                for c in 0..<channels { sum += Int(base[c]) }
                mono[i] = Int16(truncatingIfNeeded: sum / channels)
            }
            let accepted = write(UnsafeBufferPointer(start: mono, count: n))
            done += n
            if accepted < n { return done - (n - accepted) }
        }
        return frames
    }

    /// Source thread: the delay of the delivery being written.
    private var delayNanoseconds: UInt64 = 0
    /// Source thread: samples accepted so far, and how many make one 20 ms uplink frame at
    /// this rate. The loop is woken when a frame's worth has arrived since the last frame
    /// boundary, not on every delivery: one wake-up per 20 ms frame whatever the period
    /// (a 10 ms ALSA period woke it twice per frame, the first time for nothing).
    private var acceptedTotal: UInt64 = 0
    private let frameSamples: UInt64

    private func write(_ samples: UnsafeBufferPointer<Int16>) -> Int {
        let n = ring.write(samples)
        let now = clock()
        lastDeliveryNanoseconds.store(now, ordering: .relaxed)
        stamps.noteAccepted(n)
        stamps.stamp(atNanoseconds: now > delayNanoseconds ? now - delayNanoseconds : 0)
        let before = acceptedTotal
        acceptedTotal &+= UInt64(n)
        if n < samples.count {
            droppedSamples.add(UInt64(samples.count - n), ordering: .relaxed)
            wake()  // the loop is a whole ring behind
        } else if acceptedTotal / frameSamples != before / frameSamples {
            wake()
        }
        return n
    }
}
