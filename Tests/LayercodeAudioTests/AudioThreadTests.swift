// SPDX-License-Identifier: Apache-2.0
import Foundation
import Glibc
import Synchronization
import XCTest
import LayercodeAudio
import LayercodeCore

final class AudioThreadTests: XCTestCase {
    func testBodyRunsUntilStopIsRequestedAndJoinWaits() throws {
        let iterations = Atomic<Int>(0)
        let finished = Atomic<Bool>(false)
        let thread = AudioThread(name: "lc-test-loop") { me in
            while !me.isStopRequested {
                iterations.add(1, ordering: .relaxed)
                usleep(1000)
            }
            finished.store(true, ordering: .releasing)
        }
        XCTAssertFalse(thread.isStarted)
        try thread.start()
        XCTAssertTrue(thread.isStarted)
        XCTAssertThrowsError(try thread.start()) {
            XCTAssertEqual(($0 as? LayercodeError)?.code, .invalidState)
        }
        while iterations.load(ordering: .relaxed) < 5 { usleep(1000) }
        XCTAssertFalse(finished.load(ordering: .acquiring))
        thread.requestStop()
        XCTAssertTrue(thread.isStopRequested)
        thread.join()
        XCTAssertTrue(finished.load(ordering: .acquiring))
        XCTAssertFalse(thread.isStarted)
        thread.join()  // a second join is a no-op
    }

    /// isRealtime says what the thread really runs under, whether or not this process may
    /// have SCHED_FIFO (root in a container may or may not).
    func testIsRealtimeMatchesTheThreadsPolicy() throws {
        let policy = Atomic<Int32>(-1)
        let priority = Atomic<Int32>(-1)
        let thread = AudioThread(name: "lc-test-rt", realtimePriority: 70) { _ in
            var p: Int32 = 0
            var param = sched_param()
            pthread_getschedparam(pthread_self(), &p, &param)
            policy.store(p, ordering: .relaxed)
            priority.store(param.sched_priority, ordering: .relaxed)
        }
        try thread.start()
        thread.join()
        print("AudioThread: SCHED_FIFO \(thread.isRealtime ? "granted" : "refused") "
              + "(policy \(policy.load(ordering: .relaxed)), priority \(priority.load(ordering: .relaxed)))")
        if thread.isRealtime {
            XCTAssertEqual(policy.load(ordering: .relaxed), SCHED_FIFO)
            XCTAssertEqual(priority.load(ordering: .relaxed), 70)
        } else {
            XCTAssertEqual(policy.load(ordering: .relaxed), SCHED_OTHER)
        }
    }

    func testPriorityZeroMeansNormalScheduling() throws {
        let policy = Atomic<Int32>(-1)
        let thread = AudioThread(realtimePriority: 0) { _ in
            var p: Int32 = 0
            var param = sched_param()
            pthread_getschedparam(pthread_self(), &p, &param)
            policy.store(p, ordering: .relaxed)
        }
        try thread.start()
        thread.join()
        XCTAssertFalse(thread.isRealtime)
        XCTAssertEqual(policy.load(ordering: .relaxed), SCHED_OTHER)
    }

    func testThreadNameIsSetAndTruncatedTo15Bytes() throws {
        let seen = Mutex<String>("")
        let thread = AudioThread(name: "lc-a-very-long-thread-name") { _ in
            let name = (try? String(contentsOfFile: "/proc/thread-self/comm", encoding: .utf8)) ?? ""
            seen.withLock { $0 = name.trimmingCharacters(in: .newlines) }
        }
        try thread.start()
        thread.join()
        XCTAssertEqual(seen.withLock { $0 }, "lc-a-very-long-")
    }

    func testReleasingTheLastReferenceWhileRunningIsSafe() throws {
        let done = Atomic<Bool>(false)
        do {
            let thread = AudioThread { _ in
                usleep(20_000)
                done.store(true, ordering: .releasing)
            }
            try thread.start()
        }  // the running body now holds the last reference; deinit runs on that thread
        while !done.load(ordering: .acquiring) { usleep(1000) }
        usleep(20_000)
    }

    /// The shape the engine uses: a playback loop on an AudioThread writing periods through
    /// the file plugin until asked to stop.
    func testPlaybackLoopOnAnAudioThread() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("lc-at-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("loop.raw").path
        let pcm = try AlsaPCM(.init(device: "lc_loop", direction: .playback, sampleRate: 16_000,
                                    channels: 1, configText: """
                                    pcm.lc_loop { type file slave.pcm "null" file "\(path)" format "raw" }
                                    """))
        let period = pcm.periodFrames
        let block = UnsafeMutablePointer<Int16>.allocate(capacity: period)
        block.initialize(repeating: 1234, count: period)
        defer { block.deallocate() }
        let periods = Atomic<Int>(0)
        let failed = Atomic<Bool>(false)
        let thread = AudioThread(name: "lc-play") { me in
            while !me.isStopRequested, periods.load(ordering: .relaxed) < 100 {
                do {
                    _ = try pcm.write(from: block, frames: period)
                    periods.add(1, ordering: .relaxed)
                } catch {
                    failed.store(true, ordering: .relaxed)
                    return
                }
            }
        }
        try thread.start()
        while periods.load(ordering: .relaxed) < 100 && !failed.load(ordering: .relaxed) { usleep(1000) }
        thread.requestStop()
        thread.join()
        pcm.drain()
        pcm.close()
        XCTAssertFalse(failed.load(ordering: .relaxed))
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        XCTAssertEqual(data.count, 100 * period * 2)
    }
}
