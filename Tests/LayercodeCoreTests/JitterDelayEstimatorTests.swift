// SPDX-License-Identifier: Apache-2.0
import XCTest
@testable import LayercodeCore

// JitterDelayEstimator on its own: the schedule (reference frame, rebasing, what is not
// measured) and the p95 target over the delay history.

final class JitterDelayEstimatorTests: XCTestCase {
    private let ms: UInt64 = 1_000_000

    /// A one-value history, no floor and no warm-up floor: the target is exactly the last
    /// delay (rounded up to ms) plus one 20 ms frame, so each observation shows.
    private func exact() -> JitterDelayEstimator {
        JitterDelayEstimator(frameNanoseconds: 20_000_000, minDelayMs: 0, maxDelayMs: 1_000,
                             initialDelayMs: 0, historyFrames: 1)
    }

    private func frame(_ sequence: UInt64, atMs t: UInt64, samples: UInt16 = 320,
                       flags: AudioFrameFlags = []) -> AudioFrameHeader {
        AudioFrameHeader(sequence: sequence, arrivalNanoseconds: 1_000_000_000 + t * ms,
                         sampleCount: samples, flags: flags)
    }

    func testTargetStartsAtTheInitialDelayClampedToTheRange() {
        XCTAssertEqual(JitterDelayEstimator(config: JitterBufferConfig()).targetMs, 80)
        var config = JitterBufferConfig()
        config.initialDelayMs = 900
        XCTAssertEqual(JitterDelayEstimator(config: config).targetMs, 500)
        config.initialDelayMs = 10
        XCTAssertEqual(JitterDelayEstimator(config: config).targetMs, 40)
    }

    func testOnTimeFramesBringTheTargetToTheFloorOnlyAfterAQuarterOfTheHistory() {
        let estimator = JitterDelayEstimator(config: JitterBufferConfig())  // 100 frames, 40...500
        for s: UInt64 in 1...24 {
            estimator.observe(frame(s, atMs: (s - 1) * 20, flags: s == 1 ? .turnStart : []))
            XCTAssertEqual(estimator.targetMs, 80, "frame \(s): still warming up")
        }
        estimator.observe(frame(25, atMs: 24 * 20))
        XCTAssertEqual(estimator.targetMs, 40)
    }

    func testP95IsTheSixthLargestOfAHundredDelays() {
        let estimator = JitterDelayEstimator(frameNanoseconds: 20_000_000, minDelayMs: 0,
                                             maxDelayMs: 1_000, initialDelayMs: 0, historyFrames: 100)
        for _ in 0..<95 { estimator.observe(delayNanoseconds: 0) }
        for _ in 0..<5 { estimator.observe(delayNanoseconds: 200_000_000) }
        XCTAssertEqual(estimator.targetMs, 20, "5 of 100 above: p95 is still 0")
        estimator.observe(delayNanoseconds: 200_000_000)  // replaces the oldest zero
        XCTAssertEqual(estimator.targetMs, 220, "6 of 100 above: p95 is 200 ms")
    }

    func testAFrameEarlierThanTheScheduleBecomesTheReference() {
        let estimator = exact()
        estimator.observe(frame(1, atMs: 0, flags: .turnStart))
        XCTAssertEqual(estimator.targetMs, 20)
        estimator.observe(frame(2, atMs: 50))                  // due at 20: 30 ms late
        XCTAssertEqual(estimator.targetMs, 50)
        estimator.observe(frame(3, atMs: 30))                  // due at 40: early, rebases here
        XCTAssertEqual(estimator.targetMs, 20)
        estimator.observe(frame(4, atMs: 60))                  // due at 50 by frame 3's clock
        XCTAssertEqual(estimator.targetMs, 30)
    }

    func testATurnStartFrameStartsANewSchedule() {
        let estimator = exact()
        estimator.observe(frame(1, atMs: 0, flags: .turnStart))
        estimator.observe(frame(10, atMs: 5_000, flags: .turnStart))  // hours late by frame 1's clock
        XCTAssertEqual(estimator.targetMs, 20)
        estimator.observe(frame(11, atMs: 5_030))
        XCTAssertEqual(estimator.targetMs, 30)
    }

    func testLateFramesAreMeasuredOnlyWithinTheCurrentSchedule() {
        let estimator = exact()
        estimator.observe(frame(10, atMs: 0, flags: .turnStart))
        estimator.observeLate(frame(5, atMs: 400))             // a straggler of an earlier turn
        XCTAssertEqual(estimator.targetMs, 20)
        estimator.observeLate(frame(11, atMs: 120))            // due at 20: 100 ms late
        XCTAssertEqual(estimator.targetMs, 120)
        estimator.restartSchedule()
        estimator.observeLate(frame(12, atMs: 900))            // no schedule: never starts one
        XCTAssertEqual(estimator.targetMs, 120)
    }

    func testFlagsOnlyFramesAreNotMeasuredAndATurnEndEndsTheSchedule() {
        let estimator = exact()
        estimator.observe(frame(1, atMs: 0, flags: .turnStart))
        estimator.observe(frame(2, atMs: 700, samples: 0))     // flags-only: says nothing
        XCTAssertEqual(estimator.targetMs, 20)
        estimator.observe(frame(2, atMs: 60, flags: .turnEnd))  // measured (40 ms), then ends
        XCTAssertEqual(estimator.targetMs, 60)
        estimator.observe(frame(3, atMs: 900))                 // no turnStart, but a new schedule
        XCTAssertEqual(estimator.targetMs, 20)
    }

    func testRestartScheduleMakesTheNextFrameTheReference() {
        let estimator = exact()
        estimator.observe(frame(1, atMs: 0, flags: .turnStart))
        estimator.restartSchedule()
        estimator.observe(frame(2, atMs: 500))
        XCTAssertEqual(estimator.targetMs, 20)
    }

    func testAStallRaisesTheTargetAtOnceAndItDecaysAsTheHistoryForgetsIt() {
        let estimator = JitterDelayEstimator(frameNanoseconds: 20_000_000, minDelayMs: 40,
                                             maxDelayMs: 500, initialDelayMs: 40, historyFrames: 10)
        for _ in 0..<10 { estimator.observe(delayNanoseconds: 0) }
        XCTAssertEqual(estimator.targetMs, 40)
        estimator.observe(delayNanoseconds: 300_000_000)
        XCTAssertEqual(estimator.targetMs, 320)
        for _ in 0..<9 { estimator.observe(delayNanoseconds: 0) }
        XCTAssertEqual(estimator.targetMs, 320, "still in the history")
        estimator.observe(delayNanoseconds: 0)
        XCTAssertEqual(estimator.targetMs, 40)
    }

    func testTargetIsClampedToTheMaximum() {
        let estimator = exact()
        estimator.observe(delayNanoseconds: 5_000_000_000)
        XCTAssertEqual(estimator.targetMs, 1_000)
        estimator.observe(delayNanoseconds: Int64(980) * 1_000_000 + 1)  // 981 + 20 > 1000
        XCTAssertEqual(estimator.targetMs, 1_000)
    }
}
