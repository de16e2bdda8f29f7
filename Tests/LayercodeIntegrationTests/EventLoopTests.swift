// SPDX-License-Identifier: Apache-2.0
import Foundation
import XCTest
import LayercodeNet

/// What the posted work writes: touched on the loop thread only, read by the test after a
/// final executeAndWait (whose semaphore orders it).
private final class Record: @unchecked Sendable {
    var perThread: [[Int]]
    init(threads: Int) { perThread = [[Int]](repeating: [], count: threads) }
}

final class EventLoopTests: XCTestCase {
    /// Regression (make sanitize, ThreadSanitizer): the queue behind `EventLoop.execute` was
    /// guarded by Synchronization.Mutex, whose lock ThreadSanitizer does not see, so an
    /// `execute` from an application thread was reported as a data race with the loop
    /// draining the queue. Under tools/sanitize.sh a report fails the run; in every build the
    /// test checks that each posted item runs once, in the order its thread posted it.
    func testExecuteFromManyThreadsWhileTheLoopDrainsIsOrderedAndSeenByTSan() {
        let loop = EventLoop.shared
        let threads = 4
        let perThread = 2_000
        let record = Record(threads: threads)
        let done = DispatchGroup()
        for t in 0..<threads {
            done.enter()
            let thread = Thread {
                for i in 0..<perThread {
                    loop.execute { record.perThread[t].append(i) }
                    if i % 64 == 0 { sched_yield() }  // interleave with the loop's drains
                }
                done.leave()
            }
            thread.start()
        }
        XCTAssertEqual(done.wait(timeout: .now() + .seconds(300)), .success)
        // FIFO: everything posted before this has run when it returns.
        loop.executeAndWait {}
        for t in 0..<threads {
            XCTAssertEqual(record.perThread[t], Array(0..<perThread), "thread \(t)")
        }
    }
}

/// epoll_ctl failures reach the caller instead of leaving an fd nobody watches.
final class EventLoopRegisterTests: XCTestCase {
    private final class Ignore: FDHandler {
        func fdReady(readable: Bool, writable: Bool, hangup: Bool) {}
    }

    func testRegisteringAnFDEpollRefusesThrowsItsErrno() throws {
        // epoll cannot watch a regular file: EPERM, a real refusal, no fault injection.
        var template = Array("/tmp/lc-epoll-XXXXXX".utf8CString)
        let fd = mkstemp(&template)
        XCTAssertGreaterThanOrEqual(fd, 0)
        defer { close(fd); unlink(template) }
        var caught: Errno?
        let handler = Ignore()
        EventLoop.shared.executeAndWait {
            do throws(Errno) {
                try EventLoop.shared.register(fd: fd, readable: true, writable: false, handler: handler)
            } catch {
                caught = error
            }
        }
        XCTAssertEqual(caught?.code, EPERM)
        XCTAssertEqual(caught?.call, "epoll_ctl(ADD)")
    }
}
