// SPDX-License-Identifier: Apache-2.0
// Streaming JSON output for hot-path messages (e.g. `{"type":"client.audio","content":"<base64>"}`
// fifty times a second) without building a JSONValue tree. Commas are placed automatically;
// the caller is responsible for balancing begin/end and pairing keys with values.

public struct JSONWriter: Sendable {
    /// The UTF-8 JSON text written so far.
    public private(set) var bytes: [UInt8] = []
    /// A value or a closed container was just written: the next value or key needs a comma.
    private var needsComma = false
    /// A key was just written: the next value follows its colon, no comma.
    private var afterKey = false

    public init() {}

    public init(reservingCapacity capacity: Int) {
        bytes.reserveCapacity(max(0, capacity))
    }

    /// The JSON text written so far.
    public var string: String { String(decoding: bytes, as: UTF8.self) }

    /// Starts over, keeping the allocated capacity (for reuse per message).
    public mutating func reset() {
        bytes.removeAll(keepingCapacity: true)
        needsComma = false
        afterKey = false
    }

    @inline(__always)
    private mutating func beginValue() {
        if afterKey {
            afterKey = false
        } else if needsComma {
            bytes.append(0x2C)
        }
    }

    public mutating func beginObject() {
        beginValue()
        bytes.append(0x7B)
        needsComma = false
    }

    public mutating func endObject() {
        bytes.append(0x7D)
        needsComma = true
        afterKey = false
    }

    public mutating func beginArray() {
        beginValue()
        bytes.append(0x5B)
        needsComma = false
    }

    public mutating func endArray() {
        bytes.append(0x5D)
        needsComma = true
        afterKey = false
    }

    public mutating func key(_ name: String) {
        if needsComma { bytes.append(0x2C) }
        JSONOutput.appendString(name, to: &bytes)
        bytes.append(0x3A)
        afterKey = true
        needsComma = false
    }

    public mutating func string(_ value: String) {
        beginValue()
        JSONOutput.appendString(value, to: &bytes)
        needsComma = true
    }

    public mutating func number(_ value: Double) {
        beginValue()
        JSONOutput.appendNumber(value, to: &bytes)
        needsComma = true
    }

    public mutating func number(_ value: Int) {
        beginValue()
        JSONOutput.appendInteger(Int64(value), to: &bytes)
        needsComma = true
    }

    public mutating func bool(_ value: Bool) {
        beginValue()
        JSONOutput.appendBool(value, to: &bytes)
        needsComma = true
    }

    public mutating func null() {
        beginValue()
        JSONOutput.appendNull(to: &bytes)
        needsComma = true
    }

    /// Writes an already-serialized JSON value verbatim (not validated).
    public mutating func raw(_ json: String) {
        beginValue()
        bytes.append(contentsOf: json.utf8)
        needsComma = true
    }

    /// Writes a JSON value tree.
    public mutating func value(_ value: JSONValue) {
        beginValue()
        value.serialize(into: &bytes)
        needsComma = true
    }

    /// Writes `data` as a base64 JSON string, encoding straight into the output.
    public mutating func base64String(_ data: UnsafeRawBufferPointer) {
        beginValue()
        bytes.append(0x22)
        Base64.encode(into: &bytes, data)
        bytes.append(0x22)
        needsComma = true
    }

    public mutating func base64String(_ data: [UInt8]) {
        data.withUnsafeBytes { base64String($0) }
    }
}
