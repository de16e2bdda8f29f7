// SPDX-License-Identifier: Apache-2.0
import LayercodeCore
import XCTest

/// The latency window keeps its samples sorted as they come and go (issue 14: the stats no
/// longer sort 1024 samples 20 times a second); its percentiles must equal those of a plain
/// sort of the last `capacity` samples, through wrap-around and duplicates.
final class LatencyWindowTests: XCTestCase {
    private func reference(_ window: [UInt64], _ p: Double) -> Int64? {
        guard !window.isEmpty else { return nil }
        let sorted = window.sorted()
        let rank = min(sorted.count - 1, max(0, Int((p / 100 * Double(sorted.count - 1)).rounded())))
        return Int64(sorted[rank] / 1000)
    }

    func testEmptyWindowHasNoPercentile() {
        XCTAssertNil(LatencyWindow(capacity: 8).percentileMicroseconds(50))
    }

    func testPercentilesMatchASortOfTheLastCapacitySamplesThroughWrapAround() {
        var rng = SystemRandomNumberGenerator()
        for capacity in [1, 2, 7, 64, 1024] {
            let window = LatencyWindow(capacity: capacity)
            var all: [UInt64] = []
            for i in 0..<(capacity * 3 + 5) {
                // Duplicates on purpose (a small range), and now and then a spike.
                let value = i % 37 == 0 ? UInt64.random(in: 0...50_000_000, using: &rng)
                    : UInt64.random(in: 0...20, using: &rng) * 1000
                window.add(value)
                all.append(value)
                let last = Array(all.suffix(capacity))
                for p in [0.0, 50, 90, 99, 100] {
                    XCTAssertEqual(window.percentileMicroseconds(p), reference(last, p),
                                   "capacity \(capacity), sample \(i), p\(p)")
                }
            }
            XCTAssertEqual(window.count, UInt64(all.count))
        }
    }
}
