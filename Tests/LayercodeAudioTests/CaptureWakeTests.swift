// SPDX-License-Identifier: Apache-2.0
import LayercodeAudio
import Synchronization
import XCTest

/// The capture side wakes the event loop once per 20 ms uplink frame, whatever the size of
/// the deliveries (issue 14: a 10 ms ALSA period woke it twice per frame, the first time for
/// nothing), and at once when its ring overflows.
final class CaptureWakeTests: XCTestCase {
    final class Wakes: @unchecked Sendable {
        private let count = Atomic<Int>(0)
        func bump() { count.add(1, ordering: .relaxed) }
        var value: Int { count.load(ordering: .relaxed) }
    }

    private func side(rate: Int, wakes: Wakes) -> CaptureSide {
        let s = CaptureSide(sampleRate: rate, ringSeconds: 1, clock: { 1 }, wake: { wakes.bump() })
        s.accepting.store(true, ordering: .relaxed)
        return s
    }

    private func deliver(_ s: CaptureSide, samples: Int) {
        let chunk = [Int16](repeating: 100, count: samples)
        chunk.withUnsafeBufferPointer { s.deliver($0.baseAddress!, frames: samples, channels: 1) }
    }

    func testTenMillisecondPeriodsWakeTheLoopOncePerFrame() {
        let wakes = Wakes()
        let s = side(rate: 48_000, wakes: wakes)
        for _ in 0..<10 { deliver(s, samples: 480) }   // 100 ms in 10 ms periods
        XCTAssertEqual(wakes.value, 5)
        XCTAssertEqual(s.ring.producedCount, 4800)
    }

    func testUnevenDeliveriesWakeAtEachFrameBoundary() {
        let wakes = Wakes()
        let s = side(rate: 16_000, wakes: wakes)   // 320 samples per frame
        deliver(s, samples: 100)                    // 100
        XCTAssertEqual(wakes.value, 0)
        deliver(s, samples: 250)                    // 350: one boundary crossed
        XCTAssertEqual(wakes.value, 1)
        deliver(s, samples: 1000)                   // 1350: three more, one wake
        XCTAssertEqual(wakes.value, 2)
    }

    func testAFullRingWakesTheLoopAtOnce() {
        let wakes = Wakes()
        let s = side(rate: 8000, wakes: wakes)      // an 8000-sample ring
        deliver(s, samples: 8000)
        let before = wakes.value
        deliver(s, samples: 10)                     // nothing fits: dropped, and the loop told
        XCTAssertEqual(wakes.value, before + 1)
        XCTAssertEqual(s.droppedSamples.load(ordering: .relaxed), 10)
    }
}
