// SPDX-License-Identifier: Apache-2.0

/// How a frame's payload is encoded. The frame containers (`FrameRing`, `JitterBuffer`)
/// never look inside a payload: they move `byteCount` bytes. The decoder after the jitter
/// buffer reads the kind ("jitter buffer → decoder (PLC/FEC) → resample").
public enum PayloadKind: UInt8, Sendable, BitwiseCopyable {
    /// Signed 16-bit mono samples in native byte order (the memory of an `[Int16]`):
    /// `byteCount == 2 * sampleCount`. `PCM16Decoder` plays it.
    case pcm16 = 0
    /// One Opus packet (RFC 6716) of one 20 ms frame at 16 kHz: `byteCount` packet bytes,
    /// `sampleCount` 320. The Opus decoder step plays it (and conceals the gaps around it).
    case opus = 1
}

/// What a frame of agent audio carries besides its payload.
public struct AudioFrameFlags: OptionSet, Sendable, BitwiseCopyable {
    public let rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }

    /// First frame of an assistant turn.
    public static let turnStart = AudioFrameFlags(rawValue: 1)
    /// Last frame of the turn (after response.end).
    public static let turnEnd = AudioFrameFlags(rawValue: 2)
}

/// The fixed-size description of one frame of agent audio (one playout period, 20 ms), as
/// it travels from the event loop to the playback thread.
///
/// Sequence numbers. One number space per session, in which +1 is the next frame period:
/// - A wire without numbers (Layercode's PCM16-in-JSON) is numbered on arrival by
///   `AgentFrameAssembler`, +1 per frame (flags-only frames included).
/// - A wire that numbers its packets (the Opus profile, later) keeps its numbers: the
///   assembler maps them into the session's space by a per-turn offset, so a gap on the wire
///   stays a gap here and a reordered packet is put back in place.
///
/// The jitter buffer tells two kinds of missing sequence apart:
/// - **A gap** (a sequence never put, inside a turn): a frame the network lost. Playout
///   names it, `.concealed(missing:)`, so a decoder can fill it (opus_decode with NULL, or
///   FEC from the next packet); if it arrives after its play time it is counted late.
/// - **A flush range** (`JitterBuffer.flush(before:)`): frames the producer withdrew
///   (barge-in). They are never concealed: dropped when they arrive, counted as flushed,
///   and the turn ends at once.
public struct AudioFrameHeader: Sendable, Equatable, BitwiseCopyable {
    /// See "Sequence numbers" above; a gap means frames are missing.
    public var sequence: UInt64
    /// Monotonic clock, stamped by the producer on arrival.
    public var arrivalNanoseconds: UInt64
    /// Opaque id the loop maps to (turn_id, delta_id); 0 = none.
    public var marker: UInt32
    /// Payload bytes: 0...maxPayloadBytes of the container (0 for a flags-only frame).
    public var byteCount: UInt32
    /// The frame's duration once decoded, in samples at the stream's rate: 1...frameSamples
    /// (a turn's last frame may be short); 0 for a flags-only frame (e.g. a turnEnd marker
    /// with no audio). The jitter buffer's delay accounting counts these, whatever the kind.
    public var sampleCount: UInt16
    public var kind: PayloadKind
    public var flags: AudioFrameFlags

    /// A frame of any kind.
    public init(sequence: UInt64, arrivalNanoseconds: UInt64, marker: UInt32 = 0,
                kind: PayloadKind, byteCount: Int, sampleCount: UInt16, flags: AudioFrameFlags = []) {
        precondition(UInt32(exactly: byteCount) != nil, "byteCount out of range")  // not Int(UInt32.max): traps where Int is 32 bits
        self.sequence = sequence
        self.arrivalNanoseconds = arrivalNanoseconds
        self.marker = marker
        self.byteCount = UInt32(byteCount)
        self.sampleCount = sampleCount
        self.kind = kind
        self.flags = flags
    }

    /// A PCM16 frame of `sampleCount` samples (`2 * sampleCount` bytes).
    public init(sequence: UInt64, arrivalNanoseconds: UInt64, marker: UInt32 = 0,
                sampleCount: UInt16, flags: AudioFrameFlags = []) {
        self.init(sequence: sequence, arrivalNanoseconds: arrivalNanoseconds, marker: marker,
                  kind: .pcm16, byteCount: 2 * Int(sampleCount), sampleCount: sampleCount,
                  flags: flags)
    }

    /// Whether the header describes a PCM16 payload of exactly its samples.
    public var isWellFormedPCM16: Bool { kind == .pcm16 && Int(byteCount) == 2 * Int(sampleCount) }
}
