// SPDX-License-Identifier: Apache-2.0
import Foundation
@testable import LayercodeAudio

/// A deterministic synthetic room for the echo canceller tests, 16 kHz mono: speech-like
/// voices (a glottal pulse train with a wandering pitch through three formant resonators
/// that move between vowel targets, in syllables with pauses), a room impulse response
/// (a direct path after a fixed delay and an exponentially decaying noise tail), and
/// white microphone noise. Everything comes from a fixed-seed generator: every run hears the
/// same scene.
enum EchoScene {
    static let rate = 16_000
    static let frame = EchoCanceller.frameSamples

    /// A small deterministic PRNG (xorshift64*), uniform in [-1, 1).
    struct Noise {
        var state: UInt64
        init(seed: UInt64) { state = seed | 1 }
        mutating func next() -> Double {
            state ^= state >> 12; state ^= state << 25; state ^= state >> 27
            let v = state &* 2_685_821_657_736_338_717
            return Double(v >> 11) / Double(1 << 52) - 1
        }
    }

    struct Voice {
        var f0: Double
        var formantScale: Double
        var seed: UInt64
    }

    static let agent = Voice(f0: 125, formantScale: 1.0, seed: 0x5EED_0001)
    static let user = Voice(f0: 210, formantScale: 1.17, seed: 0x5EED_0002)

    /// Vowel formants (F1, F2, F3), Hz.
    static let vowels: [(Double, Double, Double)] = [(730, 1090, 2440), (270, 2290, 3010),
                                                     (300, 870, 2240), (530, 1840, 2480),
                                                     (570, 840, 2410)]

    /// `seconds` of speech from `voice` at about `rmsDBFS` over its active samples, and
    /// which samples are speech (false in the pauses between phrases).
    static func speech(_ voice: Voice, seconds: Double, rmsDBFS: Double) -> (samples: [Double], active: [Bool]) {
        let count = Int(seconds * Double(rate))
        var noise = Noise(seed: voice.seed)
        var out = [Double](repeating: 0, count: count)
        var active = [Bool](repeating: false, count: count)
        var y1 = [Double](repeating: 0, count: 3), y2 = [Double](repeating: 0, count: 3)
        var phase = 0.0
        var syllableStart = 0, syllableLength = 3200, vowel = 0
        var formants = vowels[0]
        for n in 0..<count {
            let t = Double(n) / Double(rate)
            // Phrases of 1.6 s separated by 0.4 s pauses.
            let inPhrase = t.truncatingRemainder(dividingBy: 2.0) < 1.6
            if n - syllableStart >= syllableLength {
                syllableStart = n
                syllableLength = 2800 + Int((noise.next() + 1) * 1600)  // 175...375 ms
                vowel = (vowel + 1 + Int((noise.next() + 1) * 2)) % vowels.count
            }
            // Formants glide towards the syllable's vowel.
            let target = vowels[vowel]
            formants.0 += (target.0 - formants.0) * 0.002
            formants.1 += (target.1 - formants.1) * 0.002
            formants.2 += (target.2 - formants.2) * 0.002
            let position = Double(n - syllableStart) / Double(syllableLength)
            let envelope = inPhrase ? sin(Double.pi * position) : 0
            let f0 = voice.f0 * (1 + 0.08 * sin(2 * Double.pi * 0.9 * t) + 0.04 * sin(2 * Double.pi * 3.1 * t))
            phase += f0 / Double(rate)
            var excitation = 0.0
            if phase >= 1 { phase -= 1; excitation = 1 }
            excitation += 0.05 * noise.next()  // breath
            var x = excitation * envelope
            let f = [formants.0, formants.1, formants.2]
            for k in 0..<3 {
                let freq = f[k] * voice.formantScale
                let r = exp(-Double.pi * (60 + 40 * Double(k)) / Double(rate))
                let a1 = 2 * r * cos(2 * Double.pi * freq / Double(rate)), a2 = -r * r
                let y = (1 - r) * x + a1 * y1[k] + a2 * y2[k]
                y2[k] = y1[k]; y1[k] = y
                x = y
            }
            out[n] = x
            active[n] = inPhrase && envelope > 0.2
        }
        var energy = 0.0, activeCount = 0
        for n in 0..<count where active[n] { energy += out[n] * out[n]; activeCount += 1 }
        let gain = 32768 * pow(10, rmsDBFS / 20) / max(1e-12, (energy / Double(max(1, activeCount))).squareRoot())
        for n in 0..<count { out[n] *= gain }
        return (out, active)
    }

    /// The room: the direct path (`gain`) after `delayMs`, then a decaying tail (RT60
    /// about 250 ms) for 150 ms.
    static func roomResponse(delayMs: Int, gain: Double = 0.5) -> [Double] {
        let delay = delayMs * rate / 1000
        let tail = 150 * rate / 1000
        var noise = Noise(seed: 0xA11CE)
        var h = [Double](repeating: 0, count: delay + tail)
        h[delay] = gain
        let tau = 0.25 / 6.9 * Double(rate)  // samples for the amplitude to fall by e
        for k in 1..<tail { h[delay + k] = 0.05 * gain * noise.next() * exp(-Double(k) / tau) }
        return h
    }

    /// `signal` through the impulse response `h` (which starts with zeros up to its delay).
    static func convolve(_ signal: [Double], _ h: [Double]) -> [Double] {
        let first = h.firstIndex { $0 != 0 } ?? 0
        var out = [Double](repeating: 0, count: signal.count)
        signal.withUnsafeBufferPointer { x in
            h.withUnsafeBufferPointer { taps in
                out.withUnsafeMutableBufferPointer { y in
                    for n in first..<x.count {
                        var acc = 0.0
                        let last = min(taps.count - 1, n)
                        var k = first
                        while k <= last { acc += taps[k] * x[n - k]; k += 1 }
                        y[n] = acc
                    }
                }
            }
        }
        return out
    }

    /// White noise at `rmsDBFS`.
    static func whiteNoise(count: Int, rmsDBFS: Double, seed: UInt64) -> [Double] {
        var noise = Noise(seed: seed)
        let amplitude = 32768 * pow(10, rmsDBFS / 20) * 3.0.squareRoot()  // uniform: rms = a/√3
        return (0..<count).map { _ in amplitude * noise.next() }
    }

    static func pcm(_ x: [Double]) -> [Int16] {
        x.map { Int16(max(-32768, min(32767, $0.rounded()))) }
    }

    static func add(_ a: [Double], _ b: [Double]) -> [Double] { zip(a, b).map { $0 + $1 } }

    /// The far signal fed frame by frame before each near frame; returns the output.
    static func run(_ canceller: EchoCanceller, far: [Int16], near: [Int16], delayMs: Int) -> [Int16] {
        var out = near
        var farFrame = [Int16](repeating: 0, count: frame)
        var failures = 0
        for start in stride(from: 0, to: near.count - frame + 1, by: frame) {
            for i in 0..<frame { farFrame[i] = far[start + i] }
            farFrame.withUnsafeBufferPointer { canceller.processFar($0.baseAddress!) }
            let ok = out.withUnsafeMutableBufferPointer {
                canceller.processNear($0.baseAddress! + start, delayMs: delayMs)
            }
            if !ok { failures += 1 }
        }
        precondition(failures == 0, "processNear failed \(failures) times")
        return out
    }

    /// Energy of `x` over the frames from `from` seconds (to `to`) where `include` holds.
    static func energy(_ x: [Int16], from: Double, to: Double? = nil,
                       where include: (Int) -> Bool = { _ in true }) -> Double {
        let first = Int(from * Double(rate)) / frame, last = Int((to ?? 1e9) * Double(rate)) / frame
        var sum = 0.0
        for f in first..<min(last, x.count / frame) where include(f) {
            for i in f * frame..<(f + 1) * frame { sum += Double(x[i]) * Double(x[i]) }
        }
        return sum
    }

    static func dB(_ ratio: Double) -> Double { 10 * log10(max(ratio, 1e-30)) }
}
