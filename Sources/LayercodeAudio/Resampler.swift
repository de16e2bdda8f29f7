// SPDX-License-Identifier: Apache-2.0
import CResample
import CSpeexDSP
import LayercodeCore

/// Mono int16 sample-rate conversion. Whole-number ratios (48 ↔ 16 ↔ 8 kHz: the library's
/// common conversions) use the polyphase FIR of CResample, the rest speexdsp. Allocation
/// happens in `init` only; `process` may run on real-time threads. Equal rates pass samples
/// through untouched.
public final class Resampler {
    public let inputRate: Int
    public let outputRate: Int
    private var state: OpaquePointer?
    private let fir: OpaquePointer?

    /// quality (speexdsp only): 0 (fastest) ... 10 (best); speexdsp's VoIP default is 3. The
    /// library uses 4: the cheapest that keeps speech as clean as 5 (speech-band SNR against
    /// sox's very-high-quality conversion, 48 → 8 kHz: 75.3 dB at 4, 75.6 at 5, 46.6 at 3;
    /// bench/resampler_quality.py). The FIR for whole-number ratios: 74.4 dB at a sixteenth
    /// of quality 4's CPU.
    public convenience init(inputRate: Int, outputRate: Int, quality: Int32 = 4) throws(LayercodeError) {
        guard (8000...192_000).contains(inputRate), (8000...192_000).contains(outputRate) else {
            throw LayercodeError(.invalidArgument,
                                 "sample rates must be 8000..192000 Hz (got \(inputRate) → \(outputRate))")
        }
        if let fir = lcfir_new(Int32(inputRate), Int32(outputRate)) {
            self.init(inputRate: inputRate, outputRate: outputRate, state: nil, fir: fir)
            return
        }
        var state: OpaquePointer?
        if inputRate != outputRate {
            var err: Int32 = 0
            state = speex_resampler_init(1, UInt32(inputRate), UInt32(outputRate), quality, &err)
            guard state != nil, err == 0 else {
                if let state { speex_resampler_destroy(state) }
                throw LayercodeError(.audio, "speex_resampler_init failed (\(err))")
            }
            speex_resampler_skip_zeros(state)
        }
        self.init(inputRate: inputRate, outputRate: outputRate, state: state, fir: nil)
    }

    private init(inputRate: Int, outputRate: Int, state: OpaquePointer?, fir: OpaquePointer?) {
        self.inputRate = inputRate
        self.outputRate = outputRate
        self.state = state
        self.fir = fir
    }

    deinit {
        if let state { speex_resampler_destroy(state) }
        if let fir { lcfir_free(fir) }
    }

    /// An upper bound of output samples for `inputCount` input samples.
    public func maxOutputCount(forInput inputCount: Int) -> Int {
        inputCount * outputRate / inputRate + 16
    }

    /// Converts `input`, writing into `output`; returns (consumed, produced). Feed the
    /// unconsumed rest again (it only happens when `output` is too small).
    public func process(_ input: UnsafeBufferPointer<Int16>,
                        into output: UnsafeMutableBufferPointer<Int16>) -> (consumed: Int, produced: Int) {
        if let fir {
            guard input.count > 0, let inBase = input.baseAddress, let outBase = output.baseAddress else {
                return (0, 0)
            }
            var consumed = 0
            let produced = lcfir_process(fir, inBase, input.count, outBase, output.count, &consumed)
            return (consumed, produced)
        }
        guard let state else {
            let n = min(input.count, output.count)
            // One memcpy (Embedded Swift's update(from:count:) copies sample by sample).
            if n > 0 { UnsafeMutableRawPointer(output.baseAddress!).copyMemory(from: input.baseAddress!, byteCount: n * 2) }
            return (n, n)
        }
        var inLen = UInt32(input.count)
        var outLen = UInt32(output.count)
        guard input.count > 0, let inBase = input.baseAddress, let outBase = output.baseAddress else {
            return (0, 0)
        }
        speex_resampler_process_int(state, 0, inBase, &inLen, outBase, &outLen)
        return (Int(inLen), Int(outLen))
    }

    /// Forgets filter history (after a flush, so old audio does not bleed into new).
    public func reset() {
        if let state { speex_resampler_reset_mem(state) }
        if let fir { lcfir_reset(fir) }
    }
}
