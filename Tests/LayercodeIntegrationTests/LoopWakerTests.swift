// SPDX-License-Identifier: Apache-2.0
import Foundation
import Glibc
import XCTest
import LayercodeNet

/// Counts per waker: written on the loop thread only, read by the test after `settle()`
/// (whose semaphores order it).
private final class Counts: @unchecked Sendable {
    var runs: [Int]
    init(_ n: Int) { runs = [Int](repeating: 0, count: n) }
}

/// Blocks the loop thread until `open()`: wakes rung meanwhile wait for the next round.
private final class Gate: @unchecked Sendable {
    private let released = DispatchSemaphore(value: 0)
    init(closing loop: EventLoop) {
        let entered = DispatchSemaphore(value: 0)
        loop.execute { [released] in
            entered.signal()
            released.wait()
        }
        entered.wait()
    }
    /// Once: the loop goes on.
    func open() { released.signal() }
}

final class LoopWakerTests: XCTestCase {
    private let loop = EventLoop.shared

    /// Two rounds later: a waker rung before this call has run. The first executeAndWait
    /// runs in the round that sees the ring (or a later one); the second is drained only
    /// after that round's wakers ran.
    private func settle() {
        loop.executeAndWait {}
        loop.executeAndWait {}
    }

    private func makeWakers(_ n: Int, counts: Counts,
                            extra: @escaping (Int) -> Void = { _ in }) -> [LoopWaker] {
        var wakers: [LoopWaker] = []
        loop.executeAndWait { [loop] in
            for i in 0..<n {
                wakers.append(loop.makeWaker { counts.runs[i] += 1; extra(i) })
            }
        }
        return wakers
    }

    private func cancel(_ wakers: [LoopWaker]) {
        loop.executeAndWait { for waker in wakers { waker.cancel() } }
    }

    func testWakingOneOfTwoHundredWakersRunsOnlyThatOne() {
        let counts = Counts(200)
        let wakers = makeWakers(200, counts: counts)
        defer { cancel(wakers) }
        wakers[137].wake()
        settle()
        XCTAssertEqual(counts.runs[137], 1)
        XCTAssertEqual(counts.runs.reduce(0, +), 1, "only the rung waker runs")
        // An unrelated wake-up of the loop (posted work) runs no waker.
        loop.wake()
        settle()
        XCTAssertEqual(counts.runs.reduce(0, +), 1)
    }

    func testAWakerRungManyTimesBeforeTheLoopRunsRunsOnce() {
        let counts = Counts(3)
        let wakers = makeWakers(3, counts: counts)
        defer { cancel(wakers) }
        let gate = Gate(closing: loop)
        for _ in 0..<10_000 { wakers[1].wake() }
        gate.open()
        settle()
        XCTAssertEqual(counts.runs, [0, 1, 0])
    }

    func testARingWhileTheWorkRunsRunsItAgain() {
        let counts = Counts(1)
        var wakers: [LoopWaker] = []
        loop.executeAndWait { [loop] in
            wakers.append(loop.makeWaker {
                counts.runs[0] += 1
                if counts.runs[0] == 1 { wakers[0].wake() }   // rung again mid-run: not lost
            })
        }
        defer { cancel(wakers) }
        wakers[0].wake()
        settle()
        settle()
        XCTAssertEqual(counts.runs[0], 2)
    }

    func testACancelledWakerNeverRunsAndReleasesItsWork() {
        final class Captured {}
        weak var captured: Captured?
        let counts = Counts(1)
        var waker: LoopWaker?
        let before = countWakers()
        do {
            let object = Captured()
            captured = object
            loop.executeAndWait { [loop] in
                waker = loop.makeWaker { withExtendedLifetime(object) { counts.runs[0] += 1 } }
            }
        }
        XCTAssertEqual(countWakers(), before + 1)
        loop.executeAndWait { waker?.cancel(); waker?.cancel() }
        XCTAssertNil(captured, "cancel releases the work and what it captured")
        XCTAssertEqual(countWakers(), before)
        waker?.wake()
        settle()
        XCTAssertEqual(counts.runs[0], 0)
    }

    /// A waker cancelled by another waker's work during the same round must not move an
    /// unvisited waker to a place the round has passed: every rung, uncancelled waker runs.
    func testCancellingAnEarlierWakerDuringARoundSkipsNoOtherWaker() {
        let counts = Counts(4)
        var wakers: [LoopWaker] = []
        let all = makeWakers(4, counts: counts) { i in
            if i == 2 { wakers[0].cancel() }
        }
        wakers = all
        defer { cancel(all) }
        let gate = Gate(closing: loop)
        for waker in all { waker.wake() }
        gate.open()
        settle()
        XCTAssertEqual(counts.runs, [1, 1, 1, 1])
        for waker in all { waker.wake() }
        settle()
        XCTAssertEqual(counts.runs, [1, 2, 2, 2], "the cancelled waker never runs again")
    }

    func testAWakerMadeOffTheLoopAndRungAtOnceRuns() {
        let counts = Counts(1)
        let waker = loop.makeWaker { counts.runs[0] += 1 }
        defer { cancel([waker]) }
        waker.wake()
        settle()
        XCTAssertEqual(counts.runs[0], 1)
    }

    private func countWakers() -> Int {
        var n = 0
        loop.executeAndWait { [loop] in n = loop.wakerCount }
        return n
    }
}
