// SPDX-License-Identifier: Apache-2.0
// layercode-loopbench: what the event loop costs as sessions are added (make bench), release
// build, JSON lines. Owners and timers are idle: what 200 connected-but-quiet sessions add
// to every wake-up of the one they are not.
//
// - wake_dispatch: one owner's audio thread rings, the loop runs that owner's work, the
//   thread waits for it (ping-pong). loop_cpu_ns_per_wake is the loop thread's own CPU time
//   (CLOCK_THREAD_CPUTIME_ID) per wake: epoll_wait, the eventfd read, finding and running
//   the work, plus the other owners' work the loop runs (each an atomic load and a counter,
//   about what an idle client's wake-up check costs).
// - timer_schedule_cancel: schedule a 60 s timer and cancel it, on the loop thread, with
//   N other timers pending.
import Glibc
import LayercodeNet
import Synchronization

func threadCPUNanoseconds() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts)
    return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
}

/// One owner's state, as an idle client has it: a flag to check, a count of wake-ups.
final class Owner: @unchecked Sendable {
    let ringMoved = Atomic<Bool>(false)
    var runs = 0
}

let loop = EventLoop.shared

/// Wake-up plumbing of this build (bench/loop/wake_api.swift): how an owner registers, how
/// its audio thread rings, how it goes away.
func wakeDispatch(owners: Int, timers: Int, roundTrips: Int) {
    let done = UnsafeMutablePointer<sem_t>.allocate(capacity: 1)
    sem_init(done, 0, 0)
    var registrations: [Registration] = []
    var handles: [EventLoop.TimerHandle] = []
    let target = Owner()
    loop.executeAndWait {
        registrations.append(register(target) {
            _ = target.ringMoved.exchange(false, ordering: .acquiring)
            target.runs += 1
            sem_post(done)
        })
        for _ in 1..<owners {
            let idle = Owner()
            registrations.append(register(idle) {
                if idle.ringMoved.load(ordering: .acquiring) { idle.runs += 1 }
            })
        }
        for i in 0..<timers { handles.append(loop.schedule(afterMilliseconds: 3_600_000 + i) {}) }
    }
    let ring = registrations[0]
    for _ in 0..<(roundTrips / 10) { ring.ring(); while sem_wait(done) != 0 {} }   // warm-up
    var cpu0: UInt64 = 0
    var cpu1: UInt64 = 0
    loop.executeAndWait { cpu0 = threadCPUNanoseconds() }
    let wall0 = monotonicNanoseconds()
    for _ in 0..<roundTrips {
        target.ringMoved.store(true, ordering: .releasing)
        ring.ring()
        while sem_wait(done) != 0 {}
    }
    let wall1 = monotonicNanoseconds()
    loop.executeAndWait { cpu1 = threadCPUNanoseconds() }
    loop.executeAndWait {
        for r in registrations { r.cancel() }
        for h in handles { loop.cancel(h) }
    }
    print("{\"bench\":\"loop_scale\",\"name\":\"wake_dispatch\",\"owners\":\(owners),\"timers\":\(timers),"
          + "\"loop_cpu_ns_per_wake\":\((cpu1 - cpu0) / UInt64(roundTrips)),"
          + "\"roundtrip_ns\":\((wall1 - wall0) / UInt64(roundTrips))}")
}

func timerScheduleCancel(pending: Int, operations: Int) {
    var ns: UInt64 = 0
    loop.executeAndWait {
        var handles: [EventLoop.TimerHandle] = []
        for i in 0..<pending { handles.append(loop.schedule(afterMilliseconds: 3_600_000 + i) {}) }
        for _ in 0..<(operations / 10) { loop.cancel(loop.schedule(afterMilliseconds: 60_000) {}) }
        let start = threadCPUNanoseconds()
        for _ in 0..<operations { loop.cancel(loop.schedule(afterMilliseconds: 60_000) {}) }
        ns = (threadCPUNanoseconds() - start) / UInt64(operations)
        for h in handles { loop.cancel(h) }
    }
    print("{\"bench\":\"loop_scale\",\"name\":\"timer_schedule_cancel\",\"pending\":\(pending),"
          + "\"ns_per_schedule_and_cancel\":\(ns)}")
}

let roundTrips = Int(getenv("LOOPBENCH_ROUNDTRIPS").map { String(cString: $0) } ?? "") ?? 20_000
wakeDispatch(owners: 1, timers: 0, roundTrips: roundTrips)
wakeDispatch(owners: 200, timers: 0, roundTrips: roundTrips)
wakeDispatch(owners: 200, timers: 200, roundTrips: roundTrips)
timerScheduleCancel(pending: 0, operations: 200_000)
timerScheduleCancel(pending: 200, operations: 200_000)
