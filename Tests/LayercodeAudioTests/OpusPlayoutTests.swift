// SPDX-License-Identifier: Apache-2.0
import XCTest
@testable import LayercodeAudio
import LayercodeCore

/// The Opus downlink (doc/opus-profile.md §5) with real libopus packets: wire-numbered
/// packets through `AgentFrameAssembler.appendPacket`, the jitter buffer and the
/// `PlayoutDecoder` step, under injected loss and reordering.
final class OpusPlayoutTests: XCTestCase {
    struct Result {
        var outcomes: [JitterOutcome] = []
        var periods: [[Int16]] = []
        var fecRecovered = 0
        var decodeErrors = 0
        var concealedMs = 0
    }

    /// A small deterministic generator (no flakiness): the same loss pattern every run.
    struct LCG {
        var state: UInt64
        mutating func next() -> Double {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Double(state >> 11) / Double(1 << 53)
        }
    }

    static func packets(count: Int) throws -> [[UInt8]] {
        var settings = OpusEncoderSettings()
        settings.expectedLossPercent = 20
        let encoder = try OpusPacketEncoder(sampleRate: 16_000, channels: 1, settings: settings)
        return OpusCodecTests.encode(OpusCodecTests.tone(300, samples: 320 * count), encoder)
    }

    /// Sends `packets` (wire numbers from `firstWire`) in `order`, skipping `lost`, as one
    /// turn; then plays until the turn ends.
    static func play(_ packets: [[UInt8]], order: [Int], lost: Set<Int>, firstWire: UInt64 = 1000) throws -> Result {
        var assembler = AgentFrameAssembler()
        var config = JitterBufferConfig()
        config.capacityMs = 10_000
        let jitter = JitterBuffer(config: config)
        let decoder = try PlayoutDecoder(maxPacketBytes: jitter.maxPayloadBytes)
        for i in order where !lost.contains(i) {
            try packets[i].withUnsafeBytes { bytes in
                try assembler.appendPacket(bytes, kind: .opus, sampleCount: 320, wireSequence: firstWire + UInt64(i),
                                           turnID: "t", deltaID: nil, arrivalNanoseconds: 1) { header, payload in
                    jitter.put(header, payload: payload)
                }
            }
        }
        assembler.endTurn(arrivalNanoseconds: 1) { header, samples in
            jitter.put(header, payload: UnsafeRawBufferPointer(samples))
        }
        var result = Result()
        var frame = [Int16](repeating: 0, count: 320)
        for _ in 0..<(packets.count + 50) {
            let outcome = frame.withUnsafeMutableBytes { jitter.get(payloadInto: $0, nowNanoseconds: 2) }
            if outcome == .idle { break }
            frame.withUnsafeMutableBufferPointer { _ = decoder.decode(outcome, frame: $0, jitter: jitter) }
            result.outcomes.append(outcome)
            result.periods.append(frame)
        }
        result.fecRecovered = Int(decoder.fecRecoveredFrames)
        result.decodeErrors = Int(decoder.decodeErrors)
        result.concealedMs = jitter.stats.concealedMs
        return result
    }

    static func lossAndReorder(count: Int, loss: Double, seed: UInt64) -> (order: [Int], lost: Set<Int>) {
        var rng = LCG(state: seed)
        var lost = Set<Int>()
        for i in 1..<(count - 1) where rng.next() < loss { lost.insert(i) }
        var order = Array(0..<count)
        var i = 1
        while i + 1 < count {
            if rng.next() < 0.1 { order.swapAt(i, i + 1); i += 2 } else { i += 1 }
        }
        return (order, lost)
    }

    static func rms(_ samples: [Int16]) -> Double {
        (samples.reduce(0.0) { $0 + Double($1) * Double($1) } / Double(max(1, samples.count))).squareRoot()
    }

    func checkContinuousPlayout(loss: Double, seed: UInt64) throws {
        let count = 250
        let packets = try Self.packets(count: count)
        let (order, lost) = Self.lossAndReorder(count: count, loss: loss, seed: seed)
        XCTAssertFalse(lost.isEmpty)
        let r = try Self.play(packets, order: order, lost: lost)
        // Continuous: one period per packet sent, then the turn's end; no gap, no prefetch.
        XCTAssertEqual(r.outcomes.count, count + 1)
        var concealed = 0
        for (k, outcome) in r.outcomes.enumerated() {
            switch outcome {
            case .audio: XCTAssertFalse(lost.contains(k) && k < count, "period \(k) was lost: it cannot play")
            case .concealed: concealed += 1; XCTAssertTrue(lost.contains(k), "period \(k) concealed but arrived")
            default: XCTFail("period \(k): \(outcome) inside the turn")
            }
        }
        XCTAssertEqual(concealed, lost.count)
        XCTAssertEqual(r.concealedMs, lost.count * 20)
        // FEC rebuilt every lost packet whose next packet arrived; PLC filled the rest.
        let recoverable = lost.filter { !lost.contains($0 + 1) }.count
        XCTAssertEqual(r.fecRecovered, recoverable)
        XCTAssertEqual(r.decodeErrors, 0)
        // Concealed periods carry the tone on (not silence), after the decoder settled; on
        // average close to the tone's level (RMS 5657).
        let settled = lost.filter { $0 > 10 && !lost.contains($0 - 1) }
        for k in settled {
            XCTAssertGreaterThan(Self.rms(r.periods[k]), 200, "period \(k) concealed with audio, not silence")
        }
        let mean = settled.map { Self.rms(r.periods[$0]) }.reduce(0, +) / Double(max(1, settled.count))
        XCTAssertGreaterThan(mean, 2000)
    }

    func testFivePercentLossAndReorderingPlayContinuouslyWithFECAndPLCCounted() throws {
        try checkContinuousPlayout(loss: 0.05, seed: 5)
    }

    func testTwentyPercentLossAndReorderingPlayContinuouslyWithFECAndPLCCounted() throws {
        try checkContinuousPlayout(loss: 0.20, seed: 20)
    }

    func testUndecodablePacketsPlayAsSilenceAndAreCountedNeverATrap() throws {
        var packets = try Self.packets(count: 20)
        packets[5] = [0x03, 0x00]        // code 3 with zero frames: invalid (RFC 6716 §3.2.5)
        packets[9] = [0x50, 0x01, 0x02]  // a 40 ms frame: longer than the 20 ms period
        let r = try Self.play(packets, order: Array(0..<20), lost: [])
        XCTAssertEqual(r.outcomes.count, 21)
        XCTAssertEqual(r.decodeErrors, 2)
        XCTAssertEqual(r.periods[5], [Int16](repeating: 0, count: 320))
        XCTAssertEqual(r.periods[9], [Int16](repeating: 0, count: 320))
        XCTAssertGreaterThan(Self.rms(r.periods[15]), 1000, "the stream goes on")
    }

    func testConcealmentInAPCMStreamStaysSilence() throws {
        let decoder = try PlayoutDecoder(maxPacketBytes: 640)
        let jitter = JitterBuffer(config: JitterBufferConfig())
        var frame = [Int16](repeating: 7, count: 320)
        frame.withUnsafeMutableBufferPointer { _ = decoder.decode(.concealed(missing: 3), frame: $0, jitter: jitter) }
        XCTAssertEqual(frame, [Int16](repeating: 0, count: 320))
        XCTAssertEqual(decoder.fecRecoveredFrames, 0)
    }

    func testJitterPeekSeesABufferedFrameWithoutTakingIt() {
        let jitter = JitterBuffer(config: JitterBufferConfig())
        let payload: [UInt8] = [1, 2, 3]
        let header = AudioFrameHeader(sequence: 42, arrivalNanoseconds: 1, kind: .opus, byteCount: 3, sampleCount: 320)
        payload.withUnsafeBytes { jitter.put(header, payload: $0) }
        let seen = jitter.peek(sequence: 42)
        XCTAssertEqual(seen?.header, header)
        XCTAssertEqual(seen.map { Array($0.payload) }, payload)
        XCTAssertNil(jitter.peek(sequence: 43))
        XCTAssertEqual(jitter.bufferedFrames, 1)
    }
}
