// SPDX-License-Identifier: Apache-2.0
import CPosix

extension EventLoop {
    /// Runs `work` on a short-lived detached thread (blocking calls: getaddrinfo, ALSA's
    /// device hints) and hands its result to `completion` on this loop. False if no thread
    /// could be started; then nothing runs.
    @discardableResult
    public func runOffLoop<T>(_ work: @escaping () -> T,
                              completion: @escaping (T) -> Void) -> Bool {
        let job = OffLoopJob(loop: self) { [self] in
            let result = work()
            execute { completion(result) }
        }
        let box = Unmanaged.passRetained(job)
        var tid = pthread_t()
        let rc = pthread_create(&tid, nil, { arg in
            Unmanaged<OffLoopJob>.fromOpaque(arg!).takeRetainedValue().body()
            return nil
        }, box.toOpaque())
        guard rc == 0 else {
            box.release()
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
