// SPDX-License-Identifier: Apache-2.0
import LayercodeCore
import LayercodeNet
import Synchronization

/// Where a client's events go, on the loop thread: the poll queue (lc_client_poll_event)
/// and the app's callback. It knows when a callback is running, so that a client freed from
/// inside its own callback is released once that callback returns.
final class EventSink {
    let events: EventQueue
    private var callbacks: ClientCallbacks
    private var depth = 0
    /// Set by a free requested from inside a callback; runs when the outermost one returns.
    private var releaseWhenCallbackReturns: (() -> Void)?

    init(callbacks: ClientCallbacks) {
        self.callbacks = callbacks
        events = EventQueue(polling: callbacks.isEmpty)
    }

    /// Whether anyone hears amplitude events: an amplitude callback, or an app that polls
    /// events (or has no callbacks at all, so it will).
    var listensToAmplitude: Bool {
        callbacks.onUserAmplitude != nil || callbacks.onAgentAmplitude != nil || events.isPolling
    }

    /// Whether one of this client's callbacks is running (loop thread).
    var inCallback: Bool { depth > 0 }

    /// Runs `release` when the callback now running returns.
    func releaseAfterCallback(_ release: @escaping () -> Void) {
        releaseWhenCallbackReturns = release
    }

    /// Queues the event for polling and runs its callback.
    func deliver(_ event: ClientEvent) {
        if events.push(event) {
            Log.write(.warn, "the poll-event queue is over \(EventQueue.maxBytes >> 10) KiB: dropping "
                      + "the oldest events (counted in lc_stats.events_dropped)")
        }
        depth += 1
        event.dispatch(to: callbacks)
        depth -= 1
        if depth == 0, let release = releaseWhenCallbackReturns {
            releaseWhenCallbackReturns = nil
            release()
        }
    }

    /// No event is delivered after this (the client is being freed).
    func close() {
        events.close()
        callbacks = ClientCallbacks()
    }
}

/// What any thread may read about a client, kept by the loop (and by the facade for the
/// choices it makes at once): status, mute, why the last session failed.
final class ClientState: @unchecked Sendable {
    let status = Atomic<Int32>(SessionStatus.disconnected.rawValue)
    let muted = Atomic<Bool>(false)
    /// lc_client_failure_reason: FailureReason raw value and HTTP status (0: none).
    let failureReason = Atomic<Int32>(FailureReason.none.rawValue)
    let failureHTTPStatus = Atomic<Int32>(0)
    /// The detail behind the last failure, for lc_client_last_error.
    let lastError = Locked<String>("")
}
