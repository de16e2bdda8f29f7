// SPDX-License-Identifier: Apache-2.0
import CLayercodeShims
import Glibc
import Synchronization

/// Something registered with the loop for fd readiness. Called on the loop thread.
public protocol FDHandler: AnyObject {
    func fdReady(readable: Bool, writable: Bool, hangup: Bool)
}

/// The one event-loop thread of the process (epoll + eventfd + timers). Every socket
/// operation and every protocol callback happens here; other threads post work with
/// `execute` or poke it with `wake` (one eventfd write, wait-free for audio threads).
/// The loop is started on first use and lives as long as the process.
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
    private var timers: [Timer] = []
    private var nextTimerID: UInt64 = 1
    private var wakeObservers: [WakeObserver] = []

    /// Held weakly: an owner that goes away without removing itself is dropped.
    private struct WakeObserver {
        weak var owner: AnyObject?
        var run: () -> Void
    }

    private struct Timer {
        var id: UInt64
        var deadline: UInt64
        var work: () -> Void
    }

    public struct TimerHandle: Equatable, Sendable {
        fileprivate var id: UInt64
    }

    private init() {
        pthread_mutex_init(pendingLock, nil)
        epfd = epoll_create1(Int32(EPOLL_CLOEXEC))
        wakeFD = eventfd(0, Int32(EFD_CLOEXEC | EFD_NONBLOCK))
        precondition(epfd >= 0 && wakeFD >= 0, "epoll/eventfd unavailable")
        var ev = epoll_event()
        ev.events = EPOLLIN.rawValue
        ev.data.fd = wakeFD
        _ = epoll_ctl(epfd, EPOLL_CTL_ADD, wakeFD, &ev)
        startThread()
    }

    private func startThread() {
        let box = Unmanaged.passRetained(self)
        var tid = pthread_t()
        let rc = pthread_create(&tid, nil, { arg in
            let loop = Unmanaged<EventLoop>.fromOpaque(arg!).takeRetainedValue()
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

    /// True on the loop thread.
    public var inLoop: Bool { pthread_equal(pthread_self(), threadID) != 0 }

    // MARK: Any thread

    /// Runs `work` on the loop thread, after what was posted before it.
    public func execute(_ work: @escaping () -> Void) {
        pthread_mutex_lock(pendingLock)
        pending.append(work)
        pthread_mutex_unlock(pendingLock)
        wake()
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

    /// Wakes the loop so it runs its wake observers. Wait-free; no allocation.
    @inline(__always)
    public func wake() {
        var one: UInt64 = 1
        _ = write(wakeFD, &one, 8)
    }

    // MARK: Loop thread only

    public func register(fd: Int32, readable: Bool, writable: Bool, handler: FDHandler) {
        handlers[fd] = handler
        var ev = epoll_event()
        ev.events = Self.mask(readable, writable)
        ev.data.fd = fd
        if epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) != 0 && errno == EEXIST {
            _ = epoll_ctl(epfd, EPOLL_CTL_MOD, fd, &ev)
        }
    }

    public func modify(fd: Int32, readable: Bool, writable: Bool) {
        var ev = epoll_event()
        ev.events = Self.mask(readable, writable)
        ev.data.fd = fd
        _ = epoll_ctl(epfd, EPOLL_CTL_MOD, fd, &ev)
    }

    public func unregister(fd: Int32) {
        handlers[fd] = nil
        _ = epoll_ctl(epfd, EPOLL_CTL_DEL, fd, nil)
    }

    private static func mask(_ readable: Bool, _ writable: Bool) -> UInt32 {
        var m = EPOLLRDHUP.rawValue
        if readable { m |= EPOLLIN.rawValue }
        if writable { m |= EPOLLOUT.rawValue }
        return m
    }

    @discardableResult
    public func schedule(afterMilliseconds ms: Int, _ work: @escaping () -> Void) -> TimerHandle {
        let id = nextTimerID
        nextTimerID += 1
        let deadline = monotonicNanoseconds() &+ UInt64(max(0, ms)) &* 1_000_000
        timers.append(Timer(id: id, deadline: deadline, work: work))
        return TimerHandle(id: id)
    }

    public func cancel(_ handle: TimerHandle?) {
        guard let handle else { return }
        timers.removeAll { $0.id == handle.id }
    }

    /// `run` is called on the loop thread after every wake-up (audio pending, playout drained).
    public func addWakeObserver(_ owner: AnyObject, _ run: @escaping () -> Void) {
        wakeObservers.append(WakeObserver(owner: owner, run: run))
    }

    public func removeWakeObserver(_ owner: AnyObject) {
        wakeObservers.removeAll { $0.owner == nil || $0.owner === owner }
    }

    // MARK: The loop

    private func run() {
        let maxEvents = 64
        let events = UnsafeMutablePointer<epoll_event>.allocate(capacity: maxEvents)
        while true {
            let n = epoll_wait(epfd, events, Int32(maxEvents), nextTimeoutMilliseconds())
            if n < 0 && errno != EINTR { continue }
            var woke = false
            for i in 0..<Int(max(n, 0)) {
                let ev = events[i]
                let fd = ev.data.fd
                if fd == wakeFD {
                    var value: UInt64 = 0
                    _ = read(wakeFD, &value, 8)
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
                wakeObservers.removeAll { $0.owner == nil }
                for observer in wakeObservers { observer.run() }
            }
            runDueTimers()
        }
    }

    private func nextTimeoutMilliseconds() -> Int32 {
        guard let soonest = timers.map(\.deadline).min() else { return -1 }
        let now = monotonicNanoseconds()
        if soonest <= now { return 0 }
        return Int32(min((soonest - now + 999_999) / 1_000_000, 60_000))
    }

    private func runDueTimers() {
        guard !timers.isEmpty else { return }
        let now = monotonicNanoseconds()
        let dueIDs = timers.filter { $0.deadline <= now }
            .sorted { $0.deadline < $1.deadline }.map(\.id)
        for id in dueIDs {
            // A timer cancelled by an earlier one in this round must not run.
            guard let index = timers.firstIndex(where: { $0.id == id }) else { continue }
            let timer = timers.remove(at: index)
            timer.work()
        }
    }
}
