// SPDX-License-Identifier: Apache-2.0
import CLayercodeShims
import CPosix
import Synchronization

/// Something registered with the loop for fd readiness. Called on the loop thread.
public protocol FDHandler: AnyObject {
    func fdReady(readable: Bool, writable: Bool, hangup: Bool)
}

/// The one event-loop thread of the process (epoll + eventfd + timers). Every socket
/// operation and every protocol callback happens here; other threads post work with
/// `execute`, and audio threads ring their owner's `LoopWaker` (wait-free).
/// The loop is started on first use and lives as long as the process.
///
/// Per iteration: epoll_wait (until the earliest timer), the ready sockets, then (if the
/// eventfd fired) the posted work and the wakers that were rung, then the timers that were
/// due when the round began. The cost of an iteration follows what happened, not how many
/// clients exist: a rung waker is found by one flag load per waker, timers sit in a heap.
public final class EventLoop: @unchecked Sendable {
    public static let shared = EventLoop()

    private let epfd: Int32
    private let wakeFD: Int32
    /// Work posted by `execute`, under `pendingLock`: a pthread mutex rather than
    /// Synchronization.Mutex, because ThreadSanitizer sees pthread locks (it intercepts them)
    /// but not Mutex's lock in the Swift runtime, and reported every `execute` as racing with
    /// the loop's drain (make sanitize).
    private let pendingLock = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private var pending: [() -> Void] = []
    private var threadID = pthread_t()
    private let started = Atomic<Bool>(false)

    // Loop-thread state.
    private var handlers: [Int32: FDHandler] = [:]
    private var timers = TimerHeap()
    /// Registered wakers, each retained once here (released when removed): unmanaged so
    /// that scanning 200 of them for a rung flag costs a load each, not a retain/release.
    private var wakers: [Unmanaged<LoopWaker>] = []
    /// True while the rung wakers run: a waker cancelled then leaves a hole (removed after
    /// the scan) instead of moving the last waker to a place the scan has passed.
    private var dispatchingWakers = false
    private var wakerHoles = 0
    private var waitFailures = 0

    /// Fault injection for tests (loop thread; STYLE.md §11): failures the kernel will not
    /// produce on demand. `register` fails with this errno while it is not 0; the loop's
    /// next `injectedWaitFailures` epoll_waits fail with EBADF.
    var injectedRegisterFailure: Int32 = 0
    var injectedWaitFailures = 0

    /// Loop thread. Told once about a failure of the loop itself (a persistent epoll_wait
    /// error); LayercodeNet has no log of its own.
    public var onLoopFailure: ((String) -> Void)?

    public struct TimerHandle: Equatable, Sendable {
        fileprivate var key: TimerHeap.Key
    }

    private init() {
        pthread_mutex_init(pendingLock, nil)
        epfd = (try? syscallRetrying("epoll_create1") { epoll_create1(Int32(EPOLL_CLOEXEC)) }) ?? -1
        wakeFD = (try? syscallRetrying("eventfd") { eventfd(0, Int32(EFD_CLOEXEC | EFD_NONBLOCK)) }) ?? -1
        precondition(epfd >= 0 && wakeFD >= 0, "epoll/eventfd unavailable")
        var ev = epoll_event()
        ev.events = EPOLLIN.rawValue
        ev.data.fd = wakeFD
        let added = try? syscallRetrying("epoll_ctl") { epoll_ctl(epfd, EPOLL_CTL_ADD, wakeFD, &ev) }
        precondition(added != nil, "cannot watch the event loop's eventfd")
        startThread()
    }

    private func startThread() {
        let box = Unmanaged.passRetained(self)
        var tid = pthread_t()
        let rc = pthread_create(&tid, nil, { arg in
            let loop = Unmanaged<EventLoop>.fromOpaque(arg!).takeRetainedValue()
            EventLoop.nameThread()
            loop.threadID = pthread_self()
            loop.started.store(true, ordering: .releasing)
            loop.run()
            return nil
        }, box.toOpaque())
        if rc == 0 { pthread_detach(tid) }
        precondition(rc == 0, "cannot start the event-loop thread")
        // Wait until the thread knows its own id, so `inLoop` is exact from here on.
        while !started.load(ordering: .acquiring) { sched_yield() }
    }

    /// "lc-loop" in top -H, gdb and /proc (best effort, through /proc: pthread_setname_np
    /// needs _GNU_SOURCE, which Swift's view of the C library lacks).
    private static func nameThread() {
        let fd = lcposix_open("/proc/thread-self/comm", O_WRONLY | O_CLOEXEC, 0)
        guard fd >= 0 else { return }
        let name: StaticString = "lc-loop"
        _ = write(fd, name.utf8Start, name.utf8CodeUnitCount)
        close(fd)
    }

    /// True on the loop thread.
    public var inLoop: Bool { pthread_equal(pthread_self(), threadID) != 0 }

    // MARK: Any thread

    /// Runs `work` on the loop thread, after what was posted before it.
    public func execute(_ work: @escaping () -> Void) {
        pthread_mutex_lock(pendingLock)
        pending.append(work)
        pthread_mutex_unlock(pendingLock)
        wakeThread()
    }

    /// Runs `work` on the loop thread and waits for it (runs inline on the loop thread).
    public func executeAndWait(_ work: @escaping () -> Void) {
        if inLoop { work(); return }
        let done = UnsafeMutablePointer<sem_t>.allocate(capacity: 1)
        sem_init(done, 0, 0)
        execute { work(); sem_post(done) }
        while sem_wait(done) != 0 {}
        sem_destroy(done)
        done.deallocate()
    }

    /// Wakes the loop thread: it runs the posted work and the wakers that were rung, and
    /// nothing else. Wait-free; no allocation. (Audio threads ring a `LoopWaker` instead.)
    @inline(__always)
    public func wake() { wakeThread() }

    /// One eventfd write. EAGAIN means the counter is already huge, i.e. the loop has a
    /// wake-up pending anyway; no other error is possible on a valid eventfd.
    @inline(__always)
    func wakeThread() {
        var one: UInt64 = 1
        _ = try? syscallRetrying("write(eventfd)") { write(wakeFD, &one, 8) }
    }

    /// A waker for one owner: `work` runs on the loop thread after `wake()`, once however
    /// often it was rung, until `cancel()`. Any thread (registered on the loop; a `wake()`
    /// before that still runs `work` once it is).
    public func makeWaker(_ work: @escaping () -> Void) -> LoopWaker {
        let waker = LoopWaker(loop: self, slot: -1, work: work)
        if inLoop { addWaker(waker) } else { execute { self.addWaker(waker) } }
        return waker
    }

    // MARK: Loop thread only

    /// Watches `fd`. Throws if epoll refuses it (the caller fails that connection: a socket
    /// the loop does not watch would wait forever).
    public func register(fd: Int32, readable: Bool, writable: Bool, handler: FDHandler) throws(Errno) {
        var ev = epoll_event()
        ev.events = Self.mask(readable, writable)
        ev.data.fd = fd
        if injectedRegisterFailure != 0 {
            throw Errno(code: injectedRegisterFailure, call: "epoll_ctl(ADD)")
        }
        do throws(Errno) {
            _ = try syscallRetrying("epoll_ctl(ADD)") { epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) }
        } catch where error.code == EEXIST {
            _ = try syscallRetrying("epoll_ctl(MOD)") { epoll_ctl(epfd, EPOLL_CTL_MOD, fd, &ev) }
        }
        handlers[fd] = handler
    }

    /// Changes what `fd` is watched for. Throws if epoll refuses (see `register`).
    public func modify(fd: Int32, readable: Bool, writable: Bool) throws(Errno) {
        var ev = epoll_event()
        ev.events = Self.mask(readable, writable)
        ev.data.fd = fd
        _ = try syscallRetrying("epoll_ctl(MOD)") { epoll_ctl(epfd, EPOLL_CTL_MOD, fd, &ev) }
    }

    /// Stops watching `fd` (before it is closed). An fd epoll does not know is not an error.
    public func unregister(fd: Int32) {
        handlers[fd] = nil
        _ = try? syscallRetrying("epoll_ctl(DEL)") { epoll_ctl(epfd, EPOLL_CTL_DEL, fd, nil) }
    }

    private static func mask(_ readable: Bool, _ writable: Bool) -> UInt32 {
        var m = EPOLLRDHUP.rawValue
        if readable { m |= EPOLLIN.rawValue }
        if writable { m |= EPOLLOUT.rawValue }
        return m
    }

    /// Runs `work` on the loop thread after `ms` milliseconds (0: in the next round, after
    /// the sockets that are ready; never in the round that scheduled it). O(log n).
    @discardableResult
    public func schedule(afterMilliseconds ms: Int, _ work: @escaping () -> Void) -> TimerHandle {
        let deadline = monotonicNanoseconds() &+ UInt64(max(0, ms)) &* 1_000_000
        return TimerHandle(key: timers.schedule(deadline: deadline, work))
    }

    /// The timer will not run (a no-op if it ran or was cancelled). Amortised O(1).
    public func cancel(_ handle: TimerHandle?) {
        guard let handle else { return }
        timers.cancel(handle.key)
    }

    /// Timers scheduled and neither run nor cancelled (tests, stats).
    public var pendingTimers: Int { timers.count }

    /// File descriptors registered now (tests: a connection that ended left nothing behind).
    public var registeredDescriptors: Int { handlers.count }

    private func addWaker(_ waker: LoopWaker) {
        guard !waker.isCancelled else { return }
        waker.slot = wakers.count
        wakers.append(Unmanaged.passRetained(waker))
    }

    /// From `LoopWaker.cancel`: O(1) by swapping the last waker into the hole, except while
    /// the wakers run (see `dispatchingWakers`).
    func removeWaker(_ waker: LoopWaker) {
        let slot = waker.slot
        waker.slot = -1
        guard slot >= 0 else { return }   // not registered yet: `addWaker` will skip it
        if dispatchingWakers {
            wakerHoles += 1
            return
        }
        let last = wakers.removeLast()
        if slot < wakers.count {
            wakers[slot] = last
            last._withUnsafeGuaranteedRef { $0.slot = slot }
        }
        Unmanaged.passUnretained(waker).release()
    }

    /// Wakers registered and not cancelled (tests).
    public var wakerCount: Int { wakers.count - wakerHoles }

    // MARK: The loop

    private func run() {
        let maxEvents = 64
        let events = UnsafeMutablePointer<epoll_event>.allocate(capacity: maxEvents)
        while true {
            let n: Int32
            do throws(Errno) {
                if injectedWaitFailures > 0 {
                    injectedWaitFailures -= 1
                    throw Errno(code: EBADF, call: "epoll_wait")
                }
                n = try syscallRetrying("epoll_wait") {
                    epoll_wait(epfd, events, Int32(maxEvents), nextTimeoutMilliseconds())
                } ?? 0
                waitFailures = 0
            } catch {
                waitFailed(error)
                continue
            }
            var woke = false
            for i in 0..<Int(n) {
                let ev = events[i]
                let fd = ev.data.fd
                if fd == wakeFD {
                    var value: UInt64 = 0
                    _ = try? syscallRetrying("read(eventfd)") { read(wakeFD, &value, 8) }
                    woke = true
                    continue
                }
                guard let handler = handlers[fd] else { continue }
                let bits = ev.events
                let hangup = bits & (EPOLLHUP.rawValue | EPOLLERR.rawValue) != 0
                handler.fdReady(readable: bits & (EPOLLIN.rawValue | EPOLLRDHUP.rawValue) != 0,
                                writable: bits & EPOLLOUT.rawValue != 0, hangup: hangup)
            }
            if woke {
                pthread_mutex_lock(pendingLock)
                let work = pending
                pending.removeAll(keepingCapacity: true)
                pthread_mutex_unlock(pendingLock)
                for item in work { item() }
                runRungWakers()
            }
            runDueTimers()
        }
    }

    /// epoll_wait fails only for a bad epfd or events pointer (EBADF, EFAULT, EINVAL): a
    /// broken loop, not a transient state, so retrying at once would spin a core forever.
    /// It is reported once and retried every 10 ms, which keeps the process responsive to
    /// the application's own shutdown. Other choices: abort the process (a library should
    /// not), or recreate the epoll set and re-register every fd and the eventfd (worth it
    /// only if such a failure were ever seen; it has not been).
    private func waitFailed(_ error: Errno) {
        waitFailures += 1
        if waitFailures == 1 { onLoopFailure?("event loop: " + error.description + "; retrying every 10 ms") }
        var pause = timespec(tv_sec: 0, tv_nsec: 10_000_000)
        var left = timespec()
        while nanosleep(&pause, &left) != 0 && lcposix_errno() == EINTR { pause = left }
    }

    /// Every waker whose flag is set, once. A waker cancelled meanwhile does not run; one
    /// made meanwhile is scanned too (it is appended).
    private func runRungWakers() {
        dispatchingWakers = true
        var i = 0
        while i < wakers.count {
            // Alive: `wakers` holds a retain until the holes are removed below.
            wakers[i]._withUnsafeGuaranteedRef { $0.runIfRung() }
            i += 1
        }
        dispatchingWakers = false
        if wakerHoles > 0 {
            var kept = 0
            for index in wakers.indices {
                let entry = wakers[index]
                if entry._withUnsafeGuaranteedRef({ $0.slot < 0 }) {
                    entry.release()
                } else {
                    entry._withUnsafeGuaranteedRef { $0.slot = kept }
                    wakers[kept] = entry
                    kept += 1
                }
            }
            wakers.removeLast(wakers.count - kept)
            wakerHoles = 0
        }
    }

    private func nextTimeoutMilliseconds() -> Int32 {
        guard let soonest = timers.earliestDeadline() else { return -1 }
        let now = monotonicNanoseconds()
        if soonest <= now { return 0 }
        return Int32(min((soonest - now + 999_999) / 1_000_000, 60_000))
    }

    /// The timers due when the round begins, earliest first. One cancelled by an earlier one
    /// in this round does not run; one scheduled in this round (even for now) waits for the
    /// next round, after the sockets, so timers cannot starve I/O.
    private func runDueTimers() {
        let now = monotonicNanoseconds()
        let idLimit = timers.nextScheduledID
        while let work = timers.popDue(now: now, idLimit: idLimit) { work() }
    }
}
