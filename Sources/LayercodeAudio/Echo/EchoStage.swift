// SPDX-License-Identifier: Apache-2.0
import LayercodeCore
import Synchronization

/// The echo stage of the capture chain, on the event loop between the microphone's
/// resampler and the uplink framer (doc/echo-cancellation.md): 16 kHz microphone audio in,
/// 10 ms frames out, cleaned by the echo canceller (with its noise suppression and gain
/// when asked) or, without one, gated while the agent is audible unless the user is clearly
/// louder than its echo (half duplex). Everything downstream (the uplink's meter, the
/// client VAD, the sent audio, the recorder) sees what leaves this stage.
///
/// The reference is the speaker's echo tap (what was rendered, after flushes, concealment
/// and resampling), resampled to 16 kHz into a 2 s ring; `EchoAligner` pairs each microphone
/// frame with the reference audible `leadMilliseconds` after it was captured. A microphone
/// frame whose reference has not been rendered yet waits, at most `maxHoldFrames`, then goes
/// with what there is (counted in `referenceLateFrames`).
///
/// Loop thread only; the buffers are allocated in `init` and by `attachReference`.
final class EchoStage {
    typealias Settings = EchoSettings

    static let frameSamples = 160
    static let referenceCapacity = 1 << 15   // 2 s at 16 kHz

    let settings: Settings
    private let canceller: EchoCanceller?
    private var aligner: EchoAligner
    private(set) var meter = EchoMeter()

    // The reference: the tap, its resampler, a ring of 16 kHz samples [refEnd - filled, refEnd).
    private var tap: StampedTap?
    private var tapResampler: Resampler?
    private let reference: UnsafeMutablePointer<Int16>
    private var referenceEnd: UInt64 = 0
    private let tapScratch: UnsafeMutablePointer<Int16>
    private let resampleScratch: UnsafeMutablePointer<Int16>
    private static let scratchSamples = 2048

    // The microphone: the next sample's 16 kHz index, the frame being filled, frames waiting.
    private var captureIndex: UInt64 = 0
    private var skippedRemainder = 0
    private var captureRate = EchoAligner.sampleRate
    private let pending: UnsafeMutablePointer<Int16>
    private let pendingIndex: UnsafeMutablePointer<UInt64>
    private let pendingCapacity: Int
    private var pendingStart = 0
    private var pendingCount = 0
    private var filling = 0
    private let far: UnsafeMutablePointer<Int16>
    private let original: UnsafeMutablePointer<Int16>

    // The echo path beyond the stamps (EchoDelayEstimator): the canceller's reference is
    // moved this much earlier than the stamps' pairing.
    private var delayEstimator = EchoDelayEstimator()
    private var pathDelaySamples = 0
    private var pairedPower = 0.0
    private(set) var realignments = 0
    /// The echo's delay after the reference became audible, ms (nil until measured): the
    /// estimator's lag less the lead.
    var echoDelayMilliseconds: Int? {
        delayEstimator.lagFrames.map { $0 * 10 - settings.leadMilliseconds }
    }

    // Counters (lc_stats).
    private(set) var processedFrames: UInt64 = 0
    private(set) var referenceLateFrames: UInt64 = 0
    private(set) var gatedFrames: UInt64 = 0
    private(set) var failedFrames: UInt64 = 0
    /// The figures above for other threads, published after each `process`.
    let published = EchoCounters()

    var engine: EchoEngine { canceller?.processing.engine ?? .none }
    var isCancelling: Bool { canceller?.processing.aec ?? false }
    var leadMilliseconds: Int { settings.leadMilliseconds }
    var engineMetrics: EchoEngineMetrics? { canceller?.metrics }
    var reanchors: Int { aligner.reanchors }

    /// Creates the engine (the step that can fail) before the stage.
    convenience init(_ settings: Settings) throws(LayercodeError) {
        var canceller: EchoCanceller?
        if let processing = settings.processing { canceller = try EchoCanceller(processing) }
        self.init(settings, canceller: canceller)
    }

    private init(_ settings: Settings, canceller: EchoCanceller?) {
        self.settings = settings
        self.canceller = canceller
        aligner = EchoAligner(leadMilliseconds: settings.leadMilliseconds)
        reference = .allocate(capacity: Self.referenceCapacity)
        reference.initialize(repeating: 0, count: Self.referenceCapacity)
        tapScratch = .allocate(capacity: Self.scratchSamples)
        tapScratch.initialize(repeating: 0, count: Self.scratchSamples)
        resampleScratch = .allocate(capacity: Self.scratchSamples * 4 + 64)
        resampleScratch.initialize(repeating: 0, count: Self.scratchSamples * 4 + 64)
        pendingCapacity = max(1, settings.maxHoldFrames) + 1
        pending = .allocate(capacity: pendingCapacity * Self.frameSamples)
        pending.initialize(repeating: 0, count: pendingCapacity * Self.frameSamples)
        pendingIndex = .allocate(capacity: pendingCapacity)
        pendingIndex.initialize(repeating: 0, count: pendingCapacity)
        far = .allocate(capacity: Self.frameSamples)
        far.initialize(repeating: 0, count: Self.frameSamples)
        original = .allocate(capacity: Self.frameSamples)
        original.initialize(repeating: 0, count: Self.frameSamples)
    }

    deinit {
        reference.deallocate()
        tapScratch.deallocate()
        resampleScratch.deallocate()
        pending.deallocate()
        pendingIndex.deallocate()
        far.deallocate()
        original.deallocate()
    }

    // MARK: Streams

    /// The speaker's echo tap from now on (nil: no speaker; the reference is silence).
    func attachReference(_ tap: StampedTap?) throws(LayercodeError) {
        guard tap !== self.tap else { return }
        var resampler: Resampler?
        if let tap { resampler = try Resampler(inputRate: tap.sampleRate, outputRate: EchoAligner.sampleRate) }
        self.tap = tap
        tapResampler = resampler
        forgetEchoPath()
        referenceEnd = 0
        reference.update(repeating: 0, count: Self.referenceCapacity)
        aligner.resetReference()
    }

    /// A new microphone at `rate`: its sample count starts again.
    func attachCapture(rate: Int) {
        captureRate = max(1, rate)
        captureIndex = 0
        skippedRemainder = 0
        filling = 0
        pendingStart = 0
        pendingCount = 0
        aligner.resetCapture()
        forgetEchoPath()
    }

    /// A new device: the echo path, and whether the canceller has converged on it, are
    /// learnt again.
    private func forgetEchoPath() {
        delayEstimator = EchoDelayEstimator()
        pathDelaySamples = 0
        converged = false
    }

    /// The capture side's stamps (each drain).
    func noteCaptureStamps(_ stamps: StampedTap) {
        stamps.takeStamps { aligner.stampCapture($0, rate: stamps.sampleRate) }
    }

    /// Microphone samples read but not processed (no session wants them): the stream's
    /// clock still moves.
    func skipCapture(deviceSamples count: Int) {
        let scaled = count * EchoAligner.sampleRate + skippedRemainder
        captureIndex &+= UInt64(scaled / captureRate)
        skippedRemainder = scaled % captureRate
        filling = 0
        pendingCount = 0
    }

    /// Moves what the speaker rendered since the last call into the reference ring.
    func pullReference() {
        guard let tap, let ring = tap.samples, let tapResampler else { return }
        tap.takeStamps { aligner.stampReference($0, rate: tap.sampleRate) }
        while true {
            let n = ring.read(into: UnsafeMutableBufferPointer(start: tapScratch, count: Self.scratchSamples))
            if n == 0 { return }
            var offset = 0
            while offset < n {
                let (consumed, produced) = tapResampler.process(
                    UnsafeBufferPointer(start: tapScratch + offset, count: n - offset),
                    into: UnsafeMutableBufferPointer(start: resampleScratch, count: Self.scratchSamples * 4 + 64))
                for i in 0..<produced {
                    reference[Int(referenceEnd & UInt64(Self.referenceCapacity - 1))] = resampleScratch[i]
                    referenceEnd &+= 1
                }
                offset += consumed
                if consumed == 0 && produced == 0 { break }
            }
        }
    }

    // MARK: Processing

    /// 16 kHz microphone samples in; each processed 10 ms frame to `emit` (false: stop).
    /// Returns false when `emit` did.
    func process(_ samples: UnsafeBufferPointer<Int16>, emit: (UnsafeBufferPointer<Int16>) -> Bool) -> Bool {
        var i = 0
        while i < samples.count {
            if pendingCount == pendingCapacity {
                // Full: the oldest goes now, with what reference there is.
                if !processOldest(force: true, emit: emit) { return false }
            }
            let slot = (pendingStart + pendingCount) % pendingCapacity
            let base = pending + slot * Self.frameSamples
            let n = min(Self.frameSamples - filling, samples.count - i)
            for k in 0..<n { base[filling + k] = samples[i + k] }
            if filling == 0 { pendingIndex[slot] = captureIndex }
            filling += n
            captureIndex &+= UInt64(n)
            i += n
            if filling == Self.frameSamples {
                filling = 0
                pendingCount += 1
            }
        }
        while pendingCount > 0 {
            let force = pendingCount > settings.maxHoldFrames
            guard processOldest(force: force, emit: emit) else { return false }
            if !processedLast { break }
        }
        publish()
        return true
    }

    /// Whether a frame may be gated (half duplex): without a canceller when half duplex is on;
    /// with one, until it has converged (the convergence guard: its ERLE has reached
    /// `convergedErleDb` over `convergedFrames` frames of the agent alone, or the echo is too
    /// faint to matter, under `inaudibleCouplingDb`), so that its first seconds, before the
    /// filter has found the echo, cannot interrupt the agent.
    private var gates: Bool {
        if !isCancelling { return settings.halfDuplex }
        if converged || !settings.convergenceGuard { return false }
        // Bounded: a room too noisy for 15 dB of measured ERLE still gets its microphone.
        if meter.farActiveFrames >= Self.guardMaxFrames {
            converged = true
            return false
        }
        if let coupling = meter.couplingDb, coupling < Self.inaudibleCouplingDb {
            converged = true
            return false
        }
        guard meter.echoOnlyFrames >= Self.convergedFrames, let erle = meter.erleDb,
              erle >= Self.convergedErleDb else { return true }
        converged = true
        return false
    }
    static let inaudibleCouplingDb = -40.0
    static let guardMaxFrames: UInt64 = 1000
    private var converged = false
    static let convergedErleDb = 15.0
    static let convergedFrames: UInt64 = 100

    /// Drops the frames waiting and the partial one (the session ended).
    func reset() {
        filling = 0
        pendingCount = 0
    }

    private func publish() {
        let c = published
        c.engine.store(engine.rawValue, ordering: .relaxed)
        c.processedFrames.store(processedFrames, ordering: .relaxed)
        c.referenceLateFrames.store(referenceLateFrames, ordering: .relaxed)
        c.gatedFrames.store(gatedFrames, ordering: .relaxed)
        c.doubleTalkFrames.store(meter.doubleTalkFrames, ordering: .relaxed)
        c.erleHundredthsDb.store(meter.erleDb.map { Int64(($0 * 100).rounded()) } ?? EchoCounters.unknown,
                              ordering: .relaxed)
        c.residualHundredthsDb.store(meter.residualDbfs.map { Int64(($0 * 100).rounded()) } ?? EchoCounters.unknown,
                                  ordering: .relaxed)
        c.delayMilliseconds.store(Int64(echoDelayMilliseconds ?? -1), ordering: .relaxed)
    }

    private var processedLast = false

    /// Processes the oldest waiting frame if its reference is there (or `force`). Sets
    /// `processedLast`; returns false when `emit` asked to stop.
    private func processOldest(force: Bool, emit: (UnsafeBufferPointer<Int16>) -> Bool) -> Bool {
        let base = pending + pendingStart * Self.frameSamples
        let index = pendingIndex[pendingStart]
        processedLast = false
        guard fillReference(forCaptureIndex: index, force: force) else { return true }
        processedLast = true
        pendingStart = (pendingStart + 1) % pendingCapacity
        pendingCount -= 1
        original.update(from: base, count: Self.frameSamples)
        if let canceller {
            if canceller.processing.aec { canceller.processFar(far) }
            if !canceller.processNear(base, delayMs: settings.leadMilliseconds) { failedFrames += 1 }
        }
        meter.note(reference: far, microphone: original, output: base, count: Self.frameSamples)
        estimateDelay(micPower: EchoMeter.power(original, Self.frameSamples))
        if gates && !meter.nearIsLouder(micPower: EchoMeter.power(original, Self.frameSamples),
                                       marginDb: isCancelling ? settings.guardMarginDb : settings.halfDuplexMarginDb) {
            base.update(repeating: 0, count: Self.frameSamples)
            gatedFrames += 1
        }
        processedFrames += 1
        return emit(UnsafeBufferPointer(start: base, count: Self.frameSamples))
    }

    /// Copies the reference paired with the capture frame at `index`, moved `pathDelay`
    /// earlier, into `far`, and measures the unmoved pair's power (the delay estimator's
    /// input). False: not rendered yet, wait (unless `force`: the missing part is silence,
    /// counted late).
    private func fillReference(forCaptureIndex index: UInt64, force: Bool) -> Bool {
        guard tap != nil, let offset = aligner.offset else {
            far.update(repeating: 0, count: Self.frameSamples)
            pairedPower = 0
            return true
        }
        let start = Int64(bitPattern: index) + offset
        let available = Int64(bitPattern: referenceEnd)
        if start + Int64(Self.frameSamples) > available {
            if !force { return false }
            referenceLateFrames += 1
        }
        var sum: Int64 = 0
        for k in 0..<Self.frameSamples {
            let s = Int64(referenceSample(at: start + Int64(k), available: available))
            sum &+= s &* s
        }
        pairedPower = Double(sum) / Double(Self.frameSamples)
        let moved = start - Int64(pathDelaySamples)
        for k in 0..<Self.frameSamples { far[k] = referenceSample(at: moved + Int64(k), available: available) }
        return true
    }

    private func referenceSample(at index: Int64, available: Int64) -> Int16 {
        guard index >= 0, index >= available - Int64(Self.referenceCapacity), index < available else { return 0 }
        return reference[Int(UInt64(bitPattern: index) & UInt64(Self.referenceCapacity - 1))]
    }

    /// Feeds the delay estimator; a new lag moves the reference the canceller gets so that
    /// it leads the echo by the lead again.
    private func estimateDelay(micPower: Double) {
        let learn = meter.farActive && !meter.lastWasDoubleTalk
        guard delayEstimator.note(referencePower: pairedPower, micPower: micPower, learn: learn),
              let lag = delayEstimator.lagFrames else { return }
        let lead = settings.leadMilliseconds * EchoAligner.sampleRate / 1000
        pathDelaySamples = min(max(0, lag * Self.frameSamples - lead), Self.referenceCapacity / 2)
        realignments += 1
    }
}

/// What the echo stage does (AudioEngine.Config.echo).
public struct EchoSettings: Sendable {
    /// The canceller; nil: none (half duplex, if on, is then the fallback).
    public var processing: EchoProcessing?
    /// Gate the microphone while the agent is audible unless the user is clearly louder
    /// than the echo; only when no canceller runs.
    public var halfDuplex = false
    /// With a canceller: gate the same way until it has converged (ALSA devices, where the
    /// echo is real).
    public var convergenceGuard = false
    /// The reference leads the microphone frame it is paired with by this much.
    public var leadMilliseconds = 20
    /// A microphone frame waits at most this many frames for its reference.
    public var maxHoldFrames = 6
    /// Half duplex: the user passes while the agent is audible only this far above the
    /// echo the coupling predicts.
    public var halfDuplexMarginDb = 10.0
    /// The convergence guard's margin: smaller, as the canceller already takes part of the
    /// echo away while it converges (and the double-talk test's 6 dB says "user").
    public var guardMarginDb = 6.0
    public init(processing: EchoProcessing?) { self.processing = processing }
}

/// The echo stage's figures for any thread (lc_stats), stored by the loop.
public final class EchoCounters: Sendable {
    /// erleHundredthsDb / residualHundredthsDb before any measurement.
    public static let unknown = Int64.min
    public let engine = Atomic<Int32>(0)
    public let processedFrames = Atomic<UInt64>(0)
    public let referenceLateFrames = Atomic<UInt64>(0)
    public let gatedFrames = Atomic<UInt64>(0)
    public let doubleTalkFrames = Atomic<UInt64>(0)
    public let erleHundredthsDb = Atomic<Int64>(EchoCounters.unknown)
    public let residualHundredthsDb = Atomic<Int64>(EchoCounters.unknown)
    public let delayMilliseconds = Atomic<Int64>(-1)
    public init() {}
}
