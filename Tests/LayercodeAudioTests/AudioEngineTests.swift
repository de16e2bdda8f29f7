// SPDX-License-Identifier: Apache-2.0
import Foundation
import LayercodeAudio
import LayercodeCore
import Synchronization
import XCTest

/// The engine that owns both directions: drivers, the uplink framer, the playout snapshot,
/// the failure latch and the render tap.
final class AudioEngineTests: XCTestCase {
    private var dir: String!

    override func setUpWithError() throws {
        dir = NSTemporaryDirectory() + "lc-engine-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(atPath: dir)
    }

    private static func now() -> UInt64 { DispatchTime.now().uptimeNanoseconds }

    private func wavOut(_ name: String, rate: Int) throws -> WavDriver {
        try WavDriver(inputPath: nil, outputPath: dir + "/" + name, outputSampleRate: rate)
    }

    private func pushFrames(_ engine: AudioEngine, count: Int, from sequence: UInt64 = 1) {
        let samples = [Int16](repeating: 1000, count: 320)
        for i in 0..<count {
            let header = AudioFrameHeader(sequence: sequence + UInt64(i), arrivalNanoseconds: Self.now(),
                                          marker: UInt32(i + 1), sampleCount: 320,
                                          flags: i == 0 ? [.turnStart] : [])
            XCTAssertTrue(samples.withUnsafeBufferPointer { engine.play(header, samples: $0) })
        }
    }

    func testFailureLatchReportsTheFirstFailureOnceThenRearms() {
        let wakes = Atomic<Int>(0)
        let latch = FailureLatch { wakes.add(1, ordering: .relaxed) }
        XCTAssertNil(latch.take())
        latch.raise(LayercodeError(.audio, "first"))
        latch.raise(LayercodeError(.audio, "second"))
        XCTAssertEqual(latch.take()?.message, "first")
        XCTAssertNil(latch.take(), "reported twice")
        latch.raise(LayercodeError(.audio, "third"))
        XCTAssertEqual(latch.take()?.message, "third")
        XCTAssertEqual(wakes.load(ordering: .relaxed), 2)
    }

    /// A microphone switch replaces the driver, not the chain: the speaker side carries over
    /// at the same format with what it holds, and a speaker at another rate gets a new side
    /// and reports the frames left on the old one.
    func testSpeakerSwitchKeepsTheChainAtTheSameFormat() throws {
        let engine = try AudioEngine(config: AudioEngine.Config(), clock: Self.now, wake: {})
        defer { engine.stop() }
        XCTAssertEqual(try engine.replaceOutput(with: wavOut("a.wav", rate: 16_000)), 0)
        let first = try XCTUnwrap(engine.playback)
        XCTAssertEqual(try engine.replaceOutput(with: wavOut("b.wav", rate: 16_000)), 0)
        XCTAssertTrue(engine.playback === first, "same format: the side carries over")
        // Stop rendering, queue frames, then move to a 48 kHz speaker.
        try engine.replaceOutput(with: nil)
        XCTAssertNil(engine.playback)
        XCTAssertFalse(engine.play(AudioFrameHeader(sequence: 1, arrivalNanoseconds: 1, sampleCount: 0),
                                   samples: UnsafeBufferPointer(start: nil, count: 0)))
        try engine.replaceOutput(with: wavOut("c.wav", rate: 16_000))
        let side = try XCTUnwrap(engine.playback)
        engine.stop()
        pushFrames(engine, count: 10)
        let lost = try engine.replaceOutput(with: wavOut("d.wav", rate: 48_000))
        XCTAssertEqual(lost, 10)
        XCTAssertFalse(engine.playback === side)
        XCTAssertEqual(engine.playback?.deviceRate, 48_000)
    }

    /// External audio: the app's 16 kHz microphone comes out as whole 8 kHz wire frames with
    /// a level, and a partial frame waits for the rest.
    func testUplinkFramesAreCutAtTheWireRate() throws {
        let engine = try AudioEngine.external(config: AudioEngine.Config(), inputRate: 16_000,
                                              outputRate: 16_000, clock: Self.now, wake: {})
        engine.setAcceptingInput(true)
        let tone = (0..<16_000).map { Int16(8000 * sin(Double($0) * 2 * .pi * 440 / 16_000)) }
        XCTAssertEqual(tone.withUnsafeBufferPointer { engine.capture($0) }, 16_000)
        var frames: [[Int16]] = []
        engine.drainCapture(wanted: { true }) { samples, capturedAt in
            frames.append(samples)
            XCTAssertGreaterThan(capturedAt, 0)
            return true
        }
        XCTAssertTrue((48...50).contains(frames.count), "\(frames.count) frames for 1 s")
        XCTAssertTrue(frames.allSatisfy { $0.count == 160 })
        XCTAssertGreaterThan(engine.userLevel, 0.1)
        // Not wanted (no session): read and discarded.
        XCTAssertEqual(tone.withUnsafeBufferPointer { engine.capture($0) }, 16_000)
        var more = 0
        engine.drainCapture(wanted: { false }) { _, _ in more += 1; return true }
        XCTAssertEqual(more, 0)
        engine.drainCapture(wanted: { true }) { _, _ in more += 1; return true }
        XCTAssertEqual(more, 0, "discarded audio came back")
    }

    func testPlayoutSnapshotCarriesDeviceDelayAndDrainMarker() throws {
        var config = JitterBufferConfig()
        config.minDelayMs = 20
        config.initialDelayMs = 20
        var clock: UInt64 = 1_000_000_000
        let side = try PlaybackSide(deviceRate: 16_000, channels: 1, jitter: config, clock: { clock }, wake: {})
        for i in 0..<3 {
            let header = AudioFrameHeader(sequence: UInt64(i + 1), arrivalNanoseconds: clock, marker: UInt32(7 + i),
                                          sampleCount: 320, flags: i == 0 ? [.turnStart] : i == 2 ? [.turnEnd] : [])
            _ = [Int16](repeating: 500, count: 320).withUnsafeBufferPointer { side.push(header, samples: $0) }
        }
        var out = [Int16](repeating: 0, count: 320)
        side.noteDeviceDelay(frames: 480)
        for _ in 0..<8 {
            clock += 20_000_000
            _ = out.withUnsafeMutableBufferPointer { side.render(into: $0.baseAddress!, frames: 320) }
        }
        let s = side.snapshot()
        XCTAssertEqual(s.deviceDelayFrames, 480)
        XCTAssertEqual(s.playedSamples, 960)
        XCTAssertEqual(s.drains, 1)
        XCTAssertEqual(s.drainedMarker, 9)
        XCTAssertEqual(side.takeDrain(), 9)
        XCTAssertNil(side.takeDrain())
    }

    /// The render tap holds exactly what the speaker got (channel 0).
    func testRenderTapHoldsWhatTheSpeakerGot() throws {
        var clock: UInt64 = 1_000_000_000
        var config = JitterBufferConfig()
        config.minDelayMs = 20
        config.initialDelayMs = 20
        let side = try PlaybackSide(deviceRate: 16_000, channels: 2, jitter: config, renderTapMilliseconds: 500,
                                    clock: { clock }, wake: {})
        let tap = try XCTUnwrap(side.renderTap)
        for i in 0..<5 {
            let header = AudioFrameHeader(sequence: UInt64(i + 1), arrivalNanoseconds: clock, marker: 1,
                                          sampleCount: 320, flags: i == 0 ? [.turnStart] : [])
            _ = [Int16](repeating: Int16(100 * (i + 1)), count: 320).withUnsafeBufferPointer { side.push(header, samples: $0) }
        }
        var rendered: [Int16] = []
        var out = [Int16](repeating: 0, count: 160 * 2)
        for _ in 0..<20 {
            clock += 10_000_000
            _ = out.withUnsafeMutableBufferPointer { side.render(into: $0.baseAddress!, frames: 160) }
            rendered += stride(from: 0, to: out.count, by: 2).map { out[$0] }
        }
        var tapped = [Int16](repeating: 0, count: 8000)
        let n = tapped.withUnsafeMutableBufferPointer { tap.read(into: $0) }
        XCTAssertEqual(Array(tapped[0..<n]), rendered)
        XCTAssertTrue(rendered.contains(500))
        XCTAssertEqual(side.tapDroppedSamples.load(ordering: .relaxed), 0)
    }

    /// The playout snapshot is one value: a reader never sees fields of two publications.
    func testPlayoutSnapshotIsNeverTorn() throws {
        let side = try PlaybackSide(deviceRate: 16_000, channels: 1, jitter: JitterBufferConfig(),
                                    clock: Self.now, wake: {})
        let stop = Atomic<Bool>(false)
        let writer = Thread {
            var frames = 0
            while !stop.load(ordering: .relaxed) {
                frames += 1
                side.noteDeviceDelay(frames: frames)
                var out = [Int16](repeating: 0, count: 16)
                _ = out.withUnsafeMutableBufferPointer { side.render(into: $0.baseAddress!, frames: 16) }
            }
        }
        writer.start()
        var torn = 0
        for _ in 0..<100_000 {
            let s = side.snapshot()
            // Each render publishes the device delay noted before it; underruns stay 0.
            if s.underrunSamples != 0 || s.deviceDelayFrames < 0 { torn += 1 }
        }
        stop.store(true, ordering: .relaxed)
        while writer.isExecuting { usleep(1000) }
        XCTAssertEqual(torn, 0)
    }
}
