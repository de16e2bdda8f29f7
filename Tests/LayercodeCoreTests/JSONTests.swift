// SPDX-License-Identifier: Apache-2.0
import XCTest
@testable import LayercodeCore

final class JSONParserTests: XCTestCase {
    private func parse(_ s: String, maxDepth: Int = 64) throws -> JSONValue {
        try JSONValue.parse(s, maxDepth: maxDepth)
    }

    private func assertError(_ s: String, offset: Int? = nil, maxDepth: Int = 64,
                             file: StaticString = #filePath, line: UInt = #line) {
        do {
            let v = try JSONValue.parse(s, maxDepth: maxDepth)
            XCTFail("expected an error for \(s.debugDescription), got \(v)", file: file, line: line)
        } catch {
            if let offset { XCTAssertEqual(error.offset, offset, "\(error)", file: file, line: line) }
        }
    }

    private func assertError(bytes: [UInt8], offset: Int? = nil, file: StaticString = #filePath, line: UInt = #line) {
        do {
            let v = try JSONValue.parse(bytes)
            XCTFail("expected an error for \(bytes), got \(v)", file: file, line: line)
        } catch {
            if let offset { XCTAssertEqual(error.offset, offset, "\(error)", file: file, line: line) }
        }
    }

    func testScalarsAtTopLevel() throws {
        XCTAssertEqual(try parse("null"), .null)
        XCTAssertEqual(try parse("true"), .bool(true))
        XCTAssertEqual(try parse(" false "), .bool(false))
        XCTAssertEqual(try parse("42"), .number(42))
        XCTAssertEqual(try parse("\"hi\""), .string("hi"))
        XCTAssertEqual(try parse("\t\r\n [ ] \n"), .array([]))
        XCTAssertEqual(try parse("{}"), .object(JSONObject()))
    }

    func testNestedDocument() throws {
        let v = try parse(#"{"type":"response.audio","content":"AAAA","turn_id":"t1","delta_id":7,"x":[1,2.5,{"a":null}]}"#)
        XCTAssertEqual(v["type"]?.stringValue, "response.audio")
        XCTAssertEqual(v["delta_id"]?.intValue, 7)
        XCTAssertEqual(v["x"]?[1]?.doubleValue, 2.5)
        XCTAssertEqual(v["x"]?[2]?["a"]?.isNull, true)
        XCTAssertNil(v["missing"])
        XCTAssertNil(v["x"]?[3])
        XCTAssertEqual(v.objectValue?.keys, ["type", "content", "turn_id", "delta_id", "x"])
    }

    func testNumbers() throws {
        let cases: [(String, Double)] = [
            ("0", 0), ("-0", -0.0), ("1", 1), ("-1", -1), ("123456789012345", 123456789012345),
            ("1234567890123456789", 1234567890123456768), ("1.5", 1.5), ("-0.25", -0.25),
            ("1e3", 1000), ("1E+3", 1000), ("1e-3", 0.001), ("0.1", 0.1), ("2.2250738585072014e-308", 2.2250738585072014e-308),
            ("9007199254740993", 9007199254740992), ("1.7976931348623157e308", 1.7976931348623157e308),
        ]
        for (text, expected) in cases {
            let v = try parse(text)
            XCTAssertEqual(v.doubleValue, expected, text)
        }
        XCTAssertEqual(try parse("-0").doubleValue?.sign, .minus)
        XCTAssertEqual(try parse("1e400").doubleValue, .infinity)
    }

    func testNumberGrammarErrors() {
        assertError("01", offset: 1)
        assertError("-", offset: 1)
        assertError("-a", offset: 1)
        assertError("1.", offset: 2)
        assertError("1.e3", offset: 2)
        assertError("1e", offset: 2)
        assertError("1e+", offset: 3)
        assertError(".5", offset: 0)
        assertError("+1", offset: 0)
        assertError("NaN", offset: 0)
        assertError("Infinity", offset: 0)
        assertError("-Infinity", offset: 1)
        assertError("0x10", offset: 1)
        assertError("[1,]", offset: 3)
    }

    func testStringsAndEscapes() throws {
        XCTAssertEqual(try parse(#""a\"b\\c\/d\be\ff\ng\rh\ti""#).stringValue, "a\"b\\c/d\u{8}e\u{c}f\ng\rh\ti")
        XCTAssertEqual(try parse(#""\u0041\u00e9\u20AC""#).stringValue, "Aé€")
        XCTAssertEqual(try parse(#""\u0000""#).stringValue, "\u{0}")
        XCTAssertEqual(try parse("\"héllo wörld 😀\"").stringValue, "héllo wörld 😀")
        // A long ASCII run exercises the 8-byte scan, with an escape at the end.
        let long = String(repeating: "abcdefgh", count: 100)
        XCTAssertEqual(try parse("\"\(long)\\n\"").stringValue, long + "\n")
    }

    func testSurrogatePairs() throws {
        XCTAssertEqual(try parse(#""\ud83d\ude00""#).stringValue, "😀")
        XCTAssertEqual(try parse(#""x\uD834\uDD1Ey""#).stringValue, "x𝄞y")
        assertError(#""\ud83d""#, offset: 1)            // lone high
        assertError(#""\ud83dx""#, offset: 1)
        assertError(#""\ud83d\u0041""#, offset: 1)      // high + non-low
        assertError(#""\ude00""#, offset: 1)            // lone low
        assertError(#""ab\ude00\ud83d""#, offset: 3)
    }

    func testStringErrors() {
        assertError("\"abc", offset: 0)
        assertError("\"a\tb\"", offset: 2)
        assertError("\"a\nb\"", offset: 2)
        assertError(#""\x""#, offset: 1)
        assertError(#""\u12""#, offset: 1)
        assertError(#""\u12G4""#, offset: 1)
        assertError("\"\\", offset: 1)
        // Invalid UTF-8: stray continuation, overlong, surrogate, > U+10FFFF, truncated.
        assertError(bytes: [0x22, 0x61, 0x80, 0x22], offset: 2)
        assertError(bytes: [0x22, 0xC0, 0xAF, 0x22], offset: 1)
        assertError(bytes: [0x22, 0xED, 0xA0, 0x80, 0x22], offset: 1)
        assertError(bytes: [0x22, 0xF4, 0x90, 0x80, 0x80, 0x22], offset: 1)
        assertError(bytes: [0x22, 0xE2, 0x82, 0x22], offset: 1)
        assertError(bytes: [0x22, 0xE2, 0x82], offset: 1)
    }

    func testStructureErrors() {
        assertError("", offset: 0)
        assertError("   ", offset: 3)
        assertError("[1 2]", offset: 3)
        assertError("{\"a\" 1}", offset: 5)
        assertError("{\"a\":1,}", offset: 7)
        assertError("{a:1}", offset: 1)
        assertError("[", offset: 1)
        assertError("{\"a\":", offset: 5)
        assertError("[1]x", offset: 3)
        assertError("1 2", offset: 2)
        assertError("tru", offset: 3)
        assertError("nul", offset: 3)
        assertError("fals", offset: 4)
        assertError("truex", offset: 4)
        assertError("[}", offset: 1)
        assertError("{]", offset: 1)
        assertError("\u{FEFF}1", offset: 0)  // no BOM
    }

    func testDepthLimit() throws {
        let ok = String(repeating: "[", count: 64) + String(repeating: "]", count: 64)
        XCTAssertNoThrow(try parse(ok))
        let tooDeep = String(repeating: "[", count: 65) + String(repeating: "]", count: 65)
        assertError(tooDeep, offset: 64)
        assertError(#"{"a":{"b":1}}"#, offset: 5, maxDepth: 1)
        XCTAssertNoThrow(try parse(#"{"a":{"b":1}}"#, maxDepth: 2))
        XCTAssertEqual(try parse("7", maxDepth: 0), .number(7))
        assertError("[]", offset: 0, maxDepth: 0)
        // A huge nesting attempt fails at the limit without using the stack.
        assertError(String(repeating: "[", count: 1_000_000), offset: 64)
    }

    func testDuplicateKeysLastWinsFirstOrder() throws {
        let v = try parse(#"{"a":1,"b":2,"a":3}"#)
        XCTAssertEqual(v.objectValue?.keys, ["a", "b"])
        XCTAssertEqual(v["a"], .number(3))
        XCTAssertEqual(v.serialized(), #"{"a":3,"b":2}"#)
    }

    func testParseBytesAndBufferOverloads() throws {
        let bytes = Array(#"{"k":[true]}"#.utf8)
        XCTAssertEqual(try JSONValue.parse(bytes), ["k": [true]])
        let v = try bytes.withUnsafeBytes { try JSONValue.parse($0) }
        XCTAssertEqual(v, ["k": [true]])
    }

    func testEmptyBufferWithoutBaseAddress() {
        XCTAssertThrowsError(try JSONValue.parse(UnsafeRawBufferPointer(start: nil, count: 0)))
    }
}

final class JSONObjectTests: XCTestCase {
    func testOrderAndMutation() {
        var o = JSONObject()
        o["z"] = 1
        o["a"] = "x"
        o["m"] = .null
        XCTAssertEqual(o.keys, ["z", "a", "m"])
        XCTAssertEqual(o.count, 3)
        o["z"] = 2
        XCTAssertEqual(o.keys, ["z", "a", "m"])
        XCTAssertEqual(o["z"], .number(2))
        o["a"] = nil
        XCTAssertEqual(o.keys, ["z", "m"])
        XCTAssertEqual(o["m"], .null)
        XCTAssertNil(o["a"])
        XCTAssertEqual(Array(o.map(\.key)), ["z", "m"])
    }

    func testLargeObjectUsesIndexConsistently() {
        var o = JSONObject()
        for i in 0..<100 { o["k\(i)"] = .number(Double(i)) }
        XCTAssertEqual(o.count, 100)
        XCTAssertEqual(o["k57"], .number(57))
        o["k57"] = nil
        XCTAssertNil(o["k57"])
        XCTAssertEqual(o["k58"], .number(58))
        XCTAssertEqual(o.keys.count, 99)
        for i in 0..<95 where i != 57 { o["k\(i)"] = nil }
        XCTAssertEqual(o.keys, ["k95", "k96", "k97", "k98", "k99"])
        XCTAssertEqual(o["k99"], .number(99))
        o["new"] = true
        XCTAssertEqual(o.keys.last, "new")
    }

    func testEqualityIsOrderInsensitive() {
        let a: JSONObject = ["x": 1, "y": [true, "s"]]
        let b: JSONObject = ["y": [true, "s"], "x": 1]
        XCTAssertEqual(a, b)
        XCTAssertNotEqual(a, ["x": 1])
        XCTAssertNotEqual(a, ["x": 2, "y": [true, "s"]])
        XCTAssertEqual(JSONObject([("a", 1), ("a", 2)]), ["a": 2])
    }
}

final class JSONSerializerTests: XCTestCase {
    func testCompactOutput() {
        let v: JSONValue = ["type": "client.ready", "n": 3, "neg": -2, "f": 1.5, "ok": true, "nil": .null, "arr": [1, "two", []], "o": [:]]
        XCTAssertEqual(v.serialized(), #"{"type":"client.ready","n":3,"neg":-2,"f":1.5,"ok":true,"nil":null,"arr":[1,"two",[]],"o":{}}"#)
    }

    func testStringEscaping() {
        XCTAssertEqual(JSONValue.string("a\"b\\c/d\n\r\t\u{8}\u{c}\u{1}\u{1f}\u{7f}é😀").serialized(),
                       #""a\"b\\c/d\n\r\t\b\f\u0001\u001f"# + "\u{7f}é😀\"")
        XCTAssertEqual(JSONValue.string("").serialized(), #""""#)
    }

    func testNumbers() {
        XCTAssertEqual(JSONValue.number(0).serialized(), "0")
        XCTAssertEqual(JSONValue.number(-0.0).serialized(), "0")
        XCTAssertEqual(JSONValue.number(9007199254740991).serialized(), "9007199254740991")
        XCTAssertEqual(JSONValue.number(-9007199254740991).serialized(), "-9007199254740991")
        XCTAssertEqual(JSONValue.number(9007199254740992).serialized(), "9007199254740992.0")
        XCTAssertEqual(JSONValue.number(1e16).serialized(), "1e+16")
        XCTAssertEqual(JSONValue.number(0.1).serialized(), "0.1")
        XCTAssertEqual(JSONValue.number(1e-7).serialized(), "1e-07")
        XCTAssertEqual(JSONValue.number(.infinity).serialized(), "null")
        XCTAssertEqual(JSONValue.number(-.infinity).serialized(), "null")
        XCTAssertEqual(JSONValue.number(.nan).serialized(), "null")
        for d in [0.1, 1e-7, 1e300, Double.leastNonzeroMagnitude, 123.456, -2.5e-10, 9007199254740992, 1.7976931348623157e308] {
            XCTAssertEqual(try JSONValue.parse(JSONValue.number(d).serialized()).doubleValue, d)
        }
    }

    func testRoundTrip() throws {
        let texts = [
            #"{"a":[1,2,{"b":"c\n\u0000"}],"d":-0.5,"e":true,"f":null,"g":"😀é"}"#,
            #"[[[[]]],{},"",0,1e+300]"#,
            #""x""#,
        ]
        for text in texts {
            let v = try JSONValue.parse(text)
            let again = try JSONValue.parse(v.serialized())
            XCTAssertEqual(v, again, text)
            XCTAssertEqual(again.serialized(), v.serialized())
        }
        XCTAssertEqual(try JSONValue.parse(#"{ "a" : [ 1 , 2 ] }"#).serialized(), #"{"a":[1,2]}"#)
    }

    func testSerializeIntoAppends() {
        var out = Array("prefix:".utf8)
        JSONValue.array([1, "a"]).serialize(into: &out)
        XCTAssertEqual(String(decoding: out, as: UTF8.self), #"prefix:[1,"a"]"#)
    }

    func testAccessors() {
        XCTAssertEqual(JSONValue.number(3).intValue, 3)
        XCTAssertNil(JSONValue.number(3.5).intValue)
        XCTAssertNil(JSONValue.number(1e300).intValue)
        XCTAssertNil(JSONValue.number(.nan).intValue)
        XCTAssertNil(JSONValue.number(9.3e18).intValue)
        XCTAssertEqual(JSONValue.number(-9.2e18).intValue, -9_200_000_000_000_000_000)
        XCTAssertNil(JSONValue.string("3").intValue)
        XCTAssertEqual(JSONValue.bool(false).boolValue, false)
        XCTAssertNil(JSONValue.null.boolValue)
        XCTAssertTrue(JSONValue.null.isNull)
        XCTAssertFalse(JSONValue.bool(false).isNull)
        XCTAssertEqual(JSONValue.array([1]).arrayValue, [1])
        XCTAssertNil(JSONValue.array([1])["k"])
        XCTAssertNil(JSONValue.object(["k": 1])[0])
        XCTAssertEqual(JSONValue.object(["k": 1]).objectValue?.count, 1)
    }
}

final class JSONWriterTests: XCTestCase {
    func testClientAudioMessage() throws {
        let pcm: [UInt8] = (0..<320).map { UInt8(truncatingIfNeeded: $0 &* 7) }
        var w = JSONWriter()
        w.beginObject()
        w.key("type"); w.string("client.audio")
        w.key("content"); w.base64String(pcm)
        w.endObject()
        XCTAssertEqual(w.string, #"{"type":"client.audio","content":""# + Base64.encode(pcm) + #""}"#)
        let parsed = try JSONValue.parse(w.bytes)
        XCTAssertEqual(parsed["content"]?.stringValue.flatMap(Base64.decode), pcm)
    }

    func testCommasAndNesting() throws {
        var w = JSONWriter()
        w.beginObject()
        w.key("a"); w.number(1)
        w.key("b"); w.beginArray(); w.number(1.5); w.bool(true); w.null(); w.beginObject(); w.endObject(); w.beginArray(); w.endArray(); w.string("s"); w.endArray()
        w.key("c"); w.raw(#"{"x":[1]}"#)
        w.key("d"); w.value(["k": "v"])
        w.key("e\"q"); w.number(-7)
        w.endObject()
        XCTAssertEqual(w.string, #"{"a":1,"b":[1.5,true,null,{},[],"s"],"c":{"x":[1]},"d":{"k":"v"},"e\"q":-7}"#)
        XCTAssertNoThrow(try JSONValue.parse(w.bytes))
        w.reset()
        w.beginArray(); w.number(Int.min); w.number(Int.max); w.endArray()
        XCTAssertEqual(w.string, "[-9223372036854775808,9223372036854775807]")
        w.reset()
        w.string("top")
        XCTAssertEqual(w.string, #""top""#)
    }
}
