// SPDX-License-Identifier: Apache-2.0
import XCTest
@testable import LayercodeCore

/// Server-side (unmasked) frame bytes for tests.
func unmaskedServerFrame(_ opcode: UInt8, fin: Bool = true, _ payload: [UInt8], rsv: UInt8 = 0) -> [UInt8] {
    var out: [UInt8] = [(fin ? 0x80 : 0) | rsv | opcode]
    let n = payload.count
    if n < 126 {
        out.append(UInt8(n))
    } else if n <= 0xFFFF {
        out += [126, UInt8(n >> 8), UInt8(n & 0xFF)]
    } else {
        out.append(127)
        for k in (0..<8).reversed() { out.append(UInt8(truncatingIfNeeded: n >> (8 * k))) }
    }
    return out + payload
}

final class WebSocketReaderTests: XCTestCase {
    private func events(_ bytes: [UInt8], maxMessageSize: Int = 1 << 20) -> [Result<WSEvent, WSProtocolError>] {
        var reader = WebSocketReader(maxMessageSize: maxMessageSize)
        reader.append(bytes)
        var out: [Result<WSEvent, WSProtocolError>] = []
        while let e = reader.next() {
            out.append(e)
            if case .failure = e { break }
        }
        return out
    }

    private func assertFails(_ bytes: [UInt8], code: UInt16, maxMessageSize: Int = 1 << 20, after expected: [WSEvent] = [],
                             file: StaticString = #filePath, line: UInt = #line) {
        let got = events(bytes, maxMessageSize: maxMessageSize)
        let successes = got.compactMap { try? $0.get() }
        XCTAssertEqual(successes, expected, file: file, line: line)
        guard case .failure(let error)? = got.last else {
            return XCTFail("expected failure \(code), got \(got)", file: file, line: line)
        }
        XCTAssertEqual(error.closeCode, code, error.reason, file: file, line: line)
    }

    func testRFCHelloAndFragmentedHello() {
        var reader = WebSocketReader()
        reader.append([0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f])
        XCTAssertEqual(try reader.next()?.get(), .text("Hello"))
        XCTAssertNil(reader.next())
        reader.append([0x01, 0x03, 0x48, 0x65, 0x6c])
        XCTAssertNil(reader.next())
        reader.append([0x80, 0x02, 0x6c, 0x6f])
        XCTAssertEqual(try reader.next()?.get(), .text("Hello"))
        XCTAssertNil(reader.next())
        XCTAssertEqual(reader.bufferedByteCount, 0)
    }

    func testFragmentationWithInterleavedControlFrames() {
        let bytes = unmaskedServerFrame(0x1, fin: false, Array("Hel".utf8))
            + unmaskedServerFrame(0x9, Array("p1".utf8))
            + unmaskedServerFrame(0x0, fin: false, Array("l".utf8))
            + unmaskedServerFrame(0xA, [])
            + unmaskedServerFrame(0x0, fin: true, Array("o".utf8))
            + unmaskedServerFrame(0x2, [1, 2, 3])
        let got = events(bytes).compactMap { try? $0.get() }
        XCTAssertEqual(got, [.ping(Array("p1".utf8)), .pong([]), .text("Hello"), .binary([1, 2, 3])])
    }

    func testFragmentedBinaryAndEmptyMessages() {
        let bytes = unmaskedServerFrame(0x2, fin: false, [1]) + unmaskedServerFrame(0x0, fin: false, []) + unmaskedServerFrame(0x0, [2, 3])
            + unmaskedServerFrame(0x1, []) + unmaskedServerFrame(0x1, fin: false, []) + unmaskedServerFrame(0x0, [])
        XCTAssertEqual(events(bytes).compactMap { try? $0.get() }, [.binary([1, 2, 3]), .text(""), .text("")])
    }

    func testSequencingErrors() {
        assertFails(unmaskedServerFrame(0x0, Array("x".utf8)), code: 1002)
        assertFails(unmaskedServerFrame(0x1, fin: false, Array("a".utf8)) + unmaskedServerFrame(0x1, Array("b".utf8)), code: 1002)
        assertFails(unmaskedServerFrame(0x1, fin: false, Array("a".utf8)) + unmaskedServerFrame(0x2, [1]), code: 1002)
        assertFails(unmaskedServerFrame(0x1, Array("ok".utf8)) + unmaskedServerFrame(0x0, fin: false, []), code: 1002, after: [.text("ok")])
    }

    func testFrameRuleErrors() {
        assertFails(unmaskedServerFrame(0x1, Array("x".utf8), rsv: 0x40), code: 1002)
        assertFails(unmaskedServerFrame(0x3, []), code: 1002)
        assertFails(unmaskedServerFrame(0xB, []), code: 1002)
        assertFails([0x81, 0x81, 1, 2, 3, 4, 0x55], code: 1002)
        assertFails(unmaskedServerFrame(0x9, fin: false, []), code: 1002)
        assertFails(unmaskedServerFrame(0x9, [UInt8](repeating: 0, count: 126)), code: 1002)
        assertFails([0x82, 0x7F, 0x80, 0, 0, 0, 0, 0, 0, 1], code: 1002)
    }

    func testMessageSizeLimit() {
        assertFails(unmaskedServerFrame(0x2, [UInt8](repeating: 0, count: 11)), code: 1009, maxMessageSize: 10)
        XCTAssertEqual(try events(unmaskedServerFrame(0x2, [UInt8](repeating: 0, count: 10)), maxMessageSize: 10).first?.get(),
                       .binary([UInt8](repeating: 0, count: 10)))
        // The sum of fragments counts, and fails at the header of the fragment that crosses it.
        let frag = unmaskedServerFrame(0x1, fin: false, [UInt8](repeating: 0x61, count: 6))
        assertFails(frag + [0x80, 5], code: 1009, maxMessageSize: 10)
        // Control frames are not limited by maxMessageSize (only by 125).
        XCTAssertEqual(try events(unmaskedServerFrame(0x9, [UInt8](repeating: 7, count: 100)), maxMessageSize: 10).first?.get(),
                       .ping([UInt8](repeating: 7, count: 100)))
    }

    func testHugeDeclaredLengthFailsWithoutPayload() {
        var reader = WebSocketReader(maxMessageSize: 16 << 20)
        reader.append([0x82, 0x7F, 0, 0, 0, 0, 0x7F, 0xFF, 0xFF, 0xFF])
        guard case .failure(let e)? = reader.next() else { return XCTFail() }
        XCTAssertEqual(e.closeCode, 1009)
        // 16 MiB declared within the limit: waits, buffering only what arrived.
        var ok = WebSocketReader(maxMessageSize: 16 << 20)
        ok.append([0x82, 0x7F, 0, 0, 0, 0, 0x01, 0, 0, 0, 1, 2, 3])
        XCTAssertNil(ok.next())
        XCTAssertEqual(ok.bufferedByteCount, 13)
    }

    func testCloseFrames() {
        XCTAssertEqual(try events(unmaskedServerFrame(0x8, [])).first?.get(), .close(code: nil, reason: ""))
        XCTAssertEqual(try events(unmaskedServerFrame(0x8, [0x03, 0xE8] + Array("bye é".utf8))).first?.get(),
                       .close(code: 1000, reason: "bye é"))
        XCTAssertEqual(try events(unmaskedServerFrame(0x8, [0x0F, 0xA0])).first?.get(), .close(code: 4000, reason: ""))
        assertFails(unmaskedServerFrame(0x8, [0x03]), code: 1002)
        for bad: UInt16 in [0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000] {
            assertFails(unmaskedServerFrame(0x8, [UInt8(bad >> 8), UInt8(bad & 0xFF)]), code: 1002)
        }
        assertFails(unmaskedServerFrame(0x8, [0x03, 0xE8, 0xCE, 0xBA, 0xED, 0xA0, 0x80]), code: 1007)
    }

    func testBytesAfterCloseAreIgnored() {
        var reader = WebSocketReader()
        reader.append(unmaskedServerFrame(0x8, [0x03, 0xE8]) + unmaskedServerFrame(0x1, Array("late".utf8)))
        XCTAssertEqual(try reader.next()?.get(), .close(code: 1000, reason: ""))
        XCTAssertTrue(reader.isClosed)
        XCTAssertNil(reader.next())
        reader.append(unmaskedServerFrame(0x1, Array("later".utf8)))
        XCTAssertNil(reader.next())
    }

    // Autobahn 6.x style: "κόσμε" with a surrogate (ED A0 80) in the middle.
    private let invalidKosme: [UInt8] = [0xCE, 0xBA, 0xE1, 0xBD, 0xB9, 0xCF, 0x83, 0xCE, 0xBC, 0xCE, 0xB5,
                                         0xED, 0xA0, 0x80, 0x65, 0x64, 0x69, 0x74, 0x65, 0x64]

    func testValidMultiByteSplitAcrossFragments() {
        let text = Array("κόσμε😀".utf8)
        for cut in 0...text.count {
            let bytes = unmaskedServerFrame(0x1, fin: false, Array(text[..<cut])) + unmaskedServerFrame(0x0, Array(text[cut...]))
            XCTAssertEqual(try events(bytes).first?.get(), .text("κόσμε😀"), "cut \(cut)")
        }
        // One byte per fragment.
        var bytes: [UInt8] = []
        for (k, b) in text.enumerated() {
            bytes += unmaskedServerFrame(k == 0 ? 0x1 : 0x0, fin: k == text.count - 1, [b])
        }
        XCTAssertEqual(try events(bytes).first?.get(), .text("κόσμε😀"))
    }

    func testInvalidUTF8FailsFastAcrossFragments() {
        // The first fragment is valid; the second makes the prefix invalid: the reader must fail
        // on it, before the final fragment has arrived.
        var reader = WebSocketReader()
        reader.append(unmaskedServerFrame(0x1, fin: false, Array(invalidKosme[..<12])))
        XCTAssertNil(reader.next())
        reader.append(unmaskedServerFrame(0x0, fin: false, Array(invalidKosme[12..<14])))
        guard case .failure(let e)? = reader.next() else { return XCTFail("expected a fast failure") }
        XCTAssertEqual(e.closeCode, 1007)
        // Sticky.
        reader.append(unmaskedServerFrame(0x0, Array(invalidKosme[14...])))
        XCTAssertEqual(reader.next(), .failure(e))
        XCTAssertEqual(reader.next(), .failure(e))

        // Every split point of the invalid payload fails with 1007.
        for cut in 0...invalidKosme.count {
            let bytes = unmaskedServerFrame(0x1, fin: false, Array(invalidKosme[..<cut])) + unmaskedServerFrame(0x0, Array(invalidKosme[cut...]))
            assertFails(bytes, code: 1007)
        }
    }

    func testInvalidUTF8FailsFastInsideAFrameStillArriving() {
        // A single 100-byte frame whose 3rd and 4th bytes are invalid: fails after 6 bytes arrive.
        var payload = [UInt8](repeating: 0x61, count: 100)
        payload[2] = 0xED
        payload[3] = 0xA0
        let frame = unmaskedServerFrame(0x1, payload)
        var reader = WebSocketReader()
        reader.append(Array(frame[..<4]))
        XCTAssertNil(reader.next())
        reader.append(Array(frame[4..<6]))
        guard case .failure(let e)? = reader.next() else { return XCTFail("expected a fast failure") }
        XCTAssertEqual(e.closeCode, 1007)
    }

    func testIncompleteSequenceAtFinIs1007() {
        assertFails(unmaskedServerFrame(0x1, [0x61, 0xE2, 0x82]), code: 1007)
        assertFails(unmaskedServerFrame(0x1, fin: false, [0xF0, 0x9F]) + unmaskedServerFrame(0x0, [0x98]), code: 1007)
        // The validator resets between messages.
        let bytes = unmaskedServerFrame(0x1, Array("é".utf8)) + unmaskedServerFrame(0x1, Array("ok".utf8))
        XCTAssertEqual(events(bytes).compactMap { try? $0.get() }, [.text("é"), .text("ok")])
    }

    func testBinaryIsNotValidated() {
        XCTAssertEqual(try events(unmaskedServerFrame(0x2, [0xFF, 0xED, 0xA0])).first?.get(), .binary([0xFF, 0xED, 0xA0]))
    }

    func testByteAtATimeDeliveryAndCompaction() {
        var stream: [UInt8] = []
        var expected: [WSEvent] = []
        for i in 0..<200 {
            let text = String(repeating: "x", count: i * 3) + "é"
            stream += unmaskedServerFrame(0x1, Array(text.utf8))
            expected.append(.text(text))
            if i % 17 == 0 {
                stream += unmaskedServerFrame(0x9, [UInt8(i)])
                expected.append(.ping([UInt8(i)]))
            }
        }
        var reader = WebSocketReader()
        var got: [WSEvent] = []
        for b in stream {
            reader.append([b])
            while let e = reader.next() { got.append(try! e.get()) }
        }
        XCTAssertEqual(got, expected)
        XCTAssertEqual(reader.bufferedByteCount, 0)

        // Everything at once, read lazily.
        var bulk = WebSocketReader()
        bulk.append(stream)
        var got2: [WSEvent] = []
        while let e = bulk.next() { got2.append(try! e.get()) }
        XCTAssertEqual(got2, expected)
    }

    func testLargeMessagesInLengthForms() {
        let p256 = (0..<256).map { UInt8($0) }
        let p64k = (0..<65536).map { UInt8(truncatingIfNeeded: $0) }
        let got = events(unmaskedServerFrame(0x2, p256) + unmaskedServerFrame(0x2, p64k)).compactMap { try? $0.get() }
        XCTAssertEqual(got, [.binary(p256), .binary(p64k)])
    }
}
