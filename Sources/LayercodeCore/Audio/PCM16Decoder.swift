// SPDX-License-Identifier: Apache-2.0
/// The decoder step for `.pcm16` payloads, after the jitter buffer ("jitter buffer →
/// decoder (PLC/FEC) → resample"): a PCM16 payload is its samples already, so decoding is
/// finishing the period. The Opus decoder will take the same place, with real concealment.
public enum PCM16Decoder {
    /// `frame` holds what `JitterBuffer.get(payloadInto:)` wrote for `outcome` (pass the same
    /// memory, `frame.count * 2` bytes, as its `out`). Afterwards `frame` is one period of
    /// samples: a played frame's samples followed by zeros when it is short or flags-only;
    /// all zeros when concealed (PCM16 has no better concealment), prefetching or idle.
    /// Returns how many samples hold audio. Writes exactly `frame.count` samples; never
    /// allocates, locks or logs.
    @discardableResult
    public static func decode(_ outcome: JitterOutcome, frame: UnsafeMutableBufferPointer<Int16>) -> Int {
        guard let base = frame.baseAddress else { return 0 }
        var audio = 0
        if case .audio(let header) = outcome {
            switch header.kind {
            case .pcm16:
                precondition(header.isWellFormedPCM16 && Int(header.sampleCount) <= frame.count,
                             "PCM16 frame longer than the period")
                audio = Int(header.sampleCount)
            case .opus:
                audio = 0  // not PCM: `PlayoutDecoder` decodes Opus; here it is silence
            }
        }
        (base + audio).update(repeating: 0, count: frame.count - audio)
        return audio
    }
}
