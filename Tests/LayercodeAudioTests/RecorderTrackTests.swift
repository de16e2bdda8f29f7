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
