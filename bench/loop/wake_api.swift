// SPDX-License-Identifier: Apache-2.0
// The wake-up API the bench measures: one LoopWaker per owner.
import LayercodeNet

struct Registration {
    let waker: LoopWaker
    func ring() { waker.wake() }
    func cancel() { waker.cancel() }
}

/// Loop thread.
func register(_ owner: Owner, _ work: @escaping () -> Void) -> Registration {
    Registration(waker: loop.makeWaker(work))
}
