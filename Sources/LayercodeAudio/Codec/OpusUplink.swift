// SPDX-License-Identifier: Apache-2.0
import LayercodeCore

/// The Opus profile's uplink for one socket (doc/opus-profile.md §3, §6): 20 ms frames of
/// 16 kHz microphone audio in, numbered and timestamped Opus packets out. A new socket gets
/// a new one (sequence and timestamp start at 0). Event loop only.
public final class OpusUplink {
    private let encoder: OpusPacketEncoder
    private var clock = OpusPacketClock()
    private let scratch: UnsafeMutableRawPointer
    /// Frames libopus refused (not sent; their sequence numbers are not spent).
    public private(set) var encodeErrors = 0

    /// `settings`: VOIP, FEC on and the expected loss are forced (the profile's rules).
    public convenience init(settings: OpusEncoderSettings) throws(LayercodeError) {
        var s = settings
        s.voice = true
        s.inbandFEC = true
        s.expectedLossPercent = max(Self.minimumExpectedLossPercent, s.expectedLossPercent)
        let format = AudioFormat.opusProfile
        self.init(encoder: try OpusPacketEncoder(sampleRate: format.sampleRate, channels: format.channels,
                                                 settings: s))
    }

    private init(encoder: OpusPacketEncoder) {
        self.encoder = encoder
        scratch = .allocate(byteCount: OpusPacketEncoder.maxPacketBytes, alignment: 16)
    }

    deinit { scratch.deallocate() }

    /// doc/opus-profile.md §6: FEC is planned for at least this much loss.
    public static let minimumExpectedLossPercent: Int32 = 5

    /// The encoder's settings now.
    public var settings: OpusEncoderSettings { encoder.settings }

    /// Plans FEC for the loss measured on the downlink (at least the minimum).
    public func setMeasuredLoss(percent: Int) {
        encoder.setExpectedLoss(percent: max(Int(Self.minimumExpectedLossPercent), percent))
    }

    /// Encodes one frame (`AudioFormat.opusProfile.frameSamples` samples) and hands its
    /// header and packet to `body`. false, calling nothing, for a frame of another length
    /// or one libopus refused.
    @discardableResult
    public func encode(_ frame: UplinkFrame,
                       _ body: (OpusPacketHeader, UnsafeRawBufferPointer) -> Void) -> Bool {
        guard frame.samples.count == AudioFormat.opusProfile.frameSamples else {
            encodeErrors += 1
            return false
        }
        let out = UnsafeMutableBufferPointer(start: scratch.assumingMemoryBound(to: UInt8.self),
                                             count: OpusPacketEncoder.maxPacketBytes)
        let n = frame.samples.withUnsafeBufferPointer { encoder.encode($0, into: out) }
        guard n > 0 else {
            encodeErrors += 1
            return false
        }
        body(clock.next(frameIndex: frame.frameIndex), UnsafeRawBufferPointer(start: scratch, count: n))
        return true
    }
}
