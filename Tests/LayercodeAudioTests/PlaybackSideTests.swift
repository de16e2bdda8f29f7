// SPDX-License-Identifier: Apache-2.0
import Foundation
import LayercodeAudio
import LayercodeCore
import XCTest

/// The speaker half of the engine: frames in (loop side), render out (device side).
final class PlaybackSideTests: XCTestCase {
    /// A fake clock the tests advance (render reads it for the jitter buffer's waits).
    final class Clock: @unchecked Sendable {
        var now: UInt64 = 1_000_000_000
    }

    final class Wakes: @unchecked Sendable {
        private let lock = NSLock()
        private var _count = 0
        var count: Int { lock.withLock { _count } }
        func bump() { lock.withLock { _count += 1 } }
    }

    func makeSide(rate: Int = 16_000, channels: Int = 1, minDelayMs: Int = 40,
                  clock: Clock = Clock(), wakes: Wakes = Wakes()) throws -> PlaybackSide {
        var config = JitterBufferConfig()
        config.minDelayMs = minDelayMs
        config.initialDelayMs = minDelayMs
        return try PlaybackSide(deviceRate: rate, channels: channels, jitter: config,
                                clock: { clock.now }, wake: { wakes.bump() })
    }

    /// Pushes a turn of `frames` 20 ms frames whose samples all equal `value + frame index`.
    func pushTurn(_ side: PlaybackSide, frames: Int, firstSequence: UInt64 = 1, value: Int16 = 1000,
                  clock: Clock, end: Bool = true) {
        for i in 0..<frames {
            var flags: AudioFrameFlags = []
            if i == 0 { flags.insert(.turnStart) }
            if end && i == frames - 1 { flags.insert(.turnEnd) }
            let samples = [Int16](repeating: value + Int16(i), count: 320)
            let header = AudioFrameHeader(sequence: firstSequence + UInt64(i), arrivalNanoseconds: clock.now,
                                          marker: UInt32(i + 1), sampleCount: 320, flags: flags)
            XCTAssertTrue(samples.withUnsafeBufferPointer { side.push(header, samples: $0) })
        }
    }

    /// Renders `periods` periods of 20 ms at the side's rate, advancing the clock.
    func render(_ side: PlaybackSide, periods: Int, clock: Clock) -> (samples: [Int16], audio: Int) {
        let frames = side.deviceRate / 50
        var out = [Int16](repeating: 0, count: frames * side.channels)
        var all: [Int16] = []
        var audio = 0
        for _ in 0..<periods {
            audio += out.withUnsafeMutableBufferPointer { side.render(into: $0.baseAddress!, frames: frames) }
            all += out
            clock.now += 20_000_000
        }
        return (all, audio)
    }

    func testRenderPlaysATurnInOrderThenSilence() throws {
        let clock = Clock()
        let side = try makeSide(clock: clock)
        pushTurn(side, frames: 10, clock: clock)
        let (samples, audio) = render(side, periods: 15, clock: clock)
        XCTAssertEqual(audio, 10 * 320)
        let played = samples.filter { $0 != 0 }
        XCTAssertEqual(played.count, 10 * 320)
        XCTAssertEqual(Set(played), Set((0..<10).map { Int16(1000 + $0) }))
        XCTAssertEqual(played, played.sorted(), "frames played out of order")
        XCTAssertEqual(side.snapshot().playedSamples, 3200)
    }

    func testDrainRaisesOnceWithTheLastPlayedMarker() throws {
        let clock = Clock(), wakes = Wakes()
        let side = try makeSide(clock: clock, wakes: wakes)
        pushTurn(side, frames: 5, clock: clock)
        _ = render(side, periods: 12, clock: clock)
        XCTAssertTrue((side.takeDrain() != nil))
        XCTAssertFalse((side.takeDrain() != nil), "one drain, one report")
        XCTAssertEqual(side.snapshot().lastPlayedMarker, 5)
        XCTAssertGreaterThan(wakes.count, 0)
    }

    func testFlushSilencesTheNextRenderAndDropsQueuedFrames() throws {
        let clock = Clock()
        let side = try makeSide(clock: clock)
        pushTurn(side, frames: 50, clock: clock, end: false)
        let before = render(side, periods: 6, clock: clock)
        XCTAssertGreaterThan(before.audio, 0)
        side.requestFlush(before: 51)
        let after = render(side, periods: 10, clock: clock)
        XCTAssertEqual(after.audio, 0, "audio played after a barge-in flush")
        XCTAssertTrue(after.samples.allSatisfy { $0 == 0 })
        XCTAssertGreaterThan(side.snapshot().droppedFrames, 0)
    }

    func testLateFramesOfAFlushedTurnAreNeverPlayed() throws {
        let clock = Clock()
        let side = try makeSide(clock: clock)
        pushTurn(side, frames: 10, clock: clock, end: false)
        _ = render(side, periods: 5, clock: clock)
        side.requestFlush(before: 11)
        _ = render(side, periods: 1, clock: clock)
        // Frames of the interrupted turn that were still in flight.
        pushTurn(side, frames: 5, firstSequence: 6, value: 7000, clock: clock, end: true)
        let after = render(side, periods: 10, clock: clock)
        XCTAssertFalse(after.samples.contains { $0 >= 7000 }, "late audio of a flushed turn played")
    }

    func testUpsamplesTo44100StereoWithoutClicks() throws {
        let clock = Clock()
        let side = try makeSide(rate: 44_100, channels: 2, clock: clock)
        // A 440 Hz sine at 16 kHz across 25 frames.
        var phase = 0.0
        for i in 0..<25 {
            var flags: AudioFrameFlags = i == 0 ? [.turnStart] : []
            if i == 24 { flags.insert(.turnEnd) }
            let samples = (0..<320).map { _ -> Int16 in
                defer { phase += 2 * Double.pi * 440 / 16_000 }
                return Int16(12_000 * sin(phase))
            }
            let header = AudioFrameHeader(sequence: UInt64(i + 1), arrivalNanoseconds: clock.now,
                                          marker: 0, sampleCount: 320, flags: flags)
            _ = samples.withUnsafeBufferPointer { side.push(header, samples: $0) }
        }
        let (interleaved, audio) = render(side, periods: 35, clock: clock)
        XCTAssertGreaterThan(audio, 44_100 * 4 / 10)
        let left = stride(from: 0, to: interleaved.count, by: 2).map { interleaved[$0] }
        let right = stride(from: 1, to: interleaved.count, by: 2).map { interleaved[$0] }
        XCTAssertEqual(left, right, "mono must be duplicated to both channels")
        // No click: a 440 Hz sine of amplitude 12000 at 44.1 kHz moves at most ~753 per sample.
        let voiced = left.drop { $0 == 0 }
        var maxStep = 0
        var prev: Int16?
        for s in voiced.prefix(44_100 * 4 / 10) {
            if let p = prev { maxStep = max(maxStep, abs(Int(s) - Int(p))) }
            prev = s
        }
        XCTAssertLessThan(maxStep, 1000, "discontinuity in resampled playout")
    }

    func testAgentLevelFollowsWhatIsPlayed() throws {
        let clock = Clock()
        let side = try makeSide(clock: clock)
        XCTAssertEqual(side.snapshot().agentLevel, 0)
        pushTurn(side, frames: 20, value: 16_000, clock: clock)
        _ = render(side, periods: 10, clock: clock)
        XCTAssertGreaterThan(side.snapshot().agentLevel, 0.4)
        XCTAssertTrue(side.snapshot().agentAudible)
        _ = render(side, periods: 30, clock: clock)
        XCTAssertEqual(side.snapshot().agentLevel, 0)
        XCTAssertFalse(side.snapshot().agentAudible)
    }
}
