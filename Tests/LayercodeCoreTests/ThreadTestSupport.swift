// SPDX-License-Identifier: Apache-2.0
import Foundation

// Helpers for the two-thread stress tests (SPSCRingTests, FrameRingTests).

/// Runs `body` on a new thread; the returned semaphore is signalled when it finishes.
func spawn(_ body: @escaping @Sendable () -> Void) -> DispatchSemaphore {
    let done = DispatchSemaphore(value: 0)
    let thread = Thread {
        body()
        done.signal()
    }
    thread.start()
    return done
}
