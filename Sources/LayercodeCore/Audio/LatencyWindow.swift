// SPDX-License-Identifier: Apache-2.0
/// Percentiles over the most recent latency samples (a fixed window), for the latency
/// figures in the stats. Single-threaded: the event loop feeds and reads it; audio threads
/// hand their samples over through an SPSCRing first.
///
/// The window is kept sorted as samples come and go (a binary search and one memmove each
/// way per sample), so a percentile is one index: the stats can be published whenever a
/// sample arrives, with no timer and no sort (a full sort of 1024 samples for p50 and again
/// for p99, 20 times a second, was a quarter of a session's instructions).
public final class LatencyWindow {
    /// Arrival order (which sample leaves next).
    private let ring: UnsafeMutablePointer<UInt64>
    /// The same samples, ascending.
    private let sorted: UnsafeMutablePointer<UInt64>
    private let capacity: Int
    private var next = 0
    private var filled = 0
    public private(set) var count: UInt64 = 0

    public init(capacity: Int = 1024) {
        self.capacity = max(1, capacity)
        ring = .allocate(capacity: self.capacity)
        sorted = .allocate(capacity: self.capacity)
        ring.initialize(repeating: 0, count: self.capacity)
        sorted.initialize(repeating: 0, count: self.capacity)
    }

    deinit {
        ring.deallocate()
        sorted.deallocate()
    }

    public func add(_ nanoseconds: UInt64) {
        if filled == capacity {
            remove(at: firstIndex(notBelow: ring[next]))
        }
        insert(nanoseconds, at: firstIndex(notBelow: nanoseconds))
        ring[next] = nanoseconds
        next = next + 1 == capacity ? 0 : next + 1
        count += 1
    }

    /// The p-th percentile (0...100) of the window, in microseconds; nil when empty.
    public func percentileMicroseconds(_ p: Double) -> Int64? {
        guard filled > 0 else { return nil }
        let rank = min(filled - 1, max(0, Int((p / 100 * Double(filled - 1)).rounded())))
        return Int64(sorted[rank] / 1000)
    }

    /// The first index of `sorted` whose sample is ≥ `value` (`filled` if none).
    private func firstIndex(notBelow value: UInt64) -> Int {
        var low = 0
        var high = filled
        while low < high {
            let mid = (low + high) / 2
            if sorted[mid] < value { low = mid + 1 } else { high = mid }
        }
        return low
    }

    private func remove(at index: Int) {
        let after = filled - index - 1
        if after > 0 {
            UnsafeMutableRawPointer(sorted + index).copyMemory(from: sorted + index + 1, byteCount: after * 8)
        }
        filled -= 1
    }

    private func insert(_ value: UInt64, at index: Int) {
        let after = filled - index
        if after > 0 {
            UnsafeMutableRawPointer(sorted + index + 1).copyMemory(from: sorted + index, byteCount: after * 8)
        }
        sorted[index] = value
        filled += 1
    }
}
