// SPDX-License-Identifier: Apache-2.0
/// The assistant turns of one socket, as the session needs them for barge-in, late audio and
/// `replay_finished` (issue 9 item 12). The rules:
/// - A turn is *current* from its `turn.start{assistant}` (or its first audio) until its
///   `response.end`: until then more of its audio may arrive.
/// - A turn is *unplayed* from its last chunk queued for playout until playout drains it.
/// - A barge-in (`turn.start{user}` in automatic mode with `can_interrupt`, push-to-talk
///   start, typed text) interrupts the current and the unplayed turn, and only those: a turn
///   that ended and drained finished normally and is never marked. An interrupted turn's
///   late audio is dropped and its drains send no `replay_finished`.
/// - The record belongs to one socket: ids are only known to be unique within a socket, so
///   every new socket starts empty (a resumed greeting is never taken for an old socket's
///   late audio). At most 16 interrupted ids are kept, each at most
///   `ServerMessage.maxIDBytes`.
struct AssistantTurns {
    /// The turn still delivering audio (no `response.end` yet).
    private(set) var current: String?
    /// The turn whose audio went to playout last and has not drained yet.
    private var unplayed: String?
    /// The last delta id received for `current`, for a `replay_finished` sent at
    /// `response.end` when no audio plays.
    private var lastDelta: (turnID: String, deltaID: String?)?
    private var interrupted: [String] = []
    static let interruptedMemory = 16
    /// The turn the last `turn.start{assistant}` of this socket opened: the Opus profile's
    /// packets carry no turn id and belong to it (doc/opus-profile.md §4), also after a
    /// barge-in interrupted it (they are then dropped as late).
    private(set) var packetTurn: String?

    func isInterrupted(_ turn: String) -> Bool { interrupted.contains(turn) }

    /// `turn.start{assistant}`.
    mutating func started(_ turn: String?) {
        current = turn
        packetTurn = turn
        lastDelta = turn.map { ($0, nil) }
    }

    /// Audio of `turn` arrived (not interrupted); `queued`: it goes to playout. Returns true
    /// when it made `turn` the current turn (audio may come without its turn.start).
    mutating func audioArrived(turn: String?, delta: String?, queued: Bool) -> Bool {
        var becameCurrent = false
        if let turn {
            if current != turn {
                current = turn
                becameCurrent = true
            }
            lastDelta = (turn, delta)
        }
        if queued { unplayed = turn }
        return becameCurrent
    }

    /// `response.end` (turn nil: the current one). Returns the turn that ended, whether it
    /// was the current one, and the last delta id received for it.
    mutating func ended(_ turn: String?) -> (turn: String?, wasCurrent: Bool, lastDelta: String?) {
        let endedTurn = turn ?? current
        let wasCurrent = turn == nil || turn == current
        // It finished normally: none of its audio comes any more, so a later barge-in does
        // not interrupt it (its queued audio may: `unplayed`).
        if wasCurrent { current = nil }
        let delta = endedTurn != nil && lastDelta?.turnID == endedTurn ? lastDelta?.deltaID : nil
        return (endedTurn, wasCurrent, delta)
    }

    /// Playout drained; `turn` is the turn of the last chunk it played.
    mutating func drained(_ turn: String?) {
        if turn != nil && turn == unplayed { unplayed = nil }
    }

    /// Agent audio turned off: what was queued is flushed, none of it will drain.
    mutating func playoutDiscarded() { unplayed = nil }

    /// The connection broke: no more audio of the current turn can arrive on this socket.
    mutating func connectionLost() { current = nil }

    /// A barge-in: the current and the unplayed turn are interrupted.
    mutating func bargeIn() {
        if let turn = current { remember(turn) }
        if let turn = unplayed { remember(turn) }
        current = nil
        unplayed = nil
    }

    /// A new socket (or session): turn ids of the previous one mean nothing here.
    mutating func forget() { self = AssistantTurns() }

    private mutating func remember(_ turn: String) {
        guard !interrupted.contains(turn) else { return }
        if interrupted.count >= Self.interruptedMemory { interrupted.removeFirst() }
        interrupted.append(turn)
    }
}
