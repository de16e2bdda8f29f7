// SPDX-License-Identifier: Apache-2.0
// Turns the server's byte stream into WebSocket messages: buffers bytes, decodes frames,
// reassembles fragmented messages, validates text as UTF-8 while it arrives (failing fast,
// even inside a frame that is still arriving) and enforces the message size limit from frame
// headers, before the payload is buffered. The first protocol error is sticky.

public enum WSEvent: Equatable, Sendable {
    case text(String)
    case binary([UInt8])
    case ping([UInt8])
    case pong([UInt8])
    case close(code: UInt16?, reason: String)
}

public struct WebSocketReader: Sendable {
    /// Largest complete message (sum of its fragments' payloads), in bytes.
    public let maxMessageSize: Int

    private var buffer: [UInt8] = []
    /// Bytes before this offset in `buffer` are consumed.
    private var readOffset = 0
    private var failure: WSProtocolError?
    private var closed = false

    /// Opcode (text or binary) of the fragmented message in progress, if any.
    private var messageOpcode: WSOpcode?
    private var message: [UInt8] = []
    private var validator = UTF8Validator()
    /// Payload bytes of the (text) frame at `readOffset` already fed to `validator`.
    private var validatedInFrame = 0

    public init(maxMessageSize: Int = 16 << 20) {
        self.maxMessageSize = max(0, maxMessageSize)
    }

    /// Bytes received but not yet consumed as complete frames.
    public var bufferedByteCount: Int { buffer.count &- readOffset }

    /// True once a Close frame was returned; later bytes are ignored and `next()` returns nil.
    public var isClosed: Bool { closed }

    /// The protocol error that stopped the reader, if any.
    public var error: WSProtocolError? { failure }

    public mutating func append(_ bytes: UnsafeRawBufferPointer) {
        guard failure == nil, !closed, !bytes.isEmpty else { return }
        if readOffset > 0 {
            if readOffset == buffer.count {
                buffer.removeAll(keepingCapacity: true)
                readOffset = 0
            } else if readOffset >= buffer.count &- readOffset {
                // Move the unread tail down only when it is no longer than what was consumed,
                // so each byte is moved O(1) times on average.
                buffer.removeSubrange(0..<readOffset)
                readOffset = 0
            }
        }
        buffer.append(contentsOf: bytes)
    }

    public mutating func append(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { append($0) }
    }

    private mutating func fail(_ code: UInt16, _ reason: String) -> Result<WSEvent, WSProtocolError> {
        fail(WSProtocolError(closeCode: code, reason: reason))
    }

    private mutating func fail(_ error: WSProtocolError) -> Result<WSEvent, WSProtocolError> {
        failure = error
        buffer = []
        readOffset = 0
        message = []
        return .failure(error)
    }

    private mutating func consume(_ count: Int) {
        readOffset &+= count
        validatedInFrame = 0
        if readOffset == buffer.count {
            // Keep a normal-sized buffer for reuse, but do not hold on to one grown for a
            // rare huge message.
            if buffer.capacity > WebSocketReader.retainedCapacity {
                buffer = []
            } else {
                buffer.removeAll(keepingCapacity: true)
            }
            readOffset = 0
        }
    }

    private static let retainedCapacity = 256 << 10

    private func copyOut(_ start: Int, _ count: Int) -> [UInt8] {
        Array(buffer[start..<(start &+ count)])
    }

    /// The next event, nil when more bytes are needed. After a failure, the same failure again.
    public mutating func next() -> Result<WSEvent, WSProtocolError>? {
        if let failure { return .failure(failure) }
        if closed { return nil }
        while true {
            let available = buffer.count &- readOffset
            let decoded = buffer.withUnsafeBytes { raw in
                wsDecodeFrameHeader(UnsafeRawBufferPointer(rebasing: raw[readOffset...]), maxPayload: Int.max)
            }
            let h: WSFrameHeader
            switch decoded {
            case .needMore: return nil
            case .failure(let error): return fail(error)
            case .header(let header): h = header
            }
            let payloadStart = readOffset &+ h.headerLength
            let arrived = min(available &- h.headerLength, h.payloadLength)

            if h.opcode.isControl {
                guard arrived == h.payloadLength else { return nil }
                let payload = copyOut(payloadStart, h.payloadLength)
                consume(h.headerLength &+ h.payloadLength)
                switch h.opcode {
                case .ping: return .success(.ping(payload))
                case .pong: return .success(.pong(payload))
                default:
                    let parsed = payload.withUnsafeBytes { wsParseClosePayload($0) }
                    switch parsed {
                    case .failure(let error): return fail(error)
                    case .success(let close):
                        closed = true
                        buffer = []
                        readOffset = 0
                        message = []
                        return .success(.close(code: close.code, reason: close.reason))
                    }
                }
            }

            let opcode: WSOpcode
            if h.opcode == .continuation {
                guard let inProgress = messageOpcode else {
                    return fail(WSCloseCode.protocolError, "continuation frame without a message in progress")
                }
                opcode = inProgress
            } else {
                guard messageOpcode == nil else {
                    return fail(WSCloseCode.protocolError, "new data frame while a fragmented message is in progress")
                }
                opcode = h.opcode
            }
            guard h.payloadLength <= maxMessageSize &- message.count else {
                return fail(WSCloseCode.messageTooBig, "message larger than \(maxMessageSize) bytes")
            }

            if opcode == .text && validatedInFrame < arrived {
                let ok = buffer.withUnsafeBytes { raw in
                    validator.feed(UnsafeRawBufferPointer(rebasing: raw[(payloadStart &+ validatedInFrame)..<(payloadStart &+ arrived)]))
                }
                validatedInFrame = arrived
                guard ok else { return fail(WSCloseCode.invalidPayload, "text message is not valid UTF-8") }
            }
            guard arrived == h.payloadLength else { return nil }

            if h.fin && messageOpcode == nil {
                // Unfragmented: the common case, one copy.
                let payload = copyOut(payloadStart, h.payloadLength)
                consume(h.headerLength &+ h.payloadLength)
                return finish(opcode, payload)
            }
            message.append(contentsOf: buffer[payloadStart..<(payloadStart &+ h.payloadLength)])
            consume(h.headerLength &+ h.payloadLength)
            if h.fin {
                let payload = message
                message = []
                messageOpcode = nil
                return finish(opcode, payload)
            }
            messageOpcode = opcode
        }
    }

    private mutating func finish(_ opcode: WSOpcode, _ payload: [UInt8]) -> Result<WSEvent, WSProtocolError> {
        guard opcode == .text else { return .success(.binary(payload)) }
        guard validator.isAtBoundary else {
            return fail(WSCloseCode.invalidPayload, "text message ends inside a UTF-8 sequence")
        }
        validator.reset()
        return .success(.text(String(decoding: payload, as: UTF8.self)))
    }
}
