// SPDX-License-Identifier: Apache-2.0
import XCTest
@testable import LayercodeCore

final class WebSocketFrameTests: XCTestCase {
    private func decode(_ bytes: [UInt8], maxPayload: Int = 1 << 20) -> WSFrameDecodeResult {
        bytes.withUnsafeBytes { wsDecodeFrame($0, maxPayload: maxPayload) }
    }

    private func assertFrame(_ bytes: [UInt8], fin: Bool, opcode: WSOpcode, payload: [UInt8], consumed: Int? = nil,
                             file: StaticString = #filePath, line: UInt = #line) {
        guard case .frame(let frame, let used) = decode(bytes) else {
            return XCTFail("expected a frame, got \(decode(bytes))", file: file, line: line)
        }
        XCTAssertEqual(frame, WSFrame(fin: fin, opcode: opcode, payload: payload), file: file, line: line)
        XCTAssertEqual(used, consumed ?? bytes.count, file: file, line: line)
    }

    private func assertFailure(_ bytes: [UInt8], code: UInt16, maxPayload: Int = 1 << 20,
                               file: StaticString = #filePath, line: UInt = #line) {
        guard case .failure(let error) = decode(bytes, maxPayload: maxPayload) else {
            return XCTFail("expected failure \(code), got \(decode(bytes, maxPayload: maxPayload))", file: file, line: line)
        }
        XCTAssertEqual(error.closeCode, code, error.reason, file: file, line: line)
    }

    private func assertNeedMore(_ bytes: [UInt8], maxPayload: Int = 1 << 20, file: StaticString = #filePath, line: UInt = #line) {
        guard case .needMore = decode(bytes, maxPayload: maxPayload) else {
            return XCTFail("expected needMore, got \(decode(bytes, maxPayload: maxPayload))", file: file, line: line)
        }
    }

    // RFC 6455 section 5.7.
    func testRFCUnmaskedHello() {
        let frame: [UInt8] = [0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f]
        assertFrame(frame, fin: true, opcode: .text, payload: Array("Hello".utf8))
        for k in 0..<frame.count { assertNeedMore(Array(frame[..<k])) }
        assertFrame(frame + [0x81], fin: true, opcode: .text, payload: Array("Hello".utf8), consumed: 7)
    }

    func testRFCMaskedHelloEncoding() {
        let encoded = wsEncodeFrame(opcode: .text, payload: Array("Hello".utf8), maskKey: 0x37FA213D)
        XCTAssertEqual(encoded, [0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58])
        // The masked pong example.
        XCTAssertEqual(wsEncodeFrame(opcode: .pong, payload: Array("Hello".utf8), maskKey: 0x37FA213D),
                       [0x8a, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58])
        // A masked frame from the server is a protocol error.
        assertFailure(encoded, code: 1002)
    }

    func testRFCFragmentsAndPing() {
        assertFrame([0x01, 0x03, 0x48, 0x65, 0x6c], fin: false, opcode: .text, payload: Array("Hel".utf8))
        assertFrame([0x80, 0x02, 0x6c, 0x6f], fin: true, opcode: .continuation, payload: Array("lo".utf8))
        assertFrame([0x89, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f], fin: true, opcode: .ping, payload: Array("Hello".utf8))
    }

    func testRFC256ByteAndSixtyFourKiBLengths() {
        let p256 = (0..<256).map { UInt8($0) }
        let f256: [UInt8] = [0x82, 0x7E, 0x01, 0x00] + p256
        assertFrame(f256, fin: true, opcode: .binary, payload: p256)
        assertNeedMore(Array(f256[..<3]))
        assertNeedMore(Array(f256.dropLast()))

        let p64k = (0..<65536).map { UInt8(truncatingIfNeeded: $0 &* 13) }
        let f64k: [UInt8] = [0x82, 0x7F, 0, 0, 0, 0, 0, 1, 0, 0] + p64k
        assertFrame(f64k, fin: true, opcode: .binary, payload: p64k)
        assertNeedMore(Array(f64k[..<9]))
        assertNeedMore(Array(f64k.dropLast()))
    }

    func testEncodeLengthFormsAndUnmaskRoundTrip() {
        for length in [0, 1, 7, 8, 9, 125, 126, 127, 255, 256, 65535, 65536, 70000] {
            let payload = (0..<length).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ 3) }
            let key: UInt32 = 0xA1B2C3D4
            let frame = wsEncodeFrame(opcode: .binary, fin: length % 2 == 0, payload: payload, maskKey: key)
            let lengthBytes = length < 126 ? 0 : (length <= 65535 ? 2 : 8)
            XCTAssertEqual(frame.count, 2 + lengthBytes + 4 + length)
            XCTAssertEqual(frame[0], (length % 2 == 0 ? 0x80 : 0) | 0x02)
            XCTAssertEqual(frame[1] & 0x80, 0x80)
            switch lengthBytes {
            case 0: XCTAssertEqual(Int(frame[1] & 0x7F), length)
            case 2:
                XCTAssertEqual(frame[1] & 0x7F, 126)
                XCTAssertEqual(Int(frame[2]) << 8 | Int(frame[3]), length)
            default:
                XCTAssertEqual(frame[1] & 0x7F, 127)
                XCTAssertEqual(frame[2..<10].reduce(0) { $0 << 8 | Int($1) }, length)
            }
            let keyBytes = Array(frame[(2 + lengthBytes)..<(6 + lengthBytes)])
            XCTAssertEqual(keyBytes, [0xA1, 0xB2, 0xC3, 0xD4])
            let unmasked = frame[(6 + lengthBytes)...].enumerated().map { $0.element ^ keyBytes[$0.offset & 3] }
            XCTAssertEqual(unmasked, payload, "length \(length)")
        }
    }

    func testEncodeIntoAppends() {
        var out: [UInt8] = [9, 9]
        [UInt8]([1, 2, 3]).withUnsafeBytes { wsEncodeFrame(into: &out, opcode: .ping, payload: $0, maskKey: 0) }
        XCTAssertEqual(out, [9, 9, 0x89, 0x83, 0, 0, 0, 0, 1, 2, 3])
    }

    func testHeaderRuleFailures() {
        assertFailure([0xC1, 0x00], code: 1002)            // RSV1
        assertFailure([0xA1, 0x00], code: 1002)            // RSV2
        assertFailure([0x91, 0x00], code: 1002)            // RSV3
        for op: UInt8 in [3, 4, 5, 6, 7, 11, 12, 13, 14, 15] {
            assertFailure([0x80 | op, 0x00], code: 1002)
        }
        assertFailure([0x81, 0x80, 0, 0, 0, 0], code: 1002) // masked
        assertFailure([0x09, 0x00], code: 1002)            // fragmented ping
        assertFailure([0x08, 0x00], code: 1002)            // fragmented close
        assertFailure([0x89, 0x7E], code: 1002)            // ping length 126 form
        assertFailure([0x8A, 0x7F], code: 1002)
        assertFailure([0x82, 0x7F, 0x80, 0, 0, 0, 0, 0, 0, 0], code: 1002)  // 64-bit MSB
        assertFrame([0x89, 0x7D] + [UInt8](repeating: 1, count: 125), fin: true, opcode: .ping,
                    payload: [UInt8](repeating: 1, count: 125))
    }

    func testMaxPayloadIsCheckedBeforeThePayloadArrives() {
        // A 16 MiB header with no payload: fails at once rather than waiting or allocating.
        assertFailure([0x82, 0x7F, 0, 0, 0, 0, 1, 0, 0, 0], code: 1009, maxPayload: 1 << 20)
        assertFailure([0x82, 0x7E, 0x01, 0x00], code: 1009, maxPayload: 255)
        assertNeedMore([0x82, 0x7E, 0x01, 0x00], maxPayload: 256)
        assertFailure([0x82, 0x7F, 0x7F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF], code: 1009, maxPayload: Int.max - 1)
        assertNeedMore([0x82, 0x7F, 0x7F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF], maxPayload: Int.max)
        assertFailure([0x82, 0x01, 0x00], code: 1009, maxPayload: 0)
        assertFrame([0x82, 0x00], fin: true, opcode: .binary, payload: [])
    }

    func testCloseCodes() {
        for code: UInt16 in [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 3999, 4000, 4999] {
            XCTAssertTrue(WSCloseCode.isValidOnWire(code), "\(code)")
        }
        for code: UInt16 in [0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535] {
            XCTAssertFalse(WSCloseCode.isValidOnWire(code), "\(code)")
        }
    }

    func testClosePayloadTruncatesOnUTF8Boundary() {
        XCTAssertEqual(wsClosePayload(code: 1000, reason: ""), [0x03, 0xE8])
        XCTAssertEqual(wsClosePayload(code: 4001, reason: "bye"), [0x0F, 0xA1] + Array("bye".utf8))
        let long = String(repeating: "a", count: 122) + "é"        // 124 bytes: é would straddle 123
        let p = wsClosePayload(code: 1001, reason: long)
        XCTAssertEqual(p.count, 2 + 122)
        XCTAssertTrue(UTF8Validator.isValid(Array(p[2...])))
        let exact = String(repeating: "a", count: 121) + "é"       // exactly 123 bytes
        XCTAssertEqual(wsClosePayload(code: 1001, reason: exact).count, 125)
        let emoji = String(repeating: "😀", count: 40)             // 160 bytes
        let q = wsClosePayload(code: 1000, reason: emoji)
        XCTAssertEqual(q.count, 2 + 120)
        XCTAssertTrue(UTF8Validator.isValid(Array(q[2...])))
    }

    func testParseClosePayload() {
        func parse(_ b: [UInt8]) -> Result<(code: UInt16?, reason: String), WSProtocolError> {
            b.withUnsafeBytes { wsParseClosePayload($0) }
        }
        if case .success(let c) = parse([]) { XCTAssertNil(c.code); XCTAssertEqual(c.reason, "") } else { XCTFail() }
        if case .success(let c) = parse([0x03, 0xE8, 0x6F, 0x6B]) { XCTAssertEqual(c.code, 1000); XCTAssertEqual(c.reason, "ok") } else { XCTFail() }
        if case .failure(let e) = parse([0x03]) { XCTAssertEqual(e.closeCode, 1002) } else { XCTFail() }
        if case .failure(let e) = parse([0x03, 0xED]) { XCTAssertEqual(e.closeCode, 1002) } else { XCTFail() }
        if case .failure(let e) = parse([0x03, 0xE8, 0xFF]) { XCTAssertEqual(e.closeCode, 1007) } else { XCTFail() }
    }
}
