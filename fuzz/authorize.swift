// SPDX-License-Identifier: Apache-2.0
// libFuzzer target: the authorize step (doc/protocol.md §1): Authorize.parseResponse on any
// status and body, what it hands on (VADSettings -> EnergyVAD.Config), and requestBody.
//
// Input: byte 0 picks the HTTP status (bit 7 clear: from a table of interesting statuses;
// set: (byte 0 & 0x7F) << 8 | byte 1, modulo 1000), byte 2 maxDepth; the rest is the body.
// Checked on every input:
//  1. A non-2xx status always throws .authorize whose message names the status and the
//     server's "error" (or "message") text when the body has one.
//  2. A 2xx status succeeds exactly when the body is an object with a non-empty string
//     client_session_key, a non-empty string conversation_id (or legacy session_id), neither
//     holding a NUL (a NUL in the server's error text shows as U+FFFD), a config object
//     and config.transcription.trigger "automatic" or "push_to_talk" (decided here from the
//     JSON, independently); otherwise it throws .protocolViolation.
//  3. On success every field matches the JSON and every VAD number is in its documented
//     range, also after mapping onto EnergyVAD.Config.
//  4. requestBody built from the input parses back to the same fields.

private let statuses = [200, 201, 204, 299, 300, 199, 100, 400, 401, 402, 403, 404, 500, 502, 0, -1,
                        Int.max, Int.min, 302, 101]
private let depthLimits = [64, 0, 1, 2, 3, 4, 16, 500]

private func errorOf(_ body: () throws -> AuthorizeResult) -> (AuthorizeResult?, LayercodeError?) {
    do {
        return (try body(), nil)
    } catch let error as LayercodeError {
        return (nil, error)
    } catch {
        fuzzFail("parseResponse threw a non-LayercodeError: \(error)")
    }
}

/// doc/protocol.md §1's rule for a usable 2xx body, read straight off the JSON.
private func shouldSucceed(_ json: JSONValue?) -> Bool {
    guard case .object(let o)? = json else { return false }
    guard case .string(let key)? = o["client_session_key"], !key.isEmpty,
          !key.utf8.contains(0) else { return false }
    var conversation: String?
    if case .string(let s)? = o["session_id"] { conversation = s }
    if case .string(let s)? = o["conversation_id"] { conversation = s }
    guard let conversation, !conversation.isEmpty, !conversation.utf8.contains(0),
          case .object(let config)? = o["config"],
          case .object(let transcription)? = config["transcription"],
          case .string(let trigger)? = transcription["trigger"] else { return false }
    return trigger == "automatic" || trigger == "push_to_talk"
}

private func checkSuccess(_ r: AuthorizeResult, json: JSONValue) {
    fuzzCheck(r.clientSessionKey == json["client_session_key"]?.stringValue, "client_session_key")
    let conversation = json["conversation_id"]?.stringValue ?? json["session_id"]?.stringValue
    fuzzCheck(r.conversationID == conversation, "conversation_id")
    fuzzCheck(r.config == json["config"], "config not handed on untouched")
    let transcription = json["config"]?["transcription"]
    fuzzCheck(r.trigger.rawValue == transcription?["trigger"]?.stringValue, "trigger")
    fuzzCheck(r.canInterrupt == (transcription?["can_interrupt"]?.boolValue ?? true), "can_interrupt")

    let vad = r.vad
    let v = json["config"]?["vad"]
    fuzzCheck(vad.enabled == (v?["enabled"]?.boolValue ?? true), "vad.enabled")
    fuzzCheck(vad.gateAudio == (v?["gate_audio"]?.boolValue ?? true), "vad.gate_audio")
    fuzzCheck((0...500).contains(vad.bufferFrames), "buffer_frames \(vad.bufferFrames)")
    for (name, value) in [("redemption_frames", vad.redemptionFrames), ("min_speech_frames", vad.minSpeechFrames)] {
        if let value { fuzzCheck((0...10_000).contains(value), "\(name) \(value)") }
        let given = v?[name]?.doubleValue
        let usable = given.map { $0.isFinite && $0 >= 0 } ?? false
        fuzzCheck((value != nil) == usable, "\(name) \(String(describing: value)) from \(String(describing: given))")
    }
    if let samples = vad.frameSamples { fuzzCheck((1...16_000).contains(samples), "frame_samples \(samples)") }
    fuzzCheck(vad.model == v?["model"]?.stringValue, "vad.model")
    let ms = vad.sileroFrameMilliseconds
    fuzzCheck(ms.isFinite && ms > 0 && ms <= 1000, "silero frame \(ms) ms")

    let energy = EnergyVAD.Config(settings: vad)
    fuzzCheck((1...500).contains(energy.hangoverFrames), "hangoverFrames \(energy.hangoverFrames)")
    fuzzCheck((1...50).contains(energy.minSpeechFrames), "minSpeechFrames \(energy.minSpeechFrames)")
    var detector = EnergyVAD(config: energy)
    let silence = [Int16](repeating: 0, count: 160)
    _ = silence.withUnsafeBufferPointer { detector.process($0) }
}

private func checkRequestBody(_ body: [UInt8], json: JSONValue?) {
    let agentID = String(decoding: body.prefix(64), as: UTF8.self)
    let conversation: String? = body.count % 2 == 0 ? String(decoding: body.suffix(16), as: UTF8.self) : nil
    let request = Authorize.requestBody(agentID: agentID, metadata: json, conversationID: conversation,
                                        sdkVersion: "0.1.0")
    guard let parsed = try? JSONValue.parse(request, maxDepth: 1 << 20) else {
        fuzzFail("requestBody is not JSON: \(String(decoding: request, as: UTF8.self))")
    }
    fuzzCheck(parsed["agent_id"] == .string(agentID), "agent_id")
    fuzzCheck(parsed["metadata"] == finiteJSON(json ?? .object(JSONObject())), "metadata")
    fuzzCheck(parsed["sdk_version"] == "0.1.0", "sdk_version")
    fuzzCheck(parsed["conversation_id"] == conversation.map { .string($0) }, "conversation_id")
    fuzzCheck(parsed.objectValue?.count == (conversation == nil ? 3 : 4), "requestBody keys")
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzAuthorize(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let input = fuzzBytes(data, size)
    guard input.count >= 3 else { return 0 }
    let status = input[0] & 0x80 == 0
        ? statuses[Int(input[0]) % statuses.count]
        : (Int(input[0] & 0x7F) << 8 | Int(input[1])) % 1000
    let maxDepth = depthLimits[Int(input[2]) % depthLimits.count]
    let body = Array(input[3...])

    let json = try? JSONValue.parse(body, maxDepth: maxDepth)
    let (result, error) = errorOf { try Authorize.parseResponse(status: status, body: body, maxDepth: maxDepth) }
    if !(200..<300).contains(status) {
        guard let error, error.code == .authorize else {
            fuzzFail("status \(status) did not fail with .authorize: \(String(describing: error))")
        }
        // Compared as UTF-8: a detail that starts with a combining mark joins the space before it
        // into one Character, and String.hasPrefix compares Characters.
        fuzzCheck(error.message.utf8.starts(with: "authorize failed: HTTP \(status): ".utf8), "message \(error.message)")
        if let detail = (json?["error"]?.stringValue ?? json?["message"]?.stringValue)
            .map(CText.replacingNUL) {
            fuzzCheck(error.message.utf8.reversed().starts(with: (": " + detail).utf8.reversed()), "message lacks the server's text: \(error.message)")
        }
    } else if shouldSucceed(json) {
        guard let result else { fuzzFail("valid authorize response rejected: \(String(describing: error))") }
        checkSuccess(result, json: json!)
    } else {
        guard let error, error.code == .protocolViolation else {
            fuzzFail("invalid authorize response accepted (\(String(describing: result))) or wrong error \(String(describing: error))")
        }
    }
    checkRequestBody(body, json: json)
    return 0
}
