// SPDX-License-Identifier: Apache-2.0
import XCTest
@testable import LayercodeAudio
import LayercodeCore

/// libopus through the library's wrappers: real encode/decode, concealment and FEC.
final class OpusCodecTests: XCTestCase {
    static let rate = 16_000
    static let frame = 320

    static func tone(_ hz: Double, samples: Int, amplitude: Double = 8000) -> [Int16] {
        (0..<samples).map { Int16(amplitude * sin(2 * Double.pi * hz * Double($0) / Double(rate))) }
    }

    /// Encodes `pcm` frame by frame; returns the packets.
    static func encode(_ pcm: [Int16], _ encoder: OpusPacketEncoder) -> [[UInt8]] {
        var packets: [[UInt8]] = []
        var out = [UInt8](repeating: 0, count: OpusPacketEncoder.maxPacketBytes)
        for start in stride(from: 0, to: pcm.count - frame + 1, by: frame) {
            let n = pcm[start..<start + frame].withUnsafeBufferPointer { f in
                out.withUnsafeMutableBufferPointer { encoder.encode(f, into: $0) }
            }
            XCTAssertGreaterThan(n, 0)
            packets.append(Array(out[0..<max(0, n)]))
        }
        return packets
    }

    /// SNR in dB of `decoded` against `reference` shifted by `delay` samples.
    static func snr(_ reference: [Int16], _ decoded: [Int16], delay: Int, from: Int) -> Double {
        var signal = 0.0, noise = 0.0
        for i in from..<(decoded.count) where i - delay >= 0 && i - delay < reference.count {
            let r = Double(reference[i - delay]), d = Double(decoded[i])
            signal += r * r
            noise += (r - d) * (r - d)
        }
        return 10 * log10(signal / max(noise, 1))
    }

    func testToneRoundTripAtTheDefaultSettingsKeepsItsShape() throws {
        let encoder = try OpusPacketEncoder(sampleRate: Self.rate, channels: 1)
        let decoder = try OpusPacketDecoder(sampleRate: Self.rate, channels: 1)
        let input = Self.tone(440, samples: Self.rate)
        var decoded: [Int16] = []
        var frame = [Int16](repeating: 0, count: Self.frame)
        for packet in Self.encode(input, encoder) {
            let n = packet.withUnsafeBytes { p in frame.withUnsafeMutableBufferPointer { decoder.decode(p, into: $0) } }
            XCTAssertEqual(n, Self.frame)
            decoded += frame
        }
        let snr = Self.snr(input, decoded, delay: encoder.lookahead, from: Self.rate / 5)
        XCTAssertGreaterThan(snr, 10, "a 440 Hz tone at 24 kbit/s decodes close to itself (SNR \(snr) dB)")
        XCTAssertGreaterThan(encoder.lookahead, 0)
    }

    func testLostPacketIsConcealedAndRecoveredFromTheNextPacketsFEC() throws {
        var settings = OpusEncoderSettings()
        settings.expectedLossPercent = 20
        let encoder = try OpusPacketEncoder(sampleRate: Self.rate, channels: 1, settings: settings)
        let packets = Self.encode(Self.tone(300, samples: Self.rate), encoder)
        let lost = 30
        var frame = [Int16](repeating: 0, count: Self.frame)
        // PLC: no data, a whole frame of extrapolated (non-silent) audio.
        let plc = try OpusPacketDecoder(sampleRate: Self.rate, channels: 1)
        for p in packets[0..<lost] {
            _ = p.withUnsafeBytes { b in frame.withUnsafeMutableBufferPointer { plc.decode(b, into: $0) } }
        }
        XCTAssertEqual(frame.withUnsafeMutableBufferPointer { plc.conceal(into: $0) }, Self.frame)
        XCTAssertGreaterThan(frame.map { abs(Int($0)) }.max() ?? 0, 1000)
        // FEC: the next packet rebuilds the lost one.
        let fec = try OpusPacketDecoder(sampleRate: Self.rate, channels: 1)
        for p in packets[0..<lost] {
            _ = p.withUnsafeBytes { b in frame.withUnsafeMutableBufferPointer { fec.decode(b, into: $0) } }
        }
        let n = packets[lost + 1].withUnsafeBytes { b in
            frame.withUnsafeMutableBufferPointer { fec.decode(b, into: $0, fec: true) }
        }
        XCTAssertEqual(n, Self.frame)
        XCTAssertGreaterThan(frame.map { abs(Int($0)) }.max() ?? 0, 1000)
        XCTAssertEqual(packets[lost].withUnsafeBytes { fec.sampleCount(of: $0) }, Self.frame)
    }

    func testBadSettingsAreRefusedWithAClearError() {
        var settings = OpusEncoderSettings()
        settings.complexity = 11
        XCTAssertThrowsError(try OpusPacketEncoder(sampleRate: Self.rate, channels: 1, settings: settings))
        XCTAssertThrowsError(try OpusPacketEncoder(sampleRate: 44_100, channels: 1))
        XCTAssertThrowsError(try OpusPacketDecoder(sampleRate: 16_000, channels: 3))
    }

    func testGarbagePacketIsAnErrorNotACrash() throws {
        let decoder = try OpusPacketDecoder(sampleRate: Self.rate, channels: 1)
        var frame = [Int16](repeating: 0, count: Self.frame)
        let garbage: [UInt8] = [0xFF, 0xFF, 0xFF]
        let n = garbage.withUnsafeBytes { b in frame.withUnsafeMutableBufferPointer { decoder.decode(b, into: $0) } }
        XCTAssertLessThan(n, 0)
    }
}
