import CLayercodeShims
import LayercodeCore

/// An RFC 6455 client on the event loop: the opening handshake (with the
/// Sec-WebSocket-Accept check), masked frames out, validated frames in (LayercodeCore's
/// WebSocketReader), ping/pong, and the close handshake with codes.
/// Callbacks run on the loop thread; exactly one of onClosed/onFailure ends the socket.
public final class WebSocketClient {
    public struct Options: Sendable {
        public var maxMessageSize = 16 << 20
        public var openTimeoutMilliseconds = 10_000
        public var closeTimeoutMilliseconds = 2_000
        public var userAgent = "liblayercode"
        public init() {}
    }

    public var onOpen: (() -> Void)?
    public var onText: ((String) -> Void)?
    public var onBinary: (([UInt8]) -> Void)?
    /// Closed with a close handshake: the peer's code (nil if it sent none) and reason.
    public var onClosed: ((UInt16?, String) -> Void)?
    public var onFailure: ((LayercodeError) -> Void)?

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
    private var sentClose: (code: UInt16, reason: String)?

    public private(set) var messagesSent: UInt64 = 0
    public private(set) var messagesReceived: UInt64 = 0
    /// The code of the close frame we sent, if we sent one with a code.
    public private(set) var closeCodeSent: UInt16?

    public init(loop: EventLoop, url: URLParts, tls: TLSContext?, options: Options) {
        self.loop = loop
        self.url = url
        self.options = options
        reader = WebSocketReader(maxMessageSize: options.maxMessageSize)
        connection = StreamConnection(loop: loop, endpoint: .init(
            host: url.host, port: url.port, hostIsIPLiteral: url.hostIsIPLiteral, tls: tls))
        var nonce = [UInt8](repeating: 0, count: 16)
        _ = lcshim_random_bytes(&nonce, 16)
        key = Base64.encode(nonce)
    }

    /// The value a server must answer in Sec-WebSocket-Accept for `key` (RFC 6455 §4.2.2).
    public static func acceptValue(forKey key: String) -> String {
        let input = Array((key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").utf8)
        var digest = [UInt8](repeating: 0, count: 20)
        lcshim_sha1(input, input.count, &digest)
        return Base64.encode(digest)
    }

    public var isOpen: Bool { state == .open }

    public func start() {
        guard state == .idle else { return }
        state = .handshaking
        timer = loop.schedule(afterMilliseconds: options.openTimeoutMilliseconds) { [weak self] in
            guard let self, self.state == .handshaking else { return }
            self.fail(LayercodeError(.timeout, "WebSocket open to \(self.url.hostHeader) timed out "
                                     + "after \(self.options.openTimeoutMilliseconds) ms"))
        }
        connection.onOpen = { [weak self] in self?.sendHandshake() }
        connection.onBytes = { [weak self] bytes in self?.received(bytes) }
        connection.onClose = { [weak self] error in self?.connectionEnded(error) }
        connection.start()
    }

    /// Sends one text message. False when the socket is not open.
    @discardableResult
    public func sendText(_ text: String) -> Bool {
        guard state == .open else { return false }
        var text = text
        text.withUTF8 { sendFrame(.text, UnsafeRawBufferPointer($0)) }
        messagesSent += 1
        return true
    }

    /// Sends one binary message. False when the socket is not open.
    @discardableResult
    public func sendBinary(_ bytes: [UInt8]) -> Bool {
        guard state == .open else { return false }
        sendFrame(.binary, bytes)
        messagesSent += 1
        return true
    }

    /// Bytes queued but not yet taken by the socket.
    public var pendingOutputBytes: Int { connection.pendingOutputBytes }

    /// Starts the close handshake; onClosed follows (or after closeTimeout, at the latest).
    public func close(code: UInt16 = WSCloseCode.normal, reason: String = "") {
        switch state {
        case .open:
            beginClose(code: code, reason: reason)
        case .idle, .handshaking:
            abort()
            onClosed?(code, reason)
        case .closing, .closed:
            break
        }
    }

    /// Drops the connection without a close handshake; no callback follows.
    public func abort() {
        state = .closed
        loop.cancel(timer)
        connection.close()
        onOpen = nil; onText = nil; onBinary = nil; onClosed = nil; onFailure = nil
    }

    // MARK: Handshake

    private func sendHandshake() {
        var request = "GET \(url.pathAndQuery) HTTP/1.1\r\nHost: \(url.hostHeader)\r\n"
        request += "Upgrade: websocket\r\nConnection: Upgrade\r\n"
        request += "Sec-WebSocket-Key: \(key)\r\nSec-WebSocket-Version: 13\r\n"
        request += "User-Agent: \(options.userAgent)\r\n\r\n"
        connection.send(Array(request.utf8))
    }

    private func handshakeBytes(_ bytes: UnsafeRawBufferPointer) {
        let complete: Bool
        do {
            complete = try handshakeParser.feed(bytes)
        } catch {
            let text = error.message
            fail(LayercodeError(.protocolViolation, "bad WebSocket upgrade response: \(text)"))
            return
        }
        guard complete, let head = handshakeParser.head else { return }
        guard head.status == 101 else {
            fail(LayercodeError(.protocolViolation,
                                "WebSocket upgrade refused: HTTP \(head.status) \(head.reason)"))
            return
        }
        guard head.header("Upgrade")?.lowercased() == "websocket",
              head.header("Connection")?.lowercased().split(separator: ",")
                .contains(where: { $0.trimmingSpaces() == "upgrade" }) == true else {
            fail(LayercodeError(.protocolViolation,
                                "WebSocket upgrade response lacks Upgrade/Connection headers"))
            return
        }
        guard head.header("Sec-WebSocket-Accept") == Self.acceptValue(forKey: key) else {
            fail(LayercodeError(.protocolViolation, "wrong Sec-WebSocket-Accept in upgrade response"))
            return
        }
        if head.header("Sec-WebSocket-Extensions") != nil {
            fail(LayercodeError(.protocolViolation, "server chose an extension we did not offer"))
            return
        }
        // We request no subprotocol, so any choice is one we did not offer (RFC 6455 §4.1).
        if head.header("Sec-WebSocket-Protocol") != nil {
            fail(LayercodeError(.protocolViolation, "server chose a subprotocol we did not request"))
            return
        }
        state = .open
        loop.cancel(timer)
        let leftover = handshakeParser.leftover
        onOpen?()
        if !leftover.isEmpty && state == .open {
            leftover.withUnsafeBytes { frameBytes($0) }
        }
    }

    // MARK: Frames

    private func received(_ bytes: UnsafeRawBufferPointer) {
        switch state {
        case .handshaking: handshakeBytes(bytes)
        case .open, .closing: frameBytes(bytes)
        default: break
        }
    }

    private func frameBytes(_ bytes: UnsafeRawBufferPointer) {
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
            payload.withUnsafeBytes { sendFrame(.pong, $0) }
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
        var mask: UInt32 = 0
        withUnsafeMutableBytes(of: &mask) {
            _ = lcshim_random_bytes($0.baseAddress!.assumingMemoryBound(to: UInt8.self), 4)
        }
        frameScratch.removeAll(keepingCapacity: true)
        wsEncodeFrame(into: &frameScratch, opcode: opcode, payload: payload, maskKey: mask)
        connection.send(frameScratch)
    }

    private func sendFrame(_ opcode: WSOpcode, _ payload: [UInt8]) {
        payload.withUnsafeBytes { sendFrame(opcode, $0) }
    }

    private func beginClose(code: UInt16, reason: String) {
        state = .closing
        sentClose = (code, reason)
        sendFrame(.close, wsClosePayload(code: code, reason: reason))
        timer = loop.schedule(afterMilliseconds: options.closeTimeoutMilliseconds) { [weak self] in
            guard let self, self.state == .closing else { return }
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
        connection.closeAfterFlush()
        connection.onClose = nil
        clearCallbacks()
        callback?(LayercodeError(code, "WebSocket protocol error (\(error.closeCode)): \(error.reason)"))
    }

    private func finishClosed(code: UInt16?, reason: String) {
        guard state != .closed else { return }
        let callback = onClosed
        state = .closed
        loop.cancel(timer)
        connection.onClose = nil
        connection.closeAfterFlush()
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

    private func clearCallbacks() {
        onOpen = nil; onText = nil; onBinary = nil; onClosed = nil; onFailure = nil
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
