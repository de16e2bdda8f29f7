// SPDX-License-Identifier: Apache-2.0
@testable import LayercodeAudio
import XCTest

/// The echo path beyond the stamps, found from the level tracks of reference and microphone.
final class EchoDelayEstimatorTests: XCTestCase {
    /// Syllable-like levels: bursts of random length and loudness with gaps.
    private func levels(count: Int, seed: UInt64) -> [Double] {
        var state = seed
        func next() -> UInt64 {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return state >> 33
        }
        var out: [Double] = []
        while out.count < count {
            let on = 8 + Int(next() % 20), off = 3 + Int(next() % 15)
            let power = Double(1_000_000 + next() % 8_000_000)
            out += [Double](repeating: power, count: on) + [Double](repeating: 0, count: off)
        }
        return Array(out.prefix(count))
    }

    /// Regression (the room test's false barge-ins): an echo 150 ms after its aligned
    /// reference, beyond the legacy AEC's 128 ms filter, left it at 8–14 dB for 15 s; the
    /// estimator finds the 15 frames within a few seconds of speech.
    func testFindsAnEchoPathOf150MillisecondsWithinFiveSeconds() {
        var estimator = EchoDelayEstimator()
        let far = levels(count: 1500, seed: 3)
        var foundAt: Int?
        for n in 0..<far.count {
            let echo = n >= 15 ? far[n - 15] * 0.1 : 0
            if estimator.note(referencePower: far[n], micPower: echo + 100), foundAt == nil { foundAt = n }
        }
        XCTAssertEqual(estimator.lagFrames, 15)
        XCTAssertLessThan(foundAt ?? .max, 500, "took longer than 5 s")
    }

    /// A microphone that does not follow the reference (no echo) gives no lag.
    func testNoEchoNoLag() {
        var estimator = EchoDelayEstimator()
        let far = levels(count: 1500, seed: 3)
        let other = levels(count: 1500, seed: 11)
        for n in 0..<far.count { _ = estimator.note(referencePower: far[n], micPower: other[n]) }
        XCTAssertNil(estimator.lagFrames)
    }

    /// A path that changes (a speaker moved) is followed; a wobble of a frame or two is not
    /// (each change costs the canceller a re-convergence).
    func testFollowsAChangedPathButNotAWobble() {
        var estimator = EchoDelayEstimator()
        let far = levels(count: 4000, seed: 5)
        var changes = 0
        for n in 0..<far.count {
            let lag = n < 1500 ? 10 : n < 2500 ? (n % 200 < 100 ? 10 : 12) : 30
            let echo = n >= lag ? far[n - lag] * 0.2 : 0
            if estimator.note(referencePower: far[n], micPower: echo + 100) { changes += 1 }
        }
        XCTAssertEqual(estimator.lagFrames, 30)
        XCTAssertEqual(changes, 2)
    }
}
