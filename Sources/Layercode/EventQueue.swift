// SPDX-License-Identifier: Apache-2.0
import CLayercodeABI
import CPosix
import LayercodeCore

/// The queue behind lc_client_poll_event: the loop thread pushes, one app thread pops with a
/// timeout. Bounded by bytes (the strings an event carries, plus a fixed cost per event):
/// beyond `maxBytes` the oldest events are dropped and counted. An event larger than the
/// whole budget is still queued, alone, so a poller sees every message the client accepted
/// (max_message_bytes bounds it).
///
/// Events are queued only for an app that polls: from creation when it set no callback, or
/// else from its first lc_client_poll_event call on. An app that only uses callbacks holds
/// nothing here.
final class EventQueue: @unchecked Sendable {
    static let maxBytes = Int(LC_EVENT_QUEUE_MAX_BYTES)
    /// What an event costs besides its strings: its slot, and the allocator's share.
    static let eventOverheadBytes = 64

    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let condition = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    private var events: [(event: ClientEvent, bytes: Int)] = []
    private var head = 0
    private var closed = false
    private var polling: Bool
    private var queuedBytes = 0
    private var dropped: UInt64 = 0

    /// Whether events are kept for lc_client_poll_event (no callbacks, or the app polled).
    var isPolling: Bool { locked { polling } }

    init(polling: Bool) {
        self.polling = polling
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
    var byteCount: Int { locked { queuedBytes } }

    static func cost(of event: ClientEvent) -> Int {
        var bytes = eventOverheadBytes
        switch event {
        case .connected(let conversation, let config): bytes += conversation.utf8.count + config.utf8.count
        case .disconnected(_, let message): bytes += message.utf8.count
        case .error(let error): bytes += error.message.utf8.count
        case .message(let type, let json): bytes += type.utf8.count + json.utf8.count
        case .data(let content, let turnID): bytes += content.utf8.count + (turnID?.utf8.count ?? 0)
        case .deviceSwitched(_, let name): bytes += name.utf8.count
        case .status, .userAmplitude, .agentAmplitude, .userSpeaking, .agentSpeaking, .mute,
             .audioInputChanged, .audioOutputChanged, .devicesChanged:
            break
        }
        return bytes
    }

    /// Queues `event` if the app polls. Returns true for the first drop of the queue's life
    /// (the caller logs it, outside this lock).
    func push(_ event: ClientEvent) -> Bool {
        let bytes = Self.cost(of: event)
        return locked {
            guard polling, !closed else { return false }
            let droppedBefore = dropped
            while head < events.count && queuedBytes + bytes > Self.maxBytes {
                queuedBytes -= events[head].bytes
                events[head] = (.devicesChanged, 0)  // releases its strings now
                head += 1
                dropped += 1
            }
            if head == events.count {
                events.removeAll(keepingCapacity: events.capacity <= 1024)
                head = 0
            } else if head > 1024 && head * 2 > events.count {
                events.removeFirst(head)
                head = 0
            }
            events.append((event, bytes))
            queuedBytes += bytes
            pthread_cond_signal(condition)
            return droppedBefore == 0 && dropped > 0
        }
    }

    /// Wakes waiters for good: later polls return `.closed`; nothing is queued any more.
    func close() {
        locked {
            closed = true
            events.removeAll()
            head = 0
            queuedBytes = 0
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
            polling = true
            while true {
                if closed { return .closed }
                if head < events.count {
                    let (event, bytes) = events[head]
                    events[head] = (.devicesChanged, 0)
                    queuedBytes -= bytes
                    head += 1
                    if head == events.count {
                        events.removeAll(keepingCapacity: events.capacity <= 1024)
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
