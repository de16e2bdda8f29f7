// SPDX-License-Identifier: Apache-2.0
/// Pairs each microphone frame with the echo reference that was audible when it was
/// captured (doc/echo-cancellation.md "Alignment"). Pure arithmetic on two sample streams at
/// one rate (16 kHz), each a continuous run of samples whose index maps to a time:
///
/// - the reference: what the speaker played, sample `k` audible at `referenceBase + k·T`;
/// - the capture: what the microphone took, sample `j` captured at `captureBase + j·T`;
///
/// where `T` is one sample period. The drivers stamp both streams as they go (a sample index,
/// the time, the device delay that lies between the buffer and the air); each stamp is one
/// estimate of a stream's base. Stamps come late, never early (a thread is woken after the
/// device moved, not before), so a base follows a lower stamp quickly (a quarter of the
/// way per stamp, so one odd stamp cannot pin it) and a higher one only slowly (clock drift
/// between the two devices is a slow rise or fall); a jump of more
/// than `reanchorNanoseconds` (a device restarted, a stream paused) re-anchors at once.
///
/// The capture frame starting at `j` is then paired with the reference starting at
/// `j + offset`, where `offset = (captureBase − referenceBase) / T + lead`: the reference
/// leads its echo by `leadSamples`, because a reference that reaches the canceller after its
/// echo breaks every canceller, while one that comes early only uses a little more of the
/// filter.
public struct EchoAligner: Sendable {
    /// One sample period at 16 kHz, ns.
    public static let sampleNanoseconds: Int64 = 62_500
    public static let sampleRate = 16_000
    /// A stamp this far from the running base is a new stream, not jitter.
    public static let reanchorNanoseconds: Int64 = 50_000_000
    /// How much of the distance to a later stamp a base climbs per stamp (1/512): slow
    /// enough to ignore scheduling jitter, fast enough for any real clock drift (20 ppm is
    /// 20 µs per second, a stamp every 10–20 ms).
    static let climbShift: Int64 = 9

    public let leadSamples: Int64
    private var referenceBase: Int64?
    private var captureBase: Int64?
    /// Times the alignment jumped (a re-anchor of either stream after the first stamps).
    public private(set) var reanchors = 0
    /// Consecutive stamps later than their stream's base by over `lateNanoseconds`, per
    /// stream: samples lost without a count (an xrun, a full ring) shift every later stamp;
    /// `lateStampsToReanchor` of them in a row re-anchor, where the slow climb would leave
    /// the reference behind its echo for seconds.
    private var lateRun = (reference: 0, capture: 0)
    public static let lateNanoseconds: Int64 = 10_000_000
    public static let lateStampsToReanchor = 8

    public init(leadMilliseconds: Int) {
        leadSamples = Int64(max(0, leadMilliseconds)) * Int64(Self.sampleRate) / 1000
    }

    /// The reference's sample `index` is (or was) audible at `audibleNanoseconds`.
    public mutating func stampReference(index: UInt64, audibleNanoseconds: UInt64) {
        Self.update(&referenceBase, Int64(bitPattern: audibleNanoseconds) - Int64(index) * Self.sampleNanoseconds,
                    reanchors: &reanchors, lateRun: &lateRun.reference)
    }

    /// The capture's sample `index` was captured at `capturedNanoseconds`.
    public mutating func stampCapture(index: UInt64, capturedNanoseconds: UInt64) {
        Self.update(&captureBase, Int64(bitPattern: capturedNanoseconds) - Int64(index) * Self.sampleNanoseconds,
                    reanchors: &reanchors, lateRun: &lateRun.capture)
    }

    /// A driver's stamp of the reference stream, whose device runs at `rate`.
    public mutating func stampReference(_ stamp: StreamStamp, rate: Int) {
        stampReference(index: stamp.index(atRate: rate), audibleNanoseconds: stamp.nanoseconds)
    }

    public mutating func stampCapture(_ stamp: StreamStamp, rate: Int) {
        stampCapture(index: stamp.index(atRate: rate), capturedNanoseconds: stamp.nanoseconds)
    }

    /// A new reference stream (a new speaker): its indices start again.
    public mutating func resetReference() { referenceBase = nil }
    /// A new capture stream (a new microphone).
    public mutating func resetCapture() { captureBase = nil }

    /// Reference index minus capture index for a pair, lead included; nil until both
    /// streams have been stamped.
    public var offset: Int64? {
        guard let referenceBase, let captureBase else { return nil }
        return Self.divideRounding(captureBase - referenceBase, Self.sampleNanoseconds) + leadSamples
    }

    /// The echo path the stamps imply so far, in ms: the capture base minus the reference
    /// base (how long after being audible a sample reaches the capture stream's clock).
    public var streamSkewMilliseconds: Int64? {
        guard let referenceBase, let captureBase else { return nil }
        return Self.divideRounding(captureBase - referenceBase, 1_000_000)
    }

    private static func update(_ base: inout Int64?, _ estimate: Int64, reanchors: inout Int,
                               lateRun: inout Int) {
        guard let current = base else {
            base = estimate
            lateRun = 0
            return
        }
        let distance = estimate - current
        lateRun = distance > lateNanoseconds ? lateRun + 1 : 0
        if distance > reanchorNanoseconds || distance < -reanchorNanoseconds || lateRun >= lateStampsToReanchor {
            base = estimate
            reanchors += 1
            lateRun = 0
        } else if distance < 0 {
            base = current + distance / 4
        } else {
            base = current + (distance >> climbShift)
        }
    }

    private static func divideRounding(_ value: Int64, _ divisor: Int64) -> Int64 {
        value >= 0 ? (value + divisor / 2) / divisor : -((-value + divisor / 2) / divisor)
    }
}

/// One driver stamp of an audio stream: the stream's first `endSample` samples (at the
/// device's rate) end at the air at `nanoseconds` (monotonic): for a speaker, when the last
/// of them will be audible (written + the device delay); for a microphone, when the last of
/// them was captured (read − the device delay). Written by the audio threads, read by the
/// loop, through an SPSC ring.
public struct StreamStamp: Sendable, BitwiseCopyable, Equatable {
    public var endSample: UInt64
    public var nanoseconds: UInt64
    public init(endSample: UInt64, nanoseconds: UInt64) {
        self.endSample = endSample
        self.nanoseconds = nanoseconds
    }

    /// `endSample` at the aligner's 16 kHz, from a stream at `rate`.
    public func index(atRate rate: Int) -> UInt64 {
        rate == EchoAligner.sampleRate ? endSample
            : endSample * UInt64(EchoAligner.sampleRate) / UInt64(max(1, rate))
    }
}
