// SPDX-License-Identifier: Apache-2.0
import LayercodeAudio
import LayercodeCore

/// The echo options (lc_options.echo_cancellation, echo_engine, noise_suppression, auto_gain,
/// half_duplex) → what the audio engine's echo stage does (doc/echo-cancellation.md).
extension ClientOptions {
    /// nil: no echo stage at all (external audio with nothing asked, text-only clients).
    /// Fails for an engine not built in, or echo cancellation asked for without one.
    func echoSettings() throws(LayercodeError) -> EchoSettings? {
        guard audioMode != .none else { return nil }
        let deviceMode = audioMode == .alsa || audioMode == .wav
        var engine = EchoEngine.best
        if let name = echoEngine {
            guard let named = EchoEngine(name: name), named == .none || EchoEngine.built.contains(named) else {
                throw LayercodeError(.invalidArgument, "echo_engine \"\(CText.replacingNUL(name))\" is not built into "
                                     + "this liblayercode (built: \(Self.builtEngineNames))")
            }
            engine = named
        }
        let aec = echoCancellation ?? (deviceMode && engine != .none)
        if aec && engine == .none {
            throw LayercodeError(.invalidArgument, "echo_cancellation: no echo engine is built into this liblayercode "
                                 + "(install libwebrtc-audio-processing-dev and rebuild)")
        }
        var processing: EchoProcessing?
        if aec || noiseSuppression || autoGain {
            guard engine != .none else {
                throw LayercodeError(.invalidArgument, "noise_suppression/auto_gain need an echo engine; none is built in")
            }
            var p = EchoProcessing(engine: engine)
            p.aec = aec
            p.ns = noiseSuppression
            p.agc = autoGain
            processing = p
        }
        let gate = halfDuplex ?? (audioMode == .alsa)
        guard processing != nil || (!aec && gate) else { return nil }
        var settings = EchoSettings(processing: processing)
        settings.halfDuplex = !aec && gate
        settings.convergenceGuard = aec && gate
        return settings
    }

    static var builtEngineNames: String {
        let names = EchoEngine.built.map { $0.name }
        return names.isEmpty ? "none" : names.joined(separator: ", ")
    }
}
