// SPDX-License-Identifier: Apache-2.0
import LayercodeCore

/// The decoder step after the jitter buffer ("jitter buffer → decoder (PLC/FEC) →
/// resample"), for every payload kind: PCM16 frames go to `PCM16Decoder`; Opus packets to
/// libopus, and the periods the jitter buffer names `.concealed(missing: s)` inside an Opus
/// stream are rebuilt (doc/opus-profile.md §5): from the in-band FEC of packet s + 1 when
/// the jitter buffer holds it, else by libopus's PLC. Concealment in a PCM16 stream stays
/// silence.
///
/// Render thread only. The libopus decoder and the packet scratch are allocated in `init`;
/// `decode` and `reset` never allocate, lock or log. A packet libopus refuses plays as
/// silence and is counted in `decodeErrors`, never a trap.
public final class PlayoutDecoder {
    private let opus: OpusPacketDecoder
    private let packet: UnsafeMutableRawPointer
    private let maxPacketBytes: Int
    /// The last payload played was Opus: concealment extrapolates from the decoder's state.
    private var inOpusStream = false
    /// Missing frames rebuilt from the next packet's FEC; packets libopus refused.
    public private(set) var fecRecoveredFrames: UInt32 = 0
    public private(set) var decodeErrors: UInt32 = 0

    /// `maxPacketBytes`: the jitter buffer's slot size (an `.audio` outcome's payload fits).
    public convenience init(maxPacketBytes: Int) throws(LayercodeError) {
        let format = AudioFormat.opusProfile
        self.init(opus: try OpusPacketDecoder(sampleRate: format.sampleRate, channels: format.channels),
                  maxPacketBytes: maxPacketBytes)
    }

    private init(opus: OpusPacketDecoder, maxPacketBytes: Int) {
        self.opus = opus
        self.maxPacketBytes = max(1, maxPacketBytes)
        packet = .allocate(byteCount: self.maxPacketBytes, alignment: 16)
        packet.initializeMemory(as: UInt8.self, repeating: 0, count: self.maxPacketBytes)
    }

    deinit { packet.deallocate() }

    /// `frame` holds what `jitter.get(payloadInto:)` wrote for `outcome` (the same memory,
    /// `frame.count * 2` bytes, `frame.count` = one 20 ms period at 16 kHz). Afterwards it is
    /// one period of samples. Returns how many samples hold decoded or concealed audio.
    @discardableResult
    public func decode(_ outcome: JitterOutcome, frame: UnsafeMutableBufferPointer<Int16>,
                       jitter: JitterBuffer) -> Int {
        guard let base = frame.baseAddress else { return 0 }
        switch outcome {
        case .audio(let header) where header.kind == .opus:
            let bytes = Int(header.byteCount)
            guard bytes > 0, bytes <= maxPacketBytes, bytes <= frame.count * 2 else {
                return silence(base, frame.count, error: true)
            }
            packet.copyMemory(from: UnsafeRawPointer(base), byteCount: bytes)
            let n = opus.decode(UnsafeRawBufferPointer(start: packet, count: bytes), into: frame)
            guard n > 0 else { return silence(base, frame.count, error: true) }
            inOpusStream = true
            if n < frame.count { (base + n).update(repeating: 0, count: frame.count - n) }
            return n
        case .concealed(let missing) where inOpusStream:
            if let next = jitter.peek(sequence: missing &+ 1), next.header.kind == .opus,
               next.payload.count > 0,
               opus.decode(next.payload, into: frame, fec: true) == frame.count {
                fecRecoveredFrames &+= 1
                return frame.count
            }
            guard opus.conceal(into: frame) == frame.count else { return silence(base, frame.count, error: false) }
            return frame.count
        default:
            // PCM16 audio (not a turn's flags-only end) starts a PCM stream: its gaps are silence.
            if case .audio(let header) = outcome, header.sampleCount > 0 { inOpusStream = false }
            return PCM16Decoder.decode(outcome, frame: frame)
        }
    }

    /// A flush (barge-in): the next packet starts a fresh stream.
    public func reset() {
        opus.reset()
        inOpusStream = false
    }

    private func silence(_ base: UnsafeMutablePointer<Int16>, _ count: Int, error: Bool) -> Int {
        base.update(repeating: 0, count: count)
        if error { decodeErrors &+= 1 }
        return 0
    }
}
