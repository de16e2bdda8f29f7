// SPDX-License-Identifier: Apache-2.0
/// Audio as the session passes it on: values, never wire text. The `WireProfile` of the
/// socket encodes `UplinkFrame`s and decodes server audio into `AgentAudio`.

/// One 20 ms frame of microphone audio in `AudioFormat.layercodeUplink` (8 kHz mono PCM16).
public struct UplinkFrame: Equatable, Sendable {
    public var samples: [Int16]
    /// When its newest sample was captured (monotonic nanoseconds; 0: unknown). The session
    /// hands a frame it held (pre-roll, outage) on with its own capture time.
    public var capturedNanoseconds: UInt64

    public init(samples: [Int16], capturedNanoseconds: UInt64 = 0) {
        self.samples = samples
        self.capturedNanoseconds = capturedNanoseconds
    }
}

/// The encoded audio a wire profile carries.
public enum AudioPayload: Equatable, Sendable {
    /// PCM16 samples in `AudioFormat.layercodeDownlink` (16 kHz mono).
    case pcm16([Int16])

    /// How many samples the payload holds (decoded length).
    public var sampleCount: Int {
        switch self {
        case .pcm16(let samples): return samples.count
        }
    }

    /// The payload's size on the wire before any transport encoding (base64), for stats.
    public var byteCount: Int {
        switch self {
        case .pcm16(let samples): return samples.count * MemoryLayout<Int16>.size
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
