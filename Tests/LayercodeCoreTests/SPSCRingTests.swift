// SPDX-License-Identifier: Apache-2.0
import Foundation
import Synchronization
import XCTest
@testable import LayercodeCore

// SPSCRing, the lock-free SPSC ring. (Playout is tested in LayercodeAudioTests/PlaybackSideTests.)

// MARK: - Helpers

private extension SPSCRing {
    @discardableResult
    func write(_ elements: [Element]) -> Int {
        elements.withUnsafeBufferPointer { write($0) }
    }

    /// Reads up to `max` elements.
    func read(max: Int, zero: Element) -> [Element] {
        var out = [Element](repeating: zero, count: max)
        let n = out.withUnsafeMutableBufferPointer { read(into: $0) }
        return Array(out.prefix(n))
    }
}

private final class Flag: @unchecked Sendable {
    private let value = Atomic<Bool>(false)
    /// Pairs with the acquiring load in `isSet`: what the setter did before is visible.
    func set() { value.store(true, ordering: .releasing) }
    var isSet: Bool { value.load(ordering: .acquiring) }
}

private final class StressResult: @unchecked Sendable {
    let stop = Atomic<Bool>(false)
    /// Written by the consumer only; read after it finished.
    var checked = 0
    var firstMismatch: (index: Int, expected: String, actual: String)?
}

final class SPSCRingTests: XCTestCase {

    // MARK: - SPSCRing

    func testRingWholeCapacityIsUsable() {
        let ring = SPSCRing<Int32>(capacity: 8, zero: 0)
        XCTAssertEqual(ring.writableCount, 8)
        XCTAssertEqual(ring.readableCount, 0)
        XCTAssertEqual(ring.write(Array(1...8)), 8)
        XCTAssertEqual(ring.writableCount, 0)
        XCTAssertEqual(ring.readableCount, 8)
        XCTAssertEqual(ring.write([9]), 0, "a full ring takes nothing")
        XCTAssertEqual(ring.read(max: 16, zero: 0), Array(1...8))
        XCTAssertEqual(ring.readableCount, 0)
        XCTAssertEqual(ring.writableCount, 8)
        XCTAssertEqual(ring.producedCount, 8)
        XCTAssertEqual(ring.consumedCount, 8)
    }

    func testRingOfCapacityOneAlternatesWriteAndRead() {
        let ring = SPSCRing<UInt8>(capacity: 1, zero: 0)
        for v: UInt8 in 1...20 {
            XCTAssertEqual(ring.write([v, v]), 1)
            XCTAssertEqual(ring.write([v]), 0)
            XCTAssertEqual(ring.read(max: 4, zero: 0), [v])
        }
    }

    func testRingWraparoundAtEveryOffsetAndLength() {
        let capacity = 7
        for offset in 0..<capacity {
            for length in 1...capacity {
                let ring = SPSCRing<Int16>(capacity: capacity, zero: 0)
                // Move both positions to `offset`.
                ring.write([Int16](repeating: -1, count: offset))
                _ = ring.read(max: offset, zero: 0)
                XCTAssertEqual(ring.writableCount, capacity)

                let values = (0..<length).map { Int16(100 * offset + $0) }
                XCTAssertEqual(ring.write(values), length, "offset \(offset) length \(length)")
                XCTAssertEqual(ring.readableCount, length)
                XCTAssertEqual(ring.writableCount, capacity - length)
                XCTAssertEqual(ring.read(max: capacity, zero: 0), values,
                               "offset \(offset) length \(length)")
                XCTAssertEqual(ring.producedCount, UInt64(offset + length))
                XCTAssertEqual(ring.consumedCount, UInt64(offset + length))
            }
        }
    }

    func testRingWraparoundReadInTwoPiecesAtEveryOffset() {
        let capacity = 5
        for offset in 0..<capacity {
            for split in 0...capacity {
                let ring = SPSCRing<UInt32>(capacity: capacity, zero: 0)
                ring.write([UInt32](repeating: 0, count: offset))
                _ = ring.read(max: offset, zero: 0)
                let values = (0..<UInt32(capacity)).map { 1000 + $0 }
                XCTAssertEqual(ring.write(values), capacity)
                let first = ring.read(max: split, zero: 0)
                let second = ring.read(max: capacity, zero: 0)
                XCTAssertEqual(first + second, values, "offset \(offset) split \(split)")
            }
        }
    }

    func testRingManyLapsKeepOrder() {
        let ring = SPSCRing<UInt32>(capacity: 13, zero: 0)
        var next: UInt32 = 0
        var expected: UInt32 = 0
        for round in 0..<500 {
            let n = round % 13 + 1
            let values = (0..<UInt32(n)).map { next + $0 }
            XCTAssertEqual(ring.write(values), n)
            next += UInt32(n)
            for v in ring.read(max: (round * 7) % 13 + 1, zero: 0) {
                XCTAssertEqual(v, expected)
                expected += 1
            }
            for v in ring.read(max: 13, zero: 0) {
                XCTAssertEqual(v, expected)
                expected += 1
            }
        }
        XCTAssertEqual(expected, next)
    }

    func testRingPartialWriteWhenNearlyFull() {
        let ring = SPSCRing<Int16>(capacity: 8, zero: 0)
        XCTAssertEqual(ring.write([1, 2, 3, 4, 5]), 5)
        XCTAssertEqual(ring.write([10, 11, 12, 13, 14]), 3, "only what fits, from the front")
        XCTAssertEqual(ring.write([20]), 0)
        XCTAssertEqual(ring.read(max: 8, zero: 0), [1, 2, 3, 4, 5, 10, 11, 12])
    }

    func testRingPartialWriteAcrossTheWrap() {
        let ring = SPSCRing<Int16>(capacity: 8, zero: 0)
        ring.write([0, 0, 0, 0, 0, 0])
        _ = ring.read(max: 6, zero: 0)
        ring.write([1, 2, 3])
        XCTAssertEqual(ring.write([4, 5, 6, 7, 8, 9, 10]), 5)
        XCTAssertEqual(ring.read(max: 16, zero: 0), [1, 2, 3, 4, 5, 6, 7, 8])
    }

    func testRingReadingMoreThanAvailableReturnsWhatThereIs() {
        let ring = SPSCRing<Int16>(capacity: 8, zero: 0)
        ring.write([7, 8, 9])
        var out = [Int16](repeating: -5, count: 6)
        let n = out.withUnsafeMutableBufferPointer { ring.read(into: $0) }
        XCTAssertEqual(n, 3)
        XCTAssertEqual(out, [7, 8, 9, -5, -5, -5], "slots past the count are untouched")
    }

    func testRingEmptyRingAndEmptyBuffersAreNoOps() {
        let ring = SPSCRing<Int16>(capacity: 4, zero: 0)
        XCTAssertEqual(ring.read(max: 4, zero: 0), [])
        XCTAssertEqual(ring.write([]), 0)
        ring.write([1, 2])
        var empty: [Int16] = []
        XCTAssertEqual(empty.withUnsafeMutableBufferPointer { ring.read(into: $0) }, 0)
        XCTAssertEqual(ring.readableCount, 2)
    }

    func testRingSkipDiscardsUpToTargetAndFreesSpace() {
        let ring = SPSCRing<Int16>(capacity: 8, zero: 0)
        ring.write([0, 1, 2, 3, 4, 5, 6, 7])
        XCTAssertEqual(ring.skip(to: 5), 5)
        XCTAssertEqual(ring.consumedCount, 5)
        XCTAssertEqual(ring.readableCount, 3)
        XCTAssertEqual(ring.writableCount, 5)
        XCTAssertEqual(ring.read(max: 8, zero: 0), [5, 6, 7])
    }

    func testRingSkipClampsToWhatWasWrittenAndNeverGoesBack() {
        let ring = SPSCRing<Int16>(capacity: 8, zero: 0)
        ring.write([1, 2, 3])
        XCTAssertEqual(ring.skip(to: 100), 3, "no further than written")
        XCTAssertEqual(ring.consumedCount, 3)
        XCTAssertEqual(ring.skip(to: 1), 0, "a target behind the reader does nothing")
        XCTAssertEqual(ring.skip(to: 3), 0)
        XCTAssertEqual(ring.consumedCount, 3)
        ring.write([4, 5])
        XCTAssertEqual(ring.read(max: 8, zero: 0), [4, 5], "skipped space is reused")
    }

    func testRingSkipAcrossTheWrap() {
        let ring = SPSCRing<Int16>(capacity: 4, zero: 0)
        ring.write([0, 0, 0])
        _ = ring.read(max: 3, zero: 0)
        ring.write([1, 2, 3, 4])     // occupies slots 3, 0, 1, 2
        XCTAssertEqual(ring.skip(to: 6), 3)
        XCTAssertEqual(ring.read(max: 4, zero: 0), [4])
        XCTAssertEqual(ring.write([5, 6, 7, 8]), 4)
        XCTAssertEqual(ring.read(max: 4, zero: 0), [5, 6, 7, 8])
    }

    // MARK: Two threads

    /// One producer thread and one consumer thread push `total` sequence-numbered items
    /// through a small ring, in chunks of varying sizes; every item must arrive, in order.
    private func stress<T: BitwiseCopyable & Equatable>(
        _ type: T.Type, total: Int, capacity: Int, zero: T,
        value: @escaping @Sendable (Int) -> T,
        file: StaticString = #filePath, line: UInt = #line
    ) {
        let ring = SPSCRing<T>(capacity: capacity, zero: zero)
        let result = StressResult()

        let producer = spawn {
            var chunk = [T](repeating: zero, count: 37)
            var sent = 0
            var size = 1
            while sent < total, !result.stop.load(ordering: .relaxed) {
                let n = min(size, total - sent)
                for i in 0..<n { chunk[i] = value(sent + i) }
                var offset = 0
                while offset < n, !result.stop.load(ordering: .relaxed) {
                    let w = chunk.withUnsafeBufferPointer {
                        ring.write(UnsafeBufferPointer(rebasing: $0[offset..<n]))
                    }
                    if w == 0 { sched_yield() }
                    offset += w
                }
                sent += n
                size = size % 37 + 1
            }
        }

        let consumer = spawn {
            var buffer = [T](repeating: zero, count: 29)
            var received = 0
            var size = 29
            while received < total, !result.stop.load(ordering: .relaxed) {
                let n = buffer.withUnsafeMutableBufferPointer {
                    ring.read(into: UnsafeMutableBufferPointer(rebasing: $0[0..<size]))
                }
                if n == 0 { sched_yield(); continue }
                for i in 0..<n where buffer[i] != value(received + i) {
                    if result.firstMismatch == nil {
                        result.firstMismatch = (received + i, "\(value(received + i))", "\(buffer[i])")
                    }
                    result.stop.store(true, ordering: .relaxed)
                    break
                }
                received += n
                size = size == 1 ? 29 : size - 1
            }
            result.checked = received
        }

        let deadline = DispatchTime.now() + .seconds(300)
        let finished = producer.wait(timeout: deadline) == .success
            && consumer.wait(timeout: deadline) == .success
        if !finished {
            result.stop.store(true, ordering: .relaxed)
            _ = producer.wait(timeout: .now() + .seconds(10))
            _ = consumer.wait(timeout: .now() + .seconds(10))
            XCTFail("stress test did not finish in time", file: file, line: line)
            return
        }
        if let m = result.firstMismatch {
            XCTFail("item \(m.index): expected \(m.expected), got \(m.actual)", file: file, line: line)
        }
        XCTAssertEqual(result.checked, total, file: file, line: line)
        XCTAssertEqual(ring.producedCount, UInt64(total), file: file, line: line)
        XCTAssertEqual(ring.consumedCount, UInt64(total), file: file, line: line)
    }

    func testRingTwoThreadStressUInt32KeepsEveryItemInOrder() {
        stress(UInt32.self, total: 3_000_000, capacity: 61, zero: 0) { UInt32(truncatingIfNeeded: $0) }
    }

    func testRingTwoThreadStressInt16KeepsEveryItemInOrder() {
        // Values wrap every 65 536 items; a lost or repeated chunk still shows as a mismatch.
        stress(Int16.self, total: 2_000_000, capacity: 16, zero: 0) {
            Int16(truncatingIfNeeded: $0 &* 7 &+ ($0 >> 16))
        }
    }
}
