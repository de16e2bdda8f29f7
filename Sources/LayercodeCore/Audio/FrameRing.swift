// SPDX-License-Identifier: Apache-2.0
import Synchronization

/// What a frame of agent audio carries besides its samples.
public struct AudioFrameFlags: OptionSet, Sendable, BitwiseCopyable {
    public let rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }

    /// First frame of an assistant turn.
    public static let turnStart = AudioFrameFlags(rawValue: 1)
    /// Last frame of the turn (after response.end).
    public static let turnEnd = AudioFrameFlags(rawValue: 2)
}

/// The fixed-size description of one frame of agent audio (16 kHz PCM16 mono, 20 ms), as
/// it travels from the event loop to the playback thread.
///
/// Loss is explicit: frames are numbered, so a gap in `sequence` is a missing frame the
/// jitter buffer (and later the Opus decoder) conceals by name, never a shorter byte stream.
public struct AudioFrameHeader: Sendable, Equatable, BitwiseCopyable {
    /// Per session, +1 per frame (flags-only frames included); a gap means frames are missing.
    public var sequence: UInt64
    /// Monotonic clock, stamped by the producer on arrival.
    public var arrivalNanoseconds: UInt64
    /// Opaque id the loop maps to (turn_id, delta_id); 0 = none.
    public var marker: UInt32
    /// 1...frameSamples (a turn's last frame may be short); 0 for a flags-only frame (e.g. a
    /// turnEnd marker with no audio).
    public var sampleCount: UInt16
    public var flags: AudioFrameFlags

    public init(sequence: UInt64, arrivalNanoseconds: UInt64, marker: UInt32 = 0,
                sampleCount: UInt16, flags: AudioFrameFlags = []) {
        self.sequence = sequence
        self.arrivalNanoseconds = arrivalNanoseconds
        self.marker = marker
        self.sampleCount = sampleCount
        self.flags = flags
    }
}

/// A lock-free single-producer single-consumer ring of whole audio frames: a header and up
/// to `frameSamples` samples per slot. The event loop pushes, the playback thread pops.
///
/// The same discipline as `SPSCRing`: absolute 64-bit positions (full when
/// `write - read == capacityFrames`), the producer owns `writePosition`, the consumer owns
/// `readPosition`, and each side reads the other's counter with an acquiring load that pairs
/// with the other side's releasing store, so a slot's header and samples written before the
/// store are visible after the matching load.
/// Storage is allocated once in `init`: push and pop never allocate, lock or make a syscall.
/// A push that does not fit writes nothing and returns false: the producer decides what the
/// loss means (it still owns the frame and its sequence number).
public final class FrameRing: @unchecked Sendable {
    public let capacityFrames: Int
    public let frameSamples: Int
    private let headers: UnsafeMutablePointer<AudioFrameHeader>
    private let samples: UnsafeMutablePointer<Int16>
    private let writePosition = Atomic<UInt64>(0)
    private let readPosition = Atomic<UInt64>(0)

    public init(capacityFrames: Int, frameSamples: Int = AudioFormat.layercodeDownlink.frameSamples) {
        precondition(capacityFrames > 0, "frame ring capacity must be positive")
        precondition(frameSamples > 0 && frameSamples <= Int(UInt16.max),
                     "frameSamples must be in 1...65535")
        self.capacityFrames = capacityFrames
        self.frameSamples = frameSamples
        headers = .allocate(capacity: capacityFrames)
        headers.initialize(repeating: AudioFrameHeader(sequence: 0, arrivalNanoseconds: 0,
                                                       sampleCount: 0),
                           count: capacityFrames)
        samples = .allocate(capacity: capacityFrames * frameSamples)
        samples.initialize(repeating: 0, count: capacityFrames * frameSamples)
    }

    deinit {
        headers.deallocate()
        samples.deallocate()
    }

    // MARK: Producer side

    /// Free slots as seen by the producer.
    public var writableFrames: Int {
        let w = writePosition.load(ordering: .relaxed)
        // Pairs with the consumer's releasing store in `pop`: the slots it freed are no
        // longer being read.
        let r = readPosition.load(ordering: .acquiring)
        return capacityFrames - Int(w &- r)
    }

    /// Total frames ever pushed (a snapshot from any thread but the producer).
    public var pushedCount: UInt64 { writePosition.load(ordering: .acquiring) }

    /// Copies the header and its `header.sampleCount` samples into the next slot. Returns
    /// false, writing nothing, when the ring is full.
    /// `header.sampleCount` must be at most `frameSamples` and at most `samples.count`.
    public func push(_ header: AudioFrameHeader, samples source: UnsafeBufferPointer<Int16>) -> Bool {
        let count = Int(header.sampleCount)
        precondition(count <= frameSamples, "frame longer than frameSamples")
        precondition(count <= source.count, "sampleCount exceeds the samples given")
        let w = writePosition.load(ordering: .relaxed)
        // Pairs with the consumer's releasing store of readPosition in `pop`.
        let r = readPosition.load(ordering: .acquiring)
        if Int(w &- r) >= capacityFrames { return false }
        let slot = Int(w % UInt64(capacityFrames))
        headers[slot] = header
        if count > 0, let base = source.baseAddress {
            (samples + slot * frameSamples).update(from: base, count: count)
        }
        // Publishes the slot's header and samples; pairs with the consumer's acquiring load
        // of writePosition in `pop` / `readableFrames`.
        writePosition.store(w &+ 1, ordering: .releasing)
        return true
    }

    // MARK: Consumer side

    /// Frames waiting for the consumer.
    public var readableFrames: Int {
        // Pairs with the producer's releasing store in `push`.
        let w = writePosition.load(ordering: .acquiring)
        return Int(w &- readPosition.load(ordering: .relaxed))
    }

    /// Total frames ever popped (a snapshot from any thread but the consumer).
    public var poppedCount: UInt64 { readPosition.load(ordering: .acquiring) }

    /// Takes the oldest frame: copies its `header.sampleCount` samples to the start of
    /// `destination` (nothing else is written) and returns its header; nil when empty.
    /// `destination.count` must be at least that frame's sampleCount (`frameSamples` is
    /// always enough).
    public func pop(into destination: UnsafeMutableBufferPointer<Int16>) -> AudioFrameHeader? {
        let r = readPosition.load(ordering: .relaxed)
        // Pairs with the producer's releasing store in `push`: the slot's bytes are visible.
        let w = writePosition.load(ordering: .acquiring)
        if w == r { return nil }
        let slot = Int(r % UInt64(capacityFrames))
        let header = headers[slot]
        let count = Int(header.sampleCount)
        precondition(count <= destination.count, "destination shorter than the frame")
        if count > 0, let base = destination.baseAddress {
            base.update(from: samples + slot * frameSamples, count: count)
        }
        // Frees the slot; pairs with the producer's acquiring load of readPosition in `push`.
        readPosition.store(r &+ 1, ordering: .releasing)
        return header
    }
}
