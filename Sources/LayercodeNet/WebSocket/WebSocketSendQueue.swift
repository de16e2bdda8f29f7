// SPDX-License-Identifier: Apache-2.0
/// The WebSocket client's send queue: whole frames waiting for the socket, oldest first,
/// bounded in bytes. Rules:
/// - A frame that does not fit pushes out the oldest *droppable* frames (microphone audio)
///   until it fits; if it still does not fit, a droppable frame is dropped itself and any
///   other is refused. Nothing beyond `maxBytes` is ever held.
/// - A frame handed to the socket is released at once, and the spent slots are compacted
///   away, so a queue that never empties (a link that drains steadily but slower than the
///   microphone) holds only what waits, not everything it ever carried.
struct WebSocketSendQueue {
    private var frames: [(frame: [UInt8], droppable: Bool)] = []
    /// Frames before `head` were handed to the socket; their slots hold empty arrays.
    private var head = 0
    /// Bytes of the frames waiting.
    private(set) var bytes = 0
    let maxBytes: Int

    init(maxBytes: Int) {
        self.maxBytes = maxBytes
    }

    var isEmpty: Bool { head == frames.count }

    /// Bytes the queue's storage keeps alive (the frames' buffers): what it costs in memory.
    var retainedBytes: Int {
        var total = 0
        for entry in frames { total += entry.frame.capacity }
        return total
    }

    /// Queues `frame` (stored as given: pass an exact-size copy). Returns whether it was
    /// accepted and how many droppable frames were discarded (it included, if dropped).
    mutating func push(_ frame: [UInt8], droppable: Bool) -> (accepted: Bool, dropped: Int) {
        var dropped = 0
        var index = head
        while bytes + frame.count > maxBytes && index < frames.count {
            if frames[index].droppable {
                bytes -= frames[index].frame.count
                frames.remove(at: index)
                dropped += 1
            } else {
                index += 1
            }
        }
        guard bytes + frame.count <= maxBytes else {
            return (droppable, droppable ? dropped + 1 : dropped)
        }
        frames.append((frame, droppable))
        bytes += frame.count
        return (true, dropped)
    }

    /// The oldest waiting frame, released from the queue.
    mutating func popFirst() -> [UInt8]? {
        guard head < frames.count else { return nil }
        let frame = frames[head].frame
        frames[head].frame = []
        bytes -= frame.count
        head += 1
        if head == frames.count {
            frames.removeAll(keepingCapacity: true)
            head = 0
        } else if head >= 64 && head * 2 >= frames.count {
            frames.removeFirst(head)        // amortised O(1): at least half the slots are spent
            head = 0
        }
        return frame
    }

    /// Empties the queue: the frames that may not be dropped, oldest first, and how many
    /// droppable ones were discarded.
    mutating func removeAll() -> (kept: [[UInt8]], dropped: Int) {
        var kept: [[UInt8]] = []
        var dropped = 0
        for entry in frames[head...] {
            if entry.droppable { dropped += 1 } else { kept.append(entry.frame) }
        }
        frames.removeAll()
        head = 0
        bytes = 0
        return (kept, dropped)
    }
}
