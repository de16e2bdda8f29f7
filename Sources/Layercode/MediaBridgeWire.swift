// SPDX-License-Identifier: Apache-2.0
import LayercodeAudio
import LayercodeCore
import LayercodeNet

/// The MediaBridge's part of the Opus wire profile (doc/opus-profile.md), on the loop: the
/// uplink's format per socket, the downlink's measured loss for the encoder's FEC, and agent
/// packets into playout.
/// What the loop keeps of the Opus downlink between packets.
struct WireDownlink {
    /// The socket's 32-bit packet numbers, extended (they wrap; they start over per socket).
    var sequences = WireSequenceUnwrapper()
    /// The playout's Opus decode errors already reported.
    var decodeErrorsSeen: UInt32 = 0
    /// The playout counters at the last `downlinkLossPercent`.
    var lossBase: (played: UInt32, lost: UInt32) = (0, 0)
}

extension MediaBridge {
    /// A new socket (each connect and reconnect), before its first message: the wire's
    /// numbering starts over, so a turn the last socket left open ends here (its audio plays
    /// out) rather than mapping the new socket's packets with the old one's numbers.
    func socketChanged() {
        if assembler.isWireTurnOpen { endTurn() }
        wire.sequences = WireSequenceUnwrapper()
    }

    /// Reports, once each, packets the playout's decoder could not decode.
    func noteDecodeErrors(_ playout: PlayoutSnapshot?) {
        guard let errors = playout?.decodeErrors else { return }
        if errors < wire.decodeErrorsSeen { wire.decodeErrorsSeen = 0 }  // a new playback side
        guard errors != wire.decodeErrorsSeen else { return }
        wire.decodeErrorsSeen = errors
        reportDownlinkError(LayercodeError(.protocolViolation,
                                           "agent Opus packet libopus could not decode; played as silence"))
    }

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
        // The counters only grow on one playback side: lower ones belong to a new side
        // (another session's devices, a speaker switch), counted from 0.
        if p.playedFrames < wire.lossBase.played || p.lostFrames < wire.lossBase.lost {
            wire.lossBase = (0, 0)
        }
        let played = p.playedFrames &- wire.lossBase.played
        let lost = p.lostFrames &- wire.lossBase.lost
        wire.lossBase = (p.playedFrames, p.lostFrames)
        let total = UInt64(played) + UInt64(lost)
        return total == 0 ? 0 : Int(UInt64(lost) * 100 / total)
    }

    /// One Opus packet of agent audio: one frame, numbered by the wire (§3, §5).
    func playPacket(_ packet: [UInt8], of audio: AgentAudio, on engine: AudioEngine) {
        let refused = packet.withUnsafeBytes { bytes -> LayercodeError? in
            do throws(LayercodeError) {
                try assembler.appendPacket(bytes, kind: .opus, sampleCount: audio.payload.sampleCount,
                                           wireSequence: audio.sequence.map { wire.sequences.unwrap(UInt32(truncatingIfNeeded: $0)) },
                                           turnID: audio.turnID,
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
