// SPDX-License-Identifier: Apache-2.0
/// Cuts the agent's 16 kHz audio (response.audio chunks of any length) into 20 ms frames
/// with sequence numbers and markers, for the FrameRing → JitterBuffer path. Runs on the
/// event loop. A marker names the (turn_id, delta_id) of the chunk whose audio ends in that
/// frame, so the playback side can report the last delta actually played.
///
/// Sequence numbers (see `AudioFrameHeader`): PCM chunks (`append`, Layercode's JSON wire)
/// are numbered on arrival. Packets that are a frame already (`appendPacket`: a wire with
/// its own framing, the Opus profile later) keep the wire's number when it has one: the
/// first packet of a turn anchors the wire's numbers `wireReorderMargin` above every
/// sequence handed out so far, and the turn's later packets keep their distance from it, so
/// a gap on the wire is a gap (loss) in playout and a reordered packet is put back in place.
/// A packet that would land at or below the anchor's floor (older than its turn by more
/// than the margin) is refused rather than mixed into the previous turn or a flushed range.
/// Either way `flush()` returns a boundary above every sequence handed out.
public struct AgentFrameAssembler {
    public let frameSamples: Int
    /// Payload bytes `appendPacket` accepts (one frame ring / jitter buffer slot).
    public var maxPacketBytes: Int
    /// Above every sequence handed out so far.
    public private(set) var nextSequence: UInt64 = 1
    /// While a turn of wire-numbered packets is open: session sequence = wire &+ wireOffset,
    /// and nothing at or below `wireFloor` (the turn's lowest allowed sequence - 1).
    private var wireOffset: UInt64 = 0
    private var wireFloor: UInt64 = 0
    private var wireAnchored = false
    /// How far before the first-arriving packet of a turn its earlier packets may still land.
    public static let wireReorderMargin: UInt64 = 8
    /// The most frames a wire-numbered packet may skip ahead within a turn (1 s): beyond it
    /// the turn continues at the next sequence (see `appendPacket`), so a server's jump can
    /// never make playout conceal for longer.
    public static let maxWireJump: Int64 = 50
    private var pending: [Int16] = []
    private var pendingMarker: UInt32 = 0
    private var turnOpen = false
    private var nextMarker: UInt32 = 1
    /// The (turn_id, delta_id) of markers `firstRemembered`, `firstRemembered + 1`, ... in
    /// order: markers are handed out in sequence and forgotten oldest first, so the entries
    /// stay contiguous and a marker's entry is found by subtraction.
    private var remembered: [Remembered] = []
    private var firstRemembered: UInt32 = 1
    /// What `remembered` holds, counted as the ids' UTF-8 bytes plus a fixed cost per entry.
    public private(set) var rememberedBytes = 0

    private struct Remembered {
        var turnID: String?
        var deltaID: String?
        var bytes: Int
    }

    /// While playout reports nothing (output stalled, or a long burst queued), at most this
    /// many markers and bytes are kept; past either, the oldest quarter is forgotten (a drain
    /// then names no delta: no replay_finished rather than unbounded memory). Ids are at
    /// most `ServerMessage.maxIDBytes` each, so the count alone would allow ~2 MiB.
    static let maxRememberedMarkers = 4096
    static let maxRememberedBytes = 256 << 10
    static let bytesPerEntry = MemoryLayout<Remembered>.stride

    public typealias Sink = (AudioFrameHeader, UnsafeBufferPointer<Int16>) -> Void
    /// Receives a packet's frame: its header and `header.byteCount` payload bytes.
    public typealias PacketSink = (AudioFrameHeader, UnsafeRawBufferPointer) -> Void

    public init(frameSamples: Int = AudioFormat.layercodeDownlink.frameSamples) {
        self.frameSamples = frameSamples
        pending.reserveCapacity(frameSamples)
        maxPacketBytes = 2 * frameSamples
    }

    /// Whether frames of an assistant turn were emitted and its end not yet.
    public var isTurnOpen: Bool { turnOpen }

    /// Whether an open turn maps a wire's packet numbers (they start over on a new socket).
    public var isWireTurnOpen: Bool { turnOpen && wireAnchored }

    /// Appends a chunk; emits every complete frame.
    public mutating func append(_ samples: [Int16], turnID: String?, deltaID: String?,
                                arrivalNanoseconds: UInt64, sink: Sink) {
        guard !samples.isEmpty else { return }
        // 2^32 chunks is decades of speech: markers never wrap in practice.
        let marker = nextMarker
        nextMarker &+= 1
        remember(marker, turnID: turnID, deltaID: deltaID)
        var offset = 0
        while offset < samples.count {
            let n = min(frameSamples - pending.count, samples.count - offset)
            pending.append(contentsOf: samples[offset..<(offset + n)])
            offset += n
            pendingMarker = marker
            if pending.count == frameSamples {
                emit(flags: [], arrival: arrivalNanoseconds, sink: sink)
            }
        }
    }

    /// A packet that is one frame already, emitted as one frame: `payload` of `kind`,
    /// `sampleCount` samples once decoded (1...frameSamples), numbered by `wireSequence` when
    /// the wire has one (nil: on arrival, like `append`). Starts a turn if none is open.
    /// Throws `.protocolViolation`, emitting nothing, for a packet longer than one frame
    /// (bytes or samples) or numbered before its turn (see the type's doc).
    public mutating func appendPacket(_ payload: UnsafeRawBufferPointer, kind: PayloadKind,
                                      sampleCount: Int, wireSequence: UInt64?,
                                      turnID: String?, deltaID: String?, arrivalNanoseconds: UInt64,
                                      sink: PacketSink) throws(LayercodeError) {
        guard payload.count <= maxPacketBytes, sampleCount > 0, sampleCount <= frameSamples else {
            throw LayercodeError(.protocolViolation, "agent audio packet of \(payload.count) bytes, "
                                 + "\(sampleCount) samples: a frame holds 1...\(frameSamples) samples "
                                 + "in at most \(maxPacketBytes) bytes")
        }
        let sequence: UInt64
        if let wire = wireSequence {
            if !turnOpen || !wireAnchored {
                wireFloor = nextSequence &- 1
                wireOffset = (nextSequence &+ Self.wireReorderMargin) &- wire
                wireAnchored = true
            }
            var mapped = wire &+ wireOffset
            if Int64(bitPattern: mapped &- nextSequence) > Self.maxWireJump {
                // A jump far ahead inside the turn (a server pause, or numbers gone wild):
                // the turn goes on at the next sequence instead of concealing the whole jump.
                wireOffset = nextSequence &- wire
                mapped = nextSequence
            }
            // Signed distances: the wire's numbers may start anywhere and wrap.
            guard Int64(bitPattern: mapped &- wireFloor) > 0 else {
                throw LayercodeError(.protocolViolation, "agent audio packet \(wire) arrived more than "
                                     + "\(Self.wireReorderMargin) packets before its turn's first")
            }
            sequence = mapped
            if Int64(bitPattern: mapped &- nextSequence) >= 0 { nextSequence = mapped &+ 1 }
        } else {
            sequence = nextSequence
            nextSequence += 1
        }
        let marker = nextMarker
        nextMarker &+= 1
        remember(marker, turnID: turnID, deltaID: deltaID)
        var flags: AudioFrameFlags = []
        if !turnOpen {
            flags.insert(.turnStart)
            turnOpen = true
        }
        let header = AudioFrameHeader(sequence: sequence, arrivalNanoseconds: arrivalNanoseconds,
                                      marker: marker, kind: kind, byteCount: payload.count,
                                      sampleCount: UInt16(sampleCount), flags: flags)
        sink(header, payload)
    }

    /// response.end: the short remainder (or a flags-only frame) closes the turn.
    public mutating func endTurn(arrivalNanoseconds: UInt64, sink: Sink) {
        guard turnOpen || !pending.isEmpty else { return }
        emit(flags: .turnEnd, arrival: arrivalNanoseconds, sink: sink)
        turnOpen = false
        wireAnchored = false
    }

    /// Barge-in: forgets the partial frame. Returns the sequence before which the playback
    /// side must drop everything.
    public mutating func flush() -> UInt64 {
        pending.removeAll(keepingCapacity: true)
        pendingMarker = 0
        turnOpen = false
        wireAnchored = false
        return nextSequence
    }

    /// The (turn_id, delta_id) of a played marker; forgets it and every older one.
    public mutating func resolve(playedMarker marker: UInt32) -> (turnID: String?, deltaID: String?)? {
        let index = Int(marker &- firstRemembered)
        guard marker != 0, index >= 0, index < remembered.count else { return nil }
        let entry = remembered[index]
        forgetOldest(index + 1)
        return (entry.turnID, entry.deltaID)
    }

    /// Markers remembered now (resolvable until played or forgotten).
    public var rememberedCount: Int { remembered.count }

    private mutating func remember(_ marker: UInt32, turnID: String?, deltaID: String?) {
        if remembered.isEmpty { firstRemembered = marker }
        let bytes = Self.bytesPerEntry + (turnID?.utf8.count ?? 0) + (deltaID?.utf8.count ?? 0)
        remembered.append(Remembered(turnID: turnID, deltaID: deltaID, bytes: bytes))
        rememberedBytes += bytes
        if remembered.count > Self.maxRememberedMarkers || rememberedBytes > Self.maxRememberedBytes {
            // Playout never reported these (output stalled): forget the oldest, down to 3/4
            // of both bounds, so this runs once per many chunks.
            var drop = 0
            var left = rememberedBytes
            while drop < remembered.count - 1
                    && (remembered.count - drop > Self.maxRememberedMarkers * 3 / 4
                        || left > Self.maxRememberedBytes * 3 / 4) {
                left -= remembered[drop].bytes
                drop += 1
            }
            forgetOldest(drop)
        }
    }

    private mutating func forgetOldest(_ count: Int) {
        guard count > 0 else { return }
        for entry in remembered[..<count] { rememberedBytes -= entry.bytes }
        remembered.removeFirst(count)
        firstRemembered &+= UInt32(count)
    }

    private mutating func emit(flags: AudioFrameFlags, arrival: UInt64, sink: Sink) {
        var f = flags
        if !turnOpen {
            f.insert(.turnStart)
            turnOpen = true
        }
        let header = AudioFrameHeader(sequence: nextSequence, arrivalNanoseconds: arrival,
                                      marker: pendingMarker, sampleCount: UInt16(pending.count),
                                      flags: f)
        nextSequence += 1
        pending.withUnsafeBufferPointer { sink(header, $0) }
        pending.removeAll(keepingCapacity: true)
    }
}
