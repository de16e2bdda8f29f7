// SPDX-License-Identifier: Apache-2.0
import CEchoCancel
import LayercodeCore

/// The echo canceller engines (Sources/CEchoCancel/include/lc_echo.h). The raw values are
/// ABI: they reach `lc_stats` and Python.
public enum EchoEngine: Int32, Sendable {
    case none = 0
    /// WebRTC's APM 1.x: AEC3.
    case webrtcAEC3 = 1
    /// WebRTC's APM 0.3 (Debian 12): the legacy AEC, extended filter and delay-agnostic.
    case webrtcLegacy = 2
    /// speexdsp's MDF canceller with its residual echo suppressor.
    case speex = 3

    /// "webrtc-aec3", "webrtc-legacy", "speexdsp" or "none".
    public var name: String { String(cString: lcecho_engine_name(rawValue)) }

    /// The engines this build contains, best first.
    public static var built: [EchoEngine] {
        let mask = lcecho_engines_built()
        return [EchoEngine.webrtcAEC3, .webrtcLegacy, .speex].filter { mask & (1 << UInt32($0.rawValue)) != 0 }
    }

    /// The best engine built in (`.none` if there is none).
    public static var best: EchoEngine { EchoEngine(rawValue: lcecho_default_engine()) ?? .none }

    /// An engine by its name, or "webrtc" (the best WebRTC engine built in; AEC3 when there
    /// is none, so that creating it says it is not built) or "speex". Nil for anything else.
    public init?(name: String) {
        switch name {
        case "webrtc-aec3": self = .webrtcAEC3
        case "webrtc-legacy": self = .webrtcLegacy
        case "speexdsp", "speex": self = .speex
        case "none": self = .none
        case "webrtc":
            self = EchoEngine.built.contains(.webrtcAEC3) || !EchoEngine.built.contains(.webrtcLegacy)
                ? .webrtcAEC3 : .webrtcLegacy
        default: return nil
        }
    }
}

/// What an `EchoCanceller` does: its engine, and which of its stages run.
public struct EchoProcessing: Sendable, Equatable {
    public var engine: EchoEngine
    /// Cancel echo (the far end must then be fed, one frame before each near frame).
    public var aec = true
    /// Noise suppression (WebRTC: moderate; speexdsp: its preprocessor's denoiser).
    public var ns = false
    /// Automatic gain (WebRTC: adaptive digital; speexdsp: its AGC).
    public var agc = false
    /// speexdsp's filter length: the longest echo path it can cancel, 10...2000 ms.
    public var speexTailMs = 200
    public init(engine: EchoEngine) { self.engine = engine }
}

/// The engine's own figures, nil where it has none (speexdsp has none).
public struct EchoEngineMetrics: Sendable, Equatable {
    /// The echo delay the engine measures (its median), ms.
    public var delayMs: Int?
    /// The engine's echo return loss enhancement, dB.
    public var erleDb: Double?
    /// Whether the engine hears echo in the last frame.
    public var hasEcho: Bool?
    public init(delayMs: Int? = nil, erleDb: Double? = nil, hasEcho: Bool? = nil) {
        self.delayMs = delayMs
        self.erleDb = erleDb
        self.hasEcho = hasEcho
    }
}

/// One echo canceller instance: 10 ms mono frames at 16 kHz, a far (reference) frame then
/// the near (microphone) frame it is aligned to. Not thread-safe: one owner thread at a
/// time. Nothing allocates after `init` (the engines allocate their state when created),
/// but the engines cost tens of microseconds per frame: run it off the real-time threads.
public final class EchoCanceller {
    /// Samples per frame: 10 ms at 16 kHz.
    public static let frameSamples = 160
    public let processing: EchoProcessing
    private let state: OpaquePointer

    /// Fails with `.invalidArgument` for an engine this build lacks (naming it and what is
    /// built) or a speexdsp tail outside 10...2000 ms, `.audio` if the engine refuses.
    public convenience init(_ processing: EchoProcessing) throws(LayercodeError) {
        let engine = processing.engine
        guard engine != .none else {
            throw LayercodeError(.invalidArgument, "an echo canceller needs an engine (got none)")
        }
        guard EchoEngine.built.contains(engine) else {
            var built = ""
            for e in EchoEngine.built { built += (built.isEmpty ? "" : ", ") + e.name }
            throw LayercodeError(.invalidArgument,
                                 "echo engine \(engine.name) is not built in (built: \(built))")
        }
        guard (10...2000).contains(processing.speexTailMs) else {
            throw LayercodeError(.invalidArgument,
                                 "the speexdsp echo tail must be 10...2000 ms (got \(processing.speexTailMs))")
        }
        var config = lcecho_config(engine: Int32(engine.rawValue), aec: processing.aec ? 1 : 0,
                                   ns: processing.ns ? 1 : 0, agc: processing.agc ? 1 : 0,
                                   speex_tail_ms: Int32(processing.speexTailMs))
        var reason = [CChar](repeating: 0, count: 160)
        let created = reason.withUnsafeMutableBufferPointer { buffer in
            lcecho_create(&config, buffer.baseAddress, buffer.count)
        }
        guard let state = created else {
            let text = reason.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
            throw LayercodeError(.audio, "echo canceller \(engine.name): \(text)")
        }
        self.init(processing: processing, state: state)
    }

    private init(processing: EchoProcessing, state: OpaquePointer) {
        self.processing = processing
        self.state = state
    }

    deinit { lcecho_destroy(state) }

    /// The far end: `frameSamples` samples of what the speaker plays, aligned by the caller
    /// to the near frame that follows.
    public func processFar(_ frame: UnsafePointer<Int16>) {
        lcecho_process_far(state, frame)
    }

    /// The near end in place: `frameSamples` microphone samples become the cleaned signal.
    /// `delayMs` is the delay the caller believes lies between the far frame fed last and its
    /// echo in this frame (WebRTC's stream delay; speexdsp ignores it). False if the engine
    /// failed (the frame is then left as it was).
    public func processNear(_ frame: UnsafeMutablePointer<Int16>, delayMs: Int) -> Bool {
        let delay = Int32(clamping: delayMs)
        return lcecho_process_near(state, frame, delay) == 0
    }

    public var metrics: EchoEngineMetrics {
        var m = lcecho_metrics()
        lcecho_get_metrics(state, &m)
        return EchoEngineMetrics(delayMs: m.delay_ms >= 0 ? Int(m.delay_ms) : nil,
                                 erleDb: m.erle_db > -1000 ? m.erle_db : nil,
                                 hasEcho: m.stream_has_echo >= 0 ? m.stream_has_echo == 1 : nil)
    }
}
