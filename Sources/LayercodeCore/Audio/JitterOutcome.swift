// SPDX-License-Identifier: Apache-2.0
/// What one call of `JitterBuffer.get` produced.
public enum JitterOutcome: Equatable, Sendable {
    /// The frame to play: its `byteCount` payload bytes were written to the start of `out`
    /// (a short or flags-only frame is followed by silence once decoded).
    case audio(AudioFrameHeader)
    /// A frame was expected (inside a turn) but is missing or late: nothing was written; the
    /// decoder conceals this period (silence for PCM16; opus_decode with NULL, or FEC from
    /// the next packet, for Opus). `missing` is the sequence this period stands for: a
    /// declared-lost frame, or, while re-buffering after an underrun, the next sequence
    /// expected (repeated each period until playout resumes). Counts as concealed time.
    case concealed(missing: UInt64)
    /// Buffering up to the target delay before a turn starts: silence, not concealment
    /// (nothing was written).
    case prefetching
    /// No turn in progress: silence (nothing was written).
    case idle
}

public struct JitterStats: Sendable, Equatable {
    /// Audio buffered now, and the adaptive target for it.
    public var currentDelayMs: Int, targetDelayMs: Int
    /// Periods filled with concealment; consecutive concealment of at least
    /// `interruptionThresholdMs` counts one interruption, and all of its time.
    public var concealedMs: Int, interruptions: Int, interruptionMs: Int
    /// Arrived after their play time (sequence already played, concealed or skipped): dropped.
    public var lateFrames: Int
    public var duplicateFrames: Int
    /// Dropped, oldest first, to stay within `capacityMs`.
    public var overflowDroppedFrames: Int
    /// Dropped by `flush(before:)`: those buffered then, and those of the flushed range
    /// that arrive afterwards.
    public var flushedFrames: Int
    public var playedFrames: Int
    /// Sequences given up as missing and skipped (each was concealed or passed over while
    /// re-buffering; if one arrives afterwards it also counts as late).
    public var lostFrames: Int

    public init(currentDelayMs: Int = 0, targetDelayMs: Int = 0, concealedMs: Int = 0,
                interruptions: Int = 0, interruptionMs: Int = 0, lateFrames: Int = 0,
                duplicateFrames: Int = 0, overflowDroppedFrames: Int = 0, flushedFrames: Int = 0,
                playedFrames: Int = 0, lostFrames: Int = 0) {
        self.currentDelayMs = currentDelayMs
        self.targetDelayMs = targetDelayMs
        self.concealedMs = concealedMs
        self.interruptions = interruptions
        self.interruptionMs = interruptionMs
        self.lateFrames = lateFrames
        self.duplicateFrames = duplicateFrames
        self.overflowDroppedFrames = overflowDroppedFrames
        self.flushedFrames = flushedFrames
        self.playedFrames = playedFrames
        self.lostFrames = lostFrames
    }
}
