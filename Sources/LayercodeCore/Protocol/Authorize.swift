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
    /// How the socket opened with this answer talks (doc/opus-profile.md §1): `.opus` only
    /// for the exact Opus answer to an offer that named it; PCM JSON otherwise.
    public var wireProfile: WireProfile = .pcmJSON
    /// Why an answer that named a codec kept PCM JSON (for the log); nil otherwise.
    public var wireProfileNote: String?
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
    /// `codecs`, when not empty, adds the Opus profile's offer `"audio":{"codecs":[...]}`
    /// (doc/opus-profile.md §1), most preferred first; empty (the default) adds nothing.
    public static func requestBody(agentID: String, metadata: JSONValue?, metadataJSON: String? = nil,
                                   conversationID: String?, sdkVersion: String,
                                   codecs: [String] = []) -> [UInt8] {
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
        if !codecs.isEmpty {
            w.key("audio")
            w.beginObject()
            w.key("codecs")
            w.beginArray()
            for codec in codecs { w.string(codec) }
            w.endArray()
            w.endObject()
        }
        w.endObject()
        return w.bytes
    }

    /// The wire profile an answer's `config.audio` chooses (doc/opus-profile.md §1): `.opus`
    /// exactly when the client offered it and the answer is `{"codec":"opus",
    /// "sample_rate":16000,"frame_ms":20}`; otherwise PCM JSON, with a note when the answer
    /// named a codec this client does not take.
    public static func wireProfile(config: JSONValue, offeredOpus: Bool) -> (WireProfile, note: String?) {
        guard let audio = config["audio"] else { return (.pcmJSON, nil) }
        let codec = audio["codec"]
        if codec?.stringValue == "pcm16" { return (.pcmJSON, nil) }
        guard codec?.stringValue == "opus" else {
            let named = codec.map { $0.serialized() } ?? "none"
            return (.pcmJSON, "config.audio names codec \(CText.replacingNUL(named)): keeping PCM JSON")
        }
        guard offeredOpus else {
            return (.pcmJSON, "config.audio answers opus, which this client did not offer: keeping PCM JSON")
        }
        let format = AudioFormat.opusProfile
        guard audio["sample_rate"]?.doubleValue == Double(format.sampleRate),
              audio["frame_ms"]?.doubleValue == Double(format.frameMilliseconds) else {
            return (.pcmJSON, "config.audio answers opus at sample_rate "
                    + (audio["sample_rate"]?.serialized() ?? "none") + ", frame_ms "
                    + (audio["frame_ms"]?.serialized() ?? "none")
                    + " (this client takes 16000 and 20): keeping PCM JSON")
        }
        return (.opus, nil)
    }

    /// Interprets the authorize response. Non-2xx → `.authorize` with the status and the
    /// server's `{"error": ...}` text. A 2xx body that is not what doc/protocol.md §1 says →
    /// `.protocolViolation` saying what and where: the JSON parse error and its byte offset,
    /// the missing field by name, or the field and the JSON type it has instead. An empty
    /// `client_session_key` or conversation id, or one holding a NUL (C callbacks take
    /// NUL-terminated strings), is refused too.
    /// `offeredOpus`: the request offered the Opus profile (see `wireProfile(config:offeredOpus:)`);
    /// then `config.audio.codec` handed to the app names the codec chosen.
    public static func parseResponse(status: Int, body: [UInt8], maxDepth: Int = 64,
                                     offeredOpus: Bool = false) throws(LayercodeError) -> AuthorizeResult {
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
        var result = AuthorizeResult(
            clientSessionKey: key, conversationID: conversation, trigger: trigger,
            canInterrupt: config["transcription"]?["can_interrupt"]?.boolValue ?? true,
            vad: vad, config: config)
        let (profile, note) = wireProfile(config: config, offeredOpus: offeredOpus)
        result.wireProfile = profile
        result.wireProfileNote = note
        if offeredOpus, case .object(var object) = config {
            var audio = config["audio"]?.objectValue ?? JSONObject()
            audio["codec"] = .string(profile == .opus ? "opus" : "pcm16")
            object["audio"] = .object(audio)
            result.config = .object(object)
        }
        return result
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
