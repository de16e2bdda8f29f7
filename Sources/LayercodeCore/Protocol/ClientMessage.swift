// SPDX-License-Identifier: Apache-2.0
/// The control messages the client sends (doc/protocol.md §2, client → server), as values.
/// Microphone audio is not one of them: it travels as `UplinkFrame`. The session emits these;
/// the `WireProfile` of the socket turns them into bytes.
public enum ClientMessage: Equatable, Sendable {
    case ready
    case vadEvent(VADEvent)
    case turnStart
    case turnEnd
    case replayFinished(turnID: String, lastDeltaIDPlayed: String?)
    case responseText(String)
    case responseData(JSONValue)

    /// `vad_events` in automatic mode: the client VAD heard speech start or end.
    public enum VADEvent: String, Equatable, Sendable {
        case start = "vad_start"
        case end = "vad_end"
    }

    /// The message's wire `type`.
    public var type: String {
        switch self {
        case .ready: return "client.ready"
        case .vadEvent: return "vad_events"
        case .turnStart: return "trigger.turn.start"
        case .turnEnd: return "trigger.turn.end"
        case .replayFinished: return "trigger.response.audio.replay_finished"
        case .responseText: return "client.response.text"
        case .responseData: return "client.response.data"
        }
    }
}
