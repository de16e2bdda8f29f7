// SPDX-License-Identifier: Apache-2.0
/// Settings for `JitterBuffer`. All durations are in milliseconds of audio.
public struct JitterBufferConfig: Sendable, Equatable {
    public var frameSamples = AudioFormat.layercodeDownlink.frameSamples
    public var sampleRate = AudioFormat.layercodeDownlink.sampleRate
    /// The adaptive target delay stays within minDelayMs...maxDelayMs; initialDelayMs is the
    /// target until the delay estimator has seen enough frames (a quarter of its history).
    public var minDelayMs = 40, maxDelayMs = 500, initialDelayMs = 80
    /// Bounded: older frames are dropped beyond this (see the overflow policy on `JitterBuffer`).
    public var capacityMs = 60_000
    /// An underrun at least this long counts as an interruption.
    public var interruptionThresholdMs = 150
    /// How many recent frames the delay estimator remembers (2 s of 20 ms frames).
    public var delayHistoryFrames = 100
    /// Payload bytes a slot holds; nil: one PCM16 frame, `2 * frameSamples`.
    public var maxPayloadBytes: Int? = nil
    public init() {}
}

/// The agent-audio jitter buffer: numbered 20 ms frames in (bursty, late, reordered,
/// duplicated, missing), one frame period out per `get`, with every loss named.
///
/// Payloads are opaque: a slot holds a header and up to `maxPayloadBytes` bytes of any
/// `PayloadKind`; `get` hands back the bytes and the decoder after it (`PCM16Decoder`, the
/// Opus decoder later) turns them, or a `.concealed(missing:)` period, into samples. The
/// buffer counts time in `header.sampleCount` (decoded samples), never in bytes. How a gap
/// (loss) differs from a flush range is on `AudioFrameHeader`.
///
/// Single-threaded: it lives on the playback thread (the ALSA thread or the app thread in
/// `lc_client_read_audio`), fed from a `FrameRing` (see `put(from:)`). Everything is
/// allocated in `init`; `put`, `get`, `flush` and the accessors never allocate, lock or log,
/// and each does a bounded amount of work (at most one pass over the slots).
///
/// Frames are kept in slots indexed by `sequence % capacityFrames`, a window of
/// `capacityFrames` sequences starting at the next one to play. Within that window any
/// arrival order is put right.
///
/// Playout:
/// - **Prefetch.** A turn starts (first frame after idle, after a turnEnd or after a flush)
///   by holding playout (`.prefetching`) until the buffered audio reaches the target delay,
///   or a turnEnd frame is buffered (a short answer plays at once), or the earliest buffered
///   frame has waited `maxDelayMs`. Playout then starts at the lowest buffered sequence.
/// - **Playing.** Each `get` plays the next sequence. If it is missing while later frames
///   are buffered, it is declared lost: one period of `.concealed` (what `opus_decode` with
///   NULL will fill) and the next sequence follows; if it turns up afterwards it is late.
/// - **Underrun (NetEq-lite).** If nothing at all is buffered, the buffer re-buffers: it
///   keeps the expected sequence, returns `.concealed` (the listener hears a gap inside the
///   turn, so it is concealment, and it feeds the interruption count) until the prefetch
///   condition holds again, then resumes. If the expected sequence is still missing then but
///   later ones are here, it skips forward to the lowest buffered one; the skipped sequences
///   count as lost (their time was already counted as concealed), and late if they arrive.
///   Re-buffering to the target rather than resuming with the first frame back trades a
///   little extra gap for not stuttering through the rest of a stall; there is no time
///   stretching, so the extra delay stays until the turn ends.
/// - **Turn end.** Playing the turnEnd frame (it plays as `.audio`, zeros if it is
///   flags-only) ends the turn: `.idle` follows, and idle silence is not concealment. A turn
///   only ends by its turnEnd frame or a flush: until then, missing audio is concealment.
///
/// Overflow policy: when a frame does not fit in the window (buffered audio would exceed
/// `capacityMs`), the OLDEST buffered frames are dropped and counted in
/// `overflowDroppedFrames`, never the new one: the newest audio is closest to what the
/// agent is saying now. If a dropped frame ended the playing turn, the turn ends with it.
public final class JitterBuffer {
    public let config: JitterBufferConfig
    /// Slots in the reorder window: `capacityMs` of frames.
    public let capacityFrames: Int
    /// Payload bytes one slot holds.
    public let maxPayloadBytes: Int

    private let frameSamples: Int
    private let sampleRate: Int
    private let maxDelayNanoseconds: UInt64

    // Slots, indexed by sequence % capacityFrames; slot k's payload at k * maxPayloadBytes.
    private let slotHeaders: UnsafeMutablePointer<AudioFrameHeader>
    private let slotFull: UnsafeMutablePointer<Bool>
    private let slotPayloads: UnsafeMutableRawPointer
    /// One payload, for `put(from:)`.
    private let scratch: UnsafeMutableRawPointer

    // The window. While playing, `windowStart` is the next sequence to play and equals
    // `lateBelow`; otherwise it is the lowest buffered sequence (when anything is buffered).
    private var windowStart: UInt64 = 0
    /// At least every buffered sequence (meaningful only while bufferedCount > 0).
    private var highestBuffered: UInt64 = 0
    private var bufferedCount = 0
    private var bufferedSamples = 0
    private var bufferedTurnEnds = 0
    /// Sequences below this were played, concealed or skipped: arriving now, they are late.
    private var lateBelow: UInt64 = 0
    /// The last flush dropped flushedFrom..<flushedBelow (what was neither played nor
    /// skipped before it): arriving now, those count as flushed.
    private var flushedFrom: UInt64 = 0
    private var flushedBelow: UInt64 = 0

    private enum Mode { case idle, prefetching, playing }
    private var mode = Mode.idle
    /// Playing, but ran dry: concealing until the prefetch condition holds again.
    private var rebuffering = false
    /// Earliest arrival among the frames buffered while waiting (prefetch or re-buffer).
    private var waitingSince: UInt64?

    /// The adaptive target delay.
    private let estimator: JitterDelayEstimator

    // Counters, in samples where they are durations.
    private var concealedSamples = 0
    private var interruptionCount = 0
    private var interruptionSamples = 0
    private var concealRunSamples = 0
    private var concealRunCounted = false
    private var lateFrames = 0
    private var duplicateFrames = 0
    private var overflowDroppedFrames = 0
    private var flushedFrames = 0
    private var playedFrames = 0
    private var lostFrames = 0

    public init(config: JitterBufferConfig) {
        precondition(config.frameSamples > 0 && config.frameSamples <= Int(UInt16.max),
                     "frameSamples must be in 1...65535")
        precondition(config.sampleRate > 0, "sampleRate must be positive")
        precondition(config.minDelayMs >= 0 && config.maxDelayMs >= config.minDelayMs,
                     "need 0 <= minDelayMs <= maxDelayMs")
        precondition(config.capacityMs > 0, "capacityMs must be positive")
        precondition(config.delayHistoryFrames > 0, "delayHistoryFrames must be positive")
        let payloadBytes = config.maxPayloadBytes ?? 2 * config.frameSamples
        precondition(payloadBytes > 0, "maxPayloadBytes must be positive")
        self.config = config
        frameSamples = config.frameSamples
        sampleRate = config.sampleRate
        maxPayloadBytes = payloadBytes
        maxDelayNanoseconds = UInt64(config.maxDelayMs) * 1_000_000
        capacityFrames = max(1, config.capacityMs * config.sampleRate
                                / (1000 * config.frameSamples))

        slotHeaders = .allocate(capacity: capacityFrames)
        slotHeaders.initialize(repeating: AudioFrameHeader(sequence: 0, arrivalNanoseconds: 0,
                                                           sampleCount: 0),
                               count: capacityFrames)
        slotFull = .allocate(capacity: capacityFrames)
        slotFull.initialize(repeating: false, count: capacityFrames)
        slotPayloads = .allocate(byteCount: capacityFrames * payloadBytes, alignment: 16)
        slotPayloads.initializeMemory(as: UInt8.self, repeating: 0, count: capacityFrames * payloadBytes)
        scratch = .allocate(byteCount: payloadBytes, alignment: 16)
        scratch.initializeMemory(as: UInt8.self, repeating: 0, count: payloadBytes)
        estimator = JitterDelayEstimator(config: config)
    }

    deinit {
        slotHeaders.deallocate()
        slotFull.deallocate()
        slotPayloads.deallocate()
        scratch.deallocate()
    }

    // MARK: Input

    /// Takes one frame (copying `header.byteCount` bytes of `payload`). Duplicates, late
    /// frames and frames of a flushed range are dropped and counted; a frame that does not
    /// fit drops the oldest buffered ones (see the overflow policy).
    /// `header.sampleCount` must be at most `frameSamples` (a frame is one period), and
    /// `header.byteCount` at most `maxPayloadBytes` and `payload.count`.
    public func put(_ header: AudioFrameHeader, payload: UnsafeRawBufferPointer) {
        let count = Int(header.sampleCount)
        let bytes = Int(header.byteCount)
        precondition(count <= frameSamples, "frame longer than frameSamples")
        precondition(bytes <= maxPayloadBytes, "payload longer than maxPayloadBytes")
        precondition(bytes <= payload.count, "byteCount exceeds the payload given")
        let sequence = header.sequence

        if sequence >= flushedFrom && sequence < flushedBelow {
            flushedFrames += 1
            return
        }
        if sequence < lateBelow {
            lateFrames += 1
            estimator.observeLate(header)
            return
        }
        if bufferedCount == 0 && mode != .playing {
            windowStart = sequence
        } else if sequence < windowStart {
            // Not playing yet (while playing, windowStart == lateBelow): an earlier frame of
            // the turn that is about to start. It extends the window down if it fits;
            // otherwise it is the oldest frame, and the oldest is what overflow drops.
            if highestBuffered &- sequence >= UInt64(capacityFrames) {
                overflowDroppedFrames += 1
                return
            }
            windowStart = sequence
        } else if sequence &- windowStart >= UInt64(capacityFrames) {
            dropOldest(toFit: sequence)
        }

        let slot = index(sequence)
        if slotFull[slot] {
            duplicateFrames += 1
            return
        }
        estimator.observe(header)

        slotHeaders[slot] = header
        slotFull[slot] = true
        if bytes > 0, let base = payload.baseAddress {
            (slotPayloads + slot * maxPayloadBytes).copyMemory(from: base, byteCount: bytes)
        }
        if bufferedCount == 0 || sequence > highestBuffered { highestBuffered = sequence }
        bufferedCount += 1
        bufferedSamples += count
        if header.flags.contains(.turnEnd) { bufferedTurnEnds += 1 }
        if mode != .playing || rebuffering {
            waitingSince = min(waitingSince ?? header.arrivalNanoseconds, header.arrivalNanoseconds)
        }
    }

    /// Moves the frames waiting in `ring` when it is called (at most `maxFrames`) into the
    /// buffer; returns how many. Call it on the consumer thread before `get`. This is the one
    /// ring → jitter drain: the playback side calls it.
    ///
    /// Frames the producer pushes while this runs wait for the next call, so one call moves
    /// at most `ring.capacityFrames` frames. (Draining until the ring was empty let a producer
    /// that kept pushing hold the consumer here without bound, until the buffer overflowed.)
    @discardableResult
    public func put(from ring: FrameRing, maxFrames: Int = .max) -> Int {
        precondition(ring.maxPayloadBytes <= maxPayloadBytes, "ring slots longer than maxPayloadBytes")
        let buffer = UnsafeMutableRawBufferPointer(start: scratch, count: maxPayloadBytes)
        let limit = min(maxFrames, ring.readableFrames)
        var moved = 0
        while moved < limit, let header = ring.pop(payloadInto: buffer) {
            put(header, payload: UnsafeRawBufferPointer(buffer))
            moved += 1
        }
        return moved
    }

    // MARK: Output

    /// Takes one frame period and says what it is: for `.audio(header)` the frame's
    /// `header.byteCount` payload bytes are copied to the start of `out`; every other
    /// outcome writes nothing (the decoder fills the period). `out.count` must be at least
    /// the frame's byteCount (`maxPayloadBytes` is always enough).
    /// `nowNanoseconds` is the same monotonic clock the producer stamps arrivals with.
    public func get(payloadInto out: UnsafeMutableRawBufferPointer, nowNanoseconds: UInt64) -> JitterOutcome {
        switch mode {
        case .idle:
            if bufferedCount == 0 { return .idle }
            // Frames of the next turn are waiting (they may have come in while the previous
            // turn played): the turn starts, and its wait started with the earliest of them.
            mode = .prefetching
            waitingSince = earliestBufferedArrival()
            fallthrough
        case .prefetching:
            guard readyToPlay(now: nowNanoseconds) else { return .prefetching }
            windowStart = lowestBufferedSequence()
            lateBelow = windowStart
            mode = .playing
            rebuffering = false
            waitingSince = nil
            return playNext(into: out)
        case .playing:
            if rebuffering {
                guard readyToPlay(now: nowNanoseconds) else { return conceal(missing: windowStart) }
                rebuffering = false
                waitingSince = nil
                let lowest = lowestBufferedSequence()
                lostFrames += Int(lowest &- windowStart)
                windowStart = lowest
                lateBelow = lowest
                return playNext(into: out)
            }
            if slotFull[index(windowStart)] { return playNext(into: out) }
            if bufferedCount > 0 {
                // Later frames are here, so this one is missing, not merely slow: conceal it
                // by name and keep the timeline.
                let missing = windowStart
                lostFrames += 1
                windowStart += 1
                lateBelow = windowStart
                return conceal(missing: missing)
            }
            rebuffering = true
            waitingSince = nil
            return conceal(missing: windowStart)
        }
    }

    /// Barge-in: drops everything buffered with sequence < `sequence` (everything buffered
    /// if nil) and ends the turn at once: the next `get` is `.idle`, or `.prefetching` for
    /// frames >= `sequence` still buffered (they start a new turn). Frames below `sequence`
    /// that arrive afterwards are dropped as flushed, so pass the first sequence the loop has
    /// not assigned yet to cover frames still in flight.
    public func flush(before sequence: UInt64?) {
        // Sequences from lateBelow up were neither played nor skipped: those the flush
        // covers count as flushed when they arrive; below lateBelow they stay late.
        let unplayed = lateBelow
        if let limit = sequence {
            if bufferedCount > 0 && limit > windowStart {
                flushedFrames += dropRange(from: windowStart, to: limit).count
            }
            flushedBelow = max(flushedBelow, limit)
            if bufferedCount > 0 { windowStart = lowestBufferedSequence() }
        } else if bufferedCount > 0 {
            flushedBelow = max(flushedBelow, highestBuffered &+ 1)
            flushedFrames += dropRange(from: windowStart,
                                       to: windowStart &+ UInt64(capacityFrames)).count
        }
        flushedFrom = unplayed
        mode = .idle
        rebuffering = false
        waitingSince = nil
        estimator.restartSchedule()
        endConcealRun()
    }

    /// The buffered frame `sequence`, left in place: its header and payload bytes, valid
    /// until the next `put`, `get` or `flush`. nil when it is not buffered. For a decoder
    /// that rebuilds a missing frame from the next one (Opus in-band FEC). Never allocates.
    public func peek(sequence: UInt64) -> (header: AudioFrameHeader, payload: UnsafeRawBufferPointer)? {
        let slot = index(sequence)
        guard bufferedCount > 0, slotFull[slot], slotHeaders[slot].sequence == sequence else { return nil }
        let header = slotHeaders[slot]
        return (header, UnsafeRawBufferPointer(start: slotPayloads + slot * maxPayloadBytes,
                                               count: Int(header.byteCount)))
    }

    // MARK: State

    public var stats: JitterStats {
        JitterStats(currentDelayMs: bufferedSamples * 1000 / sampleRate,
                    targetDelayMs: estimator.targetMs,
                    concealedMs: concealedSamples * 1000 / sampleRate,
                    interruptions: interruptionCount,
                    interruptionMs: interruptionSamples * 1000 / sampleRate,
                    lateFrames: lateFrames,
                    duplicateFrames: duplicateFrames,
                    overflowDroppedFrames: overflowDroppedFrames,
                    flushedFrames: flushedFrames,
                    playedFrames: playedFrames,
                    lostFrames: lostFrames)
    }

    public var bufferedFrames: Int { bufferedCount }

    /// Between the first played frame of a turn and its turnEnd frame (or a flush).
    public var isPlayingTurn: Bool { mode == .playing }

    /// Zeroes the counters (not the buffer, the target or the delay history). A concealment
    /// run in progress counts afresh from here.
    public func resetStats() {
        concealedSamples = 0
        interruptionCount = 0
        interruptionSamples = 0
        concealRunSamples = 0
        concealRunCounted = false
        lateFrames = 0
        duplicateFrames = 0
        overflowDroppedFrames = 0
        flushedFrames = 0
        playedFrames = 0
        lostFrames = 0
    }

    // MARK: Playout helpers

    private func index(_ sequence: UInt64) -> Int { Int(sequence % UInt64(capacityFrames)) }

    private func readyToPlay(now: UInt64) -> Bool {
        if bufferedCount == 0 { return false }
        if bufferedTurnEnds > 0 { return true }
        if bufferedSamples * 1000 >= estimator.targetMs * sampleRate { return true }
        if let since = waitingSince, now >= since, now - since >= maxDelayNanoseconds { return true }
        return false
    }

    /// Plays the frame at windowStart (which must be buffered).
    private func playNext(into out: UnsafeMutableRawBufferPointer) -> JitterOutcome {
        let slot = index(windowStart)
        let header = slotHeaders[slot]
        let bytes = Int(header.byteCount)
        precondition(bytes <= out.count, "output shorter than the frame's payload")
        if bytes > 0, let base = out.baseAddress {
            base.copyMemory(from: slotPayloads + slot * maxPayloadBytes, byteCount: bytes)
        }
        remove(slot: slot)
        playedFrames += 1
        windowStart += 1
        lateBelow = windowStart
        endConcealRun()
        if header.flags.contains(.turnEnd) {
            mode = .idle
            rebuffering = false
            waitingSince = nil
        }
        return .audio(header)
    }

    private func conceal(missing sequence: UInt64) -> JitterOutcome {
        concealedSamples += frameSamples
        concealRunSamples += frameSamples
        if concealRunCounted {
            interruptionSamples += frameSamples
        } else if concealRunSamples * 1000 >= config.interruptionThresholdMs * sampleRate {
            concealRunCounted = true
            interruptionCount += 1
            interruptionSamples += concealRunSamples
        }
        return .concealed(missing: sequence)
    }

    private func endConcealRun() {
        concealRunSamples = 0
        concealRunCounted = false
    }

    private func remove(slot: Int) {
        slotFull[slot] = false
        bufferedCount -= 1
        bufferedSamples -= Int(slotHeaders[slot].sampleCount)
        if slotHeaders[slot].flags.contains(.turnEnd) { bufferedTurnEnds -= 1 }
    }

    /// Drops buffered frames with sequence in from..<to; at most one pass over the slots.
    private func dropRange(from start: UInt64, to end: UInt64) -> (count: Int, turnEnd: Bool) {
        var sequence = start
        var steps = 0
        var dropped = 0
        var turnEnd = false
        while sequence < end && steps < capacityFrames && bufferedCount > 0 {
            let slot = index(sequence)
            if slotFull[slot] && slotHeaders[slot].sequence == sequence {
                if slotHeaders[slot].flags.contains(.turnEnd) { turnEnd = true }
                remove(slot: slot)
                dropped += 1
            }
            sequence &+= 1
            steps += 1
        }
        return (dropped, turnEnd)
    }

    /// Makes room for `sequence` by moving the window up, dropping the oldest frames.
    private func dropOldest(toFit sequence: UInt64) {
        let newStart = sequence - UInt64(capacityFrames) + 1
        let dropped = dropRange(from: windowStart, to: newStart)
        overflowDroppedFrames += dropped.count
        windowStart = newStart
        if mode == .playing {
            lateBelow = newStart
            if dropped.turnEnd {
                // The playing turn's last frame went: the turn ends with it, and what is
                // left starts the next one.
                mode = .idle
                rebuffering = false
                waitingSince = nil
                endConcealRun()
            }
        }
    }

    /// The lowest buffered sequence (bufferedCount must be > 0); at most one pass.
    private func lowestBufferedSequence() -> UInt64 {
        var sequence = windowStart
        for _ in 0..<capacityFrames {
            if slotFull[index(sequence)] { return sequence }
            sequence &+= 1
        }
        return windowStart
    }

    private func earliestBufferedArrival() -> UInt64? {
        guard bufferedCount > 0 else { return nil }
        var earliest = UInt64.max
        var seen = 0
        var slot = 0
        while slot < capacityFrames && seen < bufferedCount {
            if slotFull[slot] {
                earliest = min(earliest, slotHeaders[slot].arrivalNanoseconds)
                seen += 1
            }
            slot += 1
        }
        return earliest
    }
}
