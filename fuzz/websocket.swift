// SPDX-License-Identifier: Apache-2.0
// libFuzzer target: the WebSocket frame decoder (wsDecodeFrameHeader / wsDecodeFrame), the
// frame encoder and close-payload helpers, and WebSocketReader (reassembly, UTF-8, limits).
//
// Input: byte 0 picks the reader's maxMessageSize (also the decoder's maxPayload), byte 1
// how the stream is split into reads (FuzzSupport.fuzzChunks), the rest is the byte stream
// from the server. Checked on every input:
//  1. The reader fed the whole stream in one read and fed it split over many reads returns
//     the same events, the same error and the same buffered byte count.
//  2. Those equal what an independent model of RFC 6455 (written here, using the standard
//     library's UTF-8 validation) says the stream means, in the same order.
//  3. Every frame wsDecodeFrame decodes re-encodes (wsEncodeFrame, masked) to a frame that
//     unmasks and decodes to the same frame, and to the same bytes when the original used
//     the shortest length form; a Close payload re-encodes with wsClosePayload to itself.

private let messageLimits = [1 << 20, 0, 1, 2, 7, 125, 126, 127, 300, 65_535, 65_536]

private struct ReaderOutcome: Equatable {
    var events: [WSEvent] = []
    var error: WSProtocolError?
    var closed = false
    var buffered = 0
}

private struct ModelOutcome {
    var events: [WSEvent] = []
    var errorCode: UInt16?
    var closed = false
    var buffered = 0
}

private func runReader(_ stream: [UInt8], chunks: [Range<Int>], limit: Int) -> ReaderOutcome {
    var reader = WebSocketReader(maxMessageSize: limit)
    var outcome = ReaderOutcome()
    withChunks(stream, chunks) { chunk in
        reader.append(chunk)
        while let result = reader.next() {
            switch result {
            case .success(let event):
                outcome.events.append(event)
                if case .close = event {
                    fuzzCheck(reader.isClosed, "close event but the reader is not closed")
                    fuzzCheck(reader.next() == nil, "event after close")
                }
            case .failure(let error):
                outcome.error = error
                // Sticky: the same failure again, and appends are ignored.
                fuzzCheck(reader.next() == .failure(error), "failure is not sticky")
                reader.append([0x81, 0x00])
                fuzzCheck(reader.next() == .failure(error), "failure is not sticky after append")
                fuzzCheck(reader.error == error, "reader.error differs from the returned failure")
                return false
            }
        }
        return true
    }
    outcome.closed = reader.isClosed
    outcome.buffered = reader.bufferedByteCount
    fuzzCheck(outcome.error != nil || reader.error == nil, "reader.error set without a failure")
    return outcome
}

/// RFC 6455 (client side: the server's frames are unmasked, no extensions) as a direct,
/// unoptimized reading of the stream. Shares no code with the decoder but the types.
private func model(_ s: [UInt8], limit: Int) -> ModelOutcome {
    var out = ModelOutcome()
    var offset = 0
    var messageOpcode: UInt8?   // 1 text, 2 binary
    var message: [UInt8] = []
    func fail(_ code: UInt16) -> ModelOutcome {
        out.errorCode = code
        out.buffered = 0
        return out
    }
    while true {
        let available = s.count - offset
        out.buffered = available
        guard available >= 2 else { return out }
        let b0 = s[offset], b1 = s[offset + 1]
        let fin = b0 & 0x80 != 0
        let opcode = b0 & 0x0F
        if b0 & 0x70 != 0 { return fail(1002) }
        guard [0, 1, 2, 8, 9, 10].contains(opcode) else { return fail(1002) }
        if b1 & 0x80 != 0 { return fail(1002) }
        let length7 = Int(b1 & 0x7F)
        let isControl = opcode >= 8
        if isControl && (!fin || length7 > 125) { return fail(1002) }
        var headerLength = 2
        var length = UInt64(length7)
        if length7 == 126 {
            guard available >= 4 else { return out }
            headerLength = 4
            length = UInt64(s[offset + 2]) << 8 | UInt64(s[offset + 3])
        } else if length7 == 127 {
            guard available >= 10 else { return out }
            headerLength = 10
            length = s[(offset + 2)..<(offset + 10)].reduce(0) { $0 << 8 | UInt64($1) }
            if length >> 63 != 0 { return fail(1002) }
        }
        let payloadStart = offset + headerLength
        let arrived = min(UInt64(available - headerLength), length)
        let payload = s[payloadStart..<(payloadStart + Int(arrived))]
        let complete = arrived == length

        if isControl {
            guard complete else { return out }
            offset = payloadStart + Int(length)
            switch opcode {
            case 9: out.events.append(.ping(Array(payload)))
            case 10: out.events.append(.pong(Array(payload)))
            default:
                if payload.isEmpty {
                    out.events.append(.close(code: nil, reason: ""))
                } else {
                    guard payload.count >= 2 else { return fail(1002) }
                    let code = UInt16(payload[payloadStart]) << 8 | UInt16(payload[payloadStart + 1])
                    let allowed = (1000...1003).contains(code) || (1007...1014).contains(code)
                        || (3000...4999).contains(code)
                    guard allowed else { return fail(1002) }
                    guard let reason = String(validating: payload.dropFirst(2), as: UTF8.self) else {
                        return fail(1007)
                    }
                    out.events.append(.close(code: code, reason: reason))
                }
                out.closed = true
                out.buffered = 0
                return out
            }
            continue
        }

        let messageType: UInt8
        if opcode == 0 {
            guard let inProgress = messageOpcode else { return fail(1002) }
            messageType = inProgress
        } else {
            guard messageOpcode == nil else { return fail(1002) }
            messageType = opcode
        }
        guard length <= UInt64(limit - message.count) else { return fail(1009) }
        if messageType == 1 && !stdlibIsValidUTF8Prefix((message + payload)[...]) { return fail(1007) }
        guard complete else { return out }
        message += payload
        offset = payloadStart + Int(length)
        if fin {
            if messageType == 1 {
                guard let text = String(validating: message, as: UTF8.self) else { return fail(1007) }
                out.events.append(.text(text))
            } else {
                out.events.append(.binary(message))
            }
            message = []
            messageOpcode = nil
        } else {
            messageOpcode = messageType
        }
    }
}

/// Decodes frame after frame with wsDecodeFrame and round-trips each through the encoder.
private func checkFrames(_ s: [UInt8], maxPayload: Int) {
    var offset = 0
    while offset < s.count {
        let result = s.withUnsafeBytes { raw in
            wsDecodeFrame(UnsafeRawBufferPointer(rebasing: raw[offset...]), maxPayload: maxPayload)
        }
        let header = s.withUnsafeBytes { raw in
            wsDecodeFrameHeader(UnsafeRawBufferPointer(rebasing: raw[offset...]), maxPayload: maxPayload)
        }
        switch result {
        case .needMore:
            if case .failure = header { fuzzFail("wsDecodeFrame needs more where the header failed") }
            return
        case .failure(let error):
            guard case .failure(let headerError) = header, headerError == error else {
                fuzzFail("wsDecodeFrame failed (\(error)) but the header decoded differently")
            }
            fuzzCheck([1002, 1009].contains(error.closeCode), "unexpected decoder close code \(error.closeCode)")
            return
        case .frame(let frame, let consumed):
            guard case .header(let h) = header else { fuzzFail("frame decoded without a header") }
            fuzzCheck(consumed == h.headerLength + h.payloadLength && consumed <= s.count - offset,
                      "consumed \(consumed) does not match the header \(h)")
            fuzzCheck(frame.payload.count <= maxPayload, "payload over maxPayload")
            fuzzCheck(frame.payload[...] == s[(offset + h.headerLength)..<(offset + consumed)], "payload bytes differ")
            roundTrip(frame, original: s[offset..<(offset + consumed)], headerLength: h.headerLength,
                      maxPayload: maxPayload)
            offset += consumed
        }
    }
}

private func roundTrip(_ frame: WSFrame, original: ArraySlice<UInt8>, headerLength: Int, maxPayload: Int) {
    let n = frame.payload.count
    let maskKey = UInt32(truncatingIfNeeded: n &* 0x9E37_79B1) ^ 0x37FA_213D
    var masked: [UInt8] = [0xEE]  // appending after existing bytes must leave them alone
    frame.payload.withUnsafeBytes {
        wsEncodeFrame(into: &masked, opcode: frame.opcode, fin: frame.fin, payload: $0, maskKey: maskKey)
    }
    fuzzCheck(masked.removeFirst() == 0xEE, "encoder overwrote earlier bytes")
    fuzzCheck(masked == wsEncodeFrame(opcode: frame.opcode, fin: frame.fin, payload: frame.payload, maskKey: maskKey),
              "the two wsEncodeFrame forms differ")
    let minimalHeader = n < 126 ? 2 : (n <= 0xFFFF ? 4 : 10)
    fuzzCheck(masked.count == minimalHeader + 4 + n, "encoded size \(masked.count) for payload \(n)")
    fuzzCheck(masked[0] == (frame.fin ? 0x80 : 0) | frame.opcode.rawValue, "encoded first byte")
    fuzzCheck(masked[1] & 0x80 != 0, "encoded frame is not masked")
    let key = Array(masked[minimalHeader..<(minimalHeader + 4)])
    let wireKey: [UInt8] = [UInt8(maskKey >> 24), UInt8(truncatingIfNeeded: maskKey >> 16),
                            UInt8(truncatingIfNeeded: maskKey >> 8), UInt8(truncatingIfNeeded: maskKey)]
    fuzzCheck(key == wireKey, "mask key not big-endian on the wire")
    var unmasked = [masked[0], masked[1] & 0x7F] + masked[2..<minimalHeader]
    for i in 0..<n { unmasked.append(masked[minimalHeader + 4 + i] ^ key[i & 3]) }
    let decoded = unmasked.withUnsafeBytes { wsDecodeFrame($0, maxPayload: maxPayload) }
    guard case .frame(let again, let consumed) = decoded, again == frame, consumed == unmasked.count else {
        fuzzFail("re-encoded frame does not decode to itself: \(decoded)")
    }
    if headerLength == minimalHeader {
        fuzzCheck(unmasked[...] == original, "re-encoded frame differs from the shortest-form original")
    }
    if frame.opcode == .close {
        let parsed = frame.payload.withUnsafeBytes { wsParseClosePayload($0) }
        if case .success(let close) = parsed, let code = close.code {
            fuzzCheck(wsClosePayload(code: code, reason: close.reason) == frame.payload,
                      "wsClosePayload does not rebuild a valid close payload")
        }
    }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzWebSocket(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let input = fuzzBytes(data, size)
    guard input.count >= 2 else { return 0 }
    let limit = messageLimits[Int(input[0]) % messageLimits.count]
    let stream = Array(input[2...])

    let whole = runReader(stream, chunks: stream.isEmpty ? [] : [0..<stream.count], limit: limit)
    let split = runReader(stream, chunks: fuzzChunks(count: stream.count, seed: input[1]), limit: limit)
    fuzzCheck(whole == split, "whole and split reads differ:\n whole \(whole)\n split \(split)")

    let expected = model(stream, limit: limit)
    fuzzCheck(whole.events == expected.events,
              "reader events differ from the model:\n reader \(whole.events)\n model  \(expected.events)")
    fuzzCheck(whole.error?.closeCode == expected.errorCode,
              "reader error \(String(describing: whole.error)) but the model says \(String(describing: expected.errorCode))")
    fuzzCheck(whole.closed == expected.closed, "closed: reader \(whole.closed), model \(expected.closed)")
    fuzzCheck(whole.buffered == expected.buffered,
              "buffered bytes: reader \(whole.buffered), model \(expected.buffered)")

    checkFrames(stream, maxPayload: limit)
    return 0
}
