// SPDX-License-Identifier: Apache-2.0
import Foundation
import Glibc
import LayercodeCore
import LayercodeNet
import XCTest

/// A one-connection peer over loopback TCP: it reads the upgrade request, writes
/// `answer(key)` (nothing if nil), then holds the connection open until `stop()`.
private final class HeldPeer: @unchecked Sendable {
    let port: Int
    /// Signalled once the request head has been read.
    let requestRead = DispatchSemaphore(value: 0)
    private let listener: Int32
    private let lock = NSLock()
    private var client: Int32 = -1

    init(answer: @escaping @Sendable (String) -> [UInt8]?) throws {
        let bound = try smallBufferLoopbackListener(name: "HeldPeer")
        listener = bound.fd
        port = bound.port
        Thread.detachNewThread { [self] in
            let c = accept(listener, nil, nil)
            guard c >= 0 else { return }
            lock.lock(); client = c; lock.unlock()
            guard let key = readUpgradeRequestKey(c) else { return }
            requestRead.signal()
            guard let bytes = answer(key) else { return }
            _ = bytes.withUnsafeBytes { send(c, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        }
    }

    func stop() {
        lock.lock()
        let c = client
        lock.unlock()
        if c >= 0 { shutdown(c, Int32(SHUT_RDWR)); close(c) }
        close(listener)
    }

    static func upgrade(_ key: String) -> [UInt8] {
        Array(("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
               + "Sec-WebSocket-Accept: \(WebSocketClient.acceptValue(forKey: key))\r\n\r\n").utf8)
    }
}

/// Records on which thread it was released.
private final class Canary: @unchecked Sendable {
    let released: (Bool) -> Void
    init(_ released: @escaping (Bool) -> Void) { self.released = released }
    deinit { released(EventLoop.shared.inLoop) }
}

/// LayercodeNet holds no weak references (Embedded Swift has none): timers and connection
/// callbacks capture their owners strongly, and every way a connection, request or socket
/// ends breaks those cycles. These tests end each one every way it can end and check that
/// it is released (a cycle left behind would keep it alive), and that releasing a started
/// request does not stop it (its timeout is what guarantees its end).
final class NetOwnershipTests: XCTestCase {
    private let loop = EventLoop.shared

    /// Polls on the loop thread until `probe` sees the object gone: releases happen on the
    /// loop thread, after the closure that dropped the last reference returns.
    private func released(_ what: String, _ probe: @escaping () -> AnyObject?,
                          file: StaticString = #filePath, line: UInt = #line) {
        for _ in 0..<2000 {
            var alive = true
            loop.executeAndWait { alive = probe() != nil }
            if !alive { return }
            usleep(5000)
        }
        XCTFail("\(what) was never released (a reference cycle was left behind)", file: file, line: line)
    }

    /// Starts a client against `peer`; `setUp` sets its callbacks (loop thread).
    private func startSocket(_ peer: HeldPeer, _ options: WebSocketClient.Options = .init(),
                             _ setUp: @escaping (WebSocketClient) -> Void) throws -> WebSocketClient {
        let url = try URLParts.parse("ws://127.0.0.1:\(peer.port)/")
        var socket: WebSocketClient!
        loop.executeAndWait {
            socket = WebSocketClient(loop: self.loop, url: url, tls: nil, options: options)
            setUp(socket)
            socket.start()
        }
        return socket
    }

    func testAnAbortedOpenWebSocketClientWithAKeepaliveTimerIsReleased() throws {
        let peer = try HeldPeer { HeldPeer.upgrade($0) }
        defer { peer.stop() }
        var options = WebSocketClient.Options()
        options.keepaliveIntervalMilliseconds = 60_000
        let opened = DispatchSemaphore(value: 0)
        var socket: WebSocketClient? = try startSocket(peer, options) { ws in
            // The app's callbacks capture the client, as an owner's would capture the owner.
            ws.onOpen = { [ws] in _ = ws.isOpen; opened.signal() }
            ws.onFailure = { [ws] _ in _ = ws.isOpen }
        }
        XCTAssertEqual(opened.wait(timeout: .now() + 30), .success)
        weak let observed = socket
        loop.executeAndWait {
            XCTAssertTrue(socket!.isOpen)
            socket!.abort()
            socket = nil
        }
        released("an aborted WebSocketClient") { observed }
    }

    func testAWebSocketClientAbortedDuringItsHandshakeIsReleased() throws {
        let peer = try HeldPeer { _ in nil }   // never answers the upgrade
        defer { peer.stop() }
        var options = WebSocketClient.Options()
        options.upgradeTimeoutMilliseconds = 60_000
        var socket: WebSocketClient? = try startSocket(peer, options) { ws in
            ws.onFailure = { [ws] _ in _ = ws.isOpen }
        }
        weak let observed = socket
        // Open timer, upgrade timer and the connection's callbacks are all in place.
        XCTAssertEqual(peer.requestRead.wait(timeout: .now() + 30), .success)
        loop.executeAndWait {
            XCTAssertFalse(socket!.isOpen)
            socket!.abort()
            socket = nil
        }
        released("a WebSocketClient aborted while handshaking") { observed }
    }

    /// Regression: close() while handshaking reported nothing (abort() had already dropped
    /// onClosed), though closing promises onClosed.
    func testCloseDuringTheHandshakeCallsOnClosedOnceThenReleases() throws {
        let peer = try HeldPeer { _ in nil }   // never answers the upgrade
        defer { peer.stop() }
        var closedWith: [UInt16?] = []
        var socket: WebSocketClient? = try startSocket(peer) { ws in
            ws.onClosed = { [ws] code, _ in _ = ws.isOpen; closedWith.append(code) }
        }
        weak let observed = socket
        XCTAssertEqual(peer.requestRead.wait(timeout: .now() + 30), .success)
        loop.executeAndWait {
            socket!.close(code: WSCloseCode.goingAway, reason: "bye")
            socket = nil
        }
        loop.executeAndWait { XCTAssertEqual(closedWith, [WSCloseCode.goingAway]) }
        released("a WebSocketClient closed while handshaking") { observed }
    }

    func testAWebSocketClientClosedByItsCloseTimeoutIsReleased() throws {
        let peer = try HeldPeer { HeldPeer.upgrade($0) }   // never answers the close frame
        defer { peer.stop() }
        var options = WebSocketClient.Options()
        options.closeTimeoutMilliseconds = 50
        let opened = DispatchSemaphore(value: 0)
        let closed = DispatchSemaphore(value: 0)
        var closeCode: UInt16?
        var socket: WebSocketClient? = try startSocket(peer, options) { ws in
            ws.onOpen = { [ws] in _ = ws.isOpen; opened.signal() }
            ws.onClosed = { [ws] code, _ in _ = ws.isOpen; closeCode = code; closed.signal() }
        }
        XCTAssertEqual(opened.wait(timeout: .now() + 30), .success)
        weak let observed = socket
        loop.executeAndWait {
            socket!.close(code: WSCloseCode.normal)
            socket = nil   // the close handshake goes on without the owner's reference
        }
        XCTAssertEqual(closed.wait(timeout: .now() + 30), .success, "onClosed never came")
        loop.executeAndWait { XCTAssertEqual(closeCode, WSCloseCode.normal) }
        released("a WebSocketClient closed by its close timeout") { observed }
    }

    /// The client echoes the peer's close and ends, but its connection still holds bytes
    /// the peer does not read: the connection lives on until they are written, the peer goes
    /// or the close timeout passes (regression: a peer that stayed and never read kept the
    /// socket, its 64 KiB buffer and TLS state for ever), and must not keep the ended client
    /// alive through its callbacks.
    func testAWebSocketClientClosedByThePeerIsReleasedWhileItsConnectionStillFlushes() throws {
        var descriptorsBefore = 0
        loop.executeAndWait { descriptorsBefore = self.loop.registeredDescriptors }
        let closeFrame: [UInt8] = [0x88, 0x02, 0x03, 0xE8]   // close 1000, unmasked
        let peer = try HeldPeer { HeldPeer.upgrade($0) + closeFrame }   // then never reads
        defer { peer.stop() }
        var options = WebSocketClient.Options()
        options.socketSendBufferBytes = 4096
        let closed = DispatchSemaphore(value: 0)
        var backedUp = false
        var socket: WebSocketClient? = try startSocket(peer, options) { ws in
            ws.onOpen = { [ws] in
                // Before the close frame is read: more than loopback's buffers take.
                for _ in 0..<8 { ws.sendBinary([UInt8](repeating: 7, count: 32 << 10)) }
            }
            ws.onClosed = { [ws] _, _ in
                backedUp = ws.pendingOutputBytes > 0
                closed.signal()
            }
        }
        XCTAssertEqual(closed.wait(timeout: .now() + 30), .success, "onClosed never came")
        weak let observed = socket
        loop.executeAndWait {
            XCTAssertTrue(backedUp, "the connection had nothing left to write: the test proves nothing")
            socket = nil
        }
        released("a WebSocketClient closed by the peer while its connection flushes") { observed }
        // The peer still holds the connection and reads nothing: the close timeout ends it.
        var left = -1
        for _ in 0..<2000 {
            loop.executeAndWait { left = self.loop.registeredDescriptors - descriptorsBefore }
            if left <= 0 { break }
            usleep(5000)
        }
        XCTAssertLessThanOrEqual(left, 0, "the flushing connection was never closed")
    }

    func testAWebSocketClientWhoseUpgradeWasRefusedIsReleased() throws {
        let peer = try HeldPeer { _ in Array("HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n".utf8) }
        defer { peer.stop() }
        let failed = DispatchSemaphore(value: 0)
        var failure: LayercodeError?
        var socket: WebSocketClient? = try startSocket(peer) { ws in
            ws.onFailure = { [ws] error in _ = ws.isOpen; failure = error; failed.signal() }
        }
        XCTAssertEqual(failed.wait(timeout: .now() + 30), .success)
        weak let observed = socket
        loop.executeAndWait {
            XCTAssertEqual(failure?.httpStatus, 403)
            socket = nil
        }
        released("a WebSocketClient whose upgrade was refused") { observed }
    }

    func testAWebSocketClientEndedByAProtocolErrorIsReleased() throws {
        // A masked frame from the server breaks RFC 6455 §5.1: the client answers with
        // close 1002 and fails, while its connection may still be writing that close frame.
        let peer = try HeldPeer { HeldPeer.upgrade($0) + [0x81, 0x80 | 1, 1, 2, 3, 4, 0x41] }
        defer { peer.stop() }
        let failed = DispatchSemaphore(value: 0)
        var failure: LayercodeError?
        var socket: WebSocketClient? = try startSocket(peer) { ws in
            ws.onFailure = { [ws] error in _ = ws.isOpen; failure = error; failed.signal() }
        }
        XCTAssertEqual(failed.wait(timeout: .now() + 30), .success)
        weak let observed = socket
        loop.executeAndWait {
            XCTAssertEqual(failure?.code, .protocolViolation)
            XCTAssertEqual(socket!.closeCodeSent, WSCloseCode.protocolError)
            socket = nil
        }
        released("a WebSocketClient ended by a protocol error") { observed }
    }

    func testACancelledHTTPRequestIsReleasedAndNeverCompletes() throws {
        let peer = try HeldPeer { _ in nil }   // reads the request, never answers
        defer { peer.stop() }
        let url = try URLParts.parse("http://127.0.0.1:\(peer.port)/authorize")
        var completions = 0
        var request: HTTPRequest?
        weak var observed: HTTPRequest?
        loop.executeAndWait {
            request = HTTPRequest(loop: self.loop, method: "POST", url: url, headers: [], body: [],
                                  contentType: nil, tls: nil, timeoutMilliseconds: 60_000,
                                  maxResponseBytes: 1024, userAgent: "test")
            observed = request
            request!.start { [request] _ in _ = request; completions += 1 }
        }
        loop.executeAndWait {
            request!.cancel()
            request = nil
        }
        released("a cancelled HTTPRequest") { observed }
        loop.executeAndWait { XCTAssertEqual(completions, 0) }
    }

    /// New with the strong captures: a started request is not stopped by dropping it (it
    /// used to vanish silently); it completes, here by its timeout, and is then released.
    func testAnHTTPRequestTheCallerLetGoOfStillCompletesThenIsReleased() throws {
        let peer = try HeldPeer { _ in nil }
        defer { peer.stop() }
        let url = try URLParts.parse("http://127.0.0.1:\(peer.port)/authorize")
        let done = DispatchSemaphore(value: 0)
        var outcome: Result<HTTPRequest.Response, LayercodeError>?
        weak var observed: HTTPRequest?
        loop.executeAndWait {
            let request = HTTPRequest(loop: self.loop, method: "POST", url: url, headers: [], body: [],
                                      contentType: nil, tls: nil, timeoutMilliseconds: 50,
                                      maxResponseBytes: 1024, userAgent: "test")
            observed = request
            request.start { result in
                outcome = result
                done.signal()
            }
        }
        XCTAssertEqual(done.wait(timeout: .now() + 30), .success, "the request never completed")
        loop.executeAndWait {
            guard case .failure(let error) = outcome else { return XCTFail("no failure: \(String(describing: outcome))") }
            XCTAssertEqual(error.code, .timeout)
        }
        released("a completed HTTPRequest") { observed }
    }

    /// A completion holds its owner strongly (the resolver's holds its connection): the
    /// worker thread must never hold the last reference, or the owner's deinit would run
    /// there, racing with the loop's own use of it.
    func testAnOffLoopCompletionIsReleasedOnTheLoopThread() {
        let lock = NSLock()
        var releasedInLoop: [Bool] = []
        let done = DispatchSemaphore(value: 0)
        let rounds = 20
        for _ in 0..<rounds {
            loop.executeAndWait {
                let canary = Canary { inLoop in lock.lock(); releasedInLoop.append(inLoop); lock.unlock() }
                XCTAssertTrue(self.loop.runOffLoop({ 42 }) { [canary] value in
                    _ = canary
                    XCTAssertEqual(value, 42)
                    done.signal()
                })
            }
        }
        for _ in 0..<rounds { XCTAssertEqual(done.wait(timeout: .now() + 30), .success) }
        for _ in 0..<2000 {
            lock.lock(); let count = releasedInLoop.count; lock.unlock()
            if count == rounds { break }
            usleep(5000)
        }
        lock.lock(); defer { lock.unlock() }
        XCTAssertEqual(releasedInLoop, Array(repeating: true, count: rounds))
    }

    func testAStreamConnectionClosedWhileResolvingIsReleasedAndNeverOpens() throws {
        let peer = try HeldPeer { _ in nil }
        defer { peer.stop() }
        var calls = 0
        var connection: StreamConnection?
        weak var observed: StreamConnection?
        loop.executeAndWait {
            // "localhost" is looked up on a resolver thread; the step timer is pending too.
            let c = StreamConnection(loop: self.loop, endpoint: .init(
                host: "localhost", port: peer.port, hostIsIPLiteral: false, tls: nil,
                timeouts: .init(dnsMilliseconds: 60_000)))
            c.onOpen = { [c] in _ = c.isOpen; calls += 1 }
            c.onClose = { [c] _ in _ = c.isOpen; calls += 1 }
            c.start()
            c.close()
            connection = c
            observed = c
        }
        loop.executeAndWait {
            XCTAssertFalse(connection!.isOpen)
            connection = nil
        }
        released("a StreamConnection closed while resolving") { observed }
        loop.executeAndWait { XCTAssertEqual(calls, 0) }
    }
}
