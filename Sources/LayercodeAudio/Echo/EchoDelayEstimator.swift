// SPDX-License-Identifier: Apache-2.0
import CPosix

/// Finds how much later than its aligned reference the echo reaches the microphone: the
/// room's acoustic path plus whatever the device delays did not account for (a sound
/// server's own buffering, a USB speaker's hidden latency). The stamps align the two streams
/// at the hardware; this measures what lies beyond it, so that the canceller's filter (the
/// legacy WebRTC AEC's spans 128 ms) is spent on the echo's tail, not on its delay.
///
/// Per 10 ms frame it takes the reference's and the microphone's level (dB) and keeps, for
/// each lag up to `maxLagFrames`, the normalized cross-correlation of the two level tracks
/// (mean removed, forgetting over about 2 s). Speech's syllables make the level track of an
/// echo follow its reference's at one lag. Every frame enters the history (the lags stay 10 ms
/// apart); only frames where the agent is audible and the user is not talking update the
/// correlations. A lag is accepted once it has led with a correlation over `minCorrelation`
/// for `stableFrames` such frames; a shorter path is taken at once (the reference must never
/// trail its echo), a longer one only past `hysteresisFrames`.
///
/// Loop thread only; no allocation after init.
struct EchoDelayEstimator {
    let maxLagFrames: Int
    static let forgetting = 0.995
    static let minCorrelation = 0.6
    static let stableFrames = 50
    static let hysteresisFrames = 3

    private var referenceHistory: [Double]
    private var historyIndex = 0
    private var sxy: [Double]
    private var sxx: [Double]
    private var syy = 0.0
    private var referenceMean = 0.0
    private var micMean = 0.0
    private var frames = 0
    private var leader = -1
    private var leaderRun = 0
    /// The accepted lag in frames (nil until one is).
    private(set) var lagFrames: Int?

    init(maxLagFrames: Int = 64) {
        self.maxLagFrames = maxLagFrames
        referenceHistory = [Double](repeating: 0, count: maxLagFrames)
        sxy = [Double](repeating: 0, count: maxLagFrames)
        sxx = [Double](repeating: 0, count: maxLagFrames)
    }

    /// One frame's reference and microphone power (mean square). Returns true when the
    /// accepted lag changed.
    mutating func note(referencePower: Double, micPower: Double, learn: Bool = true) -> Bool {
        let r = 10 * log10(referencePower + 1)
        let m = 10 * log10(micPower + 1)
        guard learn else {
            historyIndex = (historyIndex + 1) % maxLagFrames
            referenceHistory[historyIndex] = r - referenceMean
            return false
        }
        frames += 1
        let rate = frames < 100 ? 1 / Double(frames) : 0.01
        referenceMean += (r - referenceMean) * rate
        micMean += (m - micMean) * rate
        historyIndex = (historyIndex + 1) % maxLagFrames
        referenceHistory[historyIndex] = r - referenceMean
        let y = m - micMean
        let f = Self.forgetting
        syy = f * syy + y * y
        var best = -1
        var bestCorrelation = -1.0
        for lag in 0..<maxLagFrames {
            let x = referenceHistory[(historyIndex - lag + maxLagFrames) % maxLagFrames]
            sxy[lag] = f * sxy[lag] + x * y
            sxx[lag] = f * sxx[lag] + x * x
            let denominator = (sxx[lag] * syy).squareRoot()
            guard denominator > 0 else { continue }
            let correlation = sxy[lag] / denominator
            if correlation > bestCorrelation {
                bestCorrelation = correlation
                best = lag
            }
        }
        guard frames >= maxLagFrames, bestCorrelation >= Self.minCorrelation else {
            leaderRun = 0
            return false
        }
        if abs(best - leader) <= 1 {
            leaderRun += 1
        } else {
            leader = best
            leaderRun = 1
        }
        guard leaderRun >= Self.stableFrames else { return false }
        // A new lag only when it moved by more than `hysteresisFrames` (each change costs the
        // canceller a re-convergence, and the lead plus the filter's span absorb less).
        if let current = lagFrames, leader >= current - 1, leader <= current + Self.hysteresisFrames {
            return false
        }
        lagFrames = leader
        return true
    }
}
