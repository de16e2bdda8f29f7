// SPDX-License-Identifier: Apache-2.0
import Foundation
import Glibc
import XCTest
import LayercodeCore
import LayercodeNet

/// HTTPRequest maps the parser's typed reason to the error code (it used to pick the code
/// by looking for "large" or "limit" in the message); the messages are unchanged.
final class HTTPRequestErrorTests: XCTestCase {
    /// Serves one connection: reads the request head, writes `response`, closes.
    private func request(answering response: String, maxResponseBytes: Int = 1024) throws -> LayercodeError? {
        let (listener, port) = try smallBufferLoopbackListener(name: "HTTPRequestErrorTests")
        defer { close(listener) }
        let served = Thread {
            let fd = accept(listener, nil, nil)
            guard fd >= 0 else { return }
            _ = readUpgradeRequestKey(fd)   // reads the head up to its blank line
            var bytes = Array(response.utf8)
            _ = send(fd, &bytes, bytes.count, Int32(MSG_NOSIGNAL))
            shutdown(fd, Int32(SHUT_WR))
            var sink = [UInt8](repeating: 0, count: 256)
            while read(fd, &sink, sink.count) > 0 {}
            close(fd)
        }
        served.start()
        let url = try URLParts.parse("http://127.0.0.1:\(port)/authorize")
        let done = DispatchSemaphore(value: 0)
        var outcome: Result<HTTPRequest.Response, LayercodeError>?
        var request: HTTPRequest?
        EventLoop.shared.executeAndWait {
            request = HTTPRequest(loop: .shared, method: "POST", url: url, headers: [], body: [],
                                  contentType: nil, tls: nil, timeoutMilliseconds: 30_000,
                                  maxResponseBytes: maxResponseBytes, userAgent: "test")
            request?.start { result in
                outcome = result
                done.signal()
            }
        }
        XCTAssertEqual(done.wait(timeout: .now() + 60), .success)
        EventLoop.shared.executeAndWait { request = nil }
        if case .failure(let error) = outcome { return error }
        return nil
    }

    func testABodyOverTheLimitIsTooLarge() throws {
        let error = try request(answering: "HTTP/1.1 200 OK\r\nContent-Length: 99999\r\n\r\n")
        XCTAssertEqual(error?.code, .tooLarge)
        XCTAssertTrue(error?.message.hasPrefix("POST http://127.0.0.1:") == true, error?.message ?? "no error")
        XCTAssertTrue(error?.message.hasSuffix(
            "/authorize: bad HTTP response: Content-Length 99999 exceeds the limit of 1024 bytes") == true,
                      error?.message ?? "no error")
    }

    func testAnOverflowingContentLengthIsTooLarge() throws {
        let error = try request(answering: "HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999999\r\n\r\n")
        XCTAssertEqual(error?.code, .tooLarge)
        XCTAssertTrue(error?.message.hasSuffix("bad HTTP response: Content-Length too large") == true,
                      error?.message ?? "no error")
    }

    func testAMalformedStatusLineIsAProtocolViolation() throws {
        let error = try request(answering: "HTXP/1.1 200 OK\r\n\r\n")
        XCTAssertEqual(error?.code, .protocolViolation)
        XCTAssertTrue(error?.message.hasSuffix("bad HTTP response: malformed status line") == true,
                      error?.message ?? "no error")
    }

    /// "too long" names a limit without the words the substring match looked for; the
    /// reason (not the wording) decides, and a chunk-size line that long is malformed input.
    func testAnOverlongChunkSizeLineIsAProtocolViolation() throws {
        let line = String(repeating: "0", count: 5000)
        let error = try request(answering: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\(line)\r\n",
                                maxResponseBytes: 1 << 20)
        XCTAssertEqual(error?.code, .protocolViolation)
        XCTAssertTrue(error?.message.hasSuffix("bad HTTP response: chunk size line too long") == true,
                      error?.message ?? "no error")
    }

    func testABodyCutShortIsAProtocolViolation() throws {
        let error = try request(answering: "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc")
        XCTAssertEqual(error?.code, .protocolViolation)
        XCTAssertTrue(error?.message.hasSuffix(
            "bad HTTP response: connection closed before the end of the body (Content-Length)") == true,
                      error?.message ?? "no error")
    }
}
