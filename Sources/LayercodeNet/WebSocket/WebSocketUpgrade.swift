// SPDX-License-Identifier: Apache-2.0
import CLayercodeShims
import LayercodeCore

/// The client's side of the RFC 6455 opening handshake, as plain functions: the upgrade
/// request, and the check of the server's answer (WebSocketClient sends and reads them).
enum WebSocketUpgrade {
    static func request(url: URLParts, key: String, userAgent: String) -> String {
        var request = "GET \(url.pathAndQuery) HTTP/1.1\r\nHost: \(url.hostHeader)\r\n"
        request += "Upgrade: websocket\r\nConnection: Upgrade\r\n"
        request += "Sec-WebSocket-Key: \(key)\r\nSec-WebSocket-Version: 13\r\n"
        request += "User-Agent: \(userAgent)\r\n\r\n"
        return request
    }

    /// Why the answer `head` to a request with `key` does not open the socket; nil if it does.
    static func refusal(_ head: HTTPResponseHead, key: String) -> LayercodeError? {
        guard head.status == 101 else {
            return LayercodeError(.protocolViolation,
                                  "WebSocket upgrade refused: HTTP \(head.status) \(head.reason)",
                                  httpStatus: head.status)
        }
        guard head.header("Upgrade")?.lowercased() == "websocket",
              head.header("Connection")?.lowercased().split(separator: ",")
                .contains(where: { $0.trimmingSpaces() == "upgrade" }) == true else {
            return LayercodeError(.protocolViolation,
                                  "WebSocket upgrade response lacks Upgrade/Connection headers")
        }
        // Exactly one Sec-WebSocket-Accept, and the right one: a second (even a matching one)
        // means a response we cannot read one way (a proxy or a smuggled head).
        let accepts = head.headers("Sec-WebSocket-Accept")
        guard accepts.count == 1 else {
            return LayercodeError(.protocolViolation, accepts.isEmpty
                                  ? "no Sec-WebSocket-Accept in upgrade response"
                                  : "\(accepts.count) Sec-WebSocket-Accept headers in upgrade response")
        }
        guard accepts[0] == WebSocketClient.acceptValue(forKey: key) else {
            return LayercodeError(.protocolViolation, "wrong Sec-WebSocket-Accept in upgrade response")
        }
        guard head.headers("Upgrade").count == 1 else {
            return LayercodeError(.protocolViolation, "more than one Upgrade header in upgrade response")
        }
        if head.header("Sec-WebSocket-Extensions") != nil {
            return LayercodeError(.protocolViolation, "server chose an extension we did not offer")
        }
        // We request no subprotocol, so any choice is one we did not offer (RFC 6455 §4.1).
        if head.header("Sec-WebSocket-Protocol") != nil {
            return LayercodeError(.protocolViolation, "server chose a subprotocol we did not request")
        }
        return nil
    }
}

extension WebSocketClient {
    /// The value a server must answer in Sec-WebSocket-Accept for `key` (RFC 6455 §4.2.2).
    public static func acceptValue(forKey key: String) -> String {
        let input = Array((key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").utf8)
        var digest = [UInt8](repeating: 0, count: 20)
        lcshim_sha1(input, input.count, &digest)
        return Base64.encode(digest)
    }
}

extension Substring {
    func trimmingSpaces() -> Substring {
        var s = self
        while s.first == " " || s.first == "\t" { s.removeFirst() }
        while s.last == " " || s.last == "\t" { s.removeLast() }
        return s
    }
}
