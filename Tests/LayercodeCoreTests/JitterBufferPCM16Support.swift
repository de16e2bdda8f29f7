// SPDX-License-Identifier: Apache-2.0
@testable import LayercodeCore

// The jitter buffer moves opaque payloads; the tests mostly speak PCM16, as the playback
// side does: samples in as their bytes, and out through the same decoder step
// (`get(payloadInto:)` then `PCM16Decoder.decode`).

extension JitterBuffer {
    /// A PCM16 frame: `header.sampleCount` samples of `samples`.
    func put(_ header: AudioFrameHeader, samples: UnsafeBufferPointer<Int16>) {
        precondition(header.isWellFormedPCM16, "not a PCM16 header")
        put(header, payload: UnsafeRawBufferPointer(samples))
    }

    /// One period of PCM16 (exactly `frameSamples` samples written to the start of `out`;
    /// anything beyond is left alone), decoded the way the playback side decodes it.
    func get(into out: UnsafeMutableBufferPointer<Int16>, nowNanoseconds: UInt64) -> JitterOutcome {
        precondition(out.count >= config.frameSamples, "output shorter than one frame")
        let frame = UnsafeMutableBufferPointer(rebasing: out[0..<config.frameSamples])
        let outcome = get(payloadInto: UnsafeMutableRawBufferPointer(frame), nowNanoseconds: nowNanoseconds)
        PCM16Decoder.decode(outcome, frame: frame)
        return outcome
    }
}
