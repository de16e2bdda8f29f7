// SPDX-License-Identifier: Apache-2.0
/// A message from the server (doc/protocol.md §2, server → client), decoded from JSON text.
public struct ServerMessage: Equatable, Sendable {
    public enum Kind: Equatable, Sendable {
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
    /// `delta_id`, under the same rules as `turnID`.
    public var deltaID: String?
    public var json: JSONValue

    /// The longest `turn_id` / `delta_id` accepted, in UTF-8 bytes. The cloud's ids are
    /// UUIDs (36 bytes); the client keeps ids per queued audio chunk and per interrupted
    /// turn, so this bounds that memory whatever a server sends.
    public static let maxIDBytes = 256

    /// Decodes one text frame. Fails (the message is refused, `.protocolViolation`) on
    /// invalid JSON, a non-object, a missing "type", a `type`, `turn_id` or `delta_id`
    /// holding a NUL (C callbacks take NUL-terminated strings: it would cut them short),
    /// or a `turn_id` / `delta_id` over `maxIDBytes`.
    public static func decode(_ text: String, maxDepth: Int = 64) throws(LayercodeError) -> ServerMessage {
        let value: JSONValue
        do {
            value = try JSONValue.parse(text, maxDepth: maxDepth)
        } catch {
            throw LayercodeError(.protocolViolation,
                                 "server sent invalid JSON: \(error.message) at byte \(error.offset)")
        }
        guard value.objectValue != nil else {
            throw LayercodeError(.protocolViolation, "server message is not a JSON object")
        }
        guard let type = value["type"]?.stringValue else {
            throw LayercodeError(.protocolViolation, "server message has no \"type\"")
        }
        guard !type.utf8.contains(0) else {
            throw LayercodeError(.protocolViolation, "server message type contains a NUL; refused")
        }
        let turnID = try checkedID(value["turn_id"], field: "turn_id", type: type)
        let deltaID = try checkedID(value["delta_id"], field: "delta_id", type: type)
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
        return ServerMessage(type: type, kind: kind, turnID: turnID, deltaID: deltaID, json: value)
    }

    private static func checkedID(_ value: JSONValue?, field: String,
                                  type: String) throws(LayercodeError) -> String? {
        guard let id = idString(value) else { return nil }
        let size = id.utf8.count
        guard size <= maxIDBytes else {
            throw LayercodeError(.protocolViolation,
                                 "\(type) has a \(field) of \(size) bytes (over \(maxIDBytes)); refused")
        }
        guard !id.utf8.contains(0) else {
            throw LayercodeError(.protocolViolation, "\(type) has a \(field) containing a NUL; refused")
        }
        return id
    }

    /// Ids arrive as strings, but a number is accepted and printed canonically.
    static func idString(_ value: JSONValue?) -> String? {
        switch value {
        case .string(let s)?: return s
        case .number(let n)? where n.isFinite: return value!.serialized()
        default: return nil
        }
    }

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
