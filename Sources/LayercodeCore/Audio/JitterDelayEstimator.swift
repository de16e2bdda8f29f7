// SPDX-License-Identifier: Apache-2.0
/// The jitter buffer's adaptive target delay.
///
/// Per audio frame, the relative delay is how late it arrived against the turn's
/// schedule: d = (arrival - arrival_ref) - (seq - seq_ref) * frameDuration, where the
/// reference is the first frame of the current turn (a turnStart frame, or the first
/// frame after a turnEnd or a flush). When a frame comes in earlier than the schedule
/// (d < 0) it becomes the reference and counts d = 0, so the earliest-arriving frame
/// defines "on time"; the history keeps the values as they were measured. TTS that
/// arrives faster than real time therefore rebases on every frame and records zeros; a
/// stall records the time each held frame waited.
///
/// The last `historyFrames` values sit in a ring (history persists across turns: it
/// describes the network, not the turn), and
///     target = clamp(p95(d) + one frame, minDelayMs, maxDelayMs)
/// with p95 by nearest rank (the 6th largest of 100), found by a pass that keeps the few
/// largest values in a preallocated array. Until a quarter of the history has been seen,
/// the target is at least `initialDelayMs`. A stall raises the target at once and it
/// decays as the stall's frames age out of the window (100 frames = 2 s of audio). A
/// lasting shift (the stream continuing late after a stall) keeps the target up until the
/// next turn rebases. Flags-only frames say nothing about the audio's timing and are not
/// measured; the jitter buffer does not show it duplicates or flushed frames; late frames
/// it does (`observeLate`).
///
/// Single-threaded, like the jitter buffer that owns it: everything is allocated in `init`;
/// observing never allocates, locks or logs.
public final class JitterDelayEstimator {
    public let minDelayMs: Int, maxDelayMs: Int, initialDelayMs: Int
    public let historyFrames: Int
    /// The adaptive target, in milliseconds (minDelayMs...maxDelayMs).
    public private(set) var targetMs: Int

    private let frameNanoseconds: Int64
    private let frameMilliseconds: Int
    private let history: UnsafeMutablePointer<Int64>
    private var historyCount = 0
    private var historyNext = 0
    private var recordedFrames = 0
    private let warmupFrames: Int
    private let largest: UnsafeMutablePointer<Int64>
    private var referenceValid = false
    private var referenceArrival: UInt64 = 0
    private var referenceSequence: UInt64 = 0

    public init(frameNanoseconds: Int64, minDelayMs: Int, maxDelayMs: Int, initialDelayMs: Int,
                historyFrames: Int) {
        precondition(frameNanoseconds > 0, "frameNanoseconds must be positive")
        precondition(minDelayMs >= 0 && maxDelayMs >= minDelayMs, "need 0 <= minDelayMs <= maxDelayMs")
        precondition(historyFrames > 0, "historyFrames must be positive")
        self.minDelayMs = minDelayMs
        self.maxDelayMs = maxDelayMs
        self.initialDelayMs = initialDelayMs
        self.historyFrames = historyFrames
        self.frameNanoseconds = frameNanoseconds
        frameMilliseconds = Int((frameNanoseconds + 999_999) / 1_000_000)
        history = .allocate(capacity: historyFrames)
        history.initialize(repeating: 0, count: historyFrames)
        warmupFrames = max(1, historyFrames / 4)
        largest = .allocate(capacity: Self.percentileRank(count: historyFrames))
        largest.initialize(repeating: 0, count: Self.percentileRank(count: historyFrames))
        targetMs = min(max(initialDelayMs, minDelayMs), maxDelayMs)
    }

    /// The estimator a jitter buffer with `config` uses.
    public convenience init(config: JitterBufferConfig) {
        self.init(frameNanoseconds: Int64(config.frameSamples) * 1_000_000_000 / Int64(config.sampleRate),
                  minDelayMs: config.minDelayMs, maxDelayMs: config.maxDelayMs,
                  initialDelayMs: config.initialDelayMs, historyFrames: config.delayHistoryFrames)
    }

    deinit {
        history.deallocate()
        largest.deallocate()
    }

    /// A frame the jitter buffer accepted: measured against the turn's schedule (and it may
    /// start or rebase the schedule).
    public func observe(_ header: AudioFrameHeader) {
        if header.sampleCount > 0 {
            if !referenceValid || header.flags.contains(.turnStart) {
                referenceValid = true
                referenceArrival = header.arrivalNanoseconds
                referenceSequence = header.sequence
                observe(delayNanoseconds: 0)
            } else {
                let elapsed = Int64(bitPattern: header.arrivalNanoseconds &- referenceArrival)
                let scheduled = Int64(bitPattern: header.sequence &- referenceSequence) &* frameNanoseconds
                let delay = elapsed &- scheduled
                if delay < 0 {
                    referenceArrival = header.arrivalNanoseconds
                    referenceSequence = header.sequence
                    observe(delayNanoseconds: 0)
                } else {
                    observe(delayNanoseconds: delay)
                }
            }
        }
        if header.flags.contains(.turnEnd) { referenceValid = false }
    }

    /// A frame that arrived after its play time. Late frames are the evidence that the
    /// target is too low: they are measured, but never start a schedule, and one older than
    /// the schedule's reference (a straggler of an earlier turn) says nothing about this
    /// turn's schedule.
    public func observeLate(_ header: AudioFrameHeader) {
        if referenceValid && header.sequence >= referenceSequence { observe(header) }
    }

    /// A flush: the next frame starts a new schedule (the history stays).
    public func restartSchedule() { referenceValid = false }

    /// Records one relative delay (nanoseconds, >= 0) and updates the target.
    public func observe(delayNanoseconds delay: Int64) {
        history[historyNext] = delay
        historyNext = historyNext + 1 == historyFrames ? 0 : historyNext + 1
        if historyCount < historyFrames { historyCount += 1 }
        if recordedFrames < warmupFrames { recordedFrames += 1 }
        updateTarget()
    }

    /// With n values, the nearest-rank p95 is the k-th largest, k = n - ceil(0.95 n) + 1.
    static func percentileRank(count n: Int) -> Int {
        n - (95 * n + 99) / 100 + 1
    }

    private func updateTarget() {
        let k = Self.percentileRank(count: historyCount)
        // largest[0..<filled] holds the largest values seen so far, in descending order.
        var filled = 0
        for i in 0..<historyCount {
            let value = history[i]
            if filled == k && value <= largest[k - 1] { continue }
            var position = filled == k ? k - 1 : filled
            if filled < k { filled += 1 }
            while position > 0 && largest[position - 1] < value {
                largest[position] = largest[position - 1]
                position -= 1
            }
            largest[position] = value
        }
        let p95 = largest[k - 1]
        let ceiling = Int64(maxDelayMs) * 1_000_000
        var target = p95 >= ceiling ? maxDelayMs
            : Int((p95 + 999_999) / 1_000_000) + frameMilliseconds
        if recordedFrames < warmupFrames { target = max(target, initialDelayMs) }
        targetMs = min(max(target, minDelayMs), maxDelayMs)
    }
}
