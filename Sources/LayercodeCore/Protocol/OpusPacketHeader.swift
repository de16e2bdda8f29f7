// SPDX-License-Identifier: Apache-2.0
/// The 10-byte header before every Opus packet of the Opus wire profile (doc/opus-profile.md
/// §3), both directions: version (1), flags (0; receivers ignore them), sequence (u32 BE),
/// timestamp (u32 BE, 16 kHz samples), then one Opus packet of 1...1275 bytes. Pure
/// functions over bytes, so they can be fuzzed (fuzz/opus_header.swift).
public struct OpusPacketHeader: Equatable, Sendable {
    public var version: UInt8
    public var flags: UInt8
    public var sequence: UInt32
    public var timestamp: UInt32

    /// Bytes before the packet.
    public static let size = 10
    /// The only version this client speaks.
    public static let currentVersion: UInt8 = 1
    /// RFC 6716 §3.4: the largest packet one frame makes.
    public static let maxPacketBytes = 1275

    public init(sequence: UInt32, timestamp: UInt32, version: UInt8 = OpusPacketHeader.currentVersion,
                flags: UInt8 = 0) {
        self.version = version
        self.flags = flags
        self.sequence = sequence
        self.timestamp = timestamp
    }

    /// The binary message: this header, then `packet`.
    public func encode(packet: UnsafeRawBufferPointer) -> [UInt8] {
        var out = [UInt8]()
        out.reserveCapacity(Self.size + packet.count)
        out.append(version)
        out.append(flags)
        for shift in stride(from: 24, through: 0, by: -8) { out.append(UInt8(truncatingIfNeeded: sequence >> UInt32(shift))) }
        for shift in stride(from: 24, through: 0, by: -8) { out.append(UInt8(truncatingIfNeeded: timestamp >> UInt32(shift))) }
        out.append(contentsOf: packet)
        return out
    }

    /// Reads one binary message: its header and the packet's byte range in `message`.
    /// Throws `.protocolViolation` for a message shorter than 11 bytes, a version other than
    /// 1, or a packet over `maxPacketBytes` (the caller may refuse smaller ones too).
    public static func decode(_ message: UnsafeRawBufferPointer) throws(LayercodeError)
        -> (header: OpusPacketHeader, packet: Range<Int>) {
        guard message.count > size else {
            throw LayercodeError(.protocolViolation, "Opus binary message of \(message.count) bytes: "
                                 + "a header and a packet take at least \(size + 1)")
        }
        guard message[0] == currentVersion else {
            throw LayercodeError(.protocolViolation, "Opus binary message of version \(message[0]) (this client speaks 1)")
        }
        let packetBytes = message.count - size
        guard packetBytes <= maxPacketBytes else {
            throw LayercodeError(.protocolViolation, "Opus packet of \(packetBytes) bytes (at most \(maxPacketBytes))")
        }
        func u32(_ at: Int) -> UInt32 {
            UInt32(message[at]) << 24 | UInt32(message[at + 1]) << 16 | UInt32(message[at + 2]) << 8 | UInt32(message[at + 3])
        }
        let header = OpusPacketHeader(sequence: u32(2), timestamp: u32(6), version: message[0], flags: message[1])
        return (header, size..<message.count)
    }

    /// The same over an array.
    public static func decode(_ message: [UInt8]) throws(LayercodeError) -> (header: OpusPacketHeader, packet: Range<Int>) {
        let result = message.withUnsafeBytes { bytes in
            Result { () throws(LayercodeError) in try decode(bytes) }
        }
        return try result.get()
    }
}

/// Numbers and stamps the packets one direction of one socket sends (doc/opus-profile.md
/// §3): sequence 0, 1, 2, ... per packet sent; timestamp where the packet's first sample
/// sits on the sender's clock in 16 kHz samples, from the capture index of its frame (frames
/// the gate held back advance the timestamp, not the sequence). A new socket starts afresh.
public struct OpusPacketClock: Equatable, Sendable {
    public let frameSamples: UInt64
    private var nextSequence: UInt32 = 0
    private var firstFrame: UInt64?
    private var lastTimestamp: UInt32 = 0

    public init(frameSamples: Int = AudioFormat.opusProfile.frameSamples) {
        self.frameSamples = UInt64(frameSamples)
    }

    /// The header of the next packet, for the frame with capture index `frameIndex`
    /// (consecutive captured frames: consecutive indices). An index at or below an earlier
    /// one (not expected) still advances the timestamp by one frame.
    public mutating func next(frameIndex: UInt64) -> OpusPacketHeader {
        let timestamp: UInt32
        if let first = firstFrame {
            let fromIndex = frameIndex >= first
                ? UInt32(truncatingIfNeeded: (frameIndex &- first) &* frameSamples) : lastTimestamp
            let minimum = lastTimestamp &+ UInt32(truncatingIfNeeded: frameSamples)
            // Signed distance: the clock wraps modulo 2^32.
            timestamp = Int32(bitPattern: fromIndex &- minimum) >= 0 ? fromIndex : minimum
        } else {
            firstFrame = frameIndex
            timestamp = 0
        }
        let header = OpusPacketHeader(sequence: nextSequence, timestamp: timestamp)
        nextSequence &+= 1
        lastTimestamp = timestamp
        return header
    }
}
