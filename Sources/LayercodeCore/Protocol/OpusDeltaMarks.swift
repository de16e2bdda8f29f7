// SPDX-License-Identifier: Apache-2.0
/// `response.audio.opus` (doc/opus-profile.md §4): the audio of delta `deltaID` of turn
/// `turnID` ends in the agent packet `sequence`. Sent before that packet.
public struct OpusDeltaMark: Equatable, Sendable {
    public static let messageType = "response.audio.opus"
    public var turnID: String?
    public var deltaID: String?
    public var sequence: UInt32

    public init(turnID: String?, deltaID: String?, sequence: UInt32) {
        self.turnID = turnID
        self.deltaID = deltaID
        self.sequence = sequence
    }
}

/// The marks of one Opus socket, turned into the delta id each arriving packet carries to
/// playout, so that `replay_finished` names the last delta whose packet played:
/// - a mark waits for its packet; the last mark for a sequence wins;
/// - at most `capacity` marks wait (doc/opus-profile.md §4): past that the oldest goes, and
///   a mark more than `capacity` packets behind an arriving one is forgotten (its packet
///   was lost: no packet carries its name);
/// - a packet carries its own mark's delta, else that of the last marked packet of its
///   turn that arrived (its audio follows that delta's end), else none.
public struct OpusDeltaMarks: Sendable {
    public static let capacity = 64
    private var waiting: [OpusDeltaMark] = []
    private var lastDelta: String?

    public init() {}

    /// Marks waiting for their packet.
    public var waitingCount: Int { waiting.count }

    public mutating func announce(_ mark: OpusDeltaMark) {
        waiting.removeAll { $0.sequence == mark.sequence }
        if waiting.count >= Self.capacity { waiting.removeFirst(waiting.count - Self.capacity + 1) }
        waiting.append(mark)
    }

    /// The delta id the packet `sequence` carries to playout (see the type's rules).
    public mutating func delta(forPacket sequence: UInt32) -> String? {
        if let i = waiting.firstIndex(where: { $0.sequence == sequence }) {
            lastDelta = waiting[i].deltaID
            waiting.remove(at: i)
        }
        // Signed distances: sequences wrap modulo 2^32.
        waiting.removeAll { Int32(bitPattern: $0.sequence &- sequence) < -Int32(Self.capacity) }
        return lastDelta
    }

    /// A new assistant turn: its packets follow none of the last turn's deltas.
    public mutating func turnStarted() { lastDelta = nil }
}
