// SPDX-License-Identifier: Apache-2.0
import CLayercodeShims
import LayercodeCore

/// An RFC 6455 client on the event loop: the opening handshake (with the
/// Sec-WebSocket-Accept check), masked frames out, validated frames in (LayercodeCore's
/// WebSocketReader), ping/pong, and the close handshake with codes.
/// Callbacks run on the loop thread; exactly one of onClosed/onFailure ends the socket.
///
/// Ownership (no weak references: Embedded Swift has none): the client's timers and its
/// connection's callbacks hold the client strongly, and the app's callbacks may hold their
/// owner. Every way the socket ends (`abort()`, onClosed, onFailure) cancels the timers and
/// drops both sets of callbacks, which breaks those cycles; an owner must end the socket
/// one of these ways (or `close()` and wait for onClosed) before letting go of it.
public final class WebSocketClient {
    public struct Options: Sendable {
        public var maxMessageSize = 16 << 20
        public var openTimeoutMilliseconds = 10_000
        public var closeTimeoutMilliseconds = 2_000
        /// From the TCP/TLS connection to the 101 answer; 0: only the open timeout applies.
        public var upgradeTimeoutMilliseconds = 0
        /// DNS, TCP connect and TLS handshake limits.
        public var connectionTimeouts = StreamConnection.Timeouts()
        /// A ping after this long without receiving anything; 0: no keepalive.
        public var keepaliveIntervalMilliseconds = 0
        /// Nothing received this long after that ping: the connection is dead.
        public var keepaliveTimeoutMilliseconds = 10_000
        /// Messages the socket has not taken yet are held up to this many bytes; beyond it
        /// the oldest droppable messages go (and are counted), never growing further.
        public var sendQueueMaxBytes = 256 << 10
        public var userAgent = "liblayercode"
        /// The socket's SO_SNDBUF; 0: the system's default (StreamConnection.Endpoint).
        public var socketSendBufferBytes = 0
        public init() {}
    }

    /// Bytes handed to the connection before messages wait in the send queue instead.
    public static let lowWaterBytes = 16 << 10

    public var onOpen: (() -> Void)?
    public var onText: ((String) -> Void)?
    public var onBinary: (([UInt8]) -> Void)?
    /// Closed with a close handshake: the peer's code (nil if it sent none) and reason.
    public var onClosed: ((UInt16?, String) -> Void)?
    public var onFailure: ((LayercodeError) -> Void)?
    /// Droppable messages discarded because the send queue was full (the count).
    public var onDropped: ((Int) -> Void)?
    /// Bytes of WebSocket frames written to (`sent`) or read from (`received`) the
    /// connection after the upgrade, headers included, before TLS: what the session costs
    /// on the wire. Called on the loop as they go.
    public var onWireBytes: ((_ sent: Int, _ received: Int) -> Void)?

    private enum State { case idle, handshaking, open, closing, closed }
    private var state = State.idle
    private let loop: EventLoop
    private let url: URLParts
    private let options: Options
    private let connection: StreamConnection
    private var handshakeParser = HTTPResponseParser(mode: .headOnly)
    private var reader: WebSocketReader
    private let key: String
    private var timer: EventLoop.TimerHandle?
    private var frameScratch: [UInt8] = []
    private var maskKeys = MaskKeys()
    private var sentClose: (code: UInt16, reason: String)?
    /// Messages waiting for the socket (whole frames), bounded by options.sendQueueMaxBytes.
    private var sendQueue: WebSocketSendQueue
    /// The answer to the latest ping while the connection is backed up: at most one pong
    /// waits (RFC 6455 §5.5.3 allows answering only the most recent ping), so a peer that
    /// pings and never reads cannot grow the client.
    private var pendingPong: [UInt8]?
    /// Socket bytes seen by the keepalive: any byte is life, whole frame (or TLS record) or not.
    private var keepaliveSocketBytes: UInt64 = 0
    private var releasing = false
    private var keepaliveTimer: EventLoop.TimerHandle?
    private var lastReceivedNanoseconds: UInt64 = 0
    private var pingSentNanoseconds: UInt64?

    public private(set) var messagesSent: UInt64 = 0
    public private(set) var messagesReceived: UInt64 = 0
    /// The code of the close frame we sent, if we sent one with a code.
    public private(set) var closeCodeSent: UInt16?

    public init(loop: EventLoop, url: URLParts, tls: TLSContext?, options: Options) {
        self.loop = loop
        self.url = url
        self.options = options
        reader = WebSocketReader(maxMessageSize: options.maxMessageSize)
        sendQueue = WebSocketSendQueue(maxBytes: options.sendQueueMaxBytes)
        connection = StreamConnection(loop: loop, endpoint: .init(
            host: url.host, port: url.port, hostIsIPLiteral: url.hostIsIPLiteral, tls: tls,
            timeouts: options.connectionTimeouts, sendBufferBytes: options.socketSendBufferBytes))
        var nonce = [UInt8](repeating: 0, count: 16)
        _ = lcshim_random_bytes(&nonce, 16)
        key = Base64.encode(nonce)
    }

    public var isOpen: Bool { state == .open }

    public func start() {
        guard state == .idle else { return }
        state = .handshaking
        // Strong captures here and below: abort(), finishClosed() and protocolFailure() cancel
        // the timer and drop the connection's callbacks (detachConnection), and one of them
        // always ends the socket.
        timer = loop.schedule(afterMilliseconds: options.openTimeoutMilliseconds) { [self] in
            guard self.state == .handshaking else { return }
            self.fail(LayercodeError(.timeout, "WebSocket open to \(self.url.hostHeader) timed out "
                                     + "after \(self.options.openTimeoutMilliseconds) ms"))
        }
        connection.onOpen = { [self] in sendHandshake() }
        connection.onBytes = { [self] bytes in received(bytes) }
        connection.onClose = { [self] error in connectionEnded(error) }
        connection.onDrained = { [self] in releaseHeld() }
        connection.start()
    }

    /// Sends one text message. False when the socket is not open, or when the send queue is
    /// full of messages that may not be dropped. A `droppable` message (microphone audio)
    /// may be discarded later, oldest first, if the server stops reading (`onDropped`).
    @discardableResult
    public func sendText(_ text: String, droppable: Bool = false) -> Bool {
        guard state == .open else { return false }
        var text = text
        let accepted = text.withUTF8 { enqueue(.text, UnsafeRawBufferPointer($0), droppable: droppable) }
        if accepted { messagesSent += 1 }
        return accepted
    }

    /// Straight to the connection while it keeps up; into the send queue once it does not.
    private func enqueue(_ opcode: WSOpcode, _ payload: UnsafeRawBufferPointer, droppable: Bool) -> Bool {
        if sendQueue.isEmpty && connection.pendingOutputBytes < Self.lowWaterBytes {
            sendFrame(opcode, payload)
            return true
        }
        encodeFrame(opcode, payload)
        // A copy of exactly the frame's size: frameScratch keeps the capacity of the largest
        // frame ever encoded, which every held frame would otherwise carry along.
        return hold(frameScratch.withUnsafeBufferPointer { Array($0) }, droppable: droppable)
    }

    /// Sends one binary message. False when the socket is not open, or the send queue is
    /// full. `droppable` as for `sendText` (the Opus profile's microphone packets).
    @discardableResult
    public func sendBinary(_ bytes: [UInt8], droppable: Bool = false) -> Bool {
        guard state == .open else { return false }
        let accepted = bytes.withUnsafeBytes { enqueue(.binary, $0, droppable: droppable) }
        if accepted { messagesSent += 1 }
        return accepted
    }

    /// Bytes queued but not yet taken by the socket (the send queue included).
    public var pendingOutputBytes: Int {
        connection.pendingOutputBytes + sendQueue.bytes + (pendingPong?.count ?? 0)
    }

    /// Bytes the send queue's storage keeps alive (waiting frames, and any written frame
    /// not yet released): the send queue's own memory, for tests and stats.
    public var sendQueueRetainedBytes: Int { sendQueue.retainedBytes }

    /// Starts the close handshake; onClosed follows (or after closeTimeout, at the latest).
    public func close(code: UInt16 = WSCloseCode.normal, reason: String = "") {
        switch state {
        case .open:
            beginClose(code: code, reason: reason)
        case .idle, .handshaking:
            let closed = onClosed   // abort() drops the callbacks: keep the one this promises
            abort()
            closed?(code, reason)
        case .closing, .closed:
            break
        }
    }

    /// Drops the connection without a close handshake; no callback follows.
    public func abort() {
        state = .closed
        loop.cancel(timer)
        loop.cancel(keepaliveTimer)
        keepaliveTimer = nil
        connection.close()   // drops the connection's callbacks, and with them this client
        onOpen = nil; onText = nil; onBinary = nil; onClosed = nil; onFailure = nil; onDropped = nil; onWireBytes = nil
    }

    // MARK: Send queue

    private func hold(_ frame: [UInt8], droppable: Bool) -> Bool {
        let (accepted, dropped) = sendQueue.push(frame, droppable: droppable)
        if dropped > 0 { onDropped?(dropped) }
        return accepted
    }

    /// The socket took everything: hand it the next held messages. Not re-entered: a send
    /// that drains at once calls back here, and the loop below goes on instead.
    private func releaseHeld() {
        guard !releasing else { return }
        releasing = true
        defer { releasing = false }
        if let pong = pendingPong, state == .open {
            pendingPong = nil
            sendFrame(.pong, pong)
        }
        while connection.pendingOutputBytes < Self.lowWaterBytes && (state == .open || state == .closing),
              let frame = sendQueue.popFirst() {
            connection.send(frame)
            onWireBytes?(frame.count, 0)
        }
    }

    // MARK: Keepalive

    private func startKeepalive() {
        lastReceivedNanoseconds = monotonicNanoseconds()
        keepaliveSocketBytes = connection.socketBytesReceived
        guard options.keepaliveIntervalMilliseconds > 0 else { return }
        scheduleKeepalive(afterMilliseconds: options.keepaliveIntervalMilliseconds)
    }

    private func scheduleKeepalive(afterMilliseconds ms: Int) {
        // Strong: every end of the socket cancels keepaliveTimer (and beginClose does).
        keepaliveTimer = loop.schedule(afterMilliseconds: max(ms, 1)) { [self] in
            keepaliveCheck()
        }
    }

    /// Idle for the interval: ping. Still nothing for the timeout after the ping: dead.
    private func keepaliveCheck() {
        guard state == .open else { return }
        let now = monotonicNanoseconds()
        // Bytes that arrived since the last check are life, even if no frame is complete yet
        // (a large TLS record on a slow link).
        let socketBytes = connection.socketBytesReceived
        if socketBytes != keepaliveSocketBytes {
            keepaliveSocketBytes = socketBytes
            lastReceivedNanoseconds = now
        }
        let idleMs = Int((now &- lastReceivedNanoseconds) / 1_000_000)
        if let pingAt = pingSentNanoseconds {
            if lastReceivedNanoseconds >= pingAt {
                pingSentNanoseconds = nil
            } else {
                let waitedMs = Int((now &- pingAt) / 1_000_000)
                if waitedMs >= options.keepaliveTimeoutMilliseconds {
                    fail(LayercodeError(.timeout, "no answer to a keepalive ping within "
                                        + "\(options.keepaliveTimeoutMilliseconds) ms (idle \(idleMs) ms)"))
                    return
                }
                scheduleKeepalive(afterMilliseconds: options.keepaliveTimeoutMilliseconds - waitedMs)
                return
            }
        }
        if idleMs >= options.keepaliveIntervalMilliseconds {
            pingSentNanoseconds = now
            sendFrame(.ping, [UInt8]())
            scheduleKeepalive(afterMilliseconds: options.keepaliveTimeoutMilliseconds)
        } else {
            scheduleKeepalive(afterMilliseconds: options.keepaliveIntervalMilliseconds - idleMs)
        }
    }

    // MARK: Handshake

    private func sendHandshake() {
        let request = WebSocketUpgrade.request(url: url, key: key, userAgent: options.userAgent)
        connection.send(Array(request.utf8))
        let limit = options.upgradeTimeoutMilliseconds
        if limit > 0 {
            loop.cancel(timer)
            // Strong: cancelled on open and by every end of the socket.
            timer = loop.schedule(afterMilliseconds: limit) { [self] in
                guard self.state == .handshaking else { return }
                self.fail(LayercodeError(.timeout, "WebSocket upgrade from \(self.url.hostHeader) "
                                         + "timed out after \(limit) ms"))
            }
        }
    }

    private func handshakeBytes(_ bytes: UnsafeRawBufferPointer) {
        let complete: Bool
        do throws(HTTPParseError) {
            complete = try handshakeParser.feed(bytes)
        } catch {
            let text = error.message
            fail(LayercodeError(.protocolViolation, "bad WebSocket upgrade response: \(text)"))
            return
        }
        guard complete, let head = handshakeParser.head else { return }
        if let refusal = WebSocketUpgrade.refusal(head, key: key) {
            fail(refusal)
            return
        }
        state = .open
        loop.cancel(timer)
        startKeepalive()
        let leftover = handshakeParser.leftover
        onOpen?()
        if !leftover.isEmpty && state == .open {
            leftover.withUnsafeBytes { frameBytes($0) }
        }
    }

    // MARK: Frames

    private func received(_ bytes: UnsafeRawBufferPointer) {
        lastReceivedNanoseconds = monotonicNanoseconds()
        switch state {
        case .handshaking: handshakeBytes(bytes)
        case .open, .closing: frameBytes(bytes)
        default: break
        }
    }

    private func frameBytes(_ bytes: UnsafeRawBufferPointer) {
        onWireBytes?(0, bytes.count)
        reader.append(bytes)
        while state == .open || state == .closing, let result = reader.next() {
            switch result {
            case .failure(let error):
                protocolFailure(error)
                return
            case .success(let event):
                handle(event)
            }
        }
    }

    private func handle(_ event: WSEvent) {
        switch event {
        case .text(let text):
            guard state == .open else { return }
            messagesReceived += 1
            onText?(text)
        case .binary(let bytes):
            guard state == .open else { return }
            messagesReceived += 1
            onBinary?(bytes)
        case .ping(let payload):
            if pendingPong == nil && connection.pendingOutputBytes < Self.lowWaterBytes {
                payload.withUnsafeBytes { sendFrame(.pong, $0) }
            } else {
                pendingPong = payload   // replaces an older unsent pong; sent on drain
            }
        case .pong:
            break
        case .close(let code, let reason):
            if state == .open {
                // Echo the peer's code (RFC 6455 §5.5.1), then let the server close TCP.
                sendFrame(.close, wsClosePayload(code: code ?? WSCloseCode.normal, reason: ""))
            }
            finishClosed(code: code, reason: reason)
        }
    }

    private func sendFrame(_ opcode: WSOpcode, _ payload: UnsafeRawBufferPointer) {
        if opcode == .close && payload.count >= 2 {
            closeCodeSent = UInt16(payload[0]) << 8 | UInt16(payload[1])
        }
        encodeFrame(opcode, payload)
        connection.send(frameScratch)
        onWireBytes?(frameScratch.count, 0)
    }

    /// Encodes one masked frame into frameScratch.
    private func encodeFrame(_ opcode: WSOpcode, _ payload: UnsafeRawBufferPointer) {
        frameScratch.removeAll(keepingCapacity: true)
        wsEncodeFrame(into: &frameScratch, opcode: opcode, payload: payload, maskKey: maskKeys.next())
    }

    private func sendFrame(_ opcode: WSOpcode, _ payload: [UInt8]) {
        payload.withUnsafeBytes { sendFrame(opcode, $0) }
    }

    private func beginClose(code: UInt16, reason: String) {
        state = .closing
        sentClose = (code, reason)
        pendingPong = nil
        loop.cancel(keepaliveTimer)
        keepaliveTimer = nil
        // What waits in the send queue goes first; audio nobody will hear is dropped.
        let (kept, dropped) = sendQueue.removeAll()
        for frame in kept {
            connection.send(frame)
            onWireBytes?(frame.count, 0)
        }
        if dropped > 0 { onDropped?(dropped) }
        sendFrame(.close, wsClosePayload(code: code, reason: reason))
        // Strong: finishClosed() and abort() cancel it; otherwise it ends the socket itself.
        timer = loop.schedule(afterMilliseconds: options.closeTimeoutMilliseconds) { [self] in
            guard self.state == .closing else { return }
            self.finishClosed(code: code, reason: reason)
        }
    }

    private func protocolFailure(_ error: WSProtocolError) {
        let code: ErrorCode = error.closeCode == WSCloseCode.messageTooBig ? .tooLarge
            : .protocolViolation
        if state == .open {
            sendFrame(.close, wsClosePayload(code: error.closeCode, reason: error.reason))
        }
        let callback = onFailure
        state = .closed
        loop.cancel(timer)
        loop.cancel(keepaliveTimer)
        keepaliveTimer = nil
        connection.closeAfterFlush(within: options.closeTimeoutMilliseconds)
        detachConnection()
        clearCallbacks()
        callback?(LayercodeError(code, "WebSocket protocol error (\(error.closeCode)): \(error.reason)"))
    }

    private func finishClosed(code: UInt16?, reason: String) {
        guard state != .closed else { return }
        let callback = onClosed
        state = .closed
        loop.cancel(timer)
        loop.cancel(keepaliveTimer)
        keepaliveTimer = nil
        detachConnection()
        connection.closeAfterFlush(within: options.closeTimeoutMilliseconds)
        clearCallbacks()
        callback?(code, reason)
    }

    private func connectionEnded(_ error: LayercodeError?) {
        switch state {
        case .closing:
            let sent = sentClose ?? (WSCloseCode.normal, "")
            finishClosed(code: sent.code, reason: sent.reason)
        case .closed, .idle:
            break
        case .handshaking, .open:
            fail(error ?? LayercodeError(.network, "connection closed without a WebSocket close frame (1006)"))
        }
    }

    private func fail(_ error: LayercodeError) {
        guard state != .closed else { return }
        let callback = onFailure
        abort()
        callback?(error)
    }

    /// The connection may still write what is queued (the close frame) after the socket
    /// ended; nothing it reports matters any more, and its callbacks hold this client.
    private func detachConnection() {
        connection.onOpen = nil
        connection.onBytes = nil
        connection.onClose = nil
        connection.onDrained = nil
    }

    private func clearCallbacks() {
        onOpen = nil; onText = nil; onBinary = nil; onClosed = nil; onFailure = nil; onDropped = nil; onWireBytes = nil
    }
}
