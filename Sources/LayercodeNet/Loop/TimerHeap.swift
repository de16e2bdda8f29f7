// SPDX-License-Identifier: Apache-2.0

/// The event loop's timers: a binary min-heap ordered by deadline, then by id (ids grow, so
/// timers with equal deadlines run in the order they were scheduled).
///
/// Cancelling is lazy: the id leaves `live` at once (O(1)) and its entry stays in the heap
/// until it reaches the top, where it is skipped. So that a caller who schedules and cancels
/// forever keeps memory flat, the heap is rebuilt from its live entries (O(n)) whenever the
/// cancelled entries outnumber both `compactionFloor` and the live ones: each rebuild is paid
/// for by as many cancels as it removes, and the heap never holds more than
/// `2 * live + compactionFloor` entries.
///
/// A value type used on the loop thread only; `deadline` is in the caller's clock.
struct TimerHeap {
    struct Entry {
        var deadline: UInt64
        var id: UInt64
        var work: () -> Void
    }

    static let compactionFloor = 64

    private var heap: [Entry] = []
    /// Ids scheduled and neither run nor cancelled.
    private var live = Set<UInt64>()
    private var nextID: UInt64 = 1

    /// Timers scheduled and neither run nor cancelled.
    var count: Int { live.count }
    /// Heap entries held, cancelled ones included (what the memory bound is about).
    var storedEntries: Int { heap.count }
    /// The id the next `schedule` returns: a round that starts here runs only older timers.
    var nextScheduledID: UInt64 { nextID }

    mutating func schedule(deadline: UInt64, _ work: @escaping () -> Void) -> UInt64 {
        let id = nextID
        nextID &+= 1
        live.insert(id)
        heap.append(Entry(deadline: deadline, id: id, work: work))
        siftUp(heap.count - 1)
        return id
    }

    /// False if `id` already ran or was cancelled (nothing changes then).
    @discardableResult
    mutating func cancel(_ id: UInt64) -> Bool {
        guard live.remove(id) != nil else { return false }
        let cancelled = heap.count - live.count
        if cancelled > Self.compactionFloor && cancelled > live.count { compact() }
        return true
    }

    /// The earliest deadline of a live timer (cancelled entries on top are dropped here).
    mutating func earliestDeadline() -> UInt64? {
        dropCancelledTop()
        return heap.first?.deadline
    }

    /// Removes and returns the earliest live timer if it is due at `now` and was scheduled
    /// before `idLimit` (a timer scheduled while the due ones run waits for the next round).
    /// Deadlines come from a monotonic clock, so such a timer's deadline is at least `now`:
    /// it never sits above an older due timer, except tied with it, and then after it (id).
    mutating func popDue(now: UInt64, idLimit: UInt64) -> Entry? {
        dropCancelledTop()
        guard let top = heap.first, top.deadline <= now, top.id < idLimit else { return nil }
        live.remove(top.id)
        return removeTop()
    }

    // MARK: Heap

    private static func precedes(_ a: Entry, _ b: Entry) -> Bool {
        a.deadline != b.deadline ? a.deadline < b.deadline : a.id < b.id
    }

    private mutating func dropCancelledTop() {
        while let top = heap.first, !live.contains(top.id) { _ = removeTop() }
    }

    private mutating func removeTop() -> Entry {
        let last = heap.count - 1
        heap.swapAt(0, last)
        let top = heap.removeLast()
        if !heap.isEmpty { siftDown(0) }
        return top
    }

    private mutating func compact() {
        heap.removeAll { !live.contains($0.id) }
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
