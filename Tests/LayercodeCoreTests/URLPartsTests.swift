// SPDX-License-Identifier: Apache-2.0
import XCTest
@testable import LayercodeCore

final class URLPartsTests: XCTestCase {
    func testCommonForms() throws {
        let a = try URLParts.parse("wss://api.layercode.com/v1/agents/web/websocket?client_session_key=abc")
        XCTAssertEqual(a, URLParts(scheme: "wss", host: "api.layercode.com", port: 443,
                                   pathAndQuery: "/v1/agents/web/websocket?client_session_key=abc", isTLS: true,
                                   hostIsIPLiteral: false, hostHeader: "api.layercode.com"))
        let b = try URLParts.parse("HTTP://LocalHost:8080")
        XCTAssertEqual(b.scheme, "http")
        XCTAssertEqual(b.host, "localhost")
        XCTAssertEqual(b.port, 8080)
        XCTAssertEqual(b.pathAndQuery, "/")
        XCTAssertFalse(b.isTLS)
        XCTAssertEqual(b.hostHeader, "localhost:8080")
        let c = try URLParts.parse("https://example.com:443/authorize#frag")
        XCTAssertEqual(c.hostHeader, "example.com")
        XCTAssertEqual(c.pathAndQuery, "/authorize")
        XCTAssertEqual(try URLParts.parse("ws://h?x=1").pathAndQuery, "/?x=1")
        XCTAssertEqual(try URLParts.parse("ws://h:80/").hostHeader, "h")
        XCTAssertEqual(try URLParts.parse("ws://h:/p").port, 80)
        XCTAssertEqual(try URLParts.parse("  ws://h/p \n").pathAndQuery, "/p")
        XCTAssertEqual(try URLParts.parse("ws://h/a b/é").pathAndQuery, "/a%20b/%C3%A9")
    }

    func testIPLiterals() throws {
        let v4 = try URLParts.parse("http://127.0.0.1:9000/x")
        XCTAssertTrue(v4.hostIsIPLiteral)
        XCTAssertEqual(v4.hostHeader, "127.0.0.1:9000")
        XCTAssertTrue(try URLParts.parse("http://10.0.0.0/").hostIsIPLiteral)
        XCTAssertFalse(try URLParts.parse("http://host.example9/").hostIsIPLiteral)
        let v6 = try URLParts.parse("wss://[::1]:8443/ws")
        XCTAssertEqual(v6.host, "::1")
        XCTAssertTrue(v6.hostIsIPLiteral)
        XCTAssertEqual(v6.hostHeader, "[::1]:8443")
        let v6b = try URLParts.parse("https://[2001:DB8::A:1]/")
        XCTAssertEqual(v6b.host, "2001:db8::a:1")
        XCTAssertEqual(v6b.hostHeader, "[2001:db8::a:1]")
        XCTAssertEqual(try URLParts.parse("http://[::ffff:192.0.2.1]/").host, "::ffff:192.0.2.1")
        XCTAssertEqual(try URLParts.parse("http://[1:2:3:4:5:6:7:8]/").port, 80)
        for bad in ["http://[]/", "http://[::1/", "http://[::1]x/", "http://[1:2]/", "http://[1:::2]/",
                    "http://[1::2::3]/", "http://[12345::]/", "http://[1:2:3:4:5:6:7:8:9]/", "http://[g::]/", "http://[::1%25eth0]/"] {
            XCTAssertThrowsError(try URLParts.parse(bad), bad)
        }
    }

    /// Regression (leading_zero_ipv4_verified_as_another_address): "127.0.0.010" was taken
    /// as the IP literal 127.0.0.10 for the certificate check while getaddrinfo connected to
    /// 127.0.0.8 (octal). Every host that getaddrinfo would read as a number but that is not
    /// a plain dotted quad is refused.
    func testAmbiguousIPv4FormsAreRefused() {
        for bad in ["https://127.0.0.010/", "https://0127.0.0.1/", "https://127.1/", "https://1.2.3/",
                    "https://2130706433/", "https://0x7f.0.0.1/", "https://127.0.0.0x1/",
                    "https://127.0.0.256/", "https://example.01/", "wss://[::ffff:127.0.0.010]/"] {
            XCTAssertThrowsError(try URLParts.parse(bad), bad)
        }
        XCTAssertTrue(try URLParts.parse("https://127.0.0.10/").hostIsIPLiteral)
        XCTAssertFalse(try URLParts.parse("https://0x.example/").hostIsIPLiteral, "a name")
    }

    func testErrors() {
        func message(_ s: String) -> String? {
            do { _ = try URLParts.parse(s); return nil } catch { return error.message }
        }
        XCTAssertEqual(message("ftp://h/"), "unsupported scheme 'ftp'")
        XCTAssertEqual(message("http:///path"), "empty host")
        XCTAssertEqual(message("http://:80/"), "empty host")
        XCTAssertEqual(message("http://user:pw@h/"), "userinfo not supported")
        XCTAssertEqual(message("http://h:0/"), "bad port")
        XCTAssertEqual(message("http://h:65536/"), "bad port")
        XCTAssertEqual(message("http://h:123456/"), "bad port")
        XCTAssertEqual(message("http://h:8a/"), "bad port")
        XCTAssertEqual(message("http://h:1:2/"), "bad port")
        XCTAssertNotNil(message("example.com/path"))
        XCTAssertNotNil(message("http:/h"))
        XCTAssertNotNil(message("http://h\r\nX: y/"))
        XCTAssertNotNil(message("http://h/p\r\nInjected: 1"))
        XCTAssertNotNil(message("http://h\\x/"))
        XCTAssertNotNil(message(""))
    }

    func testPercentEncodeQueryValue() {
        XCTAssertEqual(percentEncodeQueryValue("abcXYZ019-._~"), "abcXYZ019-._~")
        XCTAssertEqual(percentEncodeQueryValue("a b&c=d/e?f+g%"), "a%20b%26c%3Dd%2Fe%3Ff%2Bg%25")
        XCTAssertEqual(percentEncodeQueryValue("é😀"), "%C3%A9%F0%9F%98%80")
        XCTAssertEqual(percentEncodeQueryValue(""), "")
    }
}
