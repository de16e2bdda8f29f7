// SPDX-License-Identifier: Apache-2.0
import XCTest
@testable import LayercodeCore

// EchoAligner: stamps of two 16 kHz streams → the reference index paired with a capture
// index, the reference leading by the configured lead.

final class EchoAlignerTests: XCTestCase {
    private let ms: UInt64 = 1_000_000

    /// The reference's sample k is audible at k·T + 1 s; the capture's sample j was captured
    /// at j·T + 1 s + skew. The pair for capture j is the reference audible at its capture
    /// time plus the lead.
    func testPairsTheReferenceAudibleWhenTheMicrophoneCapturedPlusTheLead() {
        var a = EchoAligner(leadMilliseconds: 20)
        XCTAssertNil(a.offset)
        for k in stride(from: UInt64(0), to: 16_000, by: 160) {
            a.stampReference(index: k, audibleNanoseconds: 1_000 * ms + k * 62_500)
            a.stampCapture(index: k, capturedNanoseconds: 1_000 * ms + 50 * ms + k * 62_500)
        }
        // Capture j was captured 50 ms after reference j was audible: pair it with
        // reference j + 50 ms + 20 ms.
        XCTAssertEqual(a.offset, (50 + 20) * 16)
        XCTAssertEqual(a.streamSkewMilliseconds, 50)
        XCTAssertEqual(a.reanchors, 0)
    }

    /// Stamps come late by scheduling jitter (never early): the base keeps to the earliest.
    func testLateStampsDoNotMoveTheAlignment() {
        var a = EchoAligner(leadMilliseconds: 0)
        var rng = SystemRandomNumberGenerator()
        for step in 0..<500 {
            let k = UInt64(step * 160)
            let lateR = UInt64.random(in: 0...(4 * ms), using: &rng)
            let lateC = UInt64.random(in: 0...(4 * ms), using: &rng)
            a.stampReference(index: k, audibleNanoseconds: 1_000 * ms + k * 62_500 + (step == 0 ? 0 : lateR))
            a.stampCapture(index: k, capturedNanoseconds: 1_000 * ms + 30 * ms + k * 62_500 + (step == 0 ? 0 : lateC))
        }
        // Within 1.5 ms (24 samples) of the true 30 ms, whatever the jitter did.
        XCTAssertEqual(Double(a.offset ?? 0), Double(30 * 16), accuracy: 24)
    }

    /// One stamp far off (a device restarted) re-anchors that stream at once.
    func testAJumpReanchors() {
        var a = EchoAligner(leadMilliseconds: 10)
        a.stampReference(index: 0, audibleNanoseconds: 1_000 * ms)
        a.stampCapture(index: 0, capturedNanoseconds: 1_000 * ms)
        XCTAssertEqual(a.offset, 160)
        a.stampReference(index: 16_000, audibleNanoseconds: 2_000 * ms + 200 * ms)  // 200 ms later than the stream
        XCTAssertEqual(a.reanchors, 1)
        XCTAssertEqual(a.offset, 160 - 200 * 16)
    }

    /// Clock drift (the capture device 20 ppm fast) is followed: after 60 s the pair
    /// still lands within 1 ms.
    func testFollowsClockDrift() {
        var a = EchoAligner(leadMilliseconds: 0)
        for step in 0..<(60 * 100) {
            let k = UInt64(step * 160)
            a.stampReference(index: k, audibleNanoseconds: 1_000 * ms + k * 62_500)
            // The capture clock runs 20 ppm fast: its samples are captured ever earlier.
            let t = Double(k) * 62_500 * (1 - 20e-6)
            a.stampCapture(index: k, capturedNanoseconds: 1_000 * ms + 40 * ms + UInt64(t))
        }
        let driftNs = 60.0 * 1e9 * 20e-6  // 1.2 ms after 60 s
        let expected = (40e6 - driftNs) / 62_500
        XCTAssertEqual(Double(a.offset ?? 0), expected, accuracy: 16)
    }

    func testAStampIndexAtAnotherRate() {
        XCTAssertEqual(StreamStamp(endSample: 48_000, nanoseconds: 0).index(atRate: 48_000), 16_000)
        XCTAssertEqual(StreamStamp(endSample: 44_100, nanoseconds: 0).index(atRate: 44_100), 16_000)
        XCTAssertEqual(StreamStamp(endSample: 160, nanoseconds: 0).index(atRate: 16_000), 160)
    }

    func testResetForgetsAStream() {
        var a = EchoAligner(leadMilliseconds: 0)
        a.stampReference(index: 0, audibleNanoseconds: 1_000 * ms)
        a.stampCapture(index: 0, capturedNanoseconds: 1_000 * ms)
        XCTAssertNotNil(a.offset)
        a.resetReference()
        XCTAssertNil(a.offset)
    }

    /// Regression (review): 30 ms of capture lost without a count (an xrun) shifts every
    /// later stamp 30 ms late; the slow climb would have taken seconds, leaving the reference
    /// behind its echo. Eight late stamps in a row re-anchor.
    func testUncountedLostCaptureReanchorsWithinEightStamps() {
        var a = EchoAligner(leadMilliseconds: 20)
        for step in 0..<100 {
            let k = UInt64(step * 160)
            a.stampReference(index: k, audibleNanoseconds: 1_000 * ms + k * 62_500)
            a.stampCapture(index: k, capturedNanoseconds: 1_000 * ms + k * 62_500)
        }
        XCTAssertEqual(a.offset, 320)
        for step in 100..<108 {
            let k = UInt64(step * 160)
            a.stampReference(index: k, audibleNanoseconds: 1_000 * ms + k * 62_500)
            a.stampCapture(index: k, capturedNanoseconds: 1_000 * ms + 30 * ms + k * 62_500)
        }
        XCTAssertEqual(a.reanchors, 1)
        XCTAssertEqual(a.offset, 320 + 30 * 16)
    }
}
