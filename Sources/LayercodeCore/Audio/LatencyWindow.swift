// SPDX-License-Identifier: Apache-2.0
/// Percentiles over the most recent latency samples (a fixed window), for the latency
/// figures in the stats. Single-threaded: the event loop feeds and reads it; audio threads
/// hand their samples over through an SPSCRing first.
public struct LatencyWindow {
    private var samples: [UInt64]
    private var next = 0
    private var filled = 0
    public private(set) var count: UInt64 = 0

    public init(capacity: Int = 1024) {
        samples = [UInt64](repeating: 0, count: max(1, capacity))
    }

    public mutating func add(_ nanoseconds: UInt64) {
        samples[next] = nanoseconds
        next = (next + 1) % samples.count
        filled = min(filled + 1, samples.count)
        count += 1
    }

    /// The p-th percentile (0...100) of the window, in microseconds; nil when empty.
    public func percentileMicroseconds(_ p: Double) -> Int64? {
        guard filled > 0 else { return nil }
        let sorted = samples[0..<filled].sorted()
        let rank = min(filled - 1, max(0, Int((p / 100 * Double(filled - 1)).rounded())))
        return Int64(sorted[rank] / 1000)
    }
}
