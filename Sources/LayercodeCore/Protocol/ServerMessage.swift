/// A message from the server (doc/protocol.md §2, server → client), decoded from JSON text.
public struct ServerMessage {
    public enum Kind: Equatable {
        case turnStart(role: String)
        case responseAudio
        case responseText
        case responseData
        case responseEnd
        case userTranscriptInterimDelta
        case userTranscriptDelta
        case userTranscript
        /// Any other type, handed to the app untouched.
        case other
    }

    public var type: String
    public var kind: Kind
    public var turnID: String?
    public var json: JSONValue

    /// Decodes one text frame. Fails on invalid JSON, a non-object, or a missing "type".
    public static func decode(_ text: String, maxDepth: Int = 64) throws -> ServerMessage {
        let value: JSONValue
        do {
            value = try JSONValue.parse(text, maxDepth: maxDepth)
        } catch {
            throw LayercodeError(.protocolViolation,
                                 "server sent invalid JSON: \(error.message) at \(error.offset)")
        }
        guard value.objectValue != nil else {
            throw LayercodeError(.protocolViolation, "server message is not a JSON object")
        }
        guard let type = value["type"]?.stringValue else {
            throw LayercodeError(.protocolViolation, "server message has no \"type\"")
        }
        let kind: Kind
        switch type {
        case "turn.start": kind = .turnStart(role: value["role"]?.stringValue ?? "")
        case "response.audio": kind = .responseAudio
        case "response.text": kind = .responseText
        case "response.data": kind = .responseData
        case "response.end": kind = .responseEnd
        case "user.transcript.interim_delta": kind = .userTranscriptInterimDelta
        case "user.transcript.delta": kind = .userTranscriptDelta
        case "user.transcript": kind = .userTranscript
        default: kind = .other
        }
        return ServerMessage(type: type, kind: kind,
                             turnID: Self.idString(value["turn_id"]), json: value)
    }

    /// Ids arrive as strings, but a number is accepted and printed canonically.
    static func idString(_ value: JSONValue?) -> String? {
        switch value {
        case .string(let s)?: return s
        case .number(let n)? where n.isFinite: return value!.serialized()
        default: return nil
        }
    }

    public var deltaID: String? { Self.idString(json["delta_id"]) }

    /// Decodes response.audio "content" to PCM16 samples (little-endian on the wire).
    /// nil for a missing/invalid base64 content or an odd byte count.
    public func audioSamples() -> [Int16]? {
        guard let content = json["content"]?.stringValue,
              let bytes = Base64.decode(content), bytes.count % 2 == 0 else { return nil }
        var samples = [Int16](repeating: 0, count: bytes.count / 2)
        samples.withUnsafeMutableBytes { dst in
            bytes.withUnsafeBytes { src in dst.copyMemory(from: src) }
        }
        #if !_endian(little)
        for i in samples.indices { samples[i] = Int16(littleEndian: samples[i]) }
        #endif
        return samples
    }
}
