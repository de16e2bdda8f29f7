// SPDX-License-Identifier: Apache-2.0
/// Messages the client sends (doc/protocol.md §2, client → server), encoded as JSON text.
public enum ClientMessage {
    case ready
    /// PCM16 mono 8 kHz, little-endian, base64 on the wire.
    case audio(UnsafeBufferPointer<Int16>)
    case vadEvent(String)
    case turnStart
    case turnEnd
    case replayFinished(turnID: String, lastDeltaIDPlayed: String?)
    case responseText(String)
    case responseData(JSONValue)

    public func encoded() -> String {
        var w = JSONWriter()
        w.beginObject()
        w.key("type")
        switch self {
        case .ready:
            w.string("client.ready")
        case .audio(let samples):
            w.string("client.audio")
            w.key("content")
            #if _endian(little)
            w.base64String(UnsafeRawBufferPointer(samples))
            #else
            let le = samples.map { $0.littleEndian }
            le.withUnsafeBytes { w.base64String($0) }
            #endif
        case .vadEvent(let event):
            w.string("vad_events")
            w.key("event")
            w.string(event)
        case .turnStart:
            w.string("trigger.turn.start")
            w.key("role")
            w.string("user")
        case .turnEnd:
            w.string("trigger.turn.end")
            w.key("role")
            w.string("user")
        case .replayFinished(let turnID, let lastDelta):
            w.string("trigger.response.audio.replay_finished")
            w.key("reason")
            w.string("completed")
            w.key("turn_id")
            w.string(turnID)
            w.key("last_delta_id_played")
            if let lastDelta { w.string(lastDelta) } else { w.null() }
        case .responseText(let text):
            w.string("client.response.text")
            w.key("content")
            w.string(text)
        case .responseData(let data):
            w.string("client.response.data")
            w.key("data")
            w.raw(data.serialized())
        }
        w.endObject()
        return w.string
    }
}
