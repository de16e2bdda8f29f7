// SPDX-License-Identifier: Apache-2.0
// RFC 6455 framing, client side: frames we send are masked, frames we receive (from the
// server) must not be. No extensions are negotiated, so every RSV bit must be zero.
// Decoding works on whatever bytes have arrived and never allocates a payload before all of
// it is there; limits are checked from the header alone.

public enum WSOpcode: UInt8, Sendable {
    case continuation = 0, text = 1, binary = 2, close = 8, ping = 9, pong = 10

    /// Close, ping and pong: at most 125 bytes, never fragmented.
    public var isControl: Bool { rawValue & 0x8 != 0 }
}

public struct WSCloseCode {
    public static let normal: UInt16 = 1000
    public static let goingAway: UInt16 = 1001
    public static let protocolError: UInt16 = 1002
    public static let unsupportedData: UInt16 = 1003
    public static let noStatus: UInt16 = 1005
    public static let abnormal: UInt16 = 1006
    public static let invalidPayload: UInt16 = 1007
    public static let policyViolation: UInt16 = 1008
    public static let messageTooBig: UInt16 = 1009
    public static let mandatoryExtension: UInt16 = 1010
    public static let internalError: UInt16 = 1011

    /// Whether `code` may appear in a Close frame: 1000-1003, 1007-1014 and 3000-4999.
    /// 1004-1006 and 1015 are reserved for local use; other values are unassigned.
    public static func isValidOnWire(_ code: UInt16) -> Bool {
        switch code {
        case 1000...1003, 1007...1014, 3000...4999: return true
        default: return false
        }
    }
}

public struct WSProtocolError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The close code to send back (1002, 1007, 1009 ...).
    public var closeCode: UInt16
    public var reason: String

    public init(closeCode: UInt16, reason: String) {
        self.closeCode = closeCode
        self.reason = reason
    }

    public var description: String { "WebSocket protocol error \(closeCode): \(reason)" }
}

public struct WSFrame: Sendable, Equatable {
    public var fin: Bool
    public var opcode: WSOpcode
    public var payload: [UInt8]

    public init(fin: Bool, opcode: WSOpcode, payload: [UInt8]) {
        self.fin = fin
        self.opcode = opcode
        self.payload = payload
    }
}

// MARK: - Encoding (client to server: always masked)

/// Appends one masked frame. `maskKey` goes on the wire big-endian: 0x37FA213D is `37 fa 21 3d`.
public func wsEncodeFrame(into out: inout [UInt8], opcode: WSOpcode, fin: Bool = true,
                          payload: UnsafeRawBufferPointer, maskKey: UInt32) {
    let n = payload.count
    let lengthBytes = n < 126 ? 0 : (n <= 0xFFFF ? 2 : 8)
    let headerLength = 2 &+ lengthBytes &+ 4
    let start = out.count
    out.append(contentsOf: repeatElement(0, count: headerLength &+ n))
    out.withUnsafeMutableBytes { raw in
        let frame = UnsafeMutableRawBufferPointer(rebasing: raw[start...])
        frame[0] = (fin ? 0x80 : 0) | opcode.rawValue
        switch lengthBytes {
        case 0:
            frame[1] = 0x80 | UInt8(truncatingIfNeeded: n)
        case 2:
            frame[1] = 0x80 | 126
            frame[2] = UInt8(truncatingIfNeeded: n >> 8)
            frame[3] = UInt8(truncatingIfNeeded: n)
        default:
            frame[1] = 0x80 | 127
            let length = UInt64(n)
            for k in 0..<8 { frame[2 &+ k] = UInt8(truncatingIfNeeded: length >> (56 &- 8 &* UInt64(k))) }
        }
        let keyOffset = 2 &+ lengthBytes
        // The key's bytes in wire order, and the same bytes twice as a word in memory order.
        let wireKey = maskKey.bigEndian
        withUnsafeBytes(of: wireKey) { k in
            for j in 0..<4 { frame[keyOffset &+ j] = k[j] }
        }
        let key8 = UInt64(wireKey) << 32 | UInt64(wireKey)
        var i = 0
        while n &- i >= 8 {
            let word = payload.loadUnaligned(fromByteOffset: i, as: UInt64.self) ^ key8
            frame.storeBytes(of: word, toByteOffset: headerLength &+ i, as: UInt64.self)
            i &+= 8
        }
        while i < n {
            frame[headerLength &+ i] = payload[i] ^ frame[keyOffset &+ (i & 3)]
            i &+= 1
        }
    }
}

public func wsEncodeFrame(opcode: WSOpcode, fin: Bool = true, payload: [UInt8], maskKey: UInt32) -> [UInt8] {
    var out: [UInt8] = []
    out.reserveCapacity(payload.count &+ 14)
    payload.withUnsafeBytes { wsEncodeFrame(into: &out, opcode: opcode, fin: fin, payload: $0, maskKey: maskKey) }
    return out
}

/// A Close frame payload: the code big-endian, then the reason cut to at most 123 bytes
/// without splitting a UTF-8 sequence (the whole payload must fit in 125 bytes).
public func wsClosePayload(code: UInt16, reason: String) -> [UInt8] {
    var payload: [UInt8] = [UInt8(truncatingIfNeeded: code >> 8), UInt8(truncatingIfNeeded: code)]
    let utf8 = Array(reason.utf8)
    var cut = min(utf8.count, 123)
    if cut < utf8.count {
        while cut > 0 && utf8[cut] & 0xC0 == 0x80 { cut -= 1 }
    }
    payload.append(contentsOf: utf8[..<cut])
    return payload
}

/// Parses a received Close payload: empty means no status; one byte, or a code that may not
/// be sent, is 1002; a reason that is not UTF-8 is 1007.
public func wsParseClosePayload(_ payload: UnsafeRawBufferPointer) -> Result<(code: UInt16?, reason: String), WSProtocolError> {
    if payload.isEmpty { return .success((nil, "")) }
    guard payload.count >= 2 else {
        return .failure(WSProtocolError(closeCode: WSCloseCode.protocolError, reason: "close frame with a 1-byte payload"))
    }
    let code = UInt16(payload[0]) << 8 | UInt16(payload[1])
    guard WSCloseCode.isValidOnWire(code) else {
        return .failure(WSProtocolError(closeCode: WSCloseCode.protocolError, reason: "invalid close code \(code)"))
    }
    let reason = UnsafeRawBufferPointer(rebasing: payload[2...])
    guard UTF8Validator.isValid(reason) else {
        return .failure(WSProtocolError(closeCode: WSCloseCode.invalidPayload, reason: "close reason is not valid UTF-8"))
    }
    return .success((code, String(decoding: reason, as: UTF8.self)))
}

// MARK: - Decoding (server to client: never masked)

public struct WSFrameHeader: Equatable, Sendable {
    public var fin: Bool
    public var opcode: WSOpcode
    /// Bytes before the payload (2, 4 or 10).
    public var headerLength: Int
    public var payloadLength: Int
}

public enum WSFrameHeaderDecodeResult: Sendable {
    case needMore
    case header(WSFrameHeader)
    case failure(WSProtocolError)
}

public enum WSFrameDecodeResult: Sendable {
    case needMore
    case frame(WSFrame, consumed: Int)
    case failure(WSProtocolError)
}

private func protocolError(_ reason: String) -> WSProtocolError {
    WSProtocolError(closeCode: WSCloseCode.protocolError, reason: reason)
}

/// Decodes the header of the frame at the front of `buffer`. Every rule that the header alone
/// can break is checked as soon as the bytes that break it are there, including
/// `payloadLength > maxPayload` (1009), so a huge declared length fails before any payload.
public func wsDecodeFrameHeader(_ buffer: UnsafeRawBufferPointer, maxPayload: Int) -> WSFrameHeaderDecodeResult {
    guard buffer.count >= 2 else { return .needMore }
    let b0 = buffer[0], b1 = buffer[1]
    guard b0 & 0x70 == 0 else { return .failure(protocolError("reserved bits set without a negotiated extension")) }
    guard let opcode = WSOpcode(rawValue: b0 & 0x0F) else {
        return .failure(protocolError("reserved opcode \(b0 & 0x0F)"))
    }
    let fin = b0 & 0x80 != 0
    guard b1 & 0x80 == 0 else { return .failure(protocolError("masked frame from the server")) }
    let length7 = Int(b1 & 0x7F)
    if opcode.isControl {
        guard fin else { return .failure(protocolError("fragmented control frame")) }
        guard length7 <= 125 else { return .failure(protocolError("control frame payload longer than 125 bytes")) }
    }

    let headerLength: Int
    let length: UInt64
    switch length7 {
    case 126:
        guard buffer.count >= 4 else { return .needMore }
        headerLength = 4
        length = UInt64(buffer[2]) << 8 | UInt64(buffer[3])
    case 127:
        guard buffer.count >= 10 else { return .needMore }
        headerLength = 10
        var v: UInt64 = 0
        for k in 2..<10 { v = v << 8 | UInt64(buffer[k]) }
        guard v & (1 << 63) == 0 else { return .failure(protocolError("64-bit payload length with the high bit set")) }
        length = v
    default:
        headerLength = 2
        length = UInt64(length7)
    }
    guard length <= UInt64(max(0, maxPayload)) else {
        return .failure(WSProtocolError(closeCode: WSCloseCode.messageTooBig,
                                        reason: "frame payload of \(length) bytes exceeds the limit of \(max(0, maxPayload))"))
    }
    return .header(WSFrameHeader(fin: fin, opcode: opcode, headerLength: headerLength, payloadLength: Int(length)))
}

/// Decodes one complete frame from the front of `buffer`.
public func wsDecodeFrame(_ buffer: UnsafeRawBufferPointer, maxPayload: Int) -> WSFrameDecodeResult {
    switch wsDecodeFrameHeader(buffer, maxPayload: maxPayload) {
    case .needMore:
        return .needMore
    case .failure(let error):
        return .failure(error)
    case .header(let h):
        guard buffer.count &- h.headerLength >= h.payloadLength else { return .needMore }
        let payload = Array(UnsafeRawBufferPointer(rebasing: buffer[h.headerLength..<(h.headerLength &+ h.payloadLength)]))
        return .frame(WSFrame(fin: h.fin, opcode: h.opcode, payload: payload), consumed: h.headerLength &+ h.payloadLength)
    }
}
