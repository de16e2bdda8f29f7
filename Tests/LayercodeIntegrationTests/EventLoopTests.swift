// SPDX-License-Identifier: Apache-2.0
import Foundation
import XCTest
@testable import LayercodeNet
import LayercodeCore

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

/// The callers of the loop's failures, with failures the kernel will not produce on demand
/// injected at the loop (the sockets, the connection and the loop thread are real).
final class EventLoopFailureTests: XCTestCase {
    /// A socket epoll refuses to watch used to be left unwatched (epoll_ctl's result was
    /// ignored): the connection waited for its overall timeout. Now it fails at once, and says why.
    func testAConnectionWhoseSocketEpollRefusesFailsAtOnceWithTheReason() throws {
        let (listener, port) = try smallBufferLoopbackListener(name: "EventLoopFailureTests")
        defer { close(listener) }
        let loop = EventLoop.shared
        let closed = DispatchSemaphore(value: 0)
        var failure: LayercodeError?
        var connection: StreamConnection?
        loop.executeAndWait {
            loop.injectedRegisterFailure = ENOMEM
            connection = StreamConnection(loop: loop, endpoint: .init(
                host: "127.0.0.1", port: port, hostIsIPLiteral: true, tls: nil))
            connection?.onClose = { error in
                failure = error
                closed.signal()
            }
            connection?.start()
        }
        XCTAssertEqual(closed.wait(timeout: .now() + 60), .success, "the connection never ended")
        loop.executeAndWait {
            loop.injectedRegisterFailure = 0
            connection = nil
        }
        XCTAssertEqual(failure?.code, .network)
        XCTAssertEqual(failure?.message,
                       "cannot watch the socket to 127.0.0.1:\(port): epoll_ctl(ADD): \(String(cString: strerror(ENOMEM)))")
    }

    /// A failing epoll_wait used to be retried at once, forever (a spinning core). Now it is
    /// reported once per run of failures, retried after a pause, and the loop goes on.
    func testAFailingEpollWaitIsReportedOnceAndTheLoopGoesOn() {
        let loop = EventLoop.shared
        var reports: [String] = []
        var previous: ((String) -> Void)?
        loop.executeAndWait {
            previous = loop.onLoopFailure
            loop.onLoopFailure = { reports.append($0) }
            loop.injectedWaitFailures = 5
        }
        loop.executeAndWait {}   // served after the five failures
        loop.executeAndWait {
            XCTAssertEqual(loop.injectedWaitFailures, 0)
            loop.onLoopFailure = previous
        }
        XCTAssertEqual(reports, ["event loop: epoll_wait: \(String(cString: strerror(EBADF))); retrying every 10 ms"])
    }
}
