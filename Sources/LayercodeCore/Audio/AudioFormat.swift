// SPDX-License-Identifier: Apache-2.0
/// A PCM stream's shape: sample rate, channel count and the duration of one frame. The
/// Layercode wire formats are named once, here (doc/protocol.md §2: the client sends 8 kHz
/// mono PCM16, the agent's audio is 16 kHz mono PCM16, both cut into 20 ms frames).
public struct AudioFormat: Equatable, Sendable {
    public var sampleRate: Int
    public var channels: Int
    public var frameMilliseconds: Int

    public init(sampleRate: Int, channels: Int = 1, frameMilliseconds: Int = 20) {
        self.sampleRate = sampleRate
        self.channels = channels
        self.frameMilliseconds = frameMilliseconds
    }

    /// Samples in one frame, all channels together (interleaved).
    public var frameSamples: Int { sampleRate * frameMilliseconds / 1000 * channels }

    /// Bytes in one frame of PCM16.
    public var frameBytes: Int { frameSamples * 2 }

    /// The microphone audio the client sends: 8 kHz mono, 20 ms frames (160 samples).
    public static let layercodeUplink = AudioFormat(sampleRate: 8000)

    /// The agent audio the server sends: 16 kHz mono, 20 ms frames (320 samples).
    public static let layercodeDownlink = AudioFormat(sampleRate: 16_000)

    /// The Opus wire profile's audio, both directions (doc/opus-profile.md §3): 16 kHz mono,
    /// one 20 ms frame (320 samples) per packet.
    public static let opusProfile = AudioFormat(sampleRate: 16_000)
}
