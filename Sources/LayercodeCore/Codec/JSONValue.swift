// SPDX-License-Identifier: Apache-2.0
// A JSON document tree, and the ordered object it uses. Parsing is in JSONParser.swift,
// output in JSONSerializer.swift; build hot-path messages with JSONWriter instead.

/// One JSON value. Numbers are `Double` (RFC 8259 interoperability: integers are exact up to 2^53).
public enum JSONValue: Equatable, Sendable {
    case null
    case bool(Bool)
    case number(Double)
    case string(String)
    case array([JSONValue])
    case object(JSONObject)
}

/// A JSON object that keeps its keys in insertion order (so output is stable and readable).
///
/// A key appears once: setting an existing key replaces its value in place (the key keeps its
/// first position), which is also how the parser treats duplicate keys (last value wins).
/// Equality is order-insensitive, like JSON's own object semantics.
public struct JSONObject: Equatable, Sendable, Sequence {
    public typealias Element = (key: String, value: JSONValue)

    private var _keys: [String]
    private var _values: [JSONValue]
    /// Built once the object is large enough that a linear key search would hurt
    /// (parsed input can have many keys); small protocol messages never pay for hashing.
    private var _index: [String: Int]?
    private static let indexThreshold = 12

    public init() {
        _keys = []
        _values = []
        _index = nil
    }

    public init(_ pairs: [(String, JSONValue)]) {
        self.init()
        _keys.reserveCapacity(pairs.count)
        _values.reserveCapacity(pairs.count)
        for (key, value) in pairs { self[key] = value }
    }

    public var keys: [String] { _keys }
    public var values: [JSONValue] { _values }
    public var count: Int { _keys.count }
    public var isEmpty: Bool { _keys.isEmpty }

    private func position(of key: String) -> Int? {
        if let index = _index { return index[key] }
        var i = 0
        while i < _keys.count {
            if _keys[i] == key { return i }
            i += 1
        }
        return nil
    }

    /// nil when absent; assigning nil removes the key.
    public subscript(key: String) -> JSONValue? {
        get {
            guard let i = position(of: key) else { return nil }
            return _values[i]
        }
        set {
            if let value = newValue {
                if let i = position(of: key) {
                    _values[i] = value
                } else {
                    _keys.append(key)
                    _values.append(value)
                    if _index != nil {
                        _index?[key] = _keys.count - 1
                    } else if _keys.count > JSONObject.indexThreshold {
                        rebuildIndex()
                    }
                }
            } else if let i = position(of: key) {
                _keys.remove(at: i)
                _values.remove(at: i)
                if _index != nil { rebuildIndex() }
            }
        }
    }

    private mutating func rebuildIndex() {
        guard _keys.count > JSONObject.indexThreshold else {
            _index = nil
            return
        }
        var index = [String: Int](minimumCapacity: _keys.count)
        for (i, key) in _keys.enumerated() { index[key] = i }
        _index = index
    }

    public struct Iterator: IteratorProtocol {
        private let keys: [String]
        private let values: [JSONValue]
        private var i = 0
        fileprivate init(keys: [String], values: [JSONValue]) {
            self.keys = keys
            self.values = values
        }
        public mutating func next() -> (key: String, value: JSONValue)? {
            guard i < keys.count else { return nil }
            defer { i += 1 }
            return (keys[i], values[i])
        }
    }

    public func makeIterator() -> Iterator { Iterator(keys: _keys, values: _values) }

    public var underestimatedCount: Int { _keys.count }

    public static func == (lhs: JSONObject, rhs: JSONObject) -> Bool {
        guard lhs.count == rhs.count else { return false }
        if lhs._keys == rhs._keys { return lhs._values == rhs._values }
        for (key, value) in lhs {
            guard let other = rhs[key], other == value else { return false }
        }
        return true
    }
}

extension JSONObject: ExpressibleByDictionaryLiteral {
    public init(dictionaryLiteral elements: (String, JSONValue)...) {
        self.init(elements)
    }
}

// MARK: - Accessors

extension JSONValue {
    /// The member `key` when this is an object that has it; nil otherwise.
    public subscript(key: String) -> JSONValue? {
        guard case .object(let object) = self else { return nil }
        return object[key]
    }

    /// The element at `index` when this is an array and the index is in range; nil otherwise.
    public subscript(index: Int) -> JSONValue? {
        guard case .array(let array) = self, index >= 0, index < array.count else { return nil }
        return array[index]
    }

    public var stringValue: String? {
        guard case .string(let s) = self else { return nil }
        return s
    }

    public var boolValue: Bool? {
        guard case .bool(let b) = self else { return nil }
        return b
    }

    public var doubleValue: Double? {
        guard case .number(let d) = self else { return nil }
        return d
    }

    /// The number as an `Int` when it is integral and representable; nil otherwise.
    public var intValue: Int? {
        guard case .number(let d) = self else { return nil }
        return Int(exactly: d)
    }

    public var objectValue: JSONObject? {
        guard case .object(let o) = self else { return nil }
        return o
    }

    public var arrayValue: [JSONValue]? {
        guard case .array(let a) = self else { return nil }
        return a
    }

    public var isNull: Bool {
        if case .null = self { return true }
        return false
    }
}

// MARK: - Literals (convenient for building messages and for tests)

extension JSONValue: ExpressibleByStringLiteral, ExpressibleByIntegerLiteral,
    ExpressibleByFloatLiteral, ExpressibleByBooleanLiteral, ExpressibleByArrayLiteral,
    ExpressibleByDictionaryLiteral
{
    public init(stringLiteral value: String) { self = .string(value) }
    public init(integerLiteral value: Int) { self = .number(Double(value)) }
    public init(floatLiteral value: Double) { self = .number(value) }
    public init(booleanLiteral value: Bool) { self = .bool(value) }
    public init(arrayLiteral elements: JSONValue...) { self = .array(elements) }
    public init(dictionaryLiteral elements: (String, JSONValue)...) {
        self = .object(JSONObject(elements))
    }
}
