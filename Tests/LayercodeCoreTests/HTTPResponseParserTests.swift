// SPDX-License-Identifier: Apache-2.0
import XCTest
@testable import LayercodeCore

final class HTTPResponseParserTests: XCTestCase {
    private func bytes(_ s: String) -> [UInt8] { Array(s.utf8) }

    /// Feeds `input` in one piece, then at EOF if `eof`; returns the parser.
    private func parse(_ input: String, mode: HTTPResponseParser.Mode = .full, eof: Bool = false,
                       maxHeaderBytes: Int = 32 << 10, maxBodyBytes: Int = 1 << 20, isHead: Bool = false) throws -> HTTPResponseParser {
        var p = HTTPResponseParser(mode: mode, maxHeaderBytes: maxHeaderBytes, maxBodyBytes: maxBodyBytes, isHeadRequest: isHead)
        _ = try p.feed(bytes(input))
        if eof { _ = try p.finishAtEOF() }
        return p
    }

    private func assertError(_ input: String, mode: HTTPResponseParser.Mode = .full, eof: Bool = false,
                             maxHeaderBytes: Int = 32 << 10, maxBodyBytes: Int = 1 << 20, contains: String? = nil,
                             file: StaticString = #filePath, line: UInt = #line) {
        do {
            let p = try parse(input, mode: mode, eof: eof, maxHeaderBytes: maxHeaderBytes, maxBodyBytes: maxBodyBytes)
            XCTFail("expected an error; complete=\(p.isComplete)", file: file, line: line)
        } catch {
            if let contains {
                XCTAssertTrue("\(error)".contains(contains), "\(error)", file: file, line: line)
            }
        }
    }

    func testContentLengthResponse() throws {
        let p = try parse("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 13\r\nX-A: 1\r\nx-a: 2\r\n\r\n{\"ok\": true}\nEXTRA")
        XCTAssertTrue(p.isComplete)
        XCTAssertEqual(p.head?.status, 200)
        XCTAssertEqual(p.head?.reason, "OK")
        XCTAssertEqual(p.head?.version, "HTTP/1.1")
        XCTAssertEqual(p.head?.header("content-type"), "application/json")
        XCTAssertEqual(p.head?.header("X-a"), "1")
        XCTAssertEqual(p.head?.headers("X-A"), ["1", "2"])
        XCTAssertNil(p.head?.header("missing"))
        XCTAssertEqual(String(decoding: p.body, as: UTF8.self), "{\"ok\": true}\n")
        XCTAssertEqual(String(decoding: p.leftover, as: UTF8.self), "EXTRA")
    }

    func testStatusLineVariants() throws {
        XCTAssertEqual(try parse("HTTP/1.1 404\r\nContent-Length: 0\r\n\r\n").head?.reason, "")
        XCTAssertEqual(try parse("HTTP/1.1 404 \r\nContent-Length: 0\r\n\r\n").head?.reason, "")
        XCTAssertEqual(try parse("HTTP/1.0 402 Payment Required\r\nContent-Length: 0\r\n\r\n").head?.reason, "Payment Required")
        XCTAssertEqual(try parse("HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n").head?.version, "HTTP/1.0")
        assertError("HTTP/2 200 OK\r\n\r\n")
        assertError("HTTP/1.1 20 OK\r\n\r\n")
        assertError("HTTP/1.1 2000 OK\r\n\r\n")
        assertError("HTTP/1.1 099 Low\r\n\r\n")
        assertError("HTTP/1.1  200 OK\r\n\r\n")
        assertError("HTTP/1.1 200 O\u{1}K\r\n\r\n")
        assertError("ICY 200 OK\r\n\r\n")
        assertError("\r\nHTTP/1.1 200 OK\r\n\r\n")
    }

    func testBareLFAccepted() throws {
        let p = try parse("HTTP/1.1 200 OK\nContent-Length: 2\n\nhi")
        XCTAssertTrue(p.isComplete)
        XCTAssertEqual(p.body, bytes("hi"))
        let q = try parse("HTTP/1.1 200 OK\r\nContent-Length: 1\n\r\nx")
        XCTAssertEqual(q.body, bytes("x"))
    }

    func testHeaderSyntaxErrors() {
        assertError("HTTP/1.1 200 OK\r\nX-A: 1\r\n folded\r\n\r\n", contains: "folding")
        assertError("HTTP/1.1 200 OK\r\nX-A: 1\r\n\tfolded\r\n\r\n", contains: "folding")
        assertError("HTTP/1.1 200 OK\r\nNoColon\r\n\r\n")
        assertError("HTTP/1.1 200 OK\r\n: v\r\n\r\n")
        assertError("HTTP/1.1 200 OK\r\nBad Name: v\r\n\r\n")
        assertError("HTTP/1.1 200 OK\r\nName : v\r\n\r\n")
        assertError("HTTP/1.1 200 OK\r\nName: a\rb\r\n\r\n")
        assertError("HTTP/1.1 200 OK\r\nName: a\u{0}b\r\n\r\n")
    }

    func testHeaderValueTrimming() throws {
        let p = try parse("HTTP/1.1 200 OK\r\nA:   spaced value \t \r\nB:\r\nContent-Length: 0\r\n\r\n")
        XCTAssertEqual(p.head?.header("a"), "spaced value")
        XCTAssertEqual(p.head?.header("b"), "")
    }

    func testContentLengthRules() throws {
        XCTAssertEqual(try parse("HTTP/1.1 200 OK\r\nContent-Length: 3, 3\r\nContent-Length: 3\r\n\r\nabc").body, bytes("abc"))
        assertError("HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd", contains: "conflicting")
        assertError("HTTP/1.1 200 OK\r\nContent-Length: 3, 4\r\n\r\nabcd")
        assertError("HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n")
        assertError("HTTP/1.1 200 OK\r\nContent-Length: +3\r\n\r\nabc")
        assertError("HTTP/1.1 200 OK\r\nContent-Length: 0x10\r\n\r\n")
        assertError("HTTP/1.1 200 OK\r\nContent-Length: \r\n\r\n")
        assertError("HTTP/1.1 200 OK\r\nContent-Length: 3,\r\n\r\nabc")
        assertError("HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999999999\r\n\r\n", contains: "too large")
        assertError("HTTP/1.1 200 OK\r\nContent-Length: 1048577\r\n\r\n", contains: "exceeds")
        XCTAssertFalse(try parse("HTTP/1.1 200 OK\r\nContent-Length: 1048576\r\n\r\n").isComplete)
        XCTAssertTrue(try parse("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n").isComplete)
    }

    func testTruncatedContentLengthAtEOF() {
        assertError("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", eof: true, contains: "Content-Length")
        assertError("HTTP/1.1 200 OK\r\nContent-Le", eof: true, contains: "head")
        assertError("", eof: true, contains: "before a response")
    }

    func testReadUntilEOF() throws {
        var p = HTTPResponseParser()
        XCTAssertFalse(try p.feed(bytes("HTTP/1.0 200 OK\r\nServer: x\r\n\r\nhello ")))
        XCTAssertFalse(try p.feed(bytes("world")))
        XCTAssertFalse(p.isComplete)
        XCTAssertTrue(try p.finishAtEOF())
        XCTAssertEqual(p.body, bytes("hello world"))
        XCTAssertTrue(try p.finishAtEOF())
        assertError("HTTP/1.1 200 OK\r\n\r\n" + String(repeating: "x", count: 11), maxBodyBytes: 10, contains: "body")
    }

    func testNoBodyStatusesAndHead() throws {
        for status in ["204 No Content", "304 Not Modified"] {
            let p = try parse("HTTP/1.1 \(status)\r\nContent-Length: 5\r\n\r\nNEXT")
            XCTAssertTrue(p.isComplete)
            XCTAssertEqual(p.body, [])
            XCTAssertEqual(p.leftover, bytes("NEXT"))
        }
        let head = try parse("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", isHead: true)
        XCTAssertTrue(head.isComplete)
        XCTAssertEqual(head.body, [])
    }

    func testInterimResponsesAreSkipped() throws {
        let p = try parse("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        XCTAssertTrue(p.isComplete)
        XCTAssertEqual(p.head?.status, 200)
        XCTAssertNil(p.head?.header("Link"))
        XCTAssertEqual(p.body, bytes("ok"))
    }

    func testHeadOnlyUpgradeWithLeftover() throws {
        let frame: [UInt8] = [0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f]
        let head = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n"
        var p = HTTPResponseParser(mode: .headOnly)
        XCTAssertTrue(try p.feed(bytes(head) + frame))
        XCTAssertEqual(p.head?.status, 101)
        XCTAssertEqual(p.head?.header("sec-websocket-accept"), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")
        XCTAssertEqual(p.leftover, frame)
        XCTAssertTrue(try p.feed([0x88, 0x00]))
        XCTAssertEqual(p.leftover, frame + [0x88, 0x00])

        // A refused upgrade: headOnly stops at the head; the body stays in leftover.
        var q = HTTPResponseParser(mode: .headOnly)
        XCTAssertTrue(try q.feed(bytes("HTTP/1.1 403 Forbidden\r\nContent-Length: 4\r\n\r\nnope")))
        XCTAssertEqual(q.head?.status, 403)
        XCTAssertEqual(q.leftover, bytes("nope"))

        // Split at every byte boundary, leftover intact.
        let all = bytes(head) + frame
        for cut in 0...all.count {
            var r = HTTPResponseParser(mode: .headOnly)
            let first = try r.feed(Array(all[..<cut]))
            XCTAssertEqual(first, cut >= all.count - frame.count)
            XCTAssertTrue(try r.feed(Array(all[cut...])))
            XCTAssertEqual(r.leftover, frame, "cut \(cut)")
        }
    }

    private let chunked = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 999\r\n\r\n"
        + "5\r\nhello\r\n1A;name=value;x\r\nabcdefghijklmnopqrstuvwxyz\r\n0\r\nTrailer-A: 1\r\n\r\nLEFT"

    func testChunkedWholeAndByteAtATime() throws {
        let whole = try parse(chunked)
        XCTAssertTrue(whole.isComplete)
        XCTAssertEqual(whole.body, bytes("helloabcdefghijklmnopqrstuvwxyz"))
        XCTAssertEqual(whole.leftover, bytes("LEFT"))

        let input = bytes(chunked)
        var p = HTTPResponseParser()
        var completedAt: Int?
        for (k, b) in input.enumerated() {
            if try p.feed([b]), completedAt == nil { completedAt = k }
        }
        XCTAssertEqual(completedAt, input.count - 5)
        XCTAssertEqual(p.body, whole.body)
        XCTAssertEqual(p.leftover, bytes("LEFT"))

        for cut in 0...input.count {
            var q = HTTPResponseParser()
            _ = try q.feed(Array(input[..<cut]))
            XCTAssertTrue(try q.feed(Array(input[cut...])))
            XCTAssertEqual(q.body, whole.body)
            XCTAssertEqual(q.leftover, bytes("LEFT"))
        }
    }

    func testChunkedVariants() throws {
        XCTAssertEqual(try parse("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n").body, [])
        XCTAssertEqual(try parse("HTTP/1.1 200 OK\nTransfer-Encoding: Chunked\n\nA\nabcdefghij\n0\n\n").body, bytes("abcdefghij"))
        XCTAssertEqual(try parse("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n2 ;ext\r\nab\r\n0\r\n\r\n").body, bytes("ab"))
        // Chunked not last: read until close.
        let p = try parse("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\nraw", eof: true)
        XCTAssertEqual(p.body, bytes("raw"))
    }

    func testChunkedErrors() {
        let h = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        assertError(h + "g\r\n")
        assertError(h + "\r\n")
        assertError(h + "-1\r\n")
        assertError(h + "5 x\r\n")
        assertError(h + "3\r\nabcX\r\n", contains: "CRLF")
        assertError(h + "3\r\nabc\r\r\n", contains: "CRLF")
        assertError(h + "FFFFFFFFFFFFFFFFFFFF\r\n")
        assertError(h + "100001\r\n", contains: "larger")                   // > 1 MiB at once
        assertError(h + String(repeating: "0", count: 5000) + "1\r\n", contains: "too long")
        assertError(h + "3\r\nabc\r\n", eof: true, contains: "chunked")
        assertError(h + "0\r\nTrailer: x\r\n", eof: true, contains: "chunked")
        assertError(h + "0\r\n folded\r\n\r\n")
        // Running total over chunks.
        assertError(h + "6\r\nabcdef\r\n5\r\nabcde\r\n0\r\n\r\n", maxBodyBytes: 10, contains: "larger")
        XCTAssertNoThrow(try parse(h + "6\r\nabcdef\r\n4\r\nabcd\r\n0\r\n\r\n", maxBodyBytes: 10))
    }

    func testHeaderLimit() throws {
        let head = "HTTP/1.1 200 OK\r\nX: " + String(repeating: "a", count: 100) + "\r\nContent-Length: 0\r\n\r\n"
        let n = head.utf8.count
        XCTAssertTrue(try parse(head, maxHeaderBytes: n).isComplete)
        assertError(head, maxHeaderBytes: n - 1, contains: "head")
        // Without a terminator, fails as soon as the limit is passed.
        var p = HTTPResponseParser(maxHeaderBytes: 64)
        XCTAssertFalse(try p.feed(bytes(String(repeating: "a", count: 64))))
        XCTAssertThrowsError(try p.feed([0x61]))
        // Sticky.
        XCTAssertThrowsError(try p.feed([0x0A]))
        XCTAssertThrowsError(try p.finishAtEOF())
        // Trailers are limited too.
        assertError("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nT: " + String(repeating: "a", count: 100) + "\r\n\r\n",
                    maxHeaderBytes: 80, contains: "trailers")
    }
}
