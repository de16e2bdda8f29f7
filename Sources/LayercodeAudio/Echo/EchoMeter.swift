// SPDX-License-Identifier: Apache-2.0
import CPosix

/// Watches the echo stage frame by frame (10 ms at 16 kHz): the reference paired with a
/// microphone frame, the microphone frame, and what the stage made of it. Engine-independent
/// figures for lc_stats, from the signals alone (doc/echo-cancellation.md "Statistics"):
///
/// - **far end active**: the reference above −50 dBFS, held for `tailFrames` after it falls
///   (the room's echo outlives the sound that made it);
/// - **echo coupling**: how loud the echo is against the reference: the microphone's energy
///   over the far end's in 1 s blocks of far-end-active frames, the quietest of the last 5
///   blocks (a user talking over the agent only adds energy, so some block is echo alone);
///   0 dB until the first block;
/// - **double-talk**: a far-end-active frame whose microphone power is over 6 dB above the
///   echo the coupling predicts: someone near the microphone is talking;
/// - **ERLE** (echo return loss enhancement): microphone over output power, smoothed over
///   far-end-active frames without double-talk;
/// - **residual echo level**: the output's level in those same frames, dBFS.
///
/// Loop thread only; no allocation after init.
struct EchoMeter {
    static let farActivePower: Double = dbfsToPower(-50)
    static let tailFrames = 30           // 300 ms
    static let doubleTalkMarginDb = 6.0
    static let couplingBlockFrames = 100
    static let couplingBlocks = 5

    private(set) var farActive = false
    private var tail = 0
    /// The far end's power, held over the tail (its loudest frame in the last 300 ms).
    private(set) var farEnvelope: Double = 0
    /// The last `tailFrames` far-end powers (a ring), for `farEnvelope`.
    private var recentFar = [Double](repeating: 0, count: EchoMeter.tailFrames)
    private var recentIndex = 0
    /// Echo power over reference power, dB; nil until the first block.
    private(set) var couplingDb: Double?
    private var blockMic = 0.0
    private var blockFar = 0.0
    private var blockFrames = 0
    private var blocks = [Double](repeating: 0, count: EchoMeter.couplingBlocks)
    private var blockCount = 0
    private var micSmoothed: Double = 0
    private var outSmoothed: Double = 0
    private(set) var doubleTalkFrames: UInt64 = 0
    private(set) var frames: UInt64 = 0
    private(set) var farActiveFrames: UInt64 = 0
    private(set) var lastWasDoubleTalk = false
    /// Far-end-active frames without double-talk (those ERLE is measured over).
    private(set) var echoOnlyFrames: UInt64 = 0
    /// Consecutive frames the far end has been active (the coupling is learnt only once the
    /// echo has had time to arrive).
    private var activeRun = 0

    /// Notes one frame; returns whether it was double-talk.
    @discardableResult
    mutating func note(reference: UnsafePointer<Int16>, microphone: UnsafePointer<Int16>,
                       output: UnsafePointer<Int16>, count: Int) -> Bool {
        frames += 1
        let far = Self.power(reference, count)
        let mic = Self.power(microphone, count)
        let out = Self.power(output, count)
        noteFar(far)
        guard farActive else {
            activeRun = 0
            lastWasDoubleTalk = false
            return false
        }
        farActiveFrames += 1
        activeRun += 1
        learnCoupling(micPower: mic, farPower: far)
        let doubleTalk = isNearTalking(micPower: mic)
        lastWasDoubleTalk = doubleTalk
        if doubleTalk {
            doubleTalkFrames += 1
        } else {
            echoOnlyFrames += 1
            micSmoothed += (mic - micSmoothed) * 0.05
            outSmoothed += (out - outSmoothed) * 0.05
        }
        return doubleTalk
    }

    /// The far end's level now (its envelope) and whether the near end is louder than the
    /// echo would be by `marginDb`: the half-duplex gate's question.
    func nearIsLouder(micPower: Double, marginDb: Double) -> Bool {
        guard farActive else { return true }
        let coupling = couplingDb ?? 0
        return 10 * log10(max(micPower, 1e-3) / max(farEnvelope, 1e-3)) > coupling + marginDb
    }

    /// Echo return loss enhancement so far, dB (nil before any far-end-only frame).
    var erleDb: Double? {
        guard outSmoothed > 0 || micSmoothed > 0 else { return nil }
        return 10 * log10(max(micSmoothed, 1e-3) / max(outSmoothed, 1e-3))
    }

    /// The residual echo's level, dBFS (nil before any far-end-only frame).
    var residualDbfs: Double? {
        guard micSmoothed > 0 else { return nil }
        return Self.powerToDbfs(outSmoothed)
    }

    private mutating func noteFar(_ far: Double) {
        recentFar[recentIndex] = far
        recentIndex = (recentIndex + 1) % Self.tailFrames
        var loudest = 0.0
        for p in recentFar where p > loudest { loudest = p }
        farEnvelope = loudest
        if far > Self.farActivePower {
            farActive = true
            tail = Self.tailFrames
        } else if tail > 0 {
            tail -= 1
        } else {
            farActive = false
        }
    }

    private func isNearTalking(micPower: Double) -> Bool {
        guard let couplingDb, activeRun > Self.tailFrames else { return false }
        return 10 * log10(max(micPower, 1e-3) / max(farEnvelope, 1e-3)) > couplingDb + Self.doubleTalkMarginDb
    }

    private mutating func learnCoupling(micPower: Double, farPower: Double) {
        // Only once the echo of the far end's start has had time to reach the microphone.
        guard activeRun > Self.tailFrames else { return }
        blockMic += micPower
        blockFar += farPower
        blockFrames += 1
        guard blockFrames == Self.couplingBlockFrames else { return }
        let estimate = max(-80, 10 * log10(max(blockMic, 1e-3) / max(blockFar, 1e-3)))
        blocks[blockCount % Self.couplingBlocks] = estimate
        blockCount += 1
        var quietest = Double.infinity
        for i in 0..<min(blockCount, Self.couplingBlocks) where blocks[i] < quietest { quietest = blocks[i] }
        couplingDb = quietest
        blockMic = 0
        blockFar = 0
        blockFrames = 0
    }

    /// Mean square in PCM16 units².
    static func power(_ samples: UnsafePointer<Int16>, _ count: Int) -> Double {
        guard count > 0 else { return 0 }
        var sum: Int64 = 0
        for i in 0..<count {
            let s = Int64(samples[i])
            sum &+= s &* s
        }
        return Double(sum) / Double(count)
    }

    static func dbfsToPower(_ dbfs: Double) -> Double {
        let amplitude = 32768.0 * pow(10, dbfs / 20)
        return amplitude * amplitude
    }

    static func powerToDbfs(_ power: Double) -> Double {
        guard power > 0 else { return -120 }
        return max(-120, 10 * log10(power / (32768.0 * 32768.0)))
    }
}
