// SPDX-License-Identifier: Apache-2.0
/// An RMS level meter for PCM16: the user (or agent) amplitude the app shows, 0...1
/// (doc/protocol.md §3, onUserAmplitudeChange / onAgentAmplitudeChange).
///
/// The level is RMS / 32768 over one update interval of `sampleRate / updatesPerSecond`
/// samples, clamped to 0...1: a full-scale square wave reads 1.0, a full-scale sine ~0.707,
/// a half-scale sine ~0.354. Intervals are exact and independent of how the samples are cut
/// into calls: a call may complete none, one or several intervals.
///
/// No allocation and no locks: it may run on a real-time audio thread.
public struct LevelMeter {
    /// Samples per update interval (at least 1).
    public let intervalSamples: Int
    private var sumOfSquares: Int64 = 0
    private var count = 0

    public init(sampleRate: Int, updatesPerSecond: Int = 20) {
        let rate = max(sampleRate, 1)
        let updates = max(updatesPerSecond, 1)
        intervalSamples = max(rate / updates, 1)
    }

    /// Adds samples. Returns the level each time an update interval completes (the last
    /// completed interval's level if several complete in this call), else nil.
    public mutating func process(_ samples: UnsafeBufferPointer<Int16>) -> Float? {
        guard let base = samples.baseAddress else { return nil }
        var result: Float?
        var sum = sumOfSquares
        var n = count
        let interval = intervalSamples
        var i = 0
        while i < samples.count {
            // Up to the interval's end in one tight loop (no per-sample branch: it vectorises).
            let run = min(samples.count - i, interval - n)
            var squares: Int64 = 0
            for k in i..<(i + run) {
                let s = Int64(base[k])
                squares &+= s &* s  // at most 2^30 per sample: no overflow below 2^33 samples
            }
            sum &+= squares
            n += run
            i += run
            if n == interval {
                let meanSquare = Double(sum) / Double(n)
                result = Self.level(rms: meanSquare.squareRoot())
                sum = 0
                n = 0
            }
        }
        sumOfSquares = sum
        count = n
        return result
    }

    /// Discards the partial interval.
    public mutating func reset() {
        sumOfSquares = 0
        count = 0
    }

    /// RMS in PCM16 units → level 0...1 (NaN → 0).
    public static func level(rms: Double) -> Float {
        let value = rms / 32768.0
        guard value > 0 else { return 0 }   // also catches NaN
        return value >= 1 ? 1 : Float(value)
    }
}
