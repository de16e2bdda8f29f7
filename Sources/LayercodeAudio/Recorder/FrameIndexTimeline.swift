// SPDX-License-Identifier: Apache-2.0

/// Where a microphone frame belongs on the recording's timeline: from its place in capture
/// order, with its capture stamp as the check. The recorder thread only.
///
/// A frame's stamp is when its newest sample *arrived* (the capture thread's or the app's
/// write), so it is late by however long that thread was held up: on a loaded machine tens
/// of milliseconds at a time, never early. Placed by stamp alone, a frame more than the
/// track's `maxLag` late jumped ahead and left a gap of silence in the middle of continuous
/// speech, and everything after it stayed that late (issue 14: the flaky
/// `assert 0.5334 > 0.6` of tests/integration/test_player_record.py). The frames a stall
/// held up then arrive in a burst and catch up; a real pause (muted, input off, a device
/// being switched: no frames counted) does not.
///
/// `UplinkFrame.frameIndex` counts every frame the microphone produced (sent or gated), so
/// frame i ends at anchor + i × its length:
/// - the anchor is the earliest any stamp allows: a stamp earlier than the frame's indexed
///   place moves it earlier at once;
/// - a frame later than its indexed place by up to `pauseSamples` is a held-up frame: it
///   goes to its indexed place;
/// - `pauseFrames` frames in a row later than that are a pause: the anchor moves later by
///   the least of their lateness (so the pause is silence on the timeline, as before);
/// - a frame later by more than `outageSamples` (an outage's held frames, a long pause)
///   takes its stamp's place at once.
/// Frames without an index (0) keep their stamp.
struct FrameIndexTimeline {
    let pauseSamples: Int
    let pauseFrames: Int
    let outageSamples: Int
    private var anchor: Int?
    private var lateRun = 0
    private var leastLateness = Int.max

    init(pauseSamples: Int = 640, pauseFrames: Int = 10, outageSamples: Int = 4000) {
        self.pauseSamples = pauseSamples
        self.pauseFrames = pauseFrames
        self.outageSamples = outageSamples
    }

    /// The end position (exclusive) for a frame of `length` samples whose stamp puts its end
    /// at `stamped` and whose capture index is `index` (0: unknown).
    mutating func end(stamped: Int, index: UInt64, length: Int) -> Int {
        guard index > 0, length > 0, index < UInt64(Int.max / 2 / length) else { return stamped }
        let offset = Int(index) * length
        guard let anchor else {
            self.anchor = stamped - offset
            return stamped
        }
        let lateness = stamped - (anchor + offset)
        if lateness < 0 || lateness > outageSamples {
            self.anchor = stamped - offset
            lateRun = 0
            leastLateness = .max
            return stamped
        }
        if lateness > pauseSamples {
            lateRun += 1
            leastLateness = min(leastLateness, lateness)
            if lateRun >= pauseFrames {
                self.anchor = anchor + leastLateness
                lateRun = 0
                leastLateness = .max
            }
        } else {
            lateRun = 0
            leastLateness = .max
        }
        return self.anchor! + offset
    }
}
