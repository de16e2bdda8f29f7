// SPDX-License-Identifier: Apache-2.0
import Foundation
import Glibc
import LayercodeCore
import LayercodeNet
import XCTest

/// A one-connection WebSocket peer over real loopback TCP: it reads the upgrade request,
/// answers with `response(key)`, then runs `behave(fd)` on its own thread. The listener's
/// small receive buffer is inherited by the accepted socket, so a peer that does not read
/// backs the client up quickly.
private final class RawPeer: @unchecked Sendable {
    let port: Int
    private let listener: Int32
    private let lock = NSLock()
    private var client: Int32 = -1
    private var stopped = false
    private let _bytesRead = NSLock()
    private var readCount = 0

    init(response: @escaping @Sendable (String) -> String,
         behave: @escaping @Sendable (RawPeer, Int32) -> Void) throws {
        let bound = try smallBufferLoopbackListener(name: "RawPeer")
        listener = bound.fd
        port = bound.port
        Thread.detachNewThread { [self] in
            let c = accept(listener, nil, nil)
            guard c >= 0 else { return }
            lock.lock(); client = c; lock.unlock()
            guard let key = readUpgradeRequestKey(c) else { return }
            guard writeAll(c, Array(response(key).utf8)) else { return }
            behave(self, c)
        }
    }

    var isStopped: Bool { lock.lock(); defer { lock.unlock() }; return stopped }

    var bytesRead: Int { _bytesRead.lock(); defer { _bytesRead.unlock() }; return readCount }
    func countRead(_ n: Int) { _bytesRead.lock(); readCount += n; _bytesRead.unlock() }

    func stop() {
        lock.lock()
        stopped = true
        let c = client
        lock.unlock()
        if c >= 0 { shutdown(c, Int32(SHUT_RDWR)) }
        close(listener)
    }

    static func upgrade(_ key: String, extra: String = "") -> String {
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            + "Sec-WebSocket-Accept: \(WebSocketClient.acceptValue(forKey: key))\r\n" + extra + "\r\n"
    }
}

@discardableResult
private func writeAll(_ fd: Int32, _ bytes: [UInt8]) -> Bool {
    var offset = 0
    while offset < bytes.count {
        let n = bytes[offset...].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        if n <= 0 { return false }
        offset += n
    }
    return true
}

/// An unmasked server frame.
private func serverFrame(_ opcode: UInt8, _ payload: [UInt8]) -> [UInt8] {
    precondition(payload.count < 126)
    return [0x80 | opcode, UInt8(payload.count)] + payload
}

/// WebSocketClient against peers that misbehave on purpose: answers that must be refused,
/// a peer that pings but never reads, a link that drains slower than the client sends.
final class HostilePeerTests: XCTestCase {
    private let loop = EventLoop.shared

    private func start(_ peer: RawPeer, _ options: WebSocketClient.Options = .init(),
                       onText: @escaping (String) -> Void = { _ in }) throws
        -> (WebSocketClient, DispatchSemaphore, () -> LayercodeError?) {
        let url = try URLParts.parse("ws://127.0.0.1:\(peer.port)/")
        let settled = DispatchSemaphore(value: 0)
        var socket: WebSocketClient!
        var failure: LayercodeError?
        loop.executeAndWait {
            socket = WebSocketClient(loop: self.loop, url: url, tls: nil, options: options)
            socket.onOpen = { settled.signal() }
            socket.onFailure = { failure = $0; settled.signal() }
            socket.onText = onText
            socket.start()
        }
        return (socket, settled, { var f: LayercodeError?; self.loop.executeAndWait { f = failure }; return f })
    }

    // MARK: issue 9, item 17: a second Sec-WebSocket-Accept

    func testDuplicateSecWebSocketAcceptIsRefused() throws {
        let wrong = "Sec-WebSocket-Accept: dGhlIHNhbXBsZSBub25jZQ==\r\n"
        let answers: [(String, @Sendable (String) -> String)] = [
            ("right then wrong", { RawPeer.upgrade($0, extra: wrong) }),
            ("wrong then right", { key in
                "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                    + wrong + "Sec-WebSocket-Accept: \(WebSocketClient.acceptValue(forKey: key))\r\n\r\n"
            }),
            ("right twice", { key in
                RawPeer.upgrade(key, extra: "Sec-WebSocket-Accept: \(WebSocketClient.acceptValue(forKey: key))\r\n")
            }),
            ("two Upgrade headers", { RawPeer.upgrade($0, extra: "Upgrade: h2c\r\n") }),
        ]
        for (name, answer) in answers {
            let peer = try RawPeer(response: answer) { peer, _ in
                while !peer.isStopped { usleep(10_000) }
            }
            defer { peer.stop() }
            let (socket, settled, failure) = try start(peer)
            XCTAssertEqual(settled.wait(timeout: .now() + 20), .success, name)
            let error = failure()
            XCTAssertEqual(error?.code, .protocolViolation, "\(name): \(String(describing: error))")
            loop.executeAndWait { XCTAssertFalse(socket.isOpen, name) }
        }
    }

    func testSingleRightSecWebSocketAcceptStillOpens() throws {
        let peer = try RawPeer(response: { RawPeer.upgrade($0) }) { peer, _ in
            while !peer.isStopped { usleep(10_000) }
        }
        defer { peer.stop() }
        let (socket, settled, failure) = try start(peer)
        XCTAssertEqual(settled.wait(timeout: .now() + 20), .success)
        XCTAssertNil(failure())
        loop.executeAndWait { XCTAssertTrue(socket.isOpen); socket.abort() }
    }

    // MARK: issue 9, item 6: pongs bypassed the send queue's bound

    func testPongsRespectSendQueueBound() throws {
        // 100,000 pings of 125 bytes: 13 MB of pongs if each were queued, far beyond what
        // loopback's kernel buffers absorb while the peer reads nothing.
        let pings = 100_000
        let done = DispatchSemaphore(value: 0)
        let peer = try RawPeer(response: { RawPeer.upgrade($0) }) { _, fd in
            let ping = serverFrame(0x9, [UInt8](repeating: 0x70, count: 125))
            var batch = [UInt8]()
            for _ in 0..<100 { batch += ping }
            for _ in 0..<(pings / 100) { guard writeAll(fd, batch) else { return } }
            writeAll(fd, serverFrame(0x1, Array("done".utf8)))
        }
        defer { peer.stop() }
        let (socket, settled, failure) = try start(peer) { text in
            if text == "done" { done.signal() }
        }
        XCTAssertEqual(settled.wait(timeout: .now() + 20), .success)
        XCTAssertNil(failure())
        XCTAssertEqual(done.wait(timeout: .now() + 120), .success, "every ping was read")
        var pending = 0
        loop.executeAndWait {
            pending = socket.pendingOutputBytes
            socket.abort()
        }
        // At most one pong waits beyond the connection's low-water mark (plus one written
        // into it just below the mark).
        XCTAssertLessThanOrEqual(pending, WebSocketClient.lowWaterBytes + 1024,
                                 "pongs are bounded while the peer does not read")
    }

    // MARK: issue 9, item 7: the send queue kept written messages until it emptied once

    func testSendQueueReleasesWrittenMessagesOnALinkSlowerThanTheSender() throws {
        var options = WebSocketClient.Options()
        options.sendQueueMaxBytes = 64 << 10
        // A small socket send buffer (a slow uplink): each time the kernel has room it takes
        // a few kilobytes, never the whole queue at once.
        options.socketSendBufferBytes = 4096
        // The peer reads nothing until the kernel's buffers are full (whatever their size),
        // then drains a few hundred bytes at a time: slower than the test refills the queue,
        // so the queue never empties while megabytes go through it.
        let draining = NSLock()
        draining.lock()
        let peer = try RawPeer(response: { RawPeer.upgrade($0) }) { peer, fd in
            draining.lock()
            draining.unlock()
            var buffer = [UInt8](repeating: 0, count: 256)
            while !peer.isStopped {
                let n = read(fd, &buffer, buffer.count)
                if n <= 0 { return }
                peer.countRead(n)
                usleep(100)
            }
        }
        defer { peer.stop() }
        let (socket, settled, failure) = try start(peer, options)
        XCTAssertEqual(settled.wait(timeout: .now() + 20), .success)
        XCTAssertNil(failure())
        let message = String(repeating: "m", count: 420)   // about one client.audio message
        let target = 48 << 10
        var refused = 0
        func refill() {
            loop.executeAndWait {
                while socket.pendingOutputBytes < target {
                    if !socket.sendText(message) { refused += 1; break }
                }
            }
        }
        // Fill until the kernel takes nothing more: the queue stays at the target.
        var full = 0
        while full < 5 {
            refill()
            usleep(5_000)
            var pending = 0
            loop.executeAndWait { pending = socket.pendingOutputBytes }
            full = pending >= target ? full + 1 : 0
        }
        draining.unlock()
        var maxRetained = 0, emptied = 0
        let throughBytes = 2 << 20
        let guardUntil = Date().addingTimeInterval(300)     // a hang guard, not a timing check
        while peer.bytesRead < throughBytes && Date() < guardUntil {
            loop.executeAndWait {
                if socket.pendingOutputBytes < WebSocketClient.lowWaterBytes { emptied += 1 }
            }
            refill()
            loop.executeAndWait { maxRetained = max(maxRetained, socket.sendQueueRetainedBytes) }
            usleep(1_000)
        }
        loop.executeAndWait { socket.abort() }
        XCTAssertGreaterThanOrEqual(peer.bytesRead, throughBytes, "megabytes went through the queue")
        XCTAssertEqual(refused, 0, "the queue never filled")
        XCTAssertLessThanOrEqual(maxRetained, options.sendQueueMaxBytes,
                                 "written messages are released as they go (emptied \(emptied) times)")
    }
}
