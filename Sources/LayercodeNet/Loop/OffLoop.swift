// SPDX-License-Identifier: Apache-2.0
import CPosix

extension EventLoop {
    /// Runs `work` on a short-lived detached thread (blocking calls: getaddrinfo, ALSA's
    /// device hints) and hands its result to `completion` on this loop. False if no thread
    /// could be started; then nothing runs.
    ///
    /// `completion` (and whatever it holds: often its owner, strongly) is never retained or
    /// released by the worker thread: it travels as an unmanaged reference and is taken back
    /// on the loop thread, so its owner's last release, and deinit, happen on the loop thread
    /// and never race with the loop's own use of that owner.
    @discardableResult
    public func runOffLoop<T>(_ work: @escaping () -> T,
                              completion: @escaping (T) -> Void) -> Bool {
        // +1 here, handed over to the worker, which passes it on to the loop thread untouched.
        let delivery = Unmanaged.passRetained(OffLoopDelivery(completion))
        let job = OffLoopJob(loop: self) { [self] in
            let result = work()
            execute { delivery.takeRetainedValue().completion(result) }
        }
        let box = Unmanaged.passRetained(job)
        var tid = pthread_t()
        let rc = pthread_create(&tid, nil, { arg in
            Unmanaged<OffLoopJob>.fromOpaque(arg!).takeRetainedValue().body()
            return nil
        }, box.toOpaque())
        guard rc == 0 else {
            box.release()
            delivery.release()
            return false
        }
        pthread_detach(tid)
        return true
    }
}

private final class OffLoopJob {
    let loop: EventLoop
    let body: () -> Void
    init(loop: EventLoop, body: @escaping () -> Void) {
        self.loop = loop
        self.body = body
    }
}

/// The completion of one off-loop job, owned by the loop thread from start to end.
private final class OffLoopDelivery<T> {
    let completion: (T) -> Void
    init(_ completion: @escaping (T) -> Void) {
        self.completion = completion
    }
}
