// SPDX-License-Identifier: Apache-2.0
import Foundation
import XCTest
@testable import LayercodeCore

// EnergyVAD: 20 ms frames of 8 kHz PCM16; speech above max(-38 dBFS, floor + 12 dB);
// start after minSpeechFrames speech frames, end after hangoverFrames quiet ones.

private let frameSamples = 160

/// RMS in PCM16 units for a level in dBFS (0 dBFS = RMS 32768).
private func rms(dBFS: Double) -> Double { 32768 * pow(10, dBFS / 20) }

private func silence() -> [Int16] { [Int16](repeating: 0, count: frameSamples) }

/// A 500 Hz sine frame at `dBFS` (RMS level), phase continuous across frame index `k`.
private func tone(dBFS: Double, k: Int = 0, frequency: Double = 500) -> [Int16] {
    let amplitude = rms(dBFS: dBFS) * 2.0.squareRoot()
    return (0..<frameSamples).map {
        let t = Double(k * frameSamples + $0) / 8000
        return Int16((amplitude * sin(2 * .pi * frequency * t)).rounded())
    }
}

/// Deterministic white noise (uniform, RMS = a/√3) at `dBFS`.
private struct Noise {
    var state: UInt64 = 0x9E37_79B9_7F4A_7C15
    mutating func frame(dBFS: Double) -> [Int16] {
        let a = rms(dBFS: dBFS) * 3.0.squareRoot()
        return (0..<frameSamples).map { _ in
            state = state &* 6364136223846793005 &+ 1442695040888963407
            let u = Double(state >> 11) / Double(1 << 53) * 2 - 1
            return Int16((u * a).rounded())
        }
    }
}

private func dB(power: Double) -> Double { 10 * log10(power) }

final class EnergyVADTests: XCTestCase {

    private func run(_ vad: inout EnergyVAD, _ frame: [Int16]) -> EnergyVAD.Event? {
        frame.withUnsafeBufferPointer { vad.process($0) }
    }

    /// Feeds frames; returns (frame index, event) for each event.
    private func run(_ vad: inout EnergyVAD, _ frames: [[Int16]],
                     from start: Int = 0) -> [(Int, EnergyVAD.Event)] {
        var events: [(Int, EnergyVAD.Event)] = []
        for (i, frame) in frames.enumerated() {
            if let e = run(&vad, frame) { events.append((start + i, e)) }
        }
        return events
    }

    private func assertEvents(_ actual: [(Int, EnergyVAD.Event)], _ expected: [(Int, EnergyVAD.Event)],
                              file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(actual.map { "\($0.0):\($0.1)" }, expected.map { "\($0.0):\($0.1)" },
                       file: file, line: line)
    }

    func testDefaultConfigIs60MillisecondsToStartAnd600MillisecondsToEnd() {
        let config = EnergyVAD.Config()
        XCTAssertEqual(config.startThresholdDB, -38)
        XCTAssertEqual(config.noiseMarginDB, 12)
        XCTAssertEqual(config.minSpeechFrames, 3)
        XCTAssertEqual(config.hangoverFrames, 30)
    }

    func testSilenceNeverStartsSpeech() {
        var vad = EnergyVAD()
        assertEvents(run(&vad, Array(repeating: silence(), count: 500)), [])
        XCTAssertFalse(vad.isSpeaking)
    }

    func testToneBurstStartsAfterExactlyMinSpeechFramesAndEndsAfterExactlyHangoverFrames() {
        var vad = EnergyVAD()
        var frames = Array(repeating: silence(), count: 20)
        frames += (20..<30).map { tone(dBFS: -12, k: $0) }
        frames += Array(repeating: silence(), count: 40)
        // Start with the 3rd tone frame (index 22); end with the 30th silent frame (30 + 29).
        assertEvents(run(&vad, frames), [(22, .speechStart), (59, .speechEnd)])
        XCTAssertFalse(vad.isSpeaking)
    }

    func testCustomMinSpeechAndHangoverAreCountedExactly() {
        var vad = EnergyVAD(config: EnergyVAD.Config(minSpeechFrames: 5, hangoverFrames: 7))
        var frames = Array(repeating: silence(), count: 4)
        frames += (4..<10).map { tone(dBFS: -20, k: $0) }
        frames += Array(repeating: silence(), count: 10)
        assertEvents(run(&vad, frames), [(8, .speechStart), (16, .speechEnd)])
    }

    func testIsSpeakingFollowsTheEvents() {
        var vad = EnergyVAD(config: EnergyVAD.Config(minSpeechFrames: 2, hangoverFrames: 2))
        XCTAssertNil(run(&vad, tone(dBFS: -10)))
        XCTAssertFalse(vad.isSpeaking)
        XCTAssertEqual(run(&vad, tone(dBFS: -10, k: 1)), .speechStart)
        XCTAssertTrue(vad.isSpeaking)
        XCTAssertNil(run(&vad, silence()))
        XCTAssertTrue(vad.isSpeaking, "in the hangover the user still speaks")
        XCTAssertEqual(run(&vad, silence()), .speechEnd)
        XCTAssertFalse(vad.isSpeaking)
    }

    func testSpeechDuringTheHangoverRestartsIt() {
        var vad = EnergyVAD()
        var frames = (0..<5).map { tone(dBFS: -15, k: $0) }                 // start at 2
        frames += Array(repeating: silence(), count: 29)                       // 5...33: not yet
        frames += [tone(dBFS: -15, k: 34)]                                     // speech again
        frames += Array(repeating: silence(), count: 30)                       // 35...64: end at 64
        assertEvents(run(&vad, frames), [(2, .speechStart), (64, .speechEnd)])
    }

    func testSteadyNoiseAtMinus45dBFSNeverTriggersButSpeech15dBAboveItDoes() {
        var vad = EnergyVAD()
        var noise = Noise()
        let frames = (0..<3000).map { _ in noise.frame(dBFS: -45) }           // one minute
        assertEvents(run(&vad, frames), [])
        XCTAssertEqual(dB(power: vad.noiseFloorPower), -45, accuracy: 1.5, "the floor learnt the noise")

        // Speech 15 dB above the noise (the noise continues underneath).
        let speech = (0..<10).map { k in
            zip(tone(dBFS: -30, k: k), noise.frame(dBFS: -45)).map { Int16(clamping: Int($0) + Int($1)) }
        }
        assertEvents(run(&vad, speech, from: 3000), [(3002, .speechStart)])
    }

    func testLoudSteadyNoiseIsLearntAsTheFloorAndStopsCountingAsSpeech() {
        // -25 dBFS is above the absolute threshold: at first it counts as speech, but the
        // floor creeps up under it and the VAD lets go within seconds.
        var vad = EnergyVAD()
        var noise = Noise()
        let events = run(&vad, (0..<1500).map { _ in noise.frame(dBFS: -25) })
        XCTAssertLessThanOrEqual(events.count, 2, "\(events)")
        XCTAssertTrue(events.allSatisfy { $0.0 < 400 }, "learnt within 8 s: \(events)")
        XCTAssertFalse(vad.isSpeaking)
        XCTAssertEqual(dB(power: vad.noiseFloorPower), -25, accuracy: 1.5)

        // Speech 15 dB above that noise still starts speech.
        let speech = (0..<10).map { k in
            zip(tone(dBFS: -10, k: k), noise.frame(dBFS: -25)).map { Int16(clamping: Int($0) + Int($1)) }
        }
        assertEvents(run(&vad, speech, from: 1500), [(1502, .speechStart)])
    }

    func testSpeechOnlyJustAboveTheLearntNoiseDoesNotTrigger() {
        var vad = EnergyVAD()
        var noise = Noise()
        _ = run(&vad, (0..<1500).map { _ in noise.frame(dBFS: -25) })
        // 6 dB above a -25 dBFS floor: below floor + 12 dB, though far above -38 dBFS.
        let quietSpeech = (0..<50).map { k in
            zip(tone(dBFS: -20, k: k), noise.frame(dBFS: -25)).map { Int16(clamping: Int($0) + Int($1)) }
        }
        assertEvents(run(&vad, quietSpeech), [])
    }

    func testQuietSpeechBelowTheAbsoluteThresholdNeverTriggers() {
        var vad = EnergyVAD()
        assertEvents(run(&vad, (0..<200).map { tone(dBFS: -41, k: $0) }), [])
    }

    func testClicksOfOneOrTwoFramesNeverStartSpeech() {
        var vad = EnergyVAD()
        let click = [Int16](repeating: Int16.max, count: frameSamples)
        var frames: [[Int16]] = []
        for n in [1, 2, 1, 2, 2, 1] {
            frames += Array(repeating: silence(), count: 5)
            frames += Array(repeating: click, count: n)
        }
        frames += [silence()] + [click, click] + [silence()] + [click, click]  // gaps of one frame
        frames += Array(repeating: silence(), count: 5)
        assertEvents(run(&vad, frames), [])
    }

    func testResetForgetsSpeechInProgressAndTheFloor() {
        var vad = EnergyVAD()
        _ = run(&vad, (0..<5).map { tone(dBFS: -10, k: $0) })
        XCTAssertTrue(vad.isSpeaking)
        vad.reset()
        XCTAssertFalse(vad.isSpeaking)
        XCTAssertEqual(dB(power: vad.noiseFloorPower), -60, accuracy: 1e-9)
        // Starting again takes minSpeechFrames fresh frames; no speechEnd for the old one.
        assertEvents(run(&vad, (0..<3).map { tone(dBFS: -10, k: $0) }), [(2, .speechStart)])
    }

    func testAPartialRunIsForgottenByReset() {
        var vad = EnergyVAD()
        _ = run(&vad, (0..<2).map { tone(dBFS: -10, k: $0) })
        vad.reset()
        assertEvents(run(&vad, (0..<3).map { tone(dBFS: -10, k: $0) }), [(2, .speechStart)])
    }

    func testEmptyFrameIsIgnoredAndOtherFrameLengthsWork() {
        var vad = EnergyVAD()
        XCTAssertNil(run(&vad, []))
        let long = (0..<480).map { Int16(truncatingIfNeeded: ($0 % 2 == 0 ? 1 : -1) * 10000) }
        XCTAssertNil(run(&vad, long))
        XCTAssertNil(run(&vad, long))
        XCTAssertEqual(run(&vad, long), .speechStart)
    }

    func testPowerOfDecibelsMatchesFoundation() {
        for d in [-120.0, -90, -60, -45.5, -38, -12, -3, 0, 0.05, 0.1, 0.5, 6, 12, 40] {
            let expected = pow(10, d / 10)
            XCTAssertEqual(EnergyVAD.power(dB: d), expected, accuracy: expected * 1e-12, "\(d) dB")
        }
        XCTAssertEqual(EnergyVAD.power(dB: -.infinity), 0)
        XCTAssertEqual(EnergyVAD.power(dB: .infinity), .infinity)
    }

    // MARK: Server settings

    private func settings(_ vad: String) throws -> VADSettings {
        let body = #"{"client_session_key":"k","conversation_id":"c","config":{"transcription":{"trigger":"automatic"},"vad":"#
            + vad + "}}"
        return try Authorize.parseResponse(status: 200, body: Array(body.utf8)).vad
    }

    func testServerSettingsAreParsedFromConfigVad() throws {
        let s = try settings(#"{"enabled":true,"redemption_frames":8,"min_speech_frames":3,"frame_samples":1024,"model":"v5","positive_speech_threshold":0.5,"negative_speech_threshold":0.35,"future":1}"#)
        XCTAssertEqual(s.redemptionFrames, 8)
        XCTAssertEqual(s.minSpeechFrames, 3)
        XCTAssertEqual(s.frameSamples, 1024)
        XCTAssertEqual(s.model, "v5")
        let empty = try settings("{}")
        XCTAssertEqual(empty, VADSettings(), "absent keys stay nil")
        let bad = try settings(#"{"redemption_frames":-1,"min_speech_frames":"x","frame_samples":0}"#)
        XCTAssertNil(bad.redemptionFrames)
        XCTAssertNil(bad.minSpeechFrames)
        XCTAssertNil(bad.frameSamples)
    }

    func testServerSettingsWithoutSileroKeysKeepTheEnergyVADDefaults() throws {
        XCTAssertEqual(EnergyVAD.Config(settings: try settings("{}")), EnergyVAD.Config())
        XCTAssertEqual(EnergyVAD.Config(settings: VADSettings()), EnergyVAD.Config())
    }

    func testRedemptionAndMinSpeechFramesAreLegacySileroFramesOf96Milliseconds() throws {
        let config = EnergyVAD.Config(settings: try settings(#"{"redemption_frames":8,"min_speech_frames":3}"#))
        XCTAssertEqual(config.hangoverFrames, 38, "8 × 96 ms = 768 ms → 38 frames of 20 ms")
        XCTAssertEqual(config.minSpeechFrames, 14, "3 × 96 ms = 288 ms → 14 frames")
        XCTAssertEqual(config.startThresholdDB, -38, "thresholds are Silero probabilities: ignored")
    }

    func testSileroFrameDurationComesFromFrameSamplesOrTheV5Model() throws {
        let v5 = EnergyVAD.Config(settings: try settings(#"{"model":"v5","redemption_frames":8,"min_speech_frames":2}"#))
        XCTAssertEqual(v5.hangoverFrames, 13, "8 × 32 ms = 256 ms → 12.8 → 13")
        XCTAssertEqual(v5.minSpeechFrames, 3, "2 × 32 ms = 64 ms → 3.2 → 3")
        let samples = EnergyVAD.Config(settings: try settings(#"{"frame_samples":1024,"redemption_frames":8}"#))
        XCTAssertEqual(samples.hangoverFrames, 26, "8 × 64 ms = 512 ms → 25.6 → 26")
    }

    func testMappedFrameCountsAreBounded() throws {
        let low = EnergyVAD.Config(settings: try settings(#"{"redemption_frames":0,"min_speech_frames":0}"#))
        XCTAssertEqual(low.hangoverFrames, 1)
        XCTAssertEqual(low.minSpeechFrames, 1)
        let high = EnergyVAD.Config(settings: try settings(#"{"redemption_frames":100000,"min_speech_frames":1e300}"#))
        XCTAssertEqual(high.hangoverFrames, 500)
        XCTAssertEqual(high.minSpeechFrames, 50)
    }

    func testSpeechThresholdsInTheConfigChangeNothing() throws {
        let withThresholds = try settings(#"{"positive_speech_threshold":0.9,"negative_speech_threshold":0.8}"#)
        XCTAssertEqual(EnergyVAD.Config(settings: withThresholds), EnergyVAD.Config())
    }
}

// Voice onset to vad_start (issue 14, bench/onset.py): how many frames after the first
// frame of speech the VAD fires, in a quiet room (noise at -65 dBFS, learnt first).
final class EnergyVADOnsetTests: XCTestCase {
    private let serverConfig = EnergyVAD.Config(minSpeechFrames: 5, hangoverFrames: 38)  // config.vad v5: 3 × 32 ms

    /// Frames at `levels` (dBFS; a 500 Hz tone over the room noise) after 50 frames of the
    /// room alone; the index of the frame that started speech, or nil.
    private func startFrame(_ config: EnergyVAD.Config, _ levels: [Double]) -> Int? {
        var vad = EnergyVAD(config: config)
        var noise = Noise()
        for _ in 0..<50 { _ = noise.frame(dBFS: -65).withUnsafeBufferPointer { vad.process($0) } }
        for (k, level) in levels.enumerated() {
            let frame = zip(tone(dBFS: level, k: k), noise.frame(dBFS: -65))
                .map { Int16(clamping: Int($0) + Int($1)) }
            if frame.withUnsafeBufferPointer({ vad.process($0) }) == .speechStart { return k }
        }
        return nil
    }

    func testTheVADFiresWithinMinSpeechFramesOfAStepFromSilenceToSpeechAtMinus30dBFS() {
        XCTAssertEqual(startFrame(EnergyVAD.Config(), Array(repeating: -30, count: 10)), 2)
        XCTAssertEqual(startFrame(serverConfig, Array(repeating: -30, count: 10)), 4)
    }

    /// Why a quieter lead-in (an unvoiced "s" at -40 dBFS before the vowel) does not count
    /// towards the start: an agent's echo before the canceller converges opens the same way
    /// (tests/python/test_echo_options.py, the echo loop: -41, -39, -39 dBFS, then four
    /// frames over the threshold and a pause). Counted, it started speech and barged in.
    func testAnEchoOnsetOfFourLoudFramesAfterAQuieterRampDoesNotStartSpeech() {
        XCTAssertNil(startFrame(serverConfig, [-41.4, -39.1, -38.8, -32.4, -24.9, -23.0, -28.9, -120, -120]))
    }

    func testAnUnvoicedLeadInDoesNotCountTowardsTheStart() {
        // "Stop." at 8 kHz: five frames of "s" at -40..-44 dBFS, then the vowel: the start
        // comes with the vowel's 5th frame.
        XCTAssertEqual(startFrame(serverConfig, [-40, -40.5, -44, -41, -40, -29, -21, -14, -13, -14]), 9)
    }
}
