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
        let bound = try smallBufferLoopbackListener(name: "StalledServer")
        listener = bound.fd
        port = bound.port
        Thread.detachNewThread { [self] in serve() }
    }

    private func serve() {
        client = accept(listener, nil, nil)
        guard client >= 0 else { return }
        guard let key = readUpgradeRequestKey(client) else { return }
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
