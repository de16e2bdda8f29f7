/// Cuts the agent's 16 kHz audio (response.audio chunks of any length) into 20 ms frames
/// with sequence numbers and markers, for the FrameRing → JitterBuffer path. Runs on the
/// event loop. A marker names the (turn_id, delta_id) of the chunk whose audio ends in that
/// frame, so the playback side can report the last delta actually played.
public struct AgentFrameAssembler {
    public let frameSamples: Int
    public private(set) var nextSequence: UInt64 = 1
    private var pending: [Int16] = []
    private var pendingMarker: UInt32 = 0
    private var turnOpen = false
    private var nextMarker: UInt32 = 1
    /// marker → (turn_id, delta_id), pruned as playout reports progress.
    private var markers: [UInt32: (turnID: String?, deltaID: String?)] = [:]

    static let maxRememberedMarkers = 4096

    public typealias Sink = (AudioFrameHeader, UnsafeBufferPointer<Int16>) -> Void

    public init(frameSamples: Int = 320) {
        self.frameSamples = frameSamples
        pending.reserveCapacity(frameSamples)
    }

    /// Whether frames of an assistant turn were emitted and its end not yet.
    public var isTurnOpen: Bool { turnOpen }

    /// Appends a chunk; emits every complete frame.
    public mutating func append(_ samples: [Int16], turnID: String?, deltaID: String?,
                                arrivalNanoseconds: UInt64, sink: Sink) {
        guard !samples.isEmpty else { return }
        // 2^32 chunks is decades of speech: markers never wrap in practice.
        let marker = nextMarker
        nextMarker &+= 1
        markers[marker] = (turnID, deltaID)
        if markers.count > Self.maxRememberedMarkers {
            // Playout never reported these (output disabled or stalled): forget the oldest.
            markers = markers.filter { $0.key > marker - UInt32(Self.maxRememberedMarkers / 2) }
        }
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

    /// response.end: the short remainder (or a flags-only frame) closes the turn.
    public mutating func endTurn(arrivalNanoseconds: UInt64, sink: Sink) {
        guard turnOpen || !pending.isEmpty else { return }
        emit(flags: .turnEnd, arrival: arrivalNanoseconds, sink: sink)
        turnOpen = false
    }

    /// Barge-in: forgets the partial frame. Returns the sequence before which the playback
    /// side must drop everything.
    public mutating func flush() -> UInt64 {
        pending.removeAll(keepingCapacity: true)
        pendingMarker = 0
        turnOpen = false
        return nextSequence
    }

    /// The (turn_id, delta_id) of a played marker; forgets it and every older one.
    public mutating func resolve(playedMarker marker: UInt32) -> (turnID: String?, deltaID: String?)? {
        guard let entry = markers[marker] else { return nil }
        markers = markers.filter { $0.key > marker }
        return entry
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
