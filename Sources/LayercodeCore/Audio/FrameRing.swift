// SPDX-License-Identifier: Apache-2.0
import Synchronization

/// A lock-free single-producer single-consumer ring of whole audio frames: a header and up
/// to `maxPayloadBytes` payload bytes per slot. The event loop pushes, the playback thread
/// pops. The ring never looks inside a payload (`AudioFrameHeader.kind` says what it is);
/// PCM16 frames have a convenience `push(_:samples:)` / `pop(into:)` that store their
/// samples' bytes.
///
/// The same discipline as `SPSCRing`: absolute 64-bit positions (full when
/// `write - read == capacityFrames`), the producer owns `writePosition`, the consumer owns
/// `readPosition`, and each side reads the other's counter with an acquiring load that pairs
/// with the other side's releasing store, so a slot's header and payload written before the
/// store are visible after the matching load.
/// Storage is allocated once in `init`: push and pop never allocate, lock or make a syscall.
/// A push that does not fit writes nothing and returns false: the producer decides what the
/// loss means (it still owns the frame and its sequence number).
public final class FrameRing: @unchecked Sendable {
    public let capacityFrames: Int
    public let maxPayloadBytes: Int
    private let headers: UnsafeMutablePointer<AudioFrameHeader>
    /// Slot k's payload starts at k * maxPayloadBytes (no alignment: copied byte-wise).
    private let payloads: UnsafeMutableRawPointer
    private let writePosition = Atomic<UInt64>(0)
    private let readPosition = Atomic<UInt64>(0)

    /// A ring whose slots hold up to `maxPayloadBytes` bytes each.
    public init(capacityFrames: Int, maxPayloadBytes: Int) {
        precondition(capacityFrames > 0, "frame ring capacity must be positive")
        precondition(maxPayloadBytes > 0 && maxPayloadBytes <= 2 * Int(UInt16.max),
                     "maxPayloadBytes must be in 1...131070")
        self.capacityFrames = capacityFrames
        self.maxPayloadBytes = maxPayloadBytes
        headers = .allocate(capacity: capacityFrames)
        headers.initialize(repeating: AudioFrameHeader(sequence: 0, arrivalNanoseconds: 0,
                                                       sampleCount: 0),
                           count: capacityFrames)
        payloads = .allocate(byteCount: capacityFrames * maxPayloadBytes, alignment: 16)
        payloads.initializeMemory(as: UInt8.self, repeating: 0, count: capacityFrames * maxPayloadBytes)
    }

    /// A ring of PCM16 frames of up to `frameSamples` samples (2 bytes each).
    public convenience init(capacityFrames: Int, frameSamples: Int = 320) {
        precondition(frameSamples > 0 && frameSamples <= Int(UInt16.max),
                     "frameSamples must be in 1...65535")
        self.init(capacityFrames: capacityFrames, maxPayloadBytes: 2 * frameSamples)
    }

    deinit {
        headers.deallocate()
        payloads.deallocate()
    }

    /// The PCM16 samples one slot holds.
    public var frameSamples: Int { maxPayloadBytes / 2 }

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

    /// Copies the header and the first `header.byteCount` bytes of `payload` into the next
    /// slot. Returns false, writing nothing, when the ring is full.
    /// `header.byteCount` must be at most `maxPayloadBytes` and at most `payload.count`.
    public func push(_ header: AudioFrameHeader, payload: UnsafeRawBufferPointer) -> Bool {
        let count = Int(header.byteCount)
        precondition(count <= maxPayloadBytes, "frame longer than maxPayloadBytes")
        precondition(count <= payload.count, "byteCount exceeds the payload given")
        let w = writePosition.load(ordering: .relaxed)
        // Pairs with the consumer's releasing store of readPosition in `pop`.
        let r = readPosition.load(ordering: .acquiring)
        if Int(w &- r) >= capacityFrames { return false }
        let slot = Int(w % UInt64(capacityFrames))
        headers[slot] = header
        if count > 0, let base = payload.baseAddress {
            (payloads + slot * maxPayloadBytes).copyMemory(from: base, byteCount: count)
        }
        // Publishes the slot's header and payload; pairs with the consumer's acquiring load
        // of writePosition in `pop` / `readableFrames`.
        writePosition.store(w &+ 1, ordering: .releasing)
        return true
    }

    /// A PCM16 frame: `header` must describe `.pcm16` with `byteCount == 2 * sampleCount`
    /// (`AudioFrameHeader(sequence:arrivalNanoseconds:marker:sampleCount:flags:)` does);
    /// copies its `header.sampleCount` samples. `header.sampleCount` must be at most
    /// `frameSamples` and at most `samples.count`.
    public func push(_ header: AudioFrameHeader, samples source: UnsafeBufferPointer<Int16>) -> Bool {
        precondition(header.isWellFormedPCM16, "not a PCM16 header")
        precondition(Int(header.sampleCount) <= frameSamples, "frame longer than frameSamples")
        precondition(Int(header.sampleCount) <= source.count, "sampleCount exceeds the samples given")
        return push(header, payload: UnsafeRawBufferPointer(source))
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

    /// Takes the oldest frame: copies its `header.byteCount` payload bytes to the start of
    /// `destination` (nothing else is written) and returns its header; nil when empty.
    /// `destination.count` must be at least that frame's byteCount (`maxPayloadBytes` is
    /// always enough).
    public func pop(payloadInto destination: UnsafeMutableRawBufferPointer) -> AudioFrameHeader? {
        let r = readPosition.load(ordering: .relaxed)
        // Pairs with the producer's releasing store in `push`: the slot's bytes are visible.
        let w = writePosition.load(ordering: .acquiring)
        if w == r { return nil }
        let slot = Int(r % UInt64(capacityFrames))
        let header = headers[slot]
        let count = Int(header.byteCount)
        precondition(count <= destination.count, "destination shorter than the frame")
        if count > 0, let base = destination.baseAddress {
            base.copyMemory(from: payloads + slot * maxPayloadBytes, byteCount: count)
        }
        // Frees the slot; pairs with the producer's acquiring load of readPosition in `push`.
        readPosition.store(r &+ 1, ordering: .releasing)
        return header
    }

    /// A PCM16 frame: copies its `header.sampleCount` samples to the start of `destination`
    /// (nothing else is written) and returns its header; nil when empty.
    /// `destination.count` must be at least that frame's sampleCount (`frameSamples` is
    /// always enough), and the frame must be PCM16.
    public func pop(into destination: UnsafeMutableBufferPointer<Int16>) -> AudioFrameHeader? {
        guard let header = pop(payloadInto: UnsafeMutableRawBufferPointer(destination)) else { return nil }
        precondition(header.isWellFormedPCM16, "popped a frame that is not PCM16 into samples")
        return header
    }
}
