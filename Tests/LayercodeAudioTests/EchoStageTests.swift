// SPDX-License-Identifier: Apache-2.0
import Foundation
import LayercodeAudio
import LayercodeCore
import Synchronization
import XCTest

/// The echo stage through the engine's external-audio API: a simulated room feeds the
/// microphone with what `render` returned, delayed and attenuated, on a simulated clock; the
/// uplink frames are what the session would send.
final class EchoStageTests: XCTestCase {
    /// The room: the app renders 10 ms of agent audio, the microphone hears it `delayMs` later
    /// at `gain`, plus the user's `near` signal; the engine's uplink frames are collected.
    final class Room {
        let engine: AudioEngine
        final class SimClock: Sendable {
            let now = Atomic<UInt64>(1_000_000_000)
        }
        let clock = SimClock()
        var rendered: [Int16] = []
        var mic: [Int16] = []
        var uplink: [Int16] = []
        var sequence: UInt64 = 1
        var pushed = 0
        let delaySamples: Int
        let gain: Double

        init(echo: EchoSettings, delayMs: Int, gain: Double) throws {
            var config = AudioEngine.Config()
            config.echo = echo
            config.jitter.minDelayMs = 20
            config.jitter.initialDelayMs = 20
            let clock = self.clock
            engine = try AudioEngine.external(config: config, inputRate: 16_000, outputRate: 16_000,
                                              clock: { clock.now.load(ordering: .relaxed) }, wake: {})
            engine.setAcceptingInput(true)
            delaySamples = delayMs * 16
            self.gain = gain
        }

        /// Runs `seconds` of 10 ms steps. `agent(i)` is the agent's sample i (nil: silent from
        /// there), `near(i)` the user's sample i at the microphone.
        func run(seconds: Double, agent: (Int) -> Int16?, near: (Int) -> Int16) {
            let steps = Int(seconds * 100)
            var out = [Int16](repeating: 0, count: 160)
            for _ in 0..<steps {
                // Keep 60 ms of agent audio queued.
                while pushed < rendered.count + 960 {
                    var frame = [Int16](repeating: 0, count: 320)
                    var any = false
                    for k in 0..<320 {
                        if let s = agent(pushed + k) { frame[k] = s; any = true }
                    }
                    if !any { break }
                    let header = AudioFrameHeader(sequence: sequence, arrivalNanoseconds: clock.now.load(ordering: .relaxed),
                                                  marker: 1, sampleCount: 320, flags: sequence == 1 ? [.turnStart] : [])
                    _ = frame.withUnsafeBufferPointer { engine.play(header, samples: $0) }
                    sequence += 1
                    pushed += 320
                }
                _ = out.withUnsafeMutableBufferPointer { engine.render(into: $0) }
                rendered.append(contentsOf: out)
                var captured = [Int16](repeating: 0, count: 160)
                for k in 0..<160 {
                    let i = mic.count + k
                    let echo = i >= delaySamples ? Double(rendered[i - delaySamples]) * gain : 0
                    captured[k] = Int16(clamping: Int((echo + Double(near(i))).rounded()))
                }
                mic.append(contentsOf: captured)
                _ = captured.withUnsafeBufferPointer { engine.capture($0) }
                clock.now.add(10_000_000, ordering: .relaxed)
                engine.drainCapture(wanted: { true }) { frame, _ in
                    uplink.append(contentsOf: frame)
                    return true
                }
            }
        }
    }

    /// Speech-like: a noise-excited, syllable-modulated signal (deterministic).
    static func speech(seed: UInt64, level: Double) -> (Int) -> Int16 {
        var state = seed
        var noise: [Double] = []
        noise.reserveCapacity(16_000 * 30)
        var lp = 0.0
        for _ in 0..<(16_000 * 30) {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            let white = Double(Int64(bitPattern: state >> 11) % 2000) / 1000 - 1
            lp += (white - lp) * 0.3
            noise.append(lp)
        }
        return { i in
            let t = Double(i) / 16_000
            let envelope = max(0, sin(2 * .pi * 3.1 * t)) * (0.6 + 0.4 * sin(2 * .pi * 0.37 * t))
            return Int16(clamping: Int(noise[i % noise.count] * envelope * level))
        }
    }

    static func power(_ s: ArraySlice<Int16>) -> Double {
        s.isEmpty ? 0 : s.reduce(0.0) { $0 + Double($1) * Double($1) } / Double(s.count)
    }

    /// Without a canceller, half duplex silences the microphone while the agent is audible
    /// and only its echo is heard, and lets a user through who is far louder than the echo.
    func testHalfDuplexGatesTheEchoAndPassesALouderUser() throws {
        var settings = EchoSettings(processing: nil)
        settings.halfDuplex = true
        let room = try Room(echo: settings, delayMs: 60, gain: 0.3)
        let agent = Self.speech(seed: 1, level: 12_000)
        room.run(seconds: 3, agent: agent, near: { _ in 0 })
        let counters = try XCTUnwrap(room.engine.echoCounters)
        XCTAssertEqual(counters.engine.load(ordering: .relaxed), EchoEngine.none.rawValue)
        // After the first second (the coupling learnt), the echo does not reach the uplink.
        let echoOnly = Self.power(room.uplink[8_000...])
        let micOnly = Self.power(room.mic[16_000...])
        XCTAssertGreaterThan(micOnly, 1e4, "the room produced no echo")
        XCTAssertLessThan(echoOnly, micOnly / 1000, "the echo got through half duplex")
        XCTAssertGreaterThan(counters.gatedFrames.load(ordering: .relaxed), 150)

        // The user, 20 dB above the echo, talks over the agent: the uplink carries them.
        let user = Self.speech(seed: 99, level: 30_000)
        let before = room.uplink.count
        room.run(seconds: 2, agent: { agent($0 + 48_000) }, near: user)
        XCTAssertGreaterThan(Self.power(room.uplink[before...]), micOnly, "the user was gated")
    }

    /// With nothing playing, the echo stage passes the microphone as it was (resampled).
    func testHalfDuplexPassesTheMicrophoneWhileTheAgentIsSilent() throws {
        var settings = EchoSettings(processing: nil)
        settings.halfDuplex = true
        let room = try Room(echo: settings, delayMs: 60, gain: 0.3)
        let user = Self.speech(seed: 5, level: 8_000)
        room.run(seconds: 2, agent: { _ in nil }, near: user)
        let counters = try XCTUnwrap(room.engine.echoCounters)
        XCTAssertEqual(counters.gatedFrames.load(ordering: .relaxed), 0)
        XCTAssertEqual(counters.referenceLateFrames.load(ordering: .relaxed), 0)
        let ratio = Self.power(room.uplink[4_000...]) / Self.power(room.mic[8_000...])
        XCTAssertEqual(10 * log10(ratio), 0, accuracy: 1.5, "the microphone's level changed")
    }

    /// Each engine built cancels the room's echo through the whole path (taps, stamps,
    /// alignment, 16 kHz → 8 kHz): the uplink is at least 20 dB below the microphone after
    /// 2 s, and lc_stats' figures agree.
    func testEachBuiltEngineCancelsTheRoomsEcho() throws {
        let engines = EchoEngine.built
        try XCTSkipIf(engines.isEmpty, "no echo engine built in")
        for engine in engines {
            let room = try Room(echo: EchoSettings(processing: EchoProcessing(engine: engine)), delayMs: 60, gain: 0.4)
            room.run(seconds: 6, agent: Self.speech(seed: 7, level: 10_000), near: { _ in 0 })
            let mic = Self.power(room.mic[(3 * 16_000)...])
            let out = Self.power(room.uplink[(3 * 8_000)...])
            let erle = 10 * log10(mic / max(out, 1e-3))
            print("echo stage \(engine.name): ERLE \(erle) dB over 3..6 s")
            XCTAssertGreaterThan(erle, 20, "\(engine.name)")
            let counters = try XCTUnwrap(room.engine.echoCounters)
            XCTAssertEqual(counters.engine.load(ordering: .relaxed), engine.rawValue)
            XCTAssertEqual(counters.referenceLateFrames.load(ordering: .relaxed), 0)
            XCTAssertGreaterThan(counters.erleHundredthsDb.load(ordering: .relaxed), 1000)
            // The room's 60 ms path, measured (10 ms resolution).
            XCTAssertEqual(Double(counters.delayMilliseconds.load(ordering: .relaxed)), 60, accuracy: 15)
        }
    }
}
