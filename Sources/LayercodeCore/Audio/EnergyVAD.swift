// SPDX-License-Identifier: Apache-2.0
/// A frame-based energy voice-activity detector with an adaptive noise floor and hangover,
/// for the client VAD of automatic mode (doc/protocol.md §2 "Audio gating", `vad_events`).
/// Made for 20 ms frames of 8 kHz PCM16 (160 samples), but any frame length works: the
/// frame counts in `Config` are counts of `process` calls.
///
/// Levels are dBFS of the frame's mean square: 0 dBFS is a full-scale square wave
/// (RMS 32768), a full-scale sine is about -3 dBFS.
///
/// - A frame is *speech* when its energy is above
///   `max(startThresholdDB, noiseFloor + noiseMarginDB)`: the absolute threshold keeps a quiet
///   room from counting, the margin over the noise floor keeps steady background noise
///   (a fan, a car, a loud hum) from counting once the floor has learnt it.
/// - The noise floor falls at once to a quieter frame, rises towards a louder non-speech
///   frame by `floorRiseDBPerFrame`, and creeps up under speech-level frames by only
///   `floorCreepDBPerFrame` — so speech (which has quiet gaps between syllables) barely moves
///   it, while a loud *steady* noise is learnt within seconds and stops counting as speech.
/// - Speech starts after `minSpeechFrames` consecutive speech frames (the event comes with
///   the last of them) and ends after `hangoverFrames` consecutive non-speech frames (the
///   event comes with the last of them); a speech frame during the hangover restarts it.
///
/// No allocation, no locks, no Foundation: it may run on a real-time audio thread.
public struct EnergyVAD {
    public struct Config: Sendable, Equatable {
        /// Absolute start threshold in dBFS. A frame is speech when its energy exceeds
        /// max(this, noise floor + `noiseMarginDB`).
        public var startThresholdDB = -38.0
        /// How far above the adaptive noise floor speech must be, in dB.
        public var noiseMarginDB = 12.0
        /// Consecutive speech frames before `speechStart` (3 × 20 ms = 60 ms): shorter
        /// clicks and knocks never start speech.
        public var minSpeechFrames = 3
        /// Consecutive non-speech frames before `speechEnd` (30 × 20 ms = 600 ms).
        public var hangoverFrames = 30
        /// The noise floor before anything was heard, dBFS.
        public var initialNoiseFloorDB = -60.0
        /// The floor never goes below this (digital silence would otherwise pin it at zero).
        public var minimumNoiseFloorDB = -90.0
        /// Rise of the floor towards a louder non-speech frame, dB per frame (25 dB/s).
        public var floorRiseDBPerFrame = 0.5
        /// Rise of the floor under speech-level frames, dB per frame (5 dB/s): learns a loud
        /// steady noise in a few seconds; speech, with its gaps, barely moves it.
        public var floorCreepDBPerFrame = 0.1

        public init() {}

        public init(startThresholdDB: Double = -38.0, noiseMarginDB: Double = 12.0,
                    minSpeechFrames: Int = 3, hangoverFrames: Int = 30) {
            self.startThresholdDB = startThresholdDB
            self.noiseMarginDB = noiseMarginDB
            self.minSpeechFrames = minSpeechFrames
            self.hangoverFrames = hangoverFrames
        }
    }

    public enum Event: Equatable, Sendable { case speechStart, speechEnd }

    public let config: Config
    public private(set) var isSpeaking = false
    /// The adaptive noise floor as a mean square relative to full scale (1.0 = 0 dBFS).
    public private(set) var noiseFloorPower: Double

    // Thresholds in the linear power domain, computed once.
    private let startPower: Double
    private let marginFactor: Double
    private let initialFloor: Double
    private let minimumFloor: Double
    private let riseFactor: Double
    private let creepFactor: Double
    private let minSpeechFrames: Int
    private let hangoverFrames: Int

    private var speechRun = 0
    private var quietRun = 0

    private static let fullScalePower = 32768.0 * 32768.0

    public init(config: Config = Config()) {
        self.config = config
        startPower = Self.power(dB: config.startThresholdDB)
        marginFactor = Self.power(dB: config.noiseMarginDB)
        minimumFloor = Self.power(dB: config.minimumNoiseFloorDB)
        initialFloor = max(Self.power(dB: config.initialNoiseFloorDB), minimumFloor)
        riseFactor = Self.power(dB: max(config.floorRiseDBPerFrame, 0))
        creepFactor = Self.power(dB: max(config.floorCreepDBPerFrame, 0))
        minSpeechFrames = max(config.minSpeechFrames, 1)
        hangoverFrames = max(config.hangoverFrames, 1)
        noiseFloorPower = initialFloor
    }

    /// Classifies one frame; returns the transition it completes, if any.
    public mutating func process(_ frame: UnsafeBufferPointer<Int16>) -> Event? {
        guard !frame.isEmpty else { return nil }
        var sum: Int64 = 0
        for sample in frame {
            let s = Int64(sample)
            sum &+= s &* s
        }
        let energy = Double(sum) / Double(frame.count) / Self.fullScalePower
        let speech = energy > max(startPower, noiseFloorPower * marginFactor)

        if energy < noiseFloorPower {
            noiseFloorPower = max(energy, minimumFloor)
        } else {
            noiseFloorPower = min(energy, noiseFloorPower * (speech ? creepFactor : riseFactor))
        }

        if isSpeaking {
            if speech {
                quietRun = 0
            } else {
                quietRun += 1
                if quietRun >= hangoverFrames {
                    isSpeaking = false
                    quietRun = 0
                    speechRun = 0
                    return .speechEnd
                }
            }
        } else if speech {
            speechRun += 1
            if speechRun >= minSpeechFrames {
                isSpeaking = true
                speechRun = 0
                quietRun = 0
                return .speechStart
            }
        } else {
            speechRun = 0
        }
        return nil
    }

    /// Forgets speech in progress and the learnt noise floor (e.g. after a mute).
    public mutating func reset() {
        isSpeaking = false
        speechRun = 0
        quietRun = 0
        noiseFloorPower = initialFloor
    }

    /// 10^(dB/10) without Foundation: 2^k · e^(f·ln2), the exponential by its Taylor series
    /// on [0, ln 2). Accurate to a few ulps; used only to precompute thresholds.
    public static func power(dB: Double) -> Double {
        guard dB.isFinite else { return dB > 0 ? .infinity : 0 }
        let y = min(max(dB / 10 * 3.321928094887362, -1070), 1020)   // log2(10)
        let k = y.rounded(.down)
        let x = (y - k) * 0.6931471805599453                         // ln 2
        var term = 1.0
        var sum = 1.0
        for i in 1...20 {
            term *= x / Double(i)
            sum += term
        }
        return Double(sign: .plus, exponent: Int(k), significand: sum)
    }
}

extension EnergyVAD.Config {
    /// The server's `config.vad` (Silero settings written for the JS SDK) mapped onto this VAD.
    ///
    /// - `redemption_frames` (Silero frames to wait before ending speech) → `hangoverFrames`
    ///   = redemption_frames × Silero frame duration / 20 ms, rounded, 1...500.
    /// - `min_speech_frames` → `minSpeechFrames` the same way, 1...50.
    /// - The Silero frame duration is `frame_samples` at 16 kHz; without it, 512 samples
    ///   (32 ms) for `model: "v5"` and 1536 samples (96 ms, the legacy model, vad-web's
    ///   default) otherwise. So `redemption_frames: 8` → 38 frames (768 ms) and
    ///   `min_speech_frames: 3` → 14 frames (288 ms, and no audio is lost: the confirming
    ///   frames go out with the pre-roll).
    /// - Keys that are absent keep this VAD's defaults (600 ms hangover, 60 ms to start).
    /// - `positive_speech_threshold` / `negative_speech_threshold` are Silero speech
    ///   probabilities: they have no meaning for an energy VAD and are ignored (as are
    ///   `model` beyond the frame duration and `pre_speech_pad_frames`; the pre-roll is
    ///   `buffer_frames`). The whole config still reaches the app untouched.
    public init(settings: VADSettings) {
        self.init()
        let frameMilliseconds = settings.sileroFrameMilliseconds
        if let frames = settings.redemptionFrames {
            hangoverFrames = Self.ourFrames(frames, frameMilliseconds, within: 1...500)
        }
        if let frames = settings.minSpeechFrames {
            minSpeechFrames = Self.ourFrames(frames, frameMilliseconds, within: 1...50)
        }
    }

    private static func ourFrames(_ sileroFrames: Int, _ sileroMilliseconds: Double,
                                  within range: ClosedRange<Int>) -> Int {
        let ours = (Double(sileroFrames) * sileroMilliseconds / 20).rounded()
        guard ours.isFinite else { return range.upperBound }
        if ours <= Double(range.lowerBound) { return range.lowerBound }
        if ours >= Double(range.upperBound) { return range.upperBound }
        return Int(ours)
    }
}
