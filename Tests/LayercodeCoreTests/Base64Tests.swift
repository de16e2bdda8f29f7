// SPDX-License-Identifier: Apache-2.0
import XCTest
@testable import LayercodeCore

final class Base64Tests: XCTestCase {
    // RFC 4648 section 10.
    private let vectors: [(String, String)] = [
        ("", ""), ("f", "Zg=="), ("fo", "Zm8="), ("foo", "Zm9v"),
        ("foob", "Zm9vYg=="), ("fooba", "Zm9vYmE="), ("foobar", "Zm9vYmFy"),
    ]

    func testRFC4648Vectors() {
        for (plain, encoded) in vectors {
            XCTAssertEqual(Base64.encode(Array(plain.utf8)), encoded)
            XCTAssertEqual(Base64.decode(encoded), Array(plain.utf8), encoded)
            // Without padding.
            let unpadded = String(encoded.prefix { $0 != "=" })
            XCTAssertEqual(Base64.decode(unpadded), Array(plain.utf8), unpadded)
        }
    }

    func testAllByteValuesAndLengths() {
        for length in 0..<70 {
            let bytes = (0..<length).map { UInt8(truncatingIfNeeded: $0 &* 37 &+ 250) }
            let encoded = Base64.encode(bytes)
            XCTAssertEqual(encoded.utf8.count, Base64.encodedLength(length))
            XCTAssertEqual(encoded.utf8.count % 4, 0)
            XCTAssertEqual(Base64.decode(encoded), bytes)
        }
        let all = (0...255).map { UInt8($0) }
        XCTAssertEqual(Base64.decode(Base64.encode(all)), all)
        XCTAssertEqual(Base64.encode([0xFB, 0xFF, 0xBF]), "+/+/")
    }

    func testURLAlphabetAccepted() {
        XCTAssertEqual(Base64.decode("-_-_"), [0xFB, 0xFF, 0xBF])
        XCTAssertEqual(Base64.decode("+_-/"), [0xFB, 0xFF, 0xBF])
    }

    func testRejections() {
        XCTAssertNil(Base64.decode("Z"))          // len % 4 == 1
        XCTAssertNil(Base64.decode("Zm9vY"))
        XCTAssertNil(Base64.decode("Zm9v!g=="))
        XCTAssertNil(Base64.decode("Zm 9v"))
        XCTAssertNil(Base64.decode("Zm9v\n"))
        XCTAssertNil(Base64.decode("Zg="))        // padding must complete a quad
        XCTAssertNil(Base64.decode("Zg==="))
        XCTAssertNil(Base64.decode("Z==="))
        XCTAssertNil(Base64.decode("===="))
        XCTAssertNil(Base64.decode("="))
        XCTAssertNil(Base64.decode("Zm=v"))       // '=' in the middle
        XCTAssertNil(Base64.decode("Zg==Zg=="))
        XCTAssertNil(Base64.decode("Zm9vé"))
        XCTAssertEqual(Base64.decode(""), [])
    }

    func testEncodeIntoAppendsAndDecodeAppending() {
        var out = Array("x:".utf8)
        Array("foobar".utf8).withUnsafeBytes { Base64.encode(into: &out, $0) }
        XCTAssertEqual(String(decoding: out, as: UTF8.self), "x:Zm9vYmFy")

        var decoded: [UInt8] = [1, 2]
        XCTAssertTrue(Array("Zm9v".utf8).withUnsafeBytes { Base64.decode($0, appendingTo: &decoded) })
        XCTAssertEqual(decoded, [1, 2] + Array("foo".utf8))
        XCTAssertFalse(Array("Zm9*".utf8).withUnsafeBytes { Base64.decode($0, appendingTo: &decoded) })
        XCTAssertEqual(decoded, [1, 2] + Array("foo".utf8))
        XCTAssertEqual(Base64.decode(UnsafeRawBufferPointer(start: nil, count: 0)), [])
        XCTAssertEqual(Base64.encode(UnsafeRawBufferPointer(start: nil, count: 0)), "")
    }

    func testAudioFrameSizedPayload() {
        let frame = (0..<640).map { UInt8(truncatingIfNeeded: $0 * 31) }
        let text = Base64.encode(frame)
        XCTAssertEqual(text.utf8.count, 856)
        XCTAssertEqual(Base64.decode(text), frame)
    }
}
