import Synchronization

/// Agent audio on its way to the speaker: the event loop writes decoded PCM (at the output
/// rate), the playback side (lc_client_read_audio or an audio thread) reads it.
///
/// Lock-free and allocation-free on the reading side. Playout is the clock: the reader
/// publishes how far it actually played, and raises `onDrained` (a wake-up, no allocation)
/// when the queue empties after playing audio, so the loop can send replay_finished with the
/// last chunk actually played.
///
/// A flush (barge-in) is requested by the writer and carried out by the reader: the writer
/// publishes a target position, the reader skips to it before its next read. Skipped samples
/// are counted as dropped, never as played.
public final class PlayoutBuffer: @unchecked Sendable {
    public let ring: SPSCRing<Int16>
    /// Absolute position the reader must skip to; set by the writer (releasing), read by
    /// the reader (acquiring).
    private let flushTarget = Atomic<UInt64>(0)
    /// One past the last sample actually played (not advanced by skips). Reader stores
    /// (releasing), loop loads (acquiring).
    private let playedEnd = Atomic<UInt64>(0)
    /// Set by the reader when the queue drained after audio; taken by the loop.
    private let drainedFlag = Atomic<Bool>(false)
    /// True while an assistant turn is still expected to deliver audio (loop stores,
    /// reader loads): silence given then counts as underrun.
    private let turnActive = Atomic<Bool>(false)

    public let droppedSamples = Atomic<UInt64>(0)
    public let playedSamples = Atomic<UInt64>(0)
    public let underrunSamples = Atomic<UInt64>(0)

    /// Reader-local: whether the last read played audio.
    private var readerHadAudio = false
    private let onDrained: @Sendable () -> Void

    public init(capacity: Int, onDrained: @escaping @Sendable () -> Void) {
        ring = SPSCRing(capacity: capacity, zero: 0)
        self.onDrained = onDrained
    }

    // MARK: Writer (event loop)

    /// Queues samples; what does not fit is dropped and counted. Returns samples queued.
    @discardableResult
    public func write(_ samples: UnsafeBufferPointer<Int16>) -> Int {
        let n = ring.write(samples)
        if n < samples.count {
            droppedSamples.add(UInt64(samples.count - n), ordering: .relaxed)
        }
        return n
    }

    /// Asks the reader to drop everything written so far, before its next read.
    public func flush() {
        // Pairs with the reader's acquiring load in `read`.
        flushTarget.store(ring.producedCount, ordering: .releasing)
    }

    public func setTurnActive(_ active: Bool) {
        turnActive.store(active, ordering: .relaxed)
    }

    /// Position just past the last sample played (see `playedEnd`).
    public var playedPosition: UInt64 { playedEnd.load(ordering: .acquiring) }

    /// Samples written but neither played nor skipped yet.
    public var queuedCount: Int { ring.readableCount }

    /// True once per drain event.
    public func takeDrained() -> Bool {
        drainedFlag.exchange(false, ordering: .acquiringAndReleasing)
    }

    // MARK: Reader (playback side)

    /// Fills `out` completely: agent audio first, then silence. Returns the audio count.
    public func read(into out: UnsafeMutableBufferPointer<Int16>) -> Int {
        // Pairs with the writer's releasing store in `flush`.
        let target = flushTarget.load(ordering: .acquiring)
        if target > ring.consumedCount {
            let skipped = ring.skip(to: target)
            droppedSamples.add(UInt64(skipped), ordering: .relaxed)
        }
        let n = ring.read(into: out)
        if n < out.count, let base = out.baseAddress {
            (base + n).update(repeating: 0, count: out.count - n)
            if turnActive.load(ordering: .relaxed) {
                underrunSamples.add(UInt64(out.count - n), ordering: .relaxed)
            }
        }
        if n > 0 {
            playedSamples.add(UInt64(n), ordering: .relaxed)
            // Pairs with the loop's acquiring load in `playedPosition`.
            playedEnd.store(ring.consumedCount, ordering: .releasing)
            readerHadAudio = true
        }
        if readerHadAudio && ring.readableCount == 0 {
            readerHadAudio = false
            drainedFlag.store(true, ordering: .releasing)
            onDrained()
        }
        return n
    }
}
