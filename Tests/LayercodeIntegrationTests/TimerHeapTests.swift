// SPDX-License-Identifier: Apache-2.0
import Foundation
import Glibc
import XCTest
@testable import LayercodeNet

final class TimerHeapTests: XCTestCase {
    func testTimersRunByDeadlineThenInScheduleOrder() {
        var heap = TimerHeap()
        var order: [Int] = []
        let deadlines: [UInt64] = [50, 10, 30, 10, 50, 20, 10, 30]
        for (i, d) in deadlines.enumerated() {
            _ = heap.schedule(deadline: d) { order.append(i) }
        }
        while let work = heap.popDue(now: 100, idLimit: heap.nextScheduledID) { work() }
        XCTAssertEqual(order, [1, 3, 6, 5, 2, 7, 0, 4])
        XCTAssertEqual(heap.count, 0)
    }

    func testOnlyDueTimersScheduledBeforeTheRoundArePopped() {
        var heap = TimerHeap()
        var ran: [Int] = []
        _ = heap.schedule(deadline: 10) { ran.append(10) }
        _ = heap.schedule(deadline: 200) { ran.append(200) }
        let limit = heap.nextScheduledID
        _ = heap.schedule(deadline: 100) { ran.append(100) }   // scheduled during the round, for "now"
        heap.popDue(now: 100, idLimit: limit)?()
        XCTAssertEqual(ran, [10])
        XCTAssertNil(heap.popDue(now: 100, idLimit: limit), "the new one waits; 200 is not due")
        heap.popDue(now: 100, idLimit: heap.nextScheduledID)?()
        XCTAssertEqual(ran, [10, 100])
        XCTAssertEqual(heap.earliestDeadline(), 200)
    }

    func testATimerCancelledByAnEarlierOneInTheSameRoundDoesNotRun() {
        var heap = TimerHeap()
        var ran: [String] = []
        let first = heap.schedule(deadline: 1) { ran.append("first") }
        let second = heap.schedule(deadline: 2) { ran.append("second") }
        _ = heap.schedule(deadline: 3) { ran.append("third") }
        let limit = heap.nextScheduledID
        var runs = 0
        while let work = heap.popDue(now: 10, idLimit: limit) {
            work()
            runs += 1
            if runs == 1 { XCTAssertTrue(heap.cancel(second)) }
        }
        XCTAssertEqual(ran, ["first", "third"])
        XCTAssertFalse(heap.cancel(first), "a timer that ran cannot be cancelled")
        XCTAssertFalse(heap.cancel(second), "nor one cancelled already")
    }

    func testAnOldHandleCannotCancelTheTimerThatReusedItsSlot() {
        var heap = TimerHeap()
        var ran = false
        let old = heap.schedule(deadline: 1) {}
        XCTAssertTrue(heap.cancel(old))
        let new = heap.schedule(deadline: 2) { ran = true }
        XCTAssertEqual(new.slot, old.slot, "the slot is reused")
        XCTAssertFalse(heap.cancel(old))
        heap.popDue(now: 10, idLimit: heap.nextScheduledID)?()
        XCTAssertTrue(ran)
    }

    /// Regression guard for lazy deletion: a client that schedules and cancels forever (a
    /// keepalive re-armed on every message) must keep the heap bounded by its live timers.
    func testSchedulingAndCancellingForeverKeepsMemoryFlat() {
        var heap = TimerHeap()
        var popped: [UInt64] = []
        for i in 0..<10 {
            let deadline = 1_000_000 + UInt64(i)
            _ = heap.schedule(deadline: deadline) { popped.append(deadline) }
        }
        var maxStored = 0
        for i in 0..<200_000 {
            let id = heap.schedule(deadline: UInt64(500 + i % 1000)) {}
            heap.cancel(id)
            maxStored = max(maxStored, heap.storedEntries)
        }
        XCTAssertEqual(heap.count, 10)
        XCTAssertLessThanOrEqual(maxStored, 2 * 11 + TimerHeap.compactionFloor + 1)
        XCTAssertLessThanOrEqual(heap.slotCount, 11, "the slab holds the most timers ever pending at once")
        XCTAssertEqual(heap.earliestDeadline(), 1_000_000)
        while let work = heap.popDue(now: .max, idLimit: .max) { work() }
        XCTAssertEqual(popped, (0..<10).map { 1_000_000 + UInt64($0) }, "compaction kept the order")
    }
}

/// The same rules on the running loop.
final class EventLoopTimerTests: XCTestCase {
    private let loop = EventLoop.shared

    func testATimerCancelledByAnEarlierTimerInTheSameRoundDoesNotRun() {
        let done = DispatchSemaphore(value: 0)
        var ran: [Int] = []
        loop.executeAndWait { [loop] in
            var second: EventLoop.TimerHandle?
            loop.schedule(afterMilliseconds: 0) { ran.append(1); loop.cancel(second) }
            second = loop.schedule(afterMilliseconds: 0) { ran.append(2) }
            loop.schedule(afterMilliseconds: 0) { ran.append(3); done.signal() }
        }
        XCTAssertEqual(done.wait(timeout: .now() + 30), .success)
        loop.executeAndWait {}
        XCTAssertEqual(ran, [1, 3])
    }

    /// A timer that re-arms itself for "now" forever must not keep the loop from posted
    /// work (or sockets): it runs once per round, after the I/O of that round.
    func testATimerRearmedForNowDoesNotStarveTheLoop() {
        final class Chain: @unchecked Sendable { var runs = 0; var stop = false }
        let chain = Chain()
        func arm() {
            loop.schedule(afterMilliseconds: 0) {
                chain.runs += 1
                if !chain.stop && chain.runs < 5_000_000 { arm() }
            }
        }
        loop.execute { arm() }
        let served = DispatchSemaphore(value: 0)
        for _ in 0..<20 {
            loop.execute { }
        }
        loop.execute { chain.stop = true; served.signal() }
        XCTAssertEqual(served.wait(timeout: .now() + 60), .success, "posted work waited for the timers")
        loop.executeAndWait {}
        XCTAssertLessThan(chain.runs, 5_000_000)
    }

    func testCancellingTimersLeavesNoneBehind() {
        var before = 0
        var after = 0
        loop.executeAndWait { [loop] in
            before = loop.pendingTimers
            for _ in 0..<1000 {
                let h = loop.schedule(afterMilliseconds: 60_000) {}
                loop.cancel(h)
            }
            after = loop.pendingTimers
        }
        XCTAssertEqual(after, before)
    }
}
