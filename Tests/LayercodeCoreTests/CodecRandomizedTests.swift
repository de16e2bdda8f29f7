// SPDX-License-Identifier: Apache-2.0
import XCTest
@testable import LayercodeCore

/// SplitMix64 (Steele, Lea, Flood 2014): a tiny seeded generator so failures reproduce.
private struct SplitMix64: RandomNumberGenerator {
    private var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

private func randomBytes(_ count: Int, _ rng: inout SplitMix64) -> [UInt8] {
    (0..<count).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
}

/// Splits `bytes` into random-sized pieces (including empty ones).
private func randomPieces(_ bytes: [UInt8], _ rng: inout SplitMix64, maxPiece: Int = 17) -> [[UInt8]] {
    var pieces: [[UInt8]] = []
    var i = 0
    while i < bytes.count {
        let n = Int.random(in: 0...maxPiece, using: &rng)
        let end = min(bytes.count, i + n)
        pieces.append(Array(bytes[i..<end]))
        i = end
    }
    return pieces
}

final class CodecRandomizedTests: XCTestCase {
    /// Drains the reader, stopping at the first failure.
    private func drain(_ reader: inout WebSocketReader, into out: inout [Result<WSEvent, WSProtocolError>]) {
        while let e = reader.next() {
            out.append(e)
            if case .failure = e { return }
        }
    }

    private func readAll(_ stream: [UInt8], pieces: [[UInt8]], maxMessageSize: Int) -> [Result<WSEvent, WSProtocolError>] {
        var reader = WebSocketReader(maxMessageSize: maxMessageSize)
        var out: [Result<WSEvent, WSProtocolError>] = []
        for piece in pieces {
            reader.append(piece)
            drain(&reader, into: &out)
            if case .failure? = out.last { break }
        }
        return out
    }

    /// Valid streams of mixed frames: any split gives the same events.
    func testWebSocketReaderSplitInvariance() {
        var rng = SplitMix64(seed: 0x5EED_0001)
        let words = ["a", "é", "€", "😀", "κόσμε", "hello ", "\u{0}", "x"]
        for _ in 0..<300 {
            var stream: [UInt8] = []
            var expected: [WSEvent] = []
            for _ in 0..<Int.random(in: 1...8, using: &rng) {
                switch rng.next() % 4 {
                case 0:
                    let text = (0..<Int.random(in: 0...20, using: &rng)).map { _ in words.randomElement(using: &rng)! }.joined()
                    let utf8 = Array(text.utf8)
                    // Fragment at random byte positions (may split characters), with pings between.
                    var cuts = (0..<Int.random(in: 0...3, using: &rng)).map { _ in Int.random(in: 0...utf8.count, using: &rng) }
                    cuts.sort()
                    cuts.append(utf8.count)
                    var start = 0
                    for (index, cut) in cuts.enumerated() {
                        let isFinal = index == cuts.count - 1
                        stream += unmaskedServerFrame(index == 0 ? 0x1 : 0x0, fin: isFinal, Array(utf8[start..<cut]))
                        start = cut
                        if !isFinal && rng.next() % 2 == 0 {
                            let p = randomBytes(Int.random(in: 0...125, using: &rng), &rng)
                            stream += unmaskedServerFrame(0x9, fin: true, p)
                            expected.append(.ping(p))
                        }
                    }
                    expected.append(.text(text))
                case 1:
                    let b = randomBytes(Int.random(in: 0...300, using: &rng), &rng)
                    stream += unmaskedServerFrame(0x2, fin: true, b)
                    expected.append(.binary(b))
                case 2:
                    let p = randomBytes(Int.random(in: 0...125, using: &rng), &rng)
                    stream += unmaskedServerFrame(0xA, fin: true, p)
                    expected.append(.pong(p))
                default:
                    let b = randomBytes(Int.random(in: 126...1000, using: &rng), &rng)
                    stream += unmaskedServerFrame(0x2, fin: false, Array(b[..<100])) + unmaskedServerFrame(0x0, fin: true, Array(b[100...]))
                    expected.append(.binary(b))
                }
            }
            let whole = readAll(stream, pieces: [stream], maxMessageSize: 1 << 20).map { try? $0.get() }
            XCTAssertEqual(whole, expected.map { $0 })
            let split = readAll(stream, pieces: randomPieces(stream, &rng), maxMessageSize: 1 << 20).map { try? $0.get() }
            XCTAssertEqual(split, expected.map { $0 })
        }
    }

    /// Random and mutated bytes: never traps, and any split gives the same events and the
    /// same failure (the reader decides only from bytes, not from how they arrived).
    func testWebSocketReaderGarbageIsConsistent() {
        var rng = SplitMix64(seed: 0x5EED_0002)
        for round in 0..<2000 {
            var stream: [UInt8]
            if round % 2 == 0 {
                stream = randomBytes(Int.random(in: 0...64, using: &rng), &rng)
            } else {
                // Valid frames with a few bytes flipped.
                stream = unmaskedServerFrame(0x1, fin: false, Array("κόσμε".utf8)) + unmaskedServerFrame(0x9, fin: true, [1, 2])
                    + unmaskedServerFrame(0x0, fin: true, Array("ok".utf8)) + unmaskedServerFrame(0x8, fin: true, [0x03, 0xE8, 0x61])
                for _ in 0..<Int.random(in: 1...3, using: &rng) {
                    let k = Int.random(in: 0..<stream.count, using: &rng)
                    stream[k] ^= UInt8(truncatingIfNeeded: rng.next() | 1)
                }
            }
            let maxSize = Int.random(in: 0...40, using: &rng)
            let whole = readAll(stream, pieces: [stream], maxMessageSize: maxSize)
            let byteWise = readAll(stream, pieces: stream.map { [$0] }, maxMessageSize: maxSize)
            let random = readAll(stream, pieces: randomPieces(stream, &rng, maxPiece: 9), maxMessageSize: maxSize)
            // The reader decides from the bytes alone, not from how they were split.
            XCTAssertEqual(whole, random, "round \(round)")
            XCTAssertEqual(whole, byteWise, "round \(round)")
        }
    }

    func testWSDecodeFrameNeverTrapsAndNeedMoreIsMonotonic() {
        var rng = SplitMix64(seed: 0x5EED_0003)
        for _ in 0..<3000 {
            let bytes = randomBytes(Int.random(in: 0...24, using: &rng), &rng)
            let maxPayload = Int.random(in: -1...300, using: &rng)
            let full = bytes.withUnsafeBytes { wsDecodeFrame($0, maxPayload: maxPayload) }
            // Any prefix of a buffer that decodes (or fails) either needs more or agrees.
            for cut in 0..<bytes.count {
                let prefix = Array(bytes[..<cut]).withUnsafeBytes { wsDecodeFrame($0, maxPayload: maxPayload) }
                switch (prefix, full) {
                case (.needMore, _): break
                case (.failure(let a), .failure(let b)): XCTAssertEqual(a, b)
                case (.frame(let a, let n), .frame(let b, let m)): XCTAssertEqual(a, b); XCTAssertEqual(n, m)
                default: XCTFail("prefix \(prefix) vs full \(full)")
                }
            }
        }
    }

    func testHTTPParserSplitInvarianceOnValidAndMutatedInput() {
        var rng = SplitMix64(seed: 0x5EED_0004)
        let samples = [
            "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhelloLEFT",
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3;x=y\r\nabc\r\n0\r\nT: v\r\n\r\nLEFT",
            "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\nContent-Length: 2\n\nokX",
            "HTTP/1.0 200 OK\r\n\r\nuntil eof",
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n\u{81}\u{2}hi",
        ]
        struct Outcome: Equatable {
            var complete: Bool
            var error: HTTPParseError?
            var status: Int?
            var body: [UInt8]
            var leftover: [UInt8]
        }
        func run(_ pieces: [[UInt8]], mode: HTTPResponseParser.Mode) -> Outcome {
            var p = HTTPResponseParser(mode: mode, maxHeaderBytes: 120, maxBodyBytes: 64)
            let result = Result { () throws(HTTPParseError) in
                for piece in pieces { _ = try p.feed(piece) }
                _ = try p.finishAtEOF()
            }
            switch result {
            case .success:
                return Outcome(complete: p.isComplete, error: nil, status: p.head?.status, body: p.body, leftover: p.leftover)
            case .failure(let error):
                return Outcome(complete: p.isComplete, error: error, status: nil, body: [], leftover: [])
            }
        }
        var errors = 0
        var completions = 0
        for round in 0..<1500 {
            var input = Array(samples[round % samples.count].utf8)
            if round % 3 != 0 {
                for _ in 0..<Int.random(in: 1...2, using: &rng) {
                    let k = Int.random(in: 0..<input.count, using: &rng)
                    input[k] = UInt8(truncatingIfNeeded: rng.next())
                }
            }
            if round % 7 == 0 { input = randomBytes(Int.random(in: 0...200, using: &rng), &rng) }
            for mode in [HTTPResponseParser.Mode.full, .headOnly] {
                let whole = run([input], mode: mode)
                if whole.error != nil { errors += 1 }
                if whole.complete { completions += 1 }
                XCTAssertEqual(run(randomPieces(input, &rng), mode: mode), whole, "round \(round)")
                XCTAssertEqual(run(input.map { [$0] }, mode: mode), whole, "round \(round)")
            }
        }
        XCTAssertGreaterThan(errors, 100)
        XCTAssertGreaterThan(completions, 100)
    }

    func testJSONParserNeverTrapsAndRoundTrips() {
        var rng = SplitMix64(seed: 0x5EED_0005)
        let alphabet = Array(#"{}[]":,.-+eE0123456789 tfnrulsa\/bu"#.utf8) + [0x00, 0x0A, 0xC3, 0xA9, 0xED, 0xA0, 0x80, 0xFF]
        var parsedCount = 0
        for _ in 0..<20000 {
            let n = Int.random(in: 0...24, using: &rng)
            let bytes = (0..<n).map { _ in alphabet[Int(rng.next() % UInt64(alphabet.count))] }
            do {
                let v = try JSONValue.parse(bytes, maxDepth: 4)
                parsedCount += 1
                let text = v.serialized()
                XCTAssertEqual(try JSONValue.parse(text, maxDepth: 4).serialized(), text)
            } catch {
                XCTAssertTrue(error.offset >= 0 && error.offset <= n, "\(error) for \(bytes)")
            }
        }
        XCTAssertGreaterThan(parsedCount, 100)
    }

    func testJSONRandomTreesRoundTrip() throws {
        var rng = SplitMix64(seed: 0x5EED_0006)
        func randomValue(_ depth: Int) -> JSONValue {
            switch rng.next() % (depth > 3 ? 4 : 6) {
            case 0: return .null
            case 1: return .bool(rng.next() % 2 == 0)
            case 2:
                let d = Double(bitPattern: rng.next())
                return .number(d.isFinite ? d : Double(Int64(truncatingIfNeeded: rng.next()) >> 12))
            case 3:
                let scalars = (0..<Int.random(in: 0...8, using: &rng)).compactMap { _ in
                    Unicode.Scalar(UInt32(rng.next() % (rng.next() % 2 == 0 ? 0x80 : 0x110000)))
                }
                return .string(String(String.UnicodeScalarView(scalars)))
            case 4: return .array((0..<Int.random(in: 0...4, using: &rng)).map { _ in randomValue(depth + 1) })
            default:
                var o = JSONObject()
                for _ in 0..<Int.random(in: 0...4, using: &rng) { o["k\(rng.next() % 6)"] = randomValue(depth + 1) }
                return .object(o)
            }
        }
        for _ in 0..<2000 {
            let v = randomValue(0)
            let text = v.serialized()
            let back = try JSONValue.parse(text)
            XCTAssertEqual(back, v, text)
            XCTAssertEqual(back.serialized(), text)
        }
    }

    func testBase64RandomRoundTripAndGarbage() {
        var rng = SplitMix64(seed: 0x5EED_0007)
        for _ in 0..<2000 {
            let bytes = randomBytes(Int.random(in: 0...100, using: &rng), &rng)
            let text = Base64.encode(bytes)
            XCTAssertEqual(Base64.decode(text), bytes)
            let garbage = randomBytes(Int.random(in: 0...12, using: &rng), &rng)
            if let decoded = Base64.decode(garbage) {
                let significant = garbage.count - garbage.reversed().prefix(while: { $0 == 0x3D }).count
                XCTAssertEqual(decoded.count, significant / 4 * 3 + max(0, significant % 4 - 1))
            }
        }
    }

    func testUTF8ValidatorChunkingMatchesStdlib() {
        var rng = SplitMix64(seed: 0x5EED_0008)
        let pool: [UInt8] = [0x41, 0x7F, 0x80, 0xBF, 0xC2, 0xDF, 0xE0, 0xA0, 0xED, 0x9F, 0xEF, 0xF0, 0x90, 0xF4, 0x8F, 0xF5, 0xFF]
        for _ in 0..<5000 {
            let bytes = (0..<Int.random(in: 0...20, using: &rng)).map { _ in pool[Int(rng.next() % UInt64(pool.count))] }
            let expected = String(validating: bytes, as: UTF8.self) != nil
            var v = UTF8Validator()
            var ok = true
            for piece in randomPieces(bytes, &rng, maxPiece: 5) { ok = v.feed(piece) && ok }
            XCTAssertEqual(ok && v.isAtBoundary, expected, "\(bytes)")
        }
    }
}
