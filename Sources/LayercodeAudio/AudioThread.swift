// SPDX-License-Identifier: Apache-2.0
import CPosix
import LayercodeCore
import Synchronization

/// A joinable pthread for one audio loop (ALSA capture or playback), started at real-time
/// priority when the system allows it.
///
/// The body is boxed once, in `start()`; nothing here allocates while the body runs. The
/// body owns its loop and should return soon after `isStopRequested` turns true; keeping
/// its own iterations free of allocation, locks and syscalls other than the ALSA call is
/// its job (doc/architecture.md, "Audio threads are real-time").
///
/// Thread safety: `start`, `join` and `requestStop` may be called from any thread, but
/// `start` and `join` once each and not concurrently with each other. `isStopRequested`
/// and `isRealtime` may be read anywhere.
public final class AudioThread: @unchecked Sendable {
    /// The thread's name as `top -H` and gdb show it (at most 15 bytes are kept).
    public let name: String
    /// The SCHED_FIFO priority asked for; 0 or less runs the thread at normal priority.
    public let realtimePriority: Int32

    private let body: (AudioThread) -> Void
    // Linux keeps 15 bytes of a thread name; prepared here so the thread does not allocate.
    private let threadName: [UInt8]
    private var thread = pthread_t()
    // Both are written by the starting thread before pthread_create, and read after it
    // (pthread_create orders them for the new thread) or from any other thread.
    private let realtime = Atomic<Bool>(false)
    private let running = Atomic<Bool>(false)
    // Paired: store(.releasing) in requestStop, load(.acquiring) in isStopRequested.
    private let stopFlag = Atomic<Bool>(false)

    /// Whether the thread runs under SCHED_FIFO. False when it was not asked for, or the
    /// process may not have it (no CAP_SYS_NICE, RLIMIT_RTPRIO 0): the thread then runs at
    /// normal priority rather than failing.
    public var isRealtime: Bool { realtime.load(ordering: .acquiring) }

    /// True once `requestStop()` was called. The body polls this between iterations.
    public var isStopRequested: Bool { stopFlag.load(ordering: .acquiring) }

    /// Whether the calling thread is an AudioThread's body: code reached from a callback it
    /// cannot avoid (ALSA's message handler) uses this to stay silent there.
    public static var isCurrentThreadAudio: Bool { pthread_getspecific(audioThreadKey) != nil }

    /// Set (to a non-NULL marker) on every audio thread before its body runs.
    private static let audioThreadKey: pthread_key_t = {
        var key = pthread_key_t()
        pthread_key_create(&key, nil)
        return key
    }()

    /// True between a successful `start()` and `join()`.
    public var isStarted: Bool { running.load(ordering: .acquiring) }

    /// - Parameter body: runs once on the new thread, with this object so it can poll
    ///   `isStopRequested` without capturing it.
    public init(name: String = "lc-audio", realtimePriority: Int32 = 70,
                body: @escaping (AudioThread) -> Void) {
        self.name = name
        self.realtimePriority = realtimePriority
        self.body = body
        threadName = Array(name.utf8.prefix(15))
    }

    deinit {
        // The running thread holds a reference to this object, so deinit only runs once
        // the body has returned, possibly on that thread itself (it held the last
        // reference): then detach, else join, to free the thread's resources.
        guard running.load(ordering: .acquiring) else { return }
        if pthread_equal(pthread_self(), thread) != 0 {
            pthread_detach(thread)
        } else {
            pthread_join(thread, nil)
        }
    }

    /// Starts the thread (clearing an earlier stop request). Tries SCHED_FIFO at
    /// `realtimePriority` (clamped to the system's range) and falls back to the default
    /// policy when that is refused.
    /// Throws LayercodeError(.invalidState) when already started, (.internalError) when
    /// no thread can be created.
    public func start() throws(LayercodeError) {
        guard !running.load(ordering: .acquiring) else {
            throw LayercodeError(.invalidState, "audio thread \(name) already started")
        }
        stopFlag.store(false, ordering: .releasing)
        _ = Self.audioThreadKey  // made here, not on the new thread
        // One retain for the thread, released when the body has returned.
        let box = Unmanaged.passRetained(self)
        let entry: @convention(c) (UnsafeMutableRawPointer?) -> UnsafeMutableRawPointer? = { arg in
            let me = Unmanaged<AudioThread>.fromOpaque(arg!).takeRetainedValue()
            pthread_setspecific(AudioThread.audioThreadKey, UnsafeRawPointer(bitPattern: 1))
            me.nameCurrentThread()
            me.body(me)
            return nil
        }

        var rc: Int32 = -1
        if realtimePriority > 0 {
            var attr = pthread_attr_t()
            pthread_attr_init(&attr)
            var param = sched_param()
            let lo = sched_get_priority_min(SCHED_FIFO), hi = sched_get_priority_max(SCHED_FIFO)
            param.sched_priority = min(max(realtimePriority, lo), hi)
            if pthread_attr_setinheritsched(&attr, Int32(PTHREAD_EXPLICIT_SCHED)) == 0,
               pthread_attr_setschedpolicy(&attr, SCHED_FIFO) == 0,
               pthread_attr_setschedparam(&attr, &param) == 0 {
                realtime.store(true, ordering: .releasing)
                rc = pthread_create(&thread, &attr, entry, box.toOpaque())
            }
            pthread_attr_destroy(&attr)
        }
        if rc != 0 {
            // EPERM (not allowed real-time) or not asked for: normal priority.
            realtime.store(false, ordering: .releasing)
            rc = pthread_create(&thread, nil, entry, box.toOpaque())
        }
        guard rc == 0 else {
            box.release()
            throw LayercodeError(.internalError,
                                 "audio thread \(name): pthread_create: \(String(cString: strerror(rc)))")
        }
        running.store(true, ordering: .releasing)
    }

    /// Names the calling thread through /proc (pthread_setname_np needs _GNU_SOURCE, which
    /// Glibc's module does not give Swift). Best effort.
    private func nameCurrentThread() {
        let fd = lcposix_open("/proc/thread-self/comm", O_WRONLY | O_CLOEXEC, 0)
        guard fd >= 0 else { return }
        threadName.withUnsafeBufferPointer { _ = CPosix.write(fd, $0.baseAddress, $0.count) }
        CPosix.close(fd)
    }

    /// Asks the body to return. Wait-free; callable from any thread, also the body's.
    public func requestStop() {
        stopFlag.store(true, ordering: .releasing)
    }

    /// Waits until the body has returned. Does not request a stop by itself; a no-op when
    /// the thread was never started or was already joined, and when called from the body.
    public func join() {
        guard pthread_equal(pthread_self(), thread) == 0 || !isStarted else { return }
        guard running.exchange(false, ordering: .acquiringAndReleasing) else { return }
        pthread_join(thread, nil)
    }
}
