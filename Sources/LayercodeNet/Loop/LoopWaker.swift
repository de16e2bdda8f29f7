// SPDX-License-Identifier: Apache-2.0
import Synchronization

/// One owner's doorbell on the event loop (`EventLoop.makeWaker`): an audio thread rings it
/// when that owner's ring moved, and the loop runs that owner's work, not every owner's.
///
/// `wake()` is wait-free and real-time safe: one atomic exchange, plus one eventfd write
/// when the waker was not already rung; no allocation, lock or log. However often it is
/// rung before the loop gets to it, the work runs once, and a ring that arrives while the
/// work runs makes it run again (the loop clears the flag before it calls the work).
///
/// The loop holds the waker until `cancel()` (loop thread), after which the work never runs
/// again and the closure (and what it captured) is released. There is no weak reference:
/// the owner cancels in its teardown.
public final class LoopWaker: @unchecked Sendable {
    private let loop: EventLoop
    /// Set by `wake()`, cleared by the loop before it runs `work`. The exchange in `wake()`
    /// (acquiring-and-releasing) pairs with the loop's exchange in `takeRung()`: what the
    /// waking thread wrote before ringing (ring contents) is visible to `work`.
    private let rung = Atomic<Bool>(false)
    /// Loop thread only; nil once cancelled.
    private var work: (() -> Void)?
    /// The waker's place in the loop's list (loop thread only; -1 once cancelled), so that
    /// `cancel()` is O(1).
    var slot: Int

    init(loop: EventLoop, slot: Int, work: @escaping () -> Void) {
        self.loop = loop
        self.slot = slot
        self.work = work
    }

    /// Any thread, audio threads included.
    @inline(__always)
    public func wake() {
        if !rung.exchange(true, ordering: .acquiringAndReleasing) {
            loop.wakeThread()
        }
    }

    /// Loop thread. Stops the work for good and releases it; later `wake()`s do nothing
    /// but poke the loop. Cancelling twice is harmless.
    public func cancel() {
        precondition(loop.inLoop, "LoopWaker.cancel off the event-loop thread")
        guard work != nil else { return }
        work = nil
        loop.removeWaker(self)
    }

    public var isCancelled: Bool { work == nil }

    /// Loop thread: runs the work if the waker was rung since the last call.
    @inline(__always)
    func runIfRung() {
        guard rung.load(ordering: .relaxed),
              rung.exchange(false, ordering: .acquiringAndReleasing), let work else { return }
        work()
    }
}
