// SPDX-License-Identifier: Apache-2.0
import LayercodeCore
import Synchronization

/// The one place a device failure travels from a driver thread to the event loop: the first
/// failure raised wins, later ones are ignored until the loop takes it. Raising happens off
/// the real-time path (the driver thread is ending), taking happens on the loop.
///
/// States: 0 clear, 1 being written, 2 raised (the error is published), 3 taken. The error
/// is written only between a successful 0 → 1 claim and the releasing store of 2, and read
/// only after the acquiring 2 → 3 exchange, so the two never overlap.
public final class FailureLatch: @unchecked Sendable {
    private let state = Atomic<UInt8>(0)
    private var error: LayercodeError?
    private let wake: @Sendable () -> Void

    public init(wake: @escaping @Sendable () -> Void) {
        self.wake = wake
    }

    /// Records `error` if nothing is pending, and wakes the loop.
    public func raise(_ error: LayercodeError) {
        guard state.compareExchange(expected: 0, desired: 1, ordering: .acquiring).exchanged else {
            return
        }
        self.error = error
        // Publishes `error`; pairs with the acquiring exchange in `take`.
        state.store(2, ordering: .releasing)
        wake()
    }

    /// The failure raised since the last take, once.
    public func take() -> LayercodeError? {
        guard state.compareExchange(expected: 2, desired: 3, ordering: .acquiringAndReleasing).exchanged
        else { return nil }
        let taken = error
        error = nil
        // Open again for the next driver's failure.
        state.store(0, ordering: .releasing)
        return taken
    }
}
