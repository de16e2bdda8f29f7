// SPDX-License-Identifier: Apache-2.0
import Foundation
import Synchronization
import XCTest
@testable import LayercodeCore

// FrameRing: the lock-free SPSC ring of numbered audio frames (event loop -> playback).

private func header(_ sequence: UInt64, count: Int, flags: AudioFrameFlags = [],
                    marker: UInt32 = 0) -> AudioFrameHeader {
    AudioFrameHeader(sequence: sequence, arrivalNanoseconds: sequence &* 1_000 &+ 5,
                     marker: marker, sampleCount: UInt16(count), flags: flags)
}

/// Samples of frame `sequence`: distinct per frame and per position.
private func frameSamples(_ sequence: UInt64, count: Int) -> [Int16] {
    (0..<count).map { Int16(truncatingIfNeeded: Int(sequence) &* 131 &+ $0) }
}

private extension FrameRing {
    func push(_ header: AudioFrameHeader, _ samples: [Int16]) -> Bool {
        samples.withUnsafeBufferPointer { push(header, samples: $0) }
    }

    /// Pops into a buffer of `capacity` sentinel-filled samples, so untouched slots show.
    func pop(capacity: Int) -> (header: AudioFrameHeader, samples: [Int16])? {
        var out = [Int16](repeating: 0x5A5A, count: capacity)
        guard let h = out.withUnsafeMutableBufferPointer({ pop(into: $0) }) else { return nil }
        return (h, out)
    }
}

private final class FrameStressResult: @unchecked Sendable {
    let stop = Atomic<Bool>(false)
    /// Written by the consumer only; read after it finished.
    var checked = 0
    var firstMismatch: String?
}

final class FrameRingTests: XCTestCase {
    func testPushPopRoundTripsHeaderAndSamples() {
        let ring = FrameRing(capacityFrames: 4, frameSamples: 8)
        let h = AudioFrameHeader(sequence: 42, arrivalNanoseconds: 123_456_789, marker: 7,
                                 sampleCount: 8, flags: [.turnStart])
        XCTAssertTrue(ring.push(h, frameSamples(42, count: 8)))
        XCTAssertEqual(ring.readableFrames, 1)
        XCTAssertEqual(ring.writableFrames, 3)
        let popped = ring.pop(capacity: 8)
        XCTAssertEqual(popped?.header, h)
        XCTAssertEqual(popped?.samples, frameSamples(42, count: 8))
        XCTAssertEqual(ring.readableFrames, 0)
        XCTAssertEqual(ring.writableFrames, 4)
    }

    func testPopOfEmptyRingReturnsNilAndWritesNothing() {
        let ring = FrameRing(capacityFrames: 2, frameSamples: 4)
        let popped = ring.pop(capacity: 4)
        XCTAssertNil(popped)
        XCTAssertEqual(ring.poppedCount, 0)
    }

    func testDefaultFrameIsTwentyMillisecondsAt16kHz() {
        XCTAssertEqual(FrameRing(capacityFrames: 1).frameSamples, 320)
    }

    func testFullRingRejectsPushAndWritesNothing() {
        let ring = FrameRing(capacityFrames: 3, frameSamples: 4)
        for s in 0..<3 { XCTAssertTrue(ring.push(header(UInt64(s), count: 4), frameSamples(UInt64(s), count: 4))) }
        XCTAssertEqual(ring.writableFrames, 0)
        XCTAssertFalse(ring.push(header(99, count: 4), frameSamples(99, count: 4)))
        XCTAssertEqual(ring.pushedCount, 3)
        // The rejected frame overwrote nothing: the three frames come out intact, in order.
        for s in 0..<3 {
            let popped = ring.pop(capacity: 4)
            XCTAssertEqual(popped?.header, header(UInt64(s), count: 4))
            XCTAssertEqual(popped?.samples, frameSamples(UInt64(s), count: 4))
        }
        XCTAssertNil(ring.pop(capacity: 4))
        // Room again after popping.
        XCTAssertTrue(ring.push(header(3, count: 4), frameSamples(3, count: 4)))
    }

    func testCapacityOneAlternatesPushAndPop() {
        let ring = FrameRing(capacityFrames: 1, frameSamples: 2)
        for s: UInt64 in 0..<10 {
            XCTAssertTrue(ring.push(header(s, count: 2), frameSamples(s, count: 2)))
            XCTAssertFalse(ring.push(header(s + 100, count: 2), frameSamples(s + 100, count: 2)))
            XCTAssertEqual(ring.pop(capacity: 2)?.header.sequence, s)
        }
    }

    func testWraparoundAtEveryOffsetKeepsOrderAndContent() {
        // For every fill level and every starting offset, push then pop across the wrap.
        let capacity = 5
        for offset in 0..<capacity {
            for fill in 1...capacity {
                let ring = FrameRing(capacityFrames: capacity, frameSamples: 6)
                var next: UInt64 = 0
                for _ in 0..<offset {
                    XCTAssertTrue(ring.push(header(next, count: 6), frameSamples(next, count: 6)))
                    _ = ring.pop(capacity: 6)
                    next += 1
                }
                let first = next
                for _ in 0..<fill {
                    XCTAssertTrue(ring.push(header(next, count: 6), frameSamples(next, count: 6)))
                    next += 1
                }
                for s in first..<next {
                    let popped = ring.pop(capacity: 6)
                    XCTAssertEqual(popped?.header, header(s, count: 6), "offset \(offset) fill \(fill)")
                    XCTAssertEqual(popped?.samples, frameSamples(s, count: 6), "offset \(offset) fill \(fill)")
                }
                XCTAssertNil(ring.pop(capacity: 6))
            }
        }
    }

    func testManyLapsInterleaved() {
        let ring = FrameRing(capacityFrames: 3, frameSamples: 3)
        var pushed: UInt64 = 0
        var popped: UInt64 = 0
        for round in 0..<200 {
            for _ in 0..<(round % 3 + 1) where ring.writableFrames > 0 {
                XCTAssertTrue(ring.push(header(pushed, count: 3), frameSamples(pushed, count: 3)))
                pushed += 1
            }
            for _ in 0..<(round % 2 + 1) {
                guard let p = ring.pop(capacity: 3) else { break }
                XCTAssertEqual(p.header.sequence, popped)
                XCTAssertEqual(p.samples, frameSamples(popped, count: 3))
                popped += 1
            }
        }
        XCTAssertEqual(ring.pushedCount, pushed)
        XCTAssertEqual(ring.poppedCount, popped)
    }

    func testShortFrameCopiesOnlyItsSamples() {
        let ring = FrameRing(capacityFrames: 2, frameSamples: 8)
        // A full frame first, so the slot holds stale samples a short frame must not leak.
        XCTAssertTrue(ring.push(header(1, count: 8), frameSamples(1, count: 8)))
        _ = ring.pop(capacity: 8)
        XCTAssertTrue(ring.push(header(2, count: 8), frameSamples(2, count: 8)))
        _ = ring.pop(capacity: 8)
        XCTAssertTrue(ring.push(header(3, count: 3, flags: .turnEnd), frameSamples(3, count: 3)))
        let popped = ring.pop(capacity: 8)
        XCTAssertEqual(popped?.header, header(3, count: 3, flags: .turnEnd))
        XCTAssertEqual(popped?.samples, frameSamples(3, count: 3) + [Int16](repeating: 0x5A5A, count: 5))
    }

    func testShortFramePopsIntoAShortDestination() {
        let ring = FrameRing(capacityFrames: 2, frameSamples: 8)
        XCTAssertTrue(ring.push(header(1, count: 2), frameSamples(1, count: 2)))
        let popped = ring.pop(capacity: 2)
        XCTAssertEqual(popped?.samples, frameSamples(1, count: 2))
    }

    func testFlagsOnlyFrameCarriesNoSamples() {
        let ring = FrameRing(capacityFrames: 2, frameSamples: 4)
        let marker = header(7, count: 0, flags: .turnEnd, marker: 9)
        XCTAssertTrue(marker.sampleCount == 0)
        XCTAssertTrue(ring.push(marker, samples: UnsafeBufferPointer(start: nil, count: 0)))
        let popped = ring.pop(capacity: 4)
        XCTAssertEqual(popped?.header, marker)
        XCTAssertEqual(popped?.samples, [Int16](repeating: 0x5A5A, count: 4))
        // Even into an empty destination.
        XCTAssertTrue(ring.push(marker, samples: UnsafeBufferPointer(start: nil, count: 0)))
        XCTAssertEqual(ring.pop(into: UnsafeMutableBufferPointer(start: nil, count: 0)), marker)
    }

    func testPushCopiesOnlySampleCountFromALongerSource() {
        let ring = FrameRing(capacityFrames: 1, frameSamples: 4)
        XCTAssertTrue(ring.push(header(5, count: 2), frameSamples(5, count: 10)))
        XCTAssertEqual(ring.pop(capacity: 4)?.samples, frameSamples(5, count: 2) + [0x5A5A, 0x5A5A])
    }

    func testAPCM16FrameIsTwoBytesASample() {
        let h = AudioFrameHeader(sequence: 1, arrivalNanoseconds: 0, sampleCount: 320)
        XCTAssertEqual(h.kind, .pcm16)
        XCTAssertEqual(h.byteCount, 640)
        XCTAssertTrue(h.isWellFormedPCM16)
        XCTAssertEqual(FrameRing(capacityFrames: 1).maxPayloadBytes, 640)
        XCTAssertEqual(FrameRing(capacityFrames: 1, maxPayloadBytes: 7).frameSamples, 3)
    }

    /// The ring never looks inside a payload: any byte count up to the slot size comes back
    /// byte for byte, and only those bytes are written.
    func testPayloadBytesRoundTripByteForByte() {
        let ring = FrameRing(capacityFrames: 3, maxPayloadBytes: 13)
        for (s, count) in [(UInt64(1), 13), (2, 1), (3, 0), (4, 12), (5, 13)] {
            let payload = (0..<count).map { UInt8(truncatingIfNeeded: Int(s) &* 41 &+ $0) }
            let h = AudioFrameHeader(sequence: s, arrivalNanoseconds: s, kind: .pcm16,
                                     byteCount: count, sampleCount: 320)
            XCTAssertTrue(payload.withUnsafeBytes { ring.push(h, payload: $0) })
            var out = [UInt8](repeating: 0xA5, count: 13)
            let popped = out.withUnsafeMutableBytes { ring.pop(payloadInto: $0) }
            XCTAssertEqual(popped, h)
            XCTAssertEqual(Array(out[0..<count]), payload, "frame \(s)")
            XCTAssertEqual(Array(out[count...]), [UInt8](repeating: 0xA5, count: 13 - count), "frame \(s)")
        }
    }

    /// Slots of an odd byte size put PCM16 samples at odd addresses: they are copied byte
    /// by byte, so the samples still come back intact in every slot.
    func testPCM16SamplesSurviveOddSizedSlots() {
        let ring = FrameRing(capacityFrames: 3, maxPayloadBytes: 7)
        for s: UInt64 in 1...7 {
            XCTAssertTrue(ring.push(header(s, count: 3), frameSamples(s, count: 3)))
            XCTAssertEqual(ring.pop(capacity: 3)?.samples, frameSamples(s, count: 3), "frame \(s)")
        }
    }

    // MARK: Two threads

    /// One producer thread and one consumer thread move ~500k frames through a 5-slot ring;
    /// every header field and every sample must arrive intact and in order. Frame sizes vary
    /// (0 = flags-only up to a full frame), so stale bytes of a longer earlier frame would show.
    func testFrameRingTwoThreadStressKeepsEveryHeaderAndSample() {
        let total = 500_000
        let samplesPerFrame = 40
        let ring = FrameRing(capacityFrames: 5, frameSamples: samplesPerFrame)
        let result = FrameStressResult()

        @Sendable func expectedHeader(_ i: Int) -> AudioFrameHeader {
            AudioFrameHeader(sequence: UInt64(i), arrivalNanoseconds: UInt64(i) &* 20_000_011,
                             marker: UInt32(truncatingIfNeeded: i &* 7919),
                             sampleCount: UInt16(i % (samplesPerFrame + 1)),
                             flags: AudioFrameFlags(rawValue: UInt8(i % 4)))
        }
        @Sendable func expectedSample(_ i: Int, _ j: Int) -> Int16 {
            Int16(truncatingIfNeeded: i &* 31 &+ j &* 257)
        }

        let producer = spawn {
            var frame = [Int16](repeating: 0, count: samplesPerFrame)
            var i = 0
            while i < total, !result.stop.load(ordering: .relaxed) {
                let h = expectedHeader(i)
                for j in 0..<Int(h.sampleCount) { frame[j] = expectedSample(i, j) }
                let pushed = frame.withUnsafeBufferPointer { ring.push(h, samples: $0) }
                if pushed { i += 1 } else { sched_yield() }
            }
        }
        let consumer = spawn {
            var out = [Int16](repeating: 0, count: samplesPerFrame)
            var i = 0
            while i < total, !result.stop.load(ordering: .relaxed) {
                guard let h = out.withUnsafeMutableBufferPointer({ ring.pop(into: $0) }) else {
                    sched_yield()
                    continue
                }
                var mismatch: String?
                if h != expectedHeader(i) {
                    mismatch = "frame \(i): header \(h), expected \(expectedHeader(i))"
                } else {
                    for j in 0..<Int(h.sampleCount) where out[j] != expectedSample(i, j) {
                        mismatch = "frame \(i) sample \(j): \(out[j]), expected \(expectedSample(i, j))"
                        break
                    }
                }
                if let m = mismatch {
                    result.firstMismatch = m
                    result.stop.store(true, ordering: .relaxed)
                    break
                }
                i += 1
            }
            result.checked = i
        }

        let deadline = DispatchTime.now() + .seconds(600)
        let finished = producer.wait(timeout: deadline) == .success
            && consumer.wait(timeout: deadline) == .success
        if !finished {
            result.stop.store(true, ordering: .relaxed)
            _ = producer.wait(timeout: .now() + .seconds(10))
            _ = consumer.wait(timeout: .now() + .seconds(10))
            XCTFail("stress test did not finish in time")
            return
        }
        if let m = result.firstMismatch { XCTFail(m) }
        XCTAssertEqual(result.checked, total)
        XCTAssertEqual(ring.pushedCount, UInt64(total))
        XCTAssertEqual(ring.poppedCount, UInt64(total))
    }

    /// The intended pipeline: the producer pushes frames, the consumer drains the ring into
    /// a JitterBuffer and plays it; every frame plays exactly once, in order.
    func testFrameRingTwoThreadFeedsAJitterBufferOnTheConsumerThread() {
        let total = 20_000
        let ring = FrameRing(capacityFrames: 8, frameSamples: 320)
        let result = FrameStressResult()
        let producer = spawn {
            var frame = [Int16](repeating: 0, count: 320)
            var i = 0
            while i < total, !result.stop.load(ordering: .relaxed) {
                let flags: AudioFrameFlags = i == 0 ? .turnStart : i == total - 1 ? .turnEnd : []
                let h = AudioFrameHeader(sequence: UInt64(i + 1), arrivalNanoseconds: 0,
                                         sampleCount: 320, flags: flags)
                for j in 0..<320 { frame[j] = Int16(truncatingIfNeeded: i + 1) }
                if frame.withUnsafeBufferPointer({ ring.push(h, samples: $0) }) { i += 1 } else { sched_yield() }
            }
        }
        let consumer = spawn {
            var config = JitterBufferConfig()
            config.minDelayMs = 0
            let jitter = JitterBuffer(config: config)
            var out = [Int16](repeating: 0, count: 320)
            var next: UInt64 = 1
            while next <= UInt64(total), !result.stop.load(ordering: .relaxed) {
                // At most the ring's 8 frames per call, however fast the producer pushes
                // meanwhile (see the regression test below).
                jitter.put(from: ring)
                // Play everything that came in, so the buffer never holds more than a ring's
                // worth. A huge clock, so the prefetch wait is always over.
                repeat {
                    let outcome = out.withUnsafeMutableBufferPointer {
                        jitter.get(into: $0, nowNanoseconds: .max)
                    }
                    guard case .audio(let h) = outcome else {
                        if jitter.bufferedFrames > 0 && result.firstMismatch == nil {
                            result.firstMismatch = "\(outcome) with \(jitter.bufferedFrames) buffered, next \(next), \(jitter.stats)"
                        }
                        sched_yield()
                        break
                    }
                    if h.sequence != next || out.contains(where: { $0 != Int16(truncatingIfNeeded: next) }) {
                        result.firstMismatch = "played \(h.sequence), expected \(next)"
                        result.stop.store(true, ordering: .relaxed)
                        break
                    }
                    next += 1
                } while jitter.bufferedFrames > 0
            }
            result.checked = Int(next - 1)
            let stats = jitter.stats
            if result.firstMismatch == nil,
               stats.lostFrames != 0 || stats.lateFrames != 0 || stats.overflowDroppedFrames != 0 {
                result.firstMismatch = "lost or late frames: \(jitter.stats)"
            }
        }
        XCTAssertEqual(producer.wait(timeout: .now() + .seconds(300)), .success)
        XCTAssertEqual(consumer.wait(timeout: .now() + .seconds(300)), .success)
        if let m = result.firstMismatch { XCTFail(m) }
        XCTAssertEqual(result.checked, total)
    }

    /// Regression: `JitterBuffer.put(from:)` drained the ring until it found it empty. A
    /// producer that pushed as fast as the consumer popped (the pipeline test above under
    /// ThreadSanitizer, which slows the consumer's per-frame work more than the producer's)
    /// kept the consumer in one call until the jitter buffer reached its capacity and dropped
    /// its oldest frames: "played 11368, expected 3952", about one run in three, with no race
    /// report. One call now moves only the frames waiting when it starts. This is the one
    /// ring → jitter drain: `PlaybackSide.render` calls it (it had its own copy before issue
    /// 10), so this test guards the production path.
    ///
    /// The consumer here is made much slower per frame than the producer (a full delay
    /// history of 2000 values is re-ranked on every put) and the jitter buffer small, so the
    /// old drain-until-empty loop would have run far past its capacity.
    func testJitterBufferPutFromRingStopsAtTheFramesWaitingWhileTheProducerKeepsPushing() {
        let ringFrames = 4
        let total = 400
        let ring = FrameRing(capacityFrames: ringFrames, frameSamples: 320)
        var config = JitterBufferConfig()
        config.capacityMs = 200  // 10 frames
        config.delayHistoryFrames = 2_000
        let jitter = JitterBuffer(config: config)
        // Fill the delay history (it survives flushes), then start from clean counters.
        let warmup = [Int16](repeating: 1, count: 320)
        let firstSequence = UInt64(config.delayHistoryFrames + 1)
        warmup.withUnsafeBufferPointer { samples in
            for s in 1..<firstSequence {
                jitter.put(AudioFrameHeader(sequence: s, arrivalNanoseconds: s * 20_000_000,
                                            sampleCount: 320), samples: samples)
                jitter.flush(before: nil)
            }
        }
        jitter.resetStats()
        let result = FrameStressResult()
        let producer = spawn {
            let frame = [Int16](repeating: 7, count: 320)
            var i = 0
            while i < total, !result.stop.load(ordering: .relaxed) {
                let sequence = firstSequence + UInt64(i)
                let h = AudioFrameHeader(sequence: sequence, arrivalNanoseconds: sequence * 20_000_000,
                                         sampleCount: 320)
                if frame.withUnsafeBufferPointer({ ring.push(h, samples: $0) }) { i += 1 } else { sched_yield() }
            }
        }
        // The ring is full: the producer now pushes again as soon as a slot frees.
        while ring.readableFrames < ringFrames { sched_yield() }
        let moved = jitter.put(from: ring)
        result.stop.store(true, ordering: .relaxed)
        XCTAssertEqual(producer.wait(timeout: .now() + .seconds(300)), .success)
        XCTAssertEqual(moved, ringFrames, "one put(from:) moved more than the frames waiting")
        XCTAssertEqual(jitter.bufferedFrames, ringFrames)
        XCTAssertEqual(jitter.stats.overflowDroppedFrames, 0)
        // What the producer pushed meanwhile is still in the ring, for the next call.
        XCTAssertEqual(jitter.put(from: ring), Int(ring.pushedCount) - ringFrames)
        XCTAssertEqual(jitter.stats.overflowDroppedFrames, 0)
        XCTAssertEqual(jitter.stats.flushedFrames + jitter.stats.lateFrames, 0)
    }
}
