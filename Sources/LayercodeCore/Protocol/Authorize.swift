// SPDX-License-Identifier: Apache-2.0
/// The authorize step (doc/protocol.md §1): the request body the device POSTs to its backend,
/// and the handling of the response. Pure functions, so they can be fuzzed.
public enum TurnTrigger: String, Sendable {
    case automatic
    case pushToTalk = "push_to_talk"
}

/// Client VAD settings from config.vad; unknown keys stay in `AuthorizeResult.config`.
/// The Silero parameters (counts of Silero frames, nil when absent) are mapped onto the
/// energy VAD by `EnergyVAD.Config(settings:)`; the speech thresholds are Silero
/// probabilities, meaningless to an energy VAD, and are not read.
public struct VADSettings: Sendable, Equatable {
    public var enabled = true
    public var gateAudio = true
    public var bufferFrames = 10
    /// `redemption_frames`: Silero frames of silence before speech ends.
    public var redemptionFrames: Int?
    /// `min_speech_frames`: Silero frames of speech that make a segment.
    public var minSpeechFrames: Int?
    /// `frame_samples`: samples per Silero frame at 16 kHz.
    public var frameSamples: Int?
    /// `model`: "v5" or "legacy" (only its frame duration matters here).
    public var model: String?
    public init() {}

    /// One Silero frame in milliseconds: `frame_samples` at 16 kHz, else 512 samples (32 ms)
    /// for model v5 and 1536 samples (96 ms, the legacy model) otherwise.
    public var sileroFrameMilliseconds: Double {
        let samples = frameSamples ?? (model == "v5" ? 512 : 1536)
        return Double(samples) / 16.0
    }
}

public struct AuthorizeResult: Sendable {
    public var clientSessionKey: String
    public var conversationID: String
    public var trigger: TurnTrigger
    public var canInterrupt: Bool
    public var vad: VADSettings
    /// The whole "config" object, handed to the app untouched.
    public var config: JSONValue
    /// How the session's socket talks (always today's PCM JSON wire for now).
    public var wireProfile: WireProfile = .pcmJSON
}

public enum Authorize {
    /// Layercode's agent WebSocket endpoint (the `ws_url` option's default).
    public static let defaultWebSocketURL = "wss://api.layercode.com/v1/agents/web/websocket"

    /// The socket URL for an authorized session: `base` with the one-use key as the
    /// `client_session_key` query parameter (doc/protocol.md §1.3).
    public static func socketURL(_ base: URLParts, clientSessionKey key: String) -> URLParts {
        var url = base
        let separator = url.pathAndQuery.contains("?") ? "&" : "?"
        url.pathAndQuery += separator + "client_session_key=" + percentEncodeQueryValue(key)
        return url
    }

    /// `{"agent_id":..,"metadata":{..},"sdk_version":..,"conversation_id":..}`.
    /// `metadataJSON`, when given, is the app's own JSON object text, already validated: it
    /// goes out byte for byte (no number re-serialised through a Double), instead of `metadata`.
    public static func requestBody(agentID: String, metadata: JSONValue?, metadataJSON: String? = nil,
                                   conversationID: String?, sdkVersion: String) -> [UInt8] {
        var w = JSONWriter()
        w.beginObject()
        w.key("agent_id")
        w.string(agentID)
        w.key("metadata")
        w.raw(metadataJSON ?? (metadata ?? .object(JSONObject())).serialized())
        w.key("sdk_version")
        w.string(sdkVersion)
        if let conversationID {
            w.key("conversation_id")
            w.string(conversationID)
        }
        w.endObject()
        return w.bytes
    }

    /// Interprets the authorize response. Non-2xx → `.authorize` with the status and the
    /// server's `{"error": ...}` text. A 2xx body that is not what doc/protocol.md §1 says →
    /// `.protocolViolation` saying what and where: the JSON parse error and its byte offset,
    /// the missing field by name, or the field and the JSON type it has instead. An empty
    /// `client_session_key` or conversation id, or one holding a NUL (C callbacks take
    /// NUL-terminated strings), is refused too.
    public static func parseResponse(status: Int, body: [UInt8],
                                     maxDepth: Int = 64) throws(LayercodeError) -> AuthorizeResult {
        let parsed = Result { () throws(JSONError) -> JSONValue in
            try JSONValue.parse(body, maxDepth: maxDepth)
        }
        guard (200..<300).contains(status) else {
            let json = try? parsed.get()
            var detail = json?["error"]?.stringValue ?? json?["message"]?.stringValue
            if detail == nil {
                let text = String(decoding: body.prefix(200), as: UTF8.self)
                detail = text.isEmpty ? "no message" : text
            }
            throw LayercodeError(.authorize,
                                 "authorize failed: HTTP \(status): \(CText.replacingNUL(detail!))",
                                 httpStatus: status)
        }
        let json: JSONValue
        switch parsed {
        case .success(let value): json = value
        case .failure(let error):
            throw violation("authorize response is not valid JSON: \(error.message) at byte \(error.offset)")
        }
        guard json.objectValue != nil else {
            throw violation("authorize response is \(typeName(json)), not a JSON object")
        }
        let key = try string(json, "client_session_key", in: "authorize response")
        // Legacy pipelines answer with session_id (doc/protocol.md §1.5).
        let conversationField = json["conversation_id"]?.stringValue == nil
            && json["session_id"]?.stringValue != nil ? "session_id" : "conversation_id"
        let conversation = try string(json, conversationField, in: "authorize response")
        guard let config = json["config"] else {
            throw violation("authorize response has no config")
        }
        guard config.objectValue != nil else {
            throw violation("authorize response config is \(typeName(config)), not an object")
        }
        guard let transcription = config["transcription"] else {
            throw violation("authorize response has no config.transcription")
        }
        guard transcription.objectValue != nil else {
            throw violation("config.transcription is \(typeName(transcription)), not an object")
        }
        guard let triggerValue = transcription["trigger"] else {
            throw violation("authorize response has no config.transcription.trigger")
        }
        guard let triggerText = triggerValue.stringValue else {
            throw violation("config.transcription.trigger is \(typeName(triggerValue)), not a string")
        }
        guard let trigger = TurnTrigger(rawValue: triggerText) else {
            throw violation("unknown config.transcription.trigger \"\(CText.replacingNUL(triggerText))\"")
        }
        var vad = VADSettings()
        if let v = config["vad"] {
            vad.enabled = v["enabled"]?.boolValue ?? vad.enabled
            vad.gateAudio = v["gate_audio"]?.boolValue ?? vad.gateAudio
            if let frames = v["buffer_frames"]?.intValue, frames >= 0 {
                vad.bufferFrames = min(frames, 500)
            }
            vad.redemptionFrames = count(v["redemption_frames"], max: 10_000)
            vad.minSpeechFrames = count(v["min_speech_frames"], max: 10_000)
            if let samples = count(v["frame_samples"], max: 16_000), samples > 0 {
                vad.frameSamples = samples
            }
            vad.model = v["model"]?.stringValue
        }
        return AuthorizeResult(
            clientSessionKey: key, conversationID: conversation, trigger: trigger,
            canInterrupt: config["transcription"]?["can_interrupt"]?.boolValue ?? true,
            vad: vad, config: config)
    }

    private static func violation(_ message: String) -> LayercodeError {
        LayercodeError(.protocolViolation, message)
    }

    /// A required, non-empty string field without NUL.
    private static func string(_ object: JSONValue, _ field: String,
                               in place: String) throws(LayercodeError) -> String {
        guard let value = object[field] else { throw violation("\(place) has no \(field)") }
        guard let text = value.stringValue else {
            throw violation("\(place) \(field) is \(typeName(value)), not a string")
        }
        guard !text.isEmpty else { throw violation("\(place) \(field) is empty") }
        guard !text.utf8.contains(0) else { throw violation("\(place) \(field) contains a NUL") }
        return text
    }

    private static func typeName(_ value: JSONValue) -> String {
        switch value {
        case .null: return "null"
        case .bool: return "a boolean"
        case .number: return "a number"
        case .string: return "a string"
        case .array: return "an array"
        case .object: return "an object"
        }
    }

    /// A non-negative count from a JSON number (rounded, capped); nil when absent or invalid.
    private static func count(_ value: JSONValue?, max limit: Int) -> Int? {
        guard let d = value?.doubleValue, d.isFinite, d >= 0 else { return nil }
        return d >= Double(limit) ? limit : Int(d.rounded())
    }
}
