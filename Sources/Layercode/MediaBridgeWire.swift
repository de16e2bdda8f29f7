// SPDX-License-Identifier: Apache-2.0
import LayercodeAudio
import LayercodeCore
import LayercodeNet

/// The MediaBridge's part of the Opus wire profile (doc/opus-profile.md), on the loop: the
/// uplink's format per socket, the downlink's measured loss for the encoder's FEC, and agent
/// packets into playout.
extension MediaBridge {
    /// The socket's profile chose the uplink frames' format (loop).
    func setUplinkFormat(_ format: AudioFormat) {
        guard let engine, engine.uplinkFormat != format else { return }
        do throws(LayercodeError) {
            try engine.setUplinkFormat(format)
        } catch {
            Log.write(.error, "uplink at \(format.sampleRate) Hz: \(error.message)")
        }
    }

    /// The share of agent frames lost since the last call, in percent (0 when none played).
    var downlinkLossPercent: Int {
        guard let p = engine?.playoutSnapshot() else { return 0 }
        let played = p.playedFrames &- lossBase.played
        let lost = p.lostFrames &- lossBase.lost
        lossBase = (p.playedFrames, p.lostFrames)
        let total = UInt64(played) + UInt64(lost)
        return total == 0 ? 0 : Int(UInt64(lost) * 100 / total)
    }

    /// One Opus packet of agent audio: one frame, numbered by the wire (§3, §5).
    func playPacket(_ packet: [UInt8], of audio: AgentAudio, on engine: AudioEngine) {
        let refused = packet.withUnsafeBytes { bytes -> LayercodeError? in
            do throws(LayercodeError) {
                try assembler.appendPacket(bytes, kind: .opus, sampleCount: audio.payload.sampleCount,
                                           wireSequence: audio.sequence, turnID: audio.turnID,
                                           deltaID: audio.deltaID, arrivalNanoseconds: monotonicNanoseconds()) {
                    header, payload in engine.play(header, payload: payload)
                }
                return nil
            } catch {
                return error
            }
        }
        if let refused { reportDownlinkError(refused) }
    }

    /// A packet of agent audio refused (on_error, LC_ERR_PROTOCOL); the session goes on.
    func reportDownlinkError(_ error: LayercodeError) {
        Log.write(.warn, error.message)
        state.lastError.withLock { $0 = error.message }
        sink.deliver(.error(error))
    }
}
