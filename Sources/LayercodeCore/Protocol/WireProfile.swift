// SPDX-License-Identifier: Apache-2.0
/// How one session's messages look on the WebSocket: the only place that turns the session's
/// values (`ClientMessage`, `UplinkFrame`) into wire messages and wire messages into
/// `ServerEvent`s. Chosen once per socket at authorize (`AuthorizeResult.wireProfile`); the
/// driver encodes and decodes with the profile of the socket it opened. An enum, not a
/// protocol: each profile is a case.
public enum WireProfile: Equatable, Sendable {
    /// Today's Layercode wire (doc/protocol.md §2): JSON text messages, audio as base64
    /// little-endian PCM16 in `client.audio` / `response.audio`; no binary frames.
    case pcmJSON
    /// The Opus profile (doc/opus-profile.md): control messages exactly as PCM JSON; audio
    /// as binary messages, a 10-byte `OpusPacketHeader` then one Opus packet (16 kHz, 20 ms);
    /// the agent's delta ids in `response.audio.opus` text messages.
    case opus

    /// The largest agent packet this client takes (doc/opus-profile.md §3: 256 kbit/s at
    /// 20 ms): one frame ring / jitter buffer slot, the size of a PCM16 frame's.
    public static let maxAgentOpusPacketBytes = 640

    /// The uplink's audio: what each `UplinkFrame` of this socket holds.
    public var uplinkFormat: AudioFormat {
        switch self {
        case .pcmJSON: return .layercodeUplink
        case .opus: return .opusProfile
        }
    }

    /// One message for the socket.
    public func encode(_ message: ClientMessage) -> OutgoingMessage {
        switch self {
        case .pcmJSON, .opus:
            return OutgoingMessage(wire: .text(PCMJSON.encode(message)), droppable: false)
        }
    }

    /// One microphone frame as PCM JSON's `client.audio`. Audio may be dropped under
    /// backpressure. nil on the Opus profile: its audio is encoded packets
    /// (`encode(packet:header:)`), which the driver makes with libopus.
    public func encode(_ frame: UplinkFrame) -> OutgoingMessage? {
        switch self {
        case .pcmJSON:
            return OutgoingMessage(wire: .text(PCMJSON.encode(frame.samples)), droppable: true,
                                   audioFrames: 1, audioBytes: frame.samples.count * 2)
        case .opus:
            return nil
        }
    }

    /// One Opus packet of microphone audio as the Opus profile's binary message (droppable,
    /// counted as one audio frame of `packet.count` bytes). nil on PCM JSON.
    public func encode(packet: UnsafeRawBufferPointer, header: OpusPacketHeader) -> OutgoingMessage? {
        switch self {
        case .pcmJSON:
            return nil
        case .opus:
            return OutgoingMessage(wire: .binary(header.encode(packet: packet)), droppable: true,
                                   audioFrames: 1, audioBytes: packet.count)
        }
    }

    /// A text message from the server. Throws `.protocolViolation` for a message the client
    /// refuses (see `ServerMessage.decode`; PCM JSON: a `response.audio` whose content is not
    /// valid base64 PCM16 too; Opus: any `response.audio`, and a `response.audio.opus`
    /// without a valid `sequence`).
    public func decode(text: String, maxDepth: Int = 64) throws(LayercodeError) -> ServerEvent {
        let message = try ServerMessage.decode(text, maxDepth: maxDepth)
        switch self {
        case .pcmJSON:
            guard message.kind == .responseAudio else { return .message(message, text: text) }
            guard let samples = message.audioSamples() else {
                throw LayercodeError(.protocolViolation,
                                     "response.audio with invalid base64 content; skipped")
            }
            return .audio(AgentAudio(payload: .pcm16(samples), turnID: message.turnID,
                                     deltaID: message.deltaID))
        case .opus:
            if message.kind == .responseAudio {
                throw LayercodeError(.protocolViolation,
                                     "response.audio text message on an Opus socket; skipped")
            }
            guard message.type == OpusDeltaMark.messageType else { return .message(message, text: text) }
            guard let value = message.json["sequence"]?.doubleValue, value.isFinite, value >= 0,
                  value <= Double(UInt32.max), value.rounded(.towardZero) == value else {
                throw LayercodeError(.protocolViolation,
                                     "response.audio.opus without a sequence in 0...4294967295; skipped")
            }
            return .audioMark(OpusDeltaMark(turnID: message.turnID, deltaID: message.deltaID,
                                            sequence: UInt32(value)))
        }
    }

    /// A binary message from the server. PCM JSON carries none: `.unsupported`. Opus: one
    /// packet of agent audio; throws `.protocolViolation` for a malformed header or a packet
    /// over `maxAgentOpusPacketBytes` (doc/opus-profile.md §3).
    public func decode(binary bytes: [UInt8]) throws(LayercodeError) -> ServerEvent {
        switch self {
        case .pcmJSON:
            return .unsupported(LayercodeError(
                .protocolViolation, "server sent a binary frame (\(bytes.count) bytes); ignored"))
        case .opus:
            let (header, range) = try OpusPacketHeader.decode(bytes)
            guard range.count <= Self.maxAgentOpusPacketBytes else {
                throw LayercodeError(.protocolViolation, "agent Opus packet of \(range.count) bytes "
                                     + "(this client takes at most \(Self.maxAgentOpusPacketBytes)); dropped")
            }
            return .audio(AgentAudio(payload: .opus(Array(bytes[range])), turnID: nil, deltaID: nil,
                                     sequence: UInt64(header.sequence)))
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
    /// Opus profile: where a delta's audio ends (`response.audio.opus`).
    case audioMark(OpusDeltaMark)
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
