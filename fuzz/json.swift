// SPDX-License-Identifier: Apache-2.0
// libFuzzer target: JSONValue.parse (the strict RFC 8259 parser, with its depth limit), the
// serializer, JSONWriter, and ServerMessage.decode (doc/protocol.md §2 server messages).
//
// Input: byte 0 picks maxDepth, the rest is the JSON text. Checked on every input:
//  1. The parser accepts exactly what an independent recursive recognizer written here
//     accepts (same grammar, same depth rule, UTF-8 checked by the standard library, no
//     unpaired surrogate escapes), and builds the same value.
//  2. Round trip: parse -> serialize -> parse gives an equal value (non-finite numbers,
//     from exponents like 1e999, become null: the serializer's documented rule), and
//     serializing that again gives the same bytes. JSONWriter walking the tree writes the
//     same bytes as serialize(). The String and byte entry points agree.
//  3. Depth: accepted text nests at most maxDepth deep; it parses again with maxDepth equal
//     to its deepest nesting and fails with a nesting error one below. (The value can be
//     shallower than the text: with duplicate keys the last value wins.)
//  4. ServerMessage.decode succeeds exactly for objects with a string "type" without NUL
//     whose string turn_id / delta_id (if any) have no NUL and at most maxIDBytes, and its
//     kind, turn id, delta id and audio samples agree with the JSON.

private let depthLimits = [64, 0, 1, 2, 3, 5, 16, 500]

// MARK: - Independent recognizer

private struct Recognizer {
    let b: [UInt8]
    let maxDepth: Int
    var i = 0
    /// The deepest nesting of containers in the text (not the value's depth: a duplicate
    /// key can replace a deeper value with a shallower one).
    var deepest = 0

    init(_ bytes: [UInt8], maxDepth: Int) {
        b = bytes
        self.maxDepth = maxDepth
    }

    mutating func document() -> JSONValue? {
        skipBlanks()
        guard let v = value(depth: 0) else { return nil }
        skipBlanks()
        return i == b.count ? v : nil
    }

    mutating func skipBlanks() {
        while i < b.count, [0x20, 0x09, 0x0A, 0x0D].contains(b[i]) { i += 1 }
    }

    func at(_ c: Character) -> Bool { i < b.count && b[i] == c.asciiValue! }

    mutating func value(depth: Int) -> JSONValue? {
        guard i < b.count else { return nil }
        switch b[i] {
        case UInt8(ascii: "{"):
            guard depth < maxDepth else { return nil }
            deepest = max(deepest, depth + 1)
            i += 1
            skipBlanks()
            var pairs: [(String, JSONValue)] = []
            if at("}") { i += 1; return .object(JSONObject(pairs)) }
            while true {
                guard at("\""), let key = string() else { return nil }
                skipBlanks()
                guard at(":") else { return nil }
                i += 1
                skipBlanks()
                guard let v = value(depth: depth + 1) else { return nil }
                pairs.append((key, v))
                skipBlanks()
                if at(",") { i += 1; skipBlanks(); continue }
                guard at("}") else { return nil }
                i += 1
                return .object(JSONObject(pairs))
            }
        case UInt8(ascii: "["):
            guard depth < maxDepth else { return nil }
            deepest = max(deepest, depth + 1)
            i += 1
            skipBlanks()
            var elements: [JSONValue] = []
            if at("]") { i += 1; return .array(elements) }
            while true {
                guard let v = value(depth: depth + 1) else { return nil }
                elements.append(v)
                skipBlanks()
                if at(",") { i += 1; skipBlanks(); continue }
                guard at("]") else { return nil }
                i += 1
                return .array(elements)
            }
        case UInt8(ascii: "\""):
            return string().map { .string($0) }
        case UInt8(ascii: "t"): return literal("true") ? .bool(true) : nil
        case UInt8(ascii: "f"): return literal("false") ? .bool(false) : nil
        case UInt8(ascii: "n"): return literal("null") ? .null : nil
        default: return number().map { .number($0) }
        }
    }

    mutating func literal(_ word: String) -> Bool {
        let w = Array(word.utf8)
        guard b.count - i >= w.count, Array(b[i..<(i + w.count)]) == w else { return false }
        i += w.count
        return true
    }

    mutating func digits() -> Int {
        let start = i
        while i < b.count, (0x30...0x39).contains(b[i]) { i += 1 }
        return i - start
    }

    mutating func number() -> Double? {
        let start = i
        if at("-") { i += 1 }
        if at("0") {
            i += 1
        } else {
            guard i < b.count, (0x31...0x39).contains(b[i]) else { return nil }
            _ = digits()
        }
        if at(".") {
            i += 1
            guard digits() > 0 else { return nil }
        }
        if at("e") || at("E") {
            i += 1
            if at("+") || at("-") { i += 1 }
            guard digits() > 0 else { return nil }
        }
        return Double(String(decoding: b[start..<i], as: UTF8.self))
    }

    mutating func hex4() -> UInt32? {
        guard b.count - i >= 4 else { return nil }
        guard let v = UInt32(String(decoding: b[i..<(i + 4)], as: UTF8.self), radix: 16),
              b[i..<(i + 4)].allSatisfy({ $0 != UInt8(ascii: "+") && $0 != UInt8(ascii: "-") }) else { return nil }
        i += 4
        return v
    }

    /// At the opening quote; the decoded string, or nil.
    mutating func string() -> String? {
        i += 1
        var out = ""
        var run: [UInt8] = []
        func flush() -> Bool {
            guard let s = String(validating: run, as: UTF8.self) else { return false }
            out += s
            run.removeAll()
            return true
        }
        while i < b.count {
            let c = b[i]
            if c == UInt8(ascii: "\"") {
                i += 1
                return flush() ? out : nil
            }
            if c < 0x20 { return nil }
            if c != UInt8(ascii: "\\") {
                run.append(c)
                i += 1
                continue
            }
            guard flush(), i + 1 < b.count else { return nil }
            let e = b[i + 1]
            i += 2
            switch e {
            case UInt8(ascii: "\""): out += "\""
            case UInt8(ascii: "\\"): out += "\\"
            case UInt8(ascii: "/"): out += "/"
            case UInt8(ascii: "b"): out += "\u{08}"
            case UInt8(ascii: "f"): out += "\u{0C}"
            case UInt8(ascii: "n"): out += "\n"
            case UInt8(ascii: "r"): out += "\r"
            case UInt8(ascii: "t"): out += "\t"
            case UInt8(ascii: "u"):
                guard let unit = hex4() else { return nil }
                var scalarValue = unit
                if (0xD800...0xDBFF).contains(unit) {
                    guard at("\\"), i + 1 < b.count, b[i + 1] == UInt8(ascii: "u") else { return nil }
                    i += 2
                    guard let low = hex4(), (0xDC00...0xDFFF).contains(low) else { return nil }
                    scalarValue = 0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00)
                } else if (0xDC00...0xDFFF).contains(unit) {
                    return nil
                }
                guard let scalar = Unicode.Scalar(scalarValue) else { return nil }
                out.unicodeScalars.append(scalar)
            default:
                return nil
            }
        }
        return nil
    }
}

// MARK: - Helpers

private func depth(_ v: JSONValue) -> Int {
    switch v {
    case .array(let a): return 1 + (a.map(depth).max() ?? 0)
    case .object(let o): return 1 + (o.values.map(depth).max() ?? 0)
    default: return 0
    }
}

private func write(_ v: JSONValue, to w: inout JSONWriter) {
    switch v {
    case .null: w.null()
    case .bool(let b): w.bool(b)
    case .number(let d):
        if let n = Int(exactly: d), n.magnitude < (1 << 53) { w.number(n) } else { w.number(d) }
    case .string(let s): w.string(s)
    case .array(let a):
        w.beginArray()
        for e in a { write(e, to: &w) }
        w.endArray()
    case .object(let o):
        w.beginObject()
        for (k, e) in o {
            w.key(k)
            write(e, to: &w)
        }
        w.endObject()
    }
}

private func parse(_ bytes: [UInt8], _ maxDepth: Int) -> Result<JSONValue, JSONError> {
    Result { () throws(JSONError) -> JSONValue in try JSONValue.parse(bytes, maxDepth: maxDepth) }
}

// MARK: - Target

private func checkServerMessage(_ text: String, parsed: JSONValue?, maxDepth: Int) {
    let message = try? ServerMessage.decode(text, maxDepth: maxDepth)
    let type = parsed?["type"]?.stringValue
    // An id the client keeps: a string of at most maxIDBytes without NUL, or a number.
    func acceptableID(_ value: JSONValue?) -> Bool {
        guard case .string(let s)? = value else { return true }
        return s.utf8.count <= ServerMessage.maxIDBytes && !s.utf8.contains(0)
    }
    let acceptable = type.map { !$0.utf8.contains(0) } == true
        && acceptableID(parsed?["turn_id"]) && acceptableID(parsed?["delta_id"])
    fuzzCheck((message != nil) == (parsed?.objectValue != nil && acceptable),
              "ServerMessage.decode \(message == nil ? "failed" : "succeeded") for \(String(describing: parsed))")
    guard let message, let parsed else { return }
    fuzzCheck(message.type == type && message.json == parsed, "ServerMessage type or json differs")
    let kinds: [String: ServerMessage.Kind] = [
        "turn.start": .turnStart(role: parsed["role"]?.stringValue ?? ""),
        "response.audio": .responseAudio, "response.text": .responseText, "response.data": .responseData,
        "response.end": .responseEnd, "user.transcript.interim_delta": .userTranscriptInterimDelta,
        "user.transcript.delta": .userTranscriptDelta, "user.transcript": .userTranscript,
    ]
    fuzzCheck(message.kind == (kinds[type!] ?? .other), "kind \(message.kind) for type \(type!)")
    for (id, field) in [(message.turnID, "turn_id"), (message.deltaID, "delta_id")] {
        switch parsed[field] {
        case .string(let s)?: fuzzCheck(id == s, "\(field) string")
        case .number(let d)? where !d.isFinite:
            fuzzCheck(id == nil, "\(field) number \(d) too large for a double is absent")
        case .number(let d)?:
            fuzzCheck(id != nil && (try? JSONValue.parse(id!)) == .number(d), "\(field) number \(d) as \(String(describing: id))")
        default: fuzzCheck(id == nil, "\(field) from a non-id value")
        }
    }
    let samples = message.audioSamples()
    if let content = parsed["content"]?.stringValue, let raw = Base64.decode(content), raw.count % 2 == 0 {
        guard let samples else { fuzzFail("audioSamples nil for valid base64 content") }
        fuzzCheck(samples.count * 2 == raw.count, "sample count")
        for (k, s) in samples.enumerated() {
            fuzzCheck(UInt16(bitPattern: s) == UInt16(raw[2 * k]) | UInt16(raw[2 * k + 1]) << 8, "sample \(k)")
        }
        // Base64 round trip: re-encoding the bytes decodes to the same bytes.
        fuzzCheck(Base64.decode(Base64.encode(raw)) == raw, "base64 round trip")
    } else {
        fuzzCheck(samples == nil, "audioSamples without valid content")
    }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzJSON(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let input = fuzzBytes(data, size)
    guard !input.isEmpty else { return 0 }
    let maxDepth = depthLimits[Int(input[0]) % depthLimits.count]
    let text = Array(input[1...])

    let result = parse(text, maxDepth)
    var recognizer = Recognizer(text, maxDepth: maxDepth)
    let expected = recognizer.document()
    switch result {
    case .failure(let error):
        fuzzCheck(expected == nil, "parser rejects (\(error)) what the recognizer accepts: \(String(describing: expected))")
        fuzzCheck(error.offset >= 0 && error.offset <= text.count, "error offset \(error.offset) outside the input")
    case .success(let value):
        guard let expected else { fuzzFail("parser accepts what the recognizer rejects: \(value)") }
        fuzzCheck(value == expected, "parser and recognizer disagree:\n \(value)\n \(expected)")
        fuzzCheck(stdlibIsValidUTF8(text), "accepted input that is not UTF-8")

        var out: [UInt8] = []
        value.serialize(into: &out)
        fuzzCheck(Array(value.serialized().utf8) == out, "serialized() and serialize(into:) differ")
        var writer = JSONWriter()
        write(value, to: &writer)
        fuzzCheck(writer.bytes == out, "JSONWriter and serialize differ:\n \(writer.string)\n \(value.serialized())")

        guard case .success(let again) = parse(out, maxDepth) else {
            fuzzFail("serialized value does not parse: \(value.serialized())")
        }
        fuzzCheck(again == finiteJSON(value), "round trip changed the value:\n \(value)\n \(again)")
        var out2: [UInt8] = []
        again.serialize(into: &out2)
        fuzzCheck(out2 == out, "serializing twice is not stable")

        let d = recognizer.deepest
        fuzzCheck(depth(value) <= d && d <= maxDepth, "depth \(depth(value)), nesting \(d), maxDepth \(maxDepth)")
        guard case .success(let atLimit) = parse(text, d), atLimit == value else {
            fuzzFail("does not parse with maxDepth = its nesting \(d)")
        }
        if d > 0 {
            guard case .failure(let error) = parse(text, d - 1), error.message.hasPrefix("nesting deeper") else {
                fuzzFail("parses with maxDepth one below its nesting \(d)")
            }
        }
    }
    if stdlibIsValidUTF8(text) {
        let string = String(decoding: text, as: UTF8.self)
        let viaString = Result { () throws(JSONError) -> JSONValue in try JSONValue.parse(string, maxDepth: maxDepth) }
        fuzzCheck(viaString == result, "String and byte parse differ")
        checkServerMessage(string, parsed: try? result.get(), maxDepth: maxDepth)
    }
    return 0
}
