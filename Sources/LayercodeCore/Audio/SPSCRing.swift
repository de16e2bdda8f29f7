// SPDX-License-Identifier: Apache-2.0
import Synchronization

/// A lock-free single-producer single-consumer ring of trivially copyable elements.
///
/// Positions are absolute 64-bit counters (they never wrap in practice), so the whole
/// capacity is usable: the ring is full when `write - read == capacity`.
/// The producer owns `writePosition`, the consumer owns `readPosition`; each side reads the
/// other's counter with acquiring loads that pair with the other side's releasing stores,
/// so element bytes written before a store are visible after the matching load.
/// Storage is allocated once in `init`: no operation allocates, locks or makes a syscall.
public final class SPSCRing<Element: BitwiseCopyable>: @unchecked Sendable {
    public let capacity: Int
    private let storage: UnsafeMutablePointer<Element>
    private let writePosition = Atomic<UInt64>(0)
    private let readPosition = Atomic<UInt64>(0)

    public init(capacity: Int, zero: Element) {
        precondition(capacity > 0, "ring capacity must be positive")
        self.capacity = capacity
        storage = .allocate(capacity: capacity)
        storage.initialize(repeating: zero, count: capacity)
    }

    deinit { storage.deallocate() }

    // MARK: Producer side

    /// Total elements ever written (producer's own counter: relaxed is enough on its thread;
    /// other threads must treat it as a snapshot).
    public var producedCount: UInt64 { writePosition.load(ordering: .acquiring) }

    /// Free space as seen by the producer.
    public var writableCount: Int {
        let w = writePosition.load(ordering: .relaxed)
        // Pairs with the consumer's releasing store in `read`/`skip`: the slots it freed
        // are no longer being read.
        let r = readPosition.load(ordering: .acquiring)
        return capacity - Int(w &- r)
    }

    /// Copies as many elements as fit; returns how many were written.
    @discardableResult
    public func write(_ source: UnsafeBufferPointer<Element>) -> Int {
        guard let base = source.baseAddress else { return 0 }
        let w = writePosition.load(ordering: .relaxed)
        // Pairs with the consumer's releasing store of readPosition.
        let r = readPosition.load(ordering: .acquiring)
        let n = min(source.count, capacity - Int(w &- r))
        if n <= 0 { return 0 }
        let start = Int(w % UInt64(capacity))
        let first = min(n, capacity - start)
        Self.copy(storage + start, base, first)
        if n > first { Self.copy(storage, base + first, n - first) }
        // Publishes the element bytes above; pairs with the consumer's acquiring load.
        writePosition.store(w &+ UInt64(n), ordering: .releasing)
        return n
    }

    /// One memcpy. Embedded Swift's `update(from:count:)` copies element by element through
    /// a call: a 960-sample write and read took 2.2-3.0 µs instead of 0.08 (microbench).
    @inline(__always)
    private static func copy(_ destination: UnsafeMutablePointer<Element>,
                             _ source: UnsafePointer<Element>, _ count: Int) {
        UnsafeMutableRawPointer(destination).copyMemory(from: source,
                                                        byteCount: count * MemoryLayout<Element>.stride)
    }

    // MARK: Consumer side

    /// Total elements ever consumed (read or skipped).
    public var consumedCount: UInt64 { readPosition.load(ordering: .acquiring) }

    /// Elements available to the consumer.
    public var readableCount: Int {
        // Pairs with the producer's releasing store in `write`.
        let w = writePosition.load(ordering: .acquiring)
        return Int(w &- readPosition.load(ordering: .relaxed))
    }

    /// Copies up to `destination.count` elements out; returns how many were read.
    @discardableResult
    public func read(into destination: UnsafeMutableBufferPointer<Element>) -> Int {
        guard let base = destination.baseAddress else { return 0 }
        let r = readPosition.load(ordering: .relaxed)
        // Pairs with the producer's releasing store: the element bytes are visible.
        let w = writePosition.load(ordering: .acquiring)
        let n = min(destination.count, Int(w &- r))
        if n <= 0 { return 0 }
        let start = Int(r % UInt64(capacity))
        let first = min(n, capacity - start)
        Self.copy(base, storage + start, first)
        if n > first { Self.copy(base + first, storage, n - first) }
        // Frees the slots; pairs with the producer's acquiring load of readPosition.
        readPosition.store(r &+ UInt64(n), ordering: .releasing)
        return n
    }

    /// Discards elements up to absolute position `target` (no further than what was
    /// written); returns how many were discarded. Consumer side only.
    @discardableResult
    public func skip(to target: UInt64) -> Int {
        let r = readPosition.load(ordering: .relaxed)
        // Pairs with the producer's releasing store.
        let w = writePosition.load(ordering: .acquiring)
        let end = min(target, w)
        if end <= r { return 0 }
        readPosition.store(end, ordering: .releasing)
        return Int(end &- r)
    }
}
