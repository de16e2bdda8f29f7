// SPDX-License-Identifier: Apache-2.0
import XCTest
import LayercodeCore

/// Every parser failure carries a reason; a caller maps the reason, never the wording.
final class HTTPParseErrorReasonTests: XCTestCase {
    private func failure(_ text: String, maxHeaderBytes: Int = 32 << 10, maxBodyBytes: Int = 64,
                         atEOF: Bool = false) -> HTTPParseError? {
        var parser = HTTPResponseParser(mode: .full, maxHeaderBytes: maxHeaderBytes, maxBodyBytes: maxBodyBytes)
        do throws(HTTPParseError) {
            _ = try parser.feed(Array(text.utf8))
            if atEOF { _ = try parser.finishAtEOF() }
            return nil
        } catch {
            return error
        }
    }

    func testEveryLimitIsTooLarge() {
        let cases: [(String, HTTPParseError?)] = [
            ("head", failure("HTTP/1.1 200 OK\r\nX: " + String(repeating: "a", count: 200), maxHeaderBytes: 64)),
            ("content-length", failure("HTTP/1.1 200 OK\r\nContent-Length: 65\r\n\r\n")),
            ("content-length overflow", failure("HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999999\r\n\r\n")),
            ("body until EOF", failure("HTTP/1.1 200 OK\r\n\r\n" + String(repeating: "b", count: 65))),
            ("chunked body", failure("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n41\r\n")),
            ("trailers", failure("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX: "
                                 + String(repeating: "t", count: 200), maxHeaderBytes: 64)),
        ]
        for (name, error) in cases {
            XCTAssertEqual(error?.reason, .tooLarge, "\(name): \(String(describing: error))")
        }
    }

    func testMalformedAndTruncatedResponsesSayWhich() {
        XCTAssertEqual(failure("HTXP/1.1 200 OK\r\n\r\n")?.reason, .malformed)
        XCTAssertEqual(failure("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                               + String(repeating: "0", count: 5000))?.reason, .malformed,
                       "an overlong chunk-size line is malformed, not a body limit")
        XCTAssertEqual(failure("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", atEOF: true)?.reason, .truncated)
        XCTAssertEqual(failure("", atEOF: true)?.reason, .truncated)
    }
}
