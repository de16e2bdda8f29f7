// SPDX-License-Identifier: Apache-2.0
import COpus
import LayercodeCore

/// How an `OpusPacketEncoder` encodes (libopus's encoder controls).
public struct OpusEncoderSettings: Sendable, Equatable {
    /// Target bits per second (VBR).
    public var bitrate: Int32 = 24_000
    /// 0 (cheapest) ... 10 (best).
    public var complexity: Int32 = 5
    /// In-band forward error correction: each packet carries a coarse copy of the previous
    /// one, which a receiver that lost it can decode (`decode(..., fec: true)`).
    public var inbandFEC = true
    /// The loss the encoder plans its FEC for, 0...100.
    public var expectedLossPercent: Int32 = 5
    /// Discontinuous transmission: near-silent frames become tiny packets.
    public var dtx = false
    /// OPUS_APPLICATION_VOIP (speech) when true, OPUS_APPLICATION_AUDIO otherwise.
    public var voice = true
    public init() {}
}

/// One libopus encoder: interleaved PCM16 frames in, Opus packets out. Not thread-safe:
/// one owner thread. `encode` does not allocate (libopus works in its own state).
public final class OpusPacketEncoder {
    public let sampleRate: Int
    public let channels: Int
    public private(set) var settings: OpusEncoderSettings
    /// Samples (per channel, at `sampleRate`) the encoder delays its output by: the Ogg
    /// pre-skip, and the latency the codec adds.
    public let lookahead: Int
    private let state: OpaquePointer

    /// The largest packet libopus produces for one frame (RFC 6716 §3.4).
    public static let maxPacketBytes = 1275

    public convenience init(sampleRate: Int, channels: Int,
                            settings: OpusEncoderSettings = OpusEncoderSettings()) throws(LayercodeError) {
        guard [8000, 12_000, 16_000, 24_000, 48_000].contains(sampleRate), (1...2).contains(channels) else {
            throw LayercodeError(.invalidArgument,
                                 "Opus encodes 8/12/16/24/48 kHz, 1 or 2 channels (got \(sampleRate) Hz × \(channels))")
        }
        var err: Int32 = 0
        let application = settings.voice ? OPUS_APPLICATION_VOIP : OPUS_APPLICATION_AUDIO
        guard let state = opus_encoder_create(Int32(sampleRate), Int32(channels), application, &err),
              err == OPUS_OK else {
            throw LayercodeError(.audio, "opus_encoder_create failed (\(err))")
        }
        let lookahead = Int(lcopus_get_lookahead(state))
        self.init(sampleRate: sampleRate, channels: channels, state: state, lookahead: max(0, lookahead))
        try apply(settings)  // a failure releases the encoder: deinit destroys the state
    }

    private init(sampleRate: Int, channels: Int, state: OpaquePointer, lookahead: Int) {
        self.sampleRate = sampleRate
        self.channels = channels
        self.state = state
        self.lookahead = lookahead
        settings = OpusEncoderSettings()
    }

    deinit { opus_encoder_destroy(state) }

    /// Applies `settings` (bitrate 6000...510000, complexity 0...10, loss 0...100).
    public func apply(_ settings: OpusEncoderSettings) throws(LayercodeError) {
        guard (6000...510_000).contains(settings.bitrate), (0...10).contains(settings.complexity),
              (0...100).contains(settings.expectedLossPercent) else {
            throw LayercodeError(.invalidArgument,
                                 "Opus bitrate must be 6000..510000, complexity 0..10, loss 0..100")
        }
        var failed: Int32 = OPUS_OK
        func check(_ result: Int32) { if result != OPUS_OK && failed == OPUS_OK { failed = result } }
        check(lcopus_set_bitrate(state, settings.bitrate))
        check(lcopus_set_complexity(state, settings.complexity))
        check(lcopus_set_inband_fec(state, settings.inbandFEC ? 1 : 0))
        check(lcopus_set_packet_loss_perc(state, settings.expectedLossPercent))
        check(lcopus_set_dtx(state, settings.dtx ? 1 : 0))
        check(lcopus_set_vbr(state, 1))
        if settings.voice { check(lcopus_set_signal_voice(state)) }
        guard failed == OPUS_OK else {
            throw LayercodeError(.audio, "opus_encoder_ctl failed (\(failed))")
        }
        self.settings = settings
    }

    /// Plans FEC for `percent` loss (0...100, clamped): cheap, per packet if need be.
    public func setExpectedLoss(percent: Int) {
        let p = Int32(max(0, min(100, percent)))
        guard p != settings.expectedLossPercent else { return }
        if lcopus_set_packet_loss_perc(state, p) == OPUS_OK { settings.expectedLossPercent = p }
    }

    /// Encodes one frame (`frame.count / channels` samples per channel: 2.5, 5, 10, 20, 40
    /// or 60 ms) into `packet`. Returns the packet's byte count (1...), or a negative
    /// libopus error code.
    public func encode(_ frame: UnsafeBufferPointer<Int16>, into packet: UnsafeMutableBufferPointer<UInt8>) -> Int {
        guard let pcm = frame.baseAddress, let out = packet.baseAddress else { return Int(OPUS_BAD_ARG) }
        return Int(opus_encode(state, pcm, Int32(frame.count / channels), out,
                               Int32(min(packet.count, Int(Int32.max)))))
    }

    /// Forgets the signal history (a new stream).
    public func reset() { _ = lcopus_encoder_reset(state) }
}

/// One libopus decoder: Opus packets (or their absence) in, PCM16 out. Not thread-safe: one
/// owner thread. Nothing here allocates after `init`, so the playout thread may decode.
public final class OpusPacketDecoder {
    public let sampleRate: Int
    public let channels: Int
    private let state: OpaquePointer

    public convenience init(sampleRate: Int, channels: Int) throws(LayercodeError) {
        guard [8000, 12_000, 16_000, 24_000, 48_000].contains(sampleRate), (1...2).contains(channels) else {
            throw LayercodeError(.invalidArgument,
                                 "Opus decodes to 8/12/16/24/48 kHz, 1 or 2 channels (got \(sampleRate) Hz × \(channels))")
        }
        var err: Int32 = 0
        guard let state = opus_decoder_create(Int32(sampleRate), Int32(channels), &err), err == OPUS_OK else {
            throw LayercodeError(.audio, "opus_decoder_create failed (\(err))")
        }
        self.init(sampleRate: sampleRate, channels: channels, state: state)
    }

    private init(sampleRate: Int, channels: Int, state: OpaquePointer) {
        self.sampleRate = sampleRate
        self.channels = channels
        self.state = state
    }

    deinit { opus_decoder_destroy(state) }

    /// Decodes `packet` into `pcm` (interleaved; room for one whole frame). With `fec`,
    /// decodes instead the previous (lost) frame from the redundancy `packet` carries;
    /// `pcm.count / channels` must then be exactly that frame's length. Returns samples per
    /// channel written, or a negative libopus error code.
    public func decode(_ packet: UnsafeRawBufferPointer, into pcm: UnsafeMutableBufferPointer<Int16>,
                       fec: Bool = false) -> Int {
        guard let out = pcm.baseAddress, let data = packet.baseAddress, packet.count > 0 else {
            return Int(OPUS_BAD_ARG)
        }
        return Int(opus_decode(state, data.assumingMemoryBound(to: UInt8.self), Int32(packet.count), out,
                               Int32(pcm.count / channels), fec ? 1 : 0))
    }

    /// Packet loss concealment: fills `pcm` (`pcm.count / channels` samples per channel, a
    /// multiple of 2.5 ms) by extrapolating from what was decoded before. Returns samples
    /// per channel written, or a negative libopus error code.
    public func conceal(into pcm: UnsafeMutableBufferPointer<Int16>) -> Int {
        guard let out = pcm.baseAddress else { return Int(OPUS_BAD_ARG) }
        return Int(opus_decode(state, nil, 0, out, Int32(pcm.count / channels), 0))
    }

    /// Forgets the decoder's history (a new stream; after a flush).
    public func reset() { _ = lcopus_decoder_reset(state) }

    /// The number of samples per channel `packet` decodes to at this decoder's rate, or a
    /// negative libopus error code (an invalid packet).
    public func sampleCount(of packet: UnsafeRawBufferPointer) -> Int {
        guard let data = packet.baseAddress, packet.count > 0 else { return Int(OPUS_INVALID_PACKET) }
        return Int(opus_packet_get_nb_samples(data.assumingMemoryBound(to: UInt8.self), Int32(packet.count),
                                              Int32(sampleRate)))
    }
}
