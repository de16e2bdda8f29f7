import Glibc
import LayercodeCore

/// The bounded queue behind lc_client_poll_event: the loop thread pushes every event, one
/// app thread pops with a timeout. Overflow drops the oldest event; once the app has polled,
/// each drop is counted (before the first poll the queue is only a look-back buffer for an
/// app that may start polling, and an app that never polls loses nothing it asked for).
final class EventQueue: @unchecked Sendable {
    static let capacity = 1024

    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let condition = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    private var events: [ClientEvent] = []
    private var head = 0
    private var closed = false
    private var polled = false
    private(set) var dropped: UInt64 = 0

    init() {
        pthread_mutex_init(mutex, nil)
        var attr = pthread_condattr_t()
        pthread_condattr_init(&attr)
        pthread_condattr_setclock(&attr, CLOCK_MONOTONIC)
        pthread_cond_init(condition, &attr)
        pthread_condattr_destroy(&attr)
    }

    deinit {
        pthread_cond_destroy(condition)
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
        condition.deallocate()
    }

    var droppedCount: UInt64 { locked { dropped } }

    func push(_ event: ClientEvent) {
        locked {
            if events.count - head >= Self.capacity {
                head += 1
                if polled { dropped += 1 }
            }
            if head > Self.capacity {
                events.removeFirst(head)
                head = 0
            }
            events.append(event)
            pthread_cond_signal(condition)
        }
    }

    /// Wakes waiters for good: later polls return `.closed`.
    func close() {
        locked {
            closed = true
            pthread_cond_broadcast(condition)
        }
    }

    enum PollResult { case event(ClientEvent), timeout, closed }

    func poll(timeoutMilliseconds: Int) -> PollResult {
        var deadline = timespec()
        clock_gettime(CLOCK_MONOTONIC, &deadline)
        if timeoutMilliseconds > 0 {
            let ns = Int(deadline.tv_nsec) + (timeoutMilliseconds % 1000) * 1_000_000
            deadline.tv_sec += timeoutMilliseconds / 1000 + ns / 1_000_000_000
            deadline.tv_nsec = ns % 1_000_000_000
        }
        return locked {
            polled = true
            while true {
                if closed { return .closed }
                if head < events.count {
                    let event = events[head]
                    head += 1
                    if head == events.count {
                        events.removeAll(keepingCapacity: true)
                        head = 0
                    }
                    return .event(event)
                }
                if timeoutMilliseconds == 0 { return .timeout }
                if timeoutMilliseconds < 0 {
                    pthread_cond_wait(condition, mutex)
                } else if pthread_cond_timedwait(condition, mutex, &deadline) == ETIMEDOUT {
                    if head < events.count { continue }
                    return closed ? .closed : .timeout
                }
            }
        }
    }

    private func locked<T>(_ body: () -> T) -> T {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return body()
    }
}
