// SPDX-License-Identifier: Apache-2.0
import Foundation
import Glibc
import LayercodeCore
import LayercodeNet
import XCTest

/// A WebSocket server that answers the upgrade and then never reads nor writes again: a
/// stalled peer over real loopback TCP, with a small receive buffer so the kernel fills fast.
private final class StalledServer: @unchecked Sendable {
    let port: Int
    private let listener: Int32
    private var client: Int32 = -1
    private let done = DispatchSemaphore(value: 0)

    init() throws {
        listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var small: Int32 = 4096
        setsockopt(listener, SOL_SOCKET, SO_RCVBUF, &small, socklen_t(MemoryLayout<Int32>.size))
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        addr.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let fd = listener
        let bound = withUnsafeMutablePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, length) == 0 && listen(fd, 1) == 0 && getsockname(fd, $0, &length) == 0
            }
        }
        guard bound else { throw NSError(domain: "StalledServer: bind failed", code: Int(errno)) }
        port = Int(UInt16(bigEndian: addr.sin_port))
        Thread.detachNewThread { [self] in serve() }
    }

    private func serve() {
        client = accept(listener, nil, nil)
        guard client >= 0 else { return }
        var request = [UInt8]()
        var buffer = [UInt8](repeating: 0, count: 4096)
        while !request.ends(with: Array("\r\n\r\n".utf8)) {
            let n = read(client, &buffer, 1)  // byte by byte: read nothing past the request
            if n <= 0 { return }
            request.append(buffer[0])
        }
        let text = String(decoding: request, as: UTF8.self)
        let key = text.split(separator: "\r\n").first { $0.lowercased().hasPrefix("sec-websocket-key:") }
            .map { $0.split(separator: ":", maxSplits: 1)[1].trimmingCharacters(in: .whitespaces) } ?? ""
        let response = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            + "Sec-WebSocket-Accept: \(WebSocketClient.acceptValue(forKey: key))\r\n\r\n"
        _ = response.withCString { write(client, $0, strlen($0)) }
        done.wait()  // stalled: the socket stays open, unread, until the test ends
    }

    func stop() {
        done.signal()
        if client >= 0 { close(client) }
        close(listener)
    }
}

private extension Array where Element == UInt8 {
    func ends(with suffix: [UInt8]) -> Bool { count >= suffix.count && Array(self[(count - suffix.count)...]) == suffix }
}

/// The bounded send queue and the keepalive of WebSocketClient against a peer that stops
/// reading: the queue never grows past its limit, the oldest droppable messages go first
/// and are counted, others are refused rather than queued, and the keepalive gives up.
final class WebSocketBackpressureTests: XCTestCase {
    private let loop = EventLoop.shared

    private func open(_ server: StalledServer, _ options: WebSocketClient.Options,
                      onFailure: @escaping (LayercodeError) -> Void = { _ in }) throws -> WebSocketClient {
        let url = try URLParts.parse("ws://127.0.0.1:\(server.port)/")
        let opened = DispatchSemaphore(value: 0)
        var socket: WebSocketClient!
        loop.executeAndWait {
            socket = WebSocketClient(loop: self.loop, url: url, tls: nil, options: options)
            socket.onOpen = { opened.signal() }
            socket.onFailure = onFailure
            socket.start()
        }
        XCTAssertEqual(opened.wait(timeout: .now() + 10), .success, "the upgrade completes")
        return socket
    }

    func testSendQueueStaysBoundedAndDropsTheOldestAudioWhenTheServerStopsReading() throws {
        let server = try StalledServer()
        defer { server.stop() }
        var options = WebSocketClient.Options()
        options.sendQueueMaxBytes = 64 << 10
        let socket = try open(server, options)
        let frame = String(repeating: "a", count: 420)  // about one client.audio message
        var dropped = 0, accepted = 0, maxPending = 0
        loop.executeAndWait {
            socket.onDropped = { dropped += $0 }
            // 20 MB: far more than loopback's kernel buffers can absorb.
            for _ in 0..<50_000 {
                if socket.sendText(frame, droppable: true) { accepted += 1 }
                maxPending = max(maxPending, socket.pendingOutputBytes)
            }
        }
        XCTAssertEqual(accepted, 50_000, "droppable messages are always accepted")
        XCTAssertGreaterThan(dropped, 0, "the oldest were dropped and counted")
        XCTAssertLessThanOrEqual(maxPending, options.sendQueueMaxBytes + WebSocketClient.lowWaterBytes + 1024,
                                 "never grows past the limit")
        var refused = false, controlAccepted = 0
        loop.executeAndWait {
            // Non-droppable messages push out the remaining audio, then are refused.
            for _ in 0..<1000 where !refused {
                if socket.sendText(frame, droppable: false) { controlAccepted += 1 } else { refused = true }
            }
            maxPending = max(maxPending, socket.pendingOutputBytes)
            socket.abort()
        }
        XCTAssertTrue(refused, "a full queue refuses what it may not drop")
        XCTAssertGreaterThan(controlAccepted, 0)
        XCTAssertLessThanOrEqual(maxPending, options.sendQueueMaxBytes + WebSocketClient.lowWaterBytes + 1024)
    }

    func testKeepaliveGivesUpOnASilentServer() throws {
        let server = try StalledServer()
        defer { server.stop() }
        var options = WebSocketClient.Options()
        options.keepaliveIntervalMilliseconds = 100
        options.keepaliveTimeoutMilliseconds = 200
        let failed = DispatchSemaphore(value: 0)
        var failure: LayercodeError?
        let socket = try open(server, options) { error in
            failure = error
            failed.signal()
        }
        XCTAssertEqual(failed.wait(timeout: .now() + 20), .success, "the keepalive fails the socket")
        loop.executeAndWait {
            XCTAssertEqual(failure?.code, .timeout)
            XCTAssertTrue(failure?.message.contains("keepalive") == true, "\(String(describing: failure))")
            XCTAssertFalse(socket.isOpen)
        }
    }
}
