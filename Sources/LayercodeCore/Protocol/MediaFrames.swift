// SPDX-License-Identifier: Apache-2.0
/// Audio as the session passes it on: values, never wire text. The `WireProfile` of the
/// socket encodes `UplinkFrame`s and decodes server audio into `AgentAudio`.

/// One 20 ms frame of microphone audio, mono PCM16 at the socket's uplink rate:
/// `AudioFormat.layercodeUplink` (8 kHz) on PCM JSON, `AudioFormat.opusProfile` (16 kHz) on
/// the Opus profile.
public struct UplinkFrame: Equatable, Sendable {
    public var samples: [Int16]
    /// When its newest sample was captured (monotonic nanoseconds; 0: unknown). The session
    /// hands a frame it held (pre-roll, outage) on with its own capture time.
    public var capturedNanoseconds: UInt64
    /// The frame's place in capture order (+1 per frame the microphone produced, sent or
    /// not): the Opus profile's timestamps come from it, so a gated pause advances them.
    public var frameIndex: UInt64

    public init(samples: [Int16], capturedNanoseconds: UInt64 = 0, frameIndex: UInt64 = 0) {
        self.samples = samples
        self.capturedNanoseconds = capturedNanoseconds
        self.frameIndex = frameIndex
    }

    /// The same 20 ms at `samplesPerFrame` samples (a frame captured for one socket's rate
    /// and sent on a socket of the other, after a reconnect switched profile): 8 kHz → 16 kHz
    /// by linear interpolation, 16 kHz → 8 kHz by averaging pairs. Other ratios: unchanged.
    public func resampled(to samplesPerFrame: Int) -> UplinkFrame {
        let n = samples.count
        guard n > 0, samplesPerFrame != n else { return self }
        var out = [Int16]()
        out.reserveCapacity(samplesPerFrame)
        if samplesPerFrame == 2 * n {
            for i in 0..<n {
                let a = Int(samples[i]), b = Int(i + 1 < n ? samples[i + 1] : samples[i])
                out.append(samples[i])
                out.append(Int16((a + b) / 2))
            }
        } else if 2 * samplesPerFrame == n {
            for i in 0..<samplesPerFrame {
                out.append(Int16((Int(samples[2 * i]) + Int(samples[2 * i + 1])) / 2))
            }
        } else {
            return self
        }
        return UplinkFrame(samples: out, capturedNanoseconds: capturedNanoseconds, frameIndex: frameIndex)
    }
}

/// The encoded audio a wire profile carries.
public enum AudioPayload: Equatable, Sendable {
    /// PCM16 samples in `AudioFormat.layercodeDownlink` (16 kHz mono).
    case pcm16([Int16])
    /// One Opus packet of one 20 ms frame at 16 kHz (doc/opus-profile.md §3).
    case opus([UInt8])

    /// How many samples the payload holds (decoded length; an Opus packet is one frame).
    public var sampleCount: Int {
        switch self {
        case .pcm16(let samples): return samples.count
        case .opus: return AudioFormat.opusProfile.frameSamples
        }
    }

    /// The payload's size on the wire before any transport encoding (base64), for stats.
    public var byteCount: Int {
        switch self {
        case .pcm16(let samples): return samples.count * MemoryLayout<Int16>.size
        case .opus(let packet): return packet.count
        }
    }
}

/// A chunk of agent audio from the server, for playout.
public struct AgentAudio: Equatable, Sendable {
    public var payload: AudioPayload
    public var turnID: String?
    public var deltaID: String?
    /// The chunk's sequence number on the wire, when the profile has one (PCM JSON: nil).
    public var sequence: UInt64?

    public init(payload: AudioPayload, turnID: String?, deltaID: String?, sequence: UInt64? = nil) {
        self.payload = payload
        self.turnID = turnID
        self.deltaID = deltaID
        self.sequence = sequence
    }
}
