// SPDX-License-Identifier: Apache-2.0
@testable import LayercodeAudio
import XCTest

/// How the recorder places each side's audio on the session timeline.
final class RecorderTrackTests: XCTestCase {
    func chunk(_ value: Int16, _ count: Int = 320) -> [Int16] { [Int16](repeating: value, count: count) }

    func place(_ track: inout RecorderTrack, _ samples: [Int16], endingAt end: Int) {
        samples.withUnsafeBufferPointer { track.place($0, endingAt: end) }
    }

    func take(_ track: inout RecorderTrack, _ count: Int) -> [Int16] {
        var out = [Int16](repeating: -1, count: count)
        out.withUnsafeMutableBufferPointer { track.take(into: $0) }
        return out
    }

    func testJitteredTimestampsWithinToleranceStayGapless() {
        var track = RecorderTrack(capacity: 16_000, maxLag: 320, maxLead: 960)
        // Chunk k ends at (k + 1) × 320 ± up to 200 samples of timestamp jitter.
        let jitter = [0, 150, -200, 90, 200, -120, 0, 60]
        for (k, j) in jitter.enumerated() { place(&track, chunk(Int16(k + 1)), endingAt: (k + 1) * 320 + j) }
        let out = take(&track, 8 * 320)
        for k in 0..<8 { XCTAssertEqual(Set(out[k * 320..<(k + 1) * 320]), [Int16(k + 1)], "chunk \(k)") }
    }

    /// Regression (review of issue 12): a jump further ahead than the ring holds left the
    /// cursor past slots still holding audio taken a ring earlier, which was encoded again.
    func testAJumpPastTheRingIsSilenceNotOldAudio() {
        var track = RecorderTrack(capacity: 1600, maxLag: 320, maxLead: 960)
        for k in 0..<5 { place(&track, chunk(7), endingAt: (k + 1) * 320) }
        XCTAssertEqual(Set(take(&track, 1600)), [7])
        place(&track, chunk(8), endingAt: 1600 + 2000 + 320)  // beyond base + capacity: not placed
        XCTAssertGreaterThan(track.overflowSamples, 0)
        XCTAssertEqual(Set(take(&track, 1600)), [0], "silence, never the audio taken before")
    }

    func testAGapBeyondMaxLagIsSilenceUntilTheTimestamp() {
        var track = RecorderTrack(capacity: 16_000, maxLag: 320, maxLead: 960)
        place(&track, chunk(1), endingAt: 320)
        place(&track, chunk(2), endingAt: 2000)  // nothing was sent from 320 to 1680
        let out = take(&track, 2400)
        XCTAssertEqual(Set(out[0..<320]), [1])
        XCTAssertEqual(Set(out[320..<1680]), [0])
        XCTAssertEqual(Set(out[1680..<2000]), [2])
        XCTAssertEqual(Set(out[2000...]), [0], "silence past the cursor")
    }

    func testRunningAheadBeyondMaxLeadJumpsBackToTheTimestamp() {
        var track = RecorderTrack(capacity: 16_000, maxLag: 320, maxLead: 960)
        // Five chunks stamped about together (a batch): four continue at the cursor (up to
        // 960 ahead of their stamps); the fifth would be 1,240 ahead, so it goes where its
        // stamp says (40..360).
        for k in 0..<5 { place(&track, chunk(1), endingAt: 320 + k * 10) }
        XCTAssertEqual(track.cursor, 360)
        place(&track, chunk(3), endingAt: 5000)
        XCTAssertEqual(track.cursor, 5000)
    }

    func testLateAudioGoesToTheFrontAndOverflowIsCounted() {
        var track = RecorderTrack(capacity: 1000, maxLag: 320, maxLead: 960)
        place(&track, chunk(1), endingAt: 320)
        _ = take(&track, 640)  // encoded up to 640
        place(&track, chunk(2), endingAt: 100)  // older than what was encoded
        XCTAssertEqual(track.cursor, 960)
        XCTAssertEqual(Set(take(&track, 320)), [2])
        place(&track, chunk(4, 2000), endingAt: 3000)  // 2,000 samples, room for 1,000
        XCTAssertEqual(track.overflowSamples, 1000)
    }
}

/// Where the microphone's frames go: their place in capture order, checked by their stamps.
final class FrameIndexTimelineTests: XCTestCase {
    /// Ends for frames 1... of 320 samples stamped `lateness[k]` after their true end.
    func ends(_ timeline: inout FrameIndexTimeline, _ lateness: [Int], from first: Int = 1) -> [Int] {
        lateness.enumerated().map { k, late in
            let index = first + k
            return timeline.end(stamped: 10_000 + index * 320 + late, index: UInt64(index), length: 320)
        }
    }

    /// Regression (issue 14): frames held up by a stall (late stamps, then a catch-up burst
    /// stamped together) were placed by their stamps, leaving gaps in continuous speech.
    func testFramesHeldUpByAStallGoToTheirPlaceInCaptureOrder() {
        var timeline = FrameIndexTimeline()
        let lateness = [0, 0, 0, 960, 640, 320, 0, 0, 500, 0]
        XCTAssertEqual(ends(&timeline, lateness), (1...10).map { 10_000 + $0 * 320 })
    }

    func testAnEarlierStampMovesEveryLaterFrameEarlier() {
        var timeline = FrameIndexTimeline()
        // The first frame's stamp was late by 200 samples; the second proves it.
        XCTAssertEqual(ends(&timeline, [200, 0, 100, 0]), [10_520, 10_640, 10_960, 11_280])
    }

    func testAPauseIsSilenceOnceItsFramesStayLate() {
        // Frames 1-5 on time; then the microphone paused for 3,200 samples (200 ms) without
        // counting frames: every later frame's stamp is 3,200 late. The first nine go to
        // their indexed place; from the tenth the anchor follows the pause.
        var timeline = FrameIndexTimeline()
        let got = ends(&timeline, Array(repeating: 0, count: 5) + Array(repeating: 3200, count: 12))
        let expected = (1...5).map { 10_000 + $0 * 320 } + (6...14).map { 10_000 + $0 * 320 }
            + (15...17).map { 13_200 + $0 * 320 }
        XCTAssertEqual(got, expected)
    }

    func testAnOutageTakesItsStampsPlaceAtOnce() {
        var timeline = FrameIndexTimeline()
        XCTAssertEqual(ends(&timeline, [0, 0, 8000, 8000]), [10_320, 10_640, 18_960, 19_280])
    }

    func testFramesWithoutAnIndexKeepTheirStamp() {
        var timeline = FrameIndexTimeline()
        XCTAssertEqual(timeline.end(stamped: 5000, index: 0, length: 320), 5000)
        XCTAssertEqual(timeline.end(stamped: 5900, index: 0, length: 320), 5900)
    }
}
