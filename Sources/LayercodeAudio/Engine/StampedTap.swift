// SPDX-License-Identifier: Apache-2.0
import LayercodeCore
import Synchronization

/// A copy of one audio stream for the echo stage, with stamps that place it in time: the
/// speaker's echo reference (what was rendered, channel 0, at the device rate) and the
/// microphone's stamps. One producer (the stream's audio thread, real-time safe: no
/// allocation, lock or log), one consumer (the loop).
///
/// Stamps are `StreamStamp`s over the samples the ring accepted; a full ring drops the newest
/// samples (the reader fell behind), counted, and the stamps then jump, which the aligner
/// takes for a new stream.
public final class StampedTap: @unchecked Sendable {
    public let sampleRate: Int
    /// The samples (nil: stamps only, the capture side keeps its own ring).
    public let samples: SPSCRing<Int16>?
    public let stamps: SPSCRing<StreamStamp>
    public let droppedSamples = Atomic<UInt64>(0)
    /// Producer only: samples accepted so far.
    private var accepted: UInt64 = 0
    private let scratch: UnsafeMutablePointer<Int16>
    private static let scratchSamples = 256

    public init(sampleRate: Int, keepMilliseconds: Int) {
        self.sampleRate = max(1, sampleRate)
        samples = keepMilliseconds > 0
            ? SPSCRing(capacity: max(1, sampleRate * keepMilliseconds / 1000), zero: 0) : nil
        stamps = SPSCRing(capacity: 128, zero: StreamStamp(endSample: 0, nanoseconds: 0))
        scratch = .allocate(capacity: Self.scratchSamples)
        scratch.initialize(repeating: 0, count: Self.scratchSamples)
    }

    deinit { scratch.deallocate() }

    /// Producer: channel 0 of `frames` interleaved frames into the sample ring.
    public func write(_ interleaved: UnsafePointer<Int16>, frames: Int, channels: Int) {
        guard let ring = samples else { return }
        var i = 0
        while i < frames {
            let n = min(Self.scratchSamples, frames - i)
            for k in 0..<n { scratch[k] = interleaved[(i + k) * channels] }
            let written = ring.write(UnsafeBufferPointer(start: scratch, count: n))
            accepted &+= UInt64(written)
            if written < n { droppedSamples.add(UInt64(n - written), ordering: .relaxed) }
            i += n
        }
    }

    /// Producer (stamps-only taps): `count` samples went into the stream's own ring.
    public func noteAccepted(_ count: Int) {
        accepted &+= UInt64(count)
    }

    /// Producer: the samples so far end at the air at `nanoseconds`. A full stamp ring
    /// drops the stamp: the next one carries the same information.
    public func stamp(atNanoseconds nanoseconds: UInt64) {
        var value = StreamStamp(endSample: accepted, nanoseconds: nanoseconds)
        withUnsafePointer(to: &value) { _ = stamps.write(UnsafeBufferPointer(start: $0, count: 1)) }
    }

    /// Consumer: each stamp waiting, oldest first.
    public func takeStamps(_ each: (StreamStamp) -> Void) {
        var value = StreamStamp(endSample: 0, nanoseconds: 0)
        while withUnsafeMutablePointer(to: &value, {
            stamps.read(into: UnsafeMutableBufferPointer(start: $0, count: 1))
        }) == 1 { each(value) }
    }

    /// Nanoseconds of `frames` at this stream's rate.
    @inline(__always)
    public func nanoseconds(ofFrames frames: Int) -> UInt64 {
        // Clamped to 10 s: a device reporting nonsense must not trap the audio thread.
        UInt64(min(max(0, frames), sampleRate * 10)) * 1_000_000_000 / UInt64(sampleRate)
    }
}
