// SPDX-License-Identifier: Apache-2.0
import Foundation
import LayercodeAudio
import XCTest

/// The resampler (issue 14: whole-number ratios through CResample's polyphase FIR, others
/// through speexdsp): speech-band tones pass at their level and frequency, what would alias
/// is stopped, and cutting the output into small pieces changes nothing.
final class ResamplerTests: XCTestCase {
    private func sine(_ hz: Double, rate: Int, seconds: Double, amplitude: Double = 10_000) -> [Int16] {
        (0..<Int(Double(rate) * seconds)).map { Int16(amplitude * sin(2 * .pi * hz * Double($0) / Double(rate))) }
    }

    /// Converts in 20 ms input chunks into outputs of at most `piece` samples.
    private func convert(_ r: Resampler, _ input: [Int16], piece: Int = 4096) -> [Int16] {
        var out: [Int16] = []
        var scratch = [Int16](repeating: 0, count: piece)
        let chunk = r.inputRate / 50
        var at = 0
        while at < input.count {
            let end = min(input.count, at + chunk)
            var offset = at
            while offset < end {
                let (c, p) = input.withUnsafeBufferPointer { i in
                    scratch.withUnsafeMutableBufferPointer { o in
                        r.process(UnsafeBufferPointer(rebasing: i[offset..<end]), into: o)
                    }
                }
                out += scratch[0..<p]
                offset += c
                if c == 0 && p == 0 { break }
            }
            at = end
        }
        return out
    }

    private func rms(_ x: ArraySlice<Int16>) -> Double {
        (x.reduce(0.0) { $0 + Double($1) * Double($1) } / Double(max(1, x.count))).squareRoot()
    }

    /// SNR of `out` against the ideal sine at the output rate, best over small lags/phases.
    private func snr(_ out: [Int16], _ hz: Double, rate: Int) -> Double {
        let body = Array(out[rate / 10..<(out.count - rate / 10)])
        var best = -Double.infinity
        for lag in -4...64 {  // the FIR delays by its half length (16 samples at 8 kHz)
            var signal = 0.0, noise = 0.0
            for (i, v) in body.enumerated() {
                let ideal = 10_000 * sin(2 * .pi * hz * Double(i + rate / 10 + lag) / Double(rate))
                signal += ideal * ideal
                noise += (Double(v) - ideal) * (Double(v) - ideal)
            }
            best = max(best, 10 * log10(signal / noise))
        }
        return best
    }

    func testWholeRatiosKeepASpeechBandToneClean() throws {
        for (from, to, hz) in [(48_000, 8000, 1000.0), (48_000, 16_000, 3000.0), (16_000, 48_000, 3000.0),
                               (16_000, 8000, 700.0), (8000, 16_000, 2500.0)] {
            let r = try Resampler(inputRate: from, outputRate: to)
            let out = convert(r, sine(hz, rate: from, seconds: 1))
            XCTAssertEqual(Double(out.count), Double(to), accuracy: Double(to) * 0.01, "\(from) → \(to)")
            XCTAssertGreaterThan(snr(out, hz, rate: to), 55, "\(from) → \(to) at \(hz) Hz")
        }
    }

    /// Regression (issue 14): the FIR first started its output aligned on its input, so
    /// every call held its last few outputs back for the next one; the playout staged each
    /// agent frame one render period later (downlink latency 8 → 18 ms), and an uplink frame
    /// waited for the next delivery. Every call now yields its whole share.
    func testTheFIRHoldsNoOutputBackSoFramesAreNotOnePeriodLate() throws {
        for (from, to) in [(48_000, 8000), (48_000, 16_000), (16_000, 48_000), (16_000, 8000)] {
            let r = try Resampler(inputRate: from, outputRate: to)
            let input = sine(440, rate: from, seconds: 0.02)   // one 20 ms frame
            var out = [Int16](repeating: 0, count: to / 50 + 64)
            for call in 0..<5 {
                let (c, p) = input.withUnsafeBufferPointer { i in
                    out.withUnsafeMutableBufferPointer { r.process(i, into: $0) }
                }
                XCTAssertEqual(c, from / 50, "\(from) → \(to), call \(call)")
                XCTAssertEqual(p, to / 50, "\(from) → \(to), call \(call)")
            }
        }
    }

    func testWhatWouldAliasIsStopped() throws {
        // 6 kHz at 48 kHz would fold to 2 kHz on the 8 kHz wire.
        let r = try Resampler(inputRate: 48_000, outputRate: 8000)
        let out = convert(r, sine(6000, rate: 48_000, seconds: 1))
        XCTAssertLessThan(20 * log10(max(1, rms(out[800...])) / (10_000 / 2.0.squareRoot())), -60)
    }

    func testSmallOutputPiecesGiveTheSameSamples() throws {
        for (from, to) in [(48_000, 8000), (16_000, 48_000)] {
            let input = sine(440, rate: from, seconds: 0.5)
            let whole = convert(try Resampler(inputRate: from, outputRate: to), input)
            let pieces = convert(try Resampler(inputRate: from, outputRate: to), input, piece: 7)
            // Outputs an input made possible but that did not fit come first in the next
            // call: at the end of the stream at most one input's worth is still inside.
            XCTAssertLessThanOrEqual(whole.count - pieces.count, to / from, "\(from) → \(to)")
            XCTAssertEqual(Array(whole.prefix(pieces.count)), pieces, "\(from) → \(to)")
        }
    }

    func testResetForgetsTheHistory() throws {
        let r = try Resampler(inputRate: 48_000, outputRate: 8000)
        let first = convert(r, sine(440, rate: 48_000, seconds: 0.2))
        _ = convert(r, sine(3000, rate: 48_000, seconds: 0.2))
        r.reset()
        XCTAssertEqual(convert(r, sine(440, rate: 48_000, seconds: 0.2)), first)
    }

    func testOtherRatiosStillConvert() throws {
        let r = try Resampler(inputRate: 44_100, outputRate: 8000)
        let out = convert(r, sine(1000, rate: 44_100, seconds: 1))
        XCTAssertEqual(Double(out.count), 8000, accuracy: 80)
        XCTAssertGreaterThan(snr(out, 1000, rate: 8000), 40)
    }
}
