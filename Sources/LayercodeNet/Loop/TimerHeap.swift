// SPDX-License-Identifier: Apache-2.0

/// The event loop's timers: a binary min-heap ordered by deadline, then by id (ids grow, so
/// timers with equal deadlines run in the order they were scheduled).
///
/// The work lives in a slab of slots, reused through a free list; the heap holds only
/// (deadline, id, slot), so sifting moves plain values and no lookup hashes. Cancelling is
/// lazy and O(1): the slot is freed at once and its heap entry, now stale (the slot's id no
/// longer matches), is skipped when it reaches the top. So that a caller who schedules and
/// cancels forever keeps memory flat, the heap is rebuilt from its live entries (O(n)) when
/// the stale ones outnumber both `compactionFloor` and the live ones: each rebuild is paid
/// for by as many cancels as it removes, and the heap never holds more than
/// `2 * live + compactionFloor + 1` entries; the slab never more than the most timers
/// ever pending at once.
///
/// A value type used on the loop thread only; `deadline` is in the caller's clock.
struct TimerHeap {
    /// What `schedule` returns and `cancel` takes.
    struct Key: Equatable, Sendable {
        var id: UInt64
        var slot: Int32
    }

    struct Entry {
        var deadline: UInt64
        var id: UInt64
        var slot: Int32
    }

    private struct Slot {
        /// 0 while the slot is free (ids start at 1).
        var id: UInt64
        var work: (() -> Void)?
    }

    static let compactionFloor = 64

    private var heap: [Entry] = []
    private var slots: [Slot] = []
    private var freeSlots: [Int32] = []
    private var nextID: UInt64 = 1
    private var liveCount = 0

    /// Timers scheduled and neither run nor cancelled.
    var count: Int { liveCount }
    /// Heap entries held, stale ones included (what the memory bound is about).
    var storedEntries: Int { heap.count }
    /// Slots in the slab, free ones included.
    var slotCount: Int { slots.count }
    /// The id the next `schedule` gets: a round that starts here runs only older timers.
    var nextScheduledID: UInt64 { nextID }

    mutating func schedule(deadline: UInt64, _ work: @escaping () -> Void) -> Key {
        let id = nextID
        nextID &+= 1
        let slot: Int32
        if let free = freeSlots.popLast() {
            slot = free
            slots[Int(free)] = Slot(id: id, work: work)
        } else {
            slot = Int32(slots.count)
            slots.append(Slot(id: id, work: work))
        }
        liveCount += 1
        heap.append(Entry(deadline: deadline, id: id, slot: slot))
        siftUp(heap.count - 1)
        return Key(id: id, slot: slot)
    }

    /// False if the timer already ran or was cancelled (nothing changes then).
    @discardableResult
    mutating func cancel(_ key: Key) -> Bool {
        guard key.slot >= 0, Int(key.slot) < slots.count, slots[Int(key.slot)].id == key.id else { return false }
        _ = release(key.slot)
        let stale = heap.count - liveCount
        if stale > Self.compactionFloor && stale > liveCount { compact() }
        return true
    }

    /// The earliest deadline of a live timer (stale entries on top are dropped here).
    mutating func earliestDeadline() -> UInt64? {
        dropStaleTop()
        return heap.first?.deadline
    }

    /// Removes the earliest live timer and returns its work if it is due at `now` and was
    /// scheduled before `idLimit` (a timer scheduled while the due ones run waits for the
    /// next round). Deadlines come from a monotonic clock, so such a timer's deadline is at
    /// least `now`: it never sits above an older due timer, except tied with it, and then
    /// after it (id).
    mutating func popDue(now: UInt64, idLimit: UInt64) -> (() -> Void)? {
        dropStaleTop()
        guard let top = heap.first, top.deadline <= now, top.id < idLimit else { return nil }
        _ = removeTop()
        return release(top.slot)
    }

    // MARK: Slots and heap

    private func isLive(_ entry: Entry) -> Bool { slots[Int(entry.slot)].id == entry.id }

    /// Frees a live slot and hands back its work.
    private mutating func release(_ slot: Int32) -> (() -> Void)? {
        let work = slots[Int(slot)].work
        slots[Int(slot)] = Slot(id: 0, work: nil)
        freeSlots.append(slot)
        liveCount -= 1
        return work
    }

    private static func precedes(_ a: Entry, _ b: Entry) -> Bool {
        a.deadline != b.deadline ? a.deadline < b.deadline : a.id < b.id
    }

    private mutating func dropStaleTop() {
        while let top = heap.first, !isLive(top) { _ = removeTop() }
    }

    private mutating func removeTop() -> Entry {
        let last = heap.count - 1
        heap.swapAt(0, last)
        let top = heap.removeLast()
        if !heap.isEmpty { siftDown(0) }
        return top
    }

    private mutating func compact() {
        let slots = self.slots
        heap.removeAll { slots[Int($0.slot)].id != $0.id }
        var i = heap.count / 2
        while i > 0 {
            i -= 1
            siftDown(i)
        }
    }

    private mutating func siftUp(_ start: Int) {
        var child = start
        while child > 0 {
            let parent = (child - 1) / 2
            guard Self.precedes(heap[child], heap[parent]) else { return }
            heap.swapAt(child, parent)
            child = parent
        }
    }

    private mutating func siftDown(_ start: Int) {
        var parent = start
        while true {
            let left = 2 * parent + 1
            guard left < heap.count else { return }
            var first = left
            if left + 1 < heap.count && Self.precedes(heap[left + 1], heap[left]) { first = left + 1 }
            guard Self.precedes(heap[first], heap[parent]) else { return }
            heap.swapAt(first, parent)
            parent = first
        }
    }
}
