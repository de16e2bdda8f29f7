// SPDX-License-Identifier: Apache-2.0
/// How one session's messages look on the WebSocket: the only place that turns the session's
/// values (`ClientMessage`, `UplinkFrame`) into wire messages and wire messages into
/// `ServerEvent`s. Chosen once per session after authorize (`AuthorizeResult.wireProfile`);
/// the driver encodes and decodes with the profile of the socket it opened. An enum, not a
/// protocol: each profile is a case (the Opus issue adds one beside `.pcmJSON`).
public enum WireProfile: Equatable, Sendable {
    /// Today's Layercode wire (doc/protocol.md §2): JSON text messages, audio as base64
    /// little-endian PCM16 in `client.audio` / `response.audio`; no binary frames.
    case pcmJSON

    /// One message for the socket.
    public func encode(_ message: ClientMessage) -> OutgoingMessage {
        switch self {
        case .pcmJSON:
            return OutgoingMessage(wire: .text(PCMJSON.encode(message)), droppable: false)
        }
    }

    /// One microphone frame for the socket. Audio may be dropped under backpressure.
    public func encode(_ frame: UplinkFrame) -> OutgoingMessage {
        switch self {
        case .pcmJSON:
            return OutgoingMessage(wire: .text(PCMJSON.encode(frame.samples)), droppable: true,
                                   audioFrames: 1, audioBytes: frame.samples.count * 2)
        }
    }

    /// A text message from the server. Throws `.protocolViolation` for a message the client
    /// refuses (see `ServerMessage.decode`; PCM JSON: a `response.audio` whose content is not
    /// valid base64 PCM16 too).
    public func decode(text: String, maxDepth: Int = 64) throws(LayercodeError) -> ServerEvent {
        switch self {
        case .pcmJSON:
            let message = try ServerMessage.decode(text, maxDepth: maxDepth)
            guard message.kind == .responseAudio else { return .message(message, text: text) }
            guard let samples = message.audioSamples() else {
                throw LayercodeError(.protocolViolation,
                                     "response.audio with invalid base64 content; skipped")
            }
            return .audio(AgentAudio(payload: .pcm16(samples), turnID: message.turnID,
                                     deltaID: message.deltaID))
        }
    }

    /// A binary message from the server. PCM JSON carries none: `.unsupported`.
    public func decode(binary bytes: [UInt8]) throws(LayercodeError) -> ServerEvent {
        switch self {
        case .pcmJSON:
            return .unsupported(LayercodeError(
                .protocolViolation, "server sent a binary frame (\(bytes.count) bytes); ignored"))
        }
    }
}

/// A WebSocket message's payload.
public enum WireMessage: Equatable, Sendable {
    case text(String)
    case binary([UInt8])
}

/// What the driver puts on the socket, with what it needs to know about it.
public struct OutgoingMessage: Equatable, Sendable {
    public var wire: WireMessage
    /// Audio: may be dropped under backpressure (the send queue keeps control messages).
    public var droppable: Bool
    /// The microphone frames (0 or 1) and PCM bytes the message carries, for the stats
    /// (both 0 for a control message).
    public var audioFrames: Int
    public var audioBytes: Int

    public init(wire: WireMessage, droppable: Bool, audioFrames: Int = 0, audioBytes: Int = 0) {
        self.wire = wire
        self.droppable = droppable
        self.audioFrames = audioFrames
        self.audioBytes = audioBytes
    }
}

/// A server message as the session takes it (`SessionInput.received`).
public enum ServerEvent: Equatable, Sendable {
    /// Agent audio for playout.
    case audio(AgentAudio)
    /// Any other message; `text` is the message as received, for the app's `on_message`.
    case message(ServerMessage, text: String)
    /// A message this profile does not carry (PCM JSON: a binary frame): reported while the
    /// session is open, not counted as a refused message.
    case unsupported(LayercodeError)
}

/// The PCM JSON profile's encoders.
enum PCMJSON {
    static func encode(_ message: ClientMessage) -> String {
        var w = JSONWriter()
        w.beginObject()
        w.key("type")
        w.string(message.type)
        switch message {
        case .ready:
            break
        case .vadEvent(let event):
            w.key("event")
            w.string(event.rawValue)
        case .turnStart, .turnEnd:
            w.key("role")
            w.string("user")
        case .replayFinished(let turnID, let lastDelta):
            w.key("reason")
            w.string("completed")
            w.key("turn_id")
            w.string(turnID)
            w.key("last_delta_id_played")
            if let lastDelta { w.string(lastDelta) } else { w.null() }
        case .responseText(let text):
            w.key("content")
            w.string(text)
        case .responseData(let data):
            w.key("data")
            w.raw(data.serialized())
        }
        w.endObject()
        return w.string
    }

    /// `client.audio`: PCM16 mono 8 kHz, little-endian, base64.
    static func encode(_ samples: [Int16]) -> String {
        var w = JSONWriter()
        w.beginObject()
        w.key("type")
        w.string("client.audio")
        w.key("content")
        #if _endian(little)
        samples.withUnsafeBytes { w.base64String($0) }
        #else
        let le = samples.map { $0.littleEndian }
        le.withUnsafeBytes { w.base64String($0) }
        #endif
        w.endObject()
        return w.string
    }
}
