// SPDX-License-Identifier: Apache-2.0
import XCTest
@testable import LayercodeCore

// AgentFrameAssembler's memory of (turn_id, delta_id) per marker (issue 9 item 9): bounded
// in bytes and in count while playout reports nothing, and still resolving what it keeps.

final class AgentFrameAssemblerTests: XCTestCase {
    private func append(_ assembler: inout AgentFrameAssembler, turn: String, delta: String) {
        assembler.append([1, 2, 3, 4], turnID: turn, deltaID: delta, arrivalNanoseconds: 0) { _, _ in }
    }

    func testRememberedIdsAreBoundedInBytesWhilePlayoutReportsNothing() {
        var assembler = AgentFrameAssembler(frameSamples: 4)
        let id = String(repeating: "i", count: ServerMessage.maxIDBytes)
        for k in 0..<10_000 { append(&assembler, turn: id, delta: id + "\(k)") }
        XCTAssertLessThanOrEqual(assembler.rememberedBytes, AgentFrameAssembler.maxRememberedBytes)
        XCTAssertLessThanOrEqual(assembler.rememberedCount, AgentFrameAssembler.maxRememberedMarkers)
        XCTAssertGreaterThan(assembler.rememberedCount, 0)
        // The newest marker still names its delta; a forgotten one names nothing.
        XCTAssertEqual(assembler.resolve(playedMarker: 10_000)?.deltaID, id + "9999")
        XCTAssertNil(assembler.resolve(playedMarker: 1))
        XCTAssertEqual(assembler.rememberedCount, 0)
        XCTAssertEqual(assembler.rememberedBytes, 0)
    }

    func testRememberedCountIsBoundedWithSmallIds() {
        var assembler = AgentFrameAssembler(frameSamples: 4)
        for k in 0..<20_000 { append(&assembler, turn: "t", delta: "\(k)") }
        XCTAssertLessThanOrEqual(assembler.rememberedCount, AgentFrameAssembler.maxRememberedMarkers)
        XCTAssertLessThanOrEqual(assembler.rememberedBytes, AgentFrameAssembler.maxRememberedBytes)
    }

    func testResolvingAMarkerForgetsItAndEveryOlderOne() {
        var assembler = AgentFrameAssembler(frameSamples: 4)
        for k in 1...5 { append(&assembler, turn: "t", delta: "d\(k)") }
        XCTAssertEqual(assembler.resolve(playedMarker: 3)?.deltaID, "d3")
        XCTAssertNil(assembler.resolve(playedMarker: 2), "older markers are forgotten")
        XCTAssertNil(assembler.resolve(playedMarker: 3))
        XCTAssertEqual(assembler.resolve(playedMarker: 5)?.deltaID, "d5")
        XCTAssertNil(assembler.resolve(playedMarker: 0))
        XCTAssertNil(assembler.resolve(playedMarker: 99))
        XCTAssertEqual(assembler.rememberedCount, 0)
    }

    // MARK: Sequence numbers

    private struct Emitted: Equatable {
        var header: AudioFrameHeader
        var payload: [UInt8]
    }

    /// A 20 ms PCM16 packet whose samples all equal `value`.
    private func packet(_ value: Int16) -> [UInt8] {
        [Int16](repeating: value, count: 320).withUnsafeBytes { Array($0) }
    }

    private func appendPacket(_ assembler: inout AgentFrameAssembler, _ payload: [UInt8],
                              wire: UInt64?, into emitted: inout [Emitted]) throws {
        var out: [Emitted] = []
        try payload.withUnsafeBytes { (bytes) throws in
            try assembler.appendPacket(bytes, kind: .pcm16, sampleCount: payload.count / 2, wireSequence: wire,
                                       turnID: "t", deltaID: "d", arrivalNanoseconds: 0) { header, body in
                out.append(Emitted(header: header, payload: Array(body)))
            }
        }
        emitted += out
    }

    private func endTurn(_ assembler: inout AgentFrameAssembler, into emitted: inout [Emitted]) {
        assembler.endTurn(arrivalNanoseconds: 0) { header, samples in
            emitted.append(Emitted(header: header, payload: Array(UnsafeRawBufferPointer(samples))))
        }
    }

    /// Plays `emitted` (in that order of arrival) through a jitter buffer and returns every
    /// outcome until it is idle: the sequences and the losses playout names.
    private func play(_ emitted: [Emitted]) -> [JitterOutcome] {
        var config = JitterBufferConfig()
        config.minDelayMs = 0
        let jitter = JitterBuffer(config: config)
        for e in emitted { e.payload.withUnsafeBytes { jitter.put(e.header, payload: $0) } }
        var outcomes: [JitterOutcome] = []
        var out = [UInt8](repeating: 0, count: jitter.maxPayloadBytes)
        for _ in 0..<100 {
            let outcome = out.withUnsafeMutableBytes { jitter.get(payloadInto: $0, nowNanoseconds: .max) }
            if outcome == .idle { break }
            outcomes.append(outcome)
        }
        return outcomes
    }

    private func played(_ outcomes: [JitterOutcome]) -> [String] {
        outcomes.map {
            switch $0 {
            case .audio(let h): return "\(h.sequence)"
            case .concealed(let missing): return "lost \(missing)"
            case .prefetching: return "prefetching"
            case .idle: return "idle"
            }
        }
    }

    func testPCMChunksAreNumberedOnArrivalOneAFrame() {
        var assembler = AgentFrameAssembler(frameSamples: 4)
        var headers: [AudioFrameHeader] = []
        assembler.append([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], turnID: "t", deltaID: "d",
                         arrivalNanoseconds: 7) { h, _ in headers.append(h) }
        assembler.endTurn(arrivalNanoseconds: 9) { h, _ in headers.append(h) }
        XCTAssertEqual(headers.map(\.sequence), [1, 2, 3])
        XCTAssertEqual(headers.map(\.sampleCount), [4, 4, 2])
        XCTAssertEqual(headers.map(\.byteCount), [8, 8, 4])
        XCTAssertEqual(headers.map(\.flags), [.turnStart, [], .turnEnd])
        XCTAssertEqual(assembler.flush(), 4)
    }

    func testPacketsWithoutAWireSequenceAreNumberedOnArrival() throws {
        var assembler = AgentFrameAssembler()
        var emitted: [Emitted] = []
        for (k, wire) in [(Int16(1), UInt64?.none), (2, nil)] {
            try appendPacket(&assembler, packet(k), wire: wire, into: &emitted)
        }
        XCTAssertEqual(emitted.map(\.header.sequence), [1, 2])
        XCTAssertEqual(emitted.map(\.header.flags), [.turnStart, []])
        XCTAssertEqual(emitted[1].payload, packet(2))
        XCTAssertEqual(emitted[1].header.byteCount, 640)
        XCTAssertEqual(emitted[1].header.sampleCount, 320)
    }

    /// The point of wire numbers: a packet the network lost is a gap that playout names,
    /// not audio that silently closes up.
    func testAGapInTheWireSequenceReachesPlayoutAsANamedLoss() throws {
        var assembler = AgentFrameAssembler()
        var emitted: [Emitted] = []
        for wire: UInt64 in [1000, 1001, 1003, 1004] {
            try appendPacket(&assembler, packet(Int16(wire - 1000)), wire: wire, into: &emitted)
        }
        endTurn(&assembler, into: &emitted)
        let first = emitted[0].header.sequence
        XCTAssertEqual(emitted.map { $0.header.sequence - first }, [0, 1, 3, 4, 5])
        XCTAssertEqual(played(play(emitted)),
                       ["\(first)", "\(first + 1)", "lost \(first + 2)", "\(first + 3)", "\(first + 4)",
                        "\(first + 5)"])
        XCTAssertEqual(assembler.flush(), first + 6)
    }

    func testPacketsReorderedAtTheStartOfATurnPlayInWireOrder() throws {
        var assembler = AgentFrameAssembler()
        var emitted: [Emitted] = []
        try appendPacket(&assembler, packet(1), wire: 1, into: &emitted)  // an earlier turn
        endTurn(&assembler, into: &emitted)
        for wire: UInt64 in [12, 10, 11, 13] {  // the next turn: its first packets swapped
            try appendPacket(&assembler, packet(Int16(wire)), wire: wire, into: &emitted)
        }
        endTurn(&assembler, into: &emitted)
        let turnEnd = emitted[1].header.sequence
        XCTAssertTrue(emitted[2...].allSatisfy { $0.header.sequence > turnEnd },
                      "the next turn lands above the previous one's end")
        let outcomes = play(emitted)
        let values = outcomes.compactMap { outcome -> Int16? in
            guard case .audio(let h) = outcome, h.byteCount > 0 else { return nil }
            return emitted.first { $0.header == h }?.payload.withUnsafeBytes { $0.load(as: Int16.self) }
        }
        XCTAssertEqual(values, [1, 10, 11, 12, 13])
        XCTAssertFalse(outcomes.contains { if case .concealed = $0 { return true } else { return false } })
    }

    /// Regression (review of issue 12): a server jumping far ahead inside a turn made
    /// playout conceal the whole jump (60 s for a jump of 3000); the turn now goes on.
    func testAWireJumpFarAheadContinuesTheTurnInsteadOfConcealingIt() throws {
        var assembler = AgentFrameAssembler()
        var emitted: [Emitted] = []
        for wire: UInt64 in [10, 11, 3011, 3012] {
            try appendPacket(&assembler, packet(Int16(wire % 100)), wire: wire, into: &emitted)
        }
        let s = emitted.map(\.header.sequence)
        XCTAssertEqual([s[1] - s[0], s[2] - s[1], s[3] - s[2]], [1, 1, 1])
        // A jump within the bound stays a gap (loss, concealed).
        try appendPacket(&assembler, packet(9), wire: 3012 + 40, into: &emitted)
        XCTAssertEqual(emitted[4].header.sequence - emitted[3].header.sequence, 40)
    }

    /// Regression (review of issue 12): the profile's 32-bit numbers wrap; unwrapped they
    /// keep counting up, so a turn that crosses 2^32 plays on.
    func testWireSequencesThatWrapKeepCountingUp() throws {
        var unwrapper = WireSequenceUnwrapper()
        let values = [UInt32.max - 1, UInt32.max, 0, 2, 1].map { unwrapper.unwrap($0) }
        XCTAssertEqual(values.map { Int64(bitPattern: $0 &- values[0]) }, [0, 1, 2, 4, 3])
        var assembler = AgentFrameAssembler()
        var emitted: [Emitted] = []
        for value in values {
            try appendPacket(&assembler, packet(1), wire: value, into: &emitted)
        }
        XCTAssertEqual(emitted.map { $0.header.sequence - emitted[0].header.sequence }, [0, 1, 2, 4, 3])
    }

    func testAPacketNumberedBeforeItsTurnIsRefused() throws {
        var assembler = AgentFrameAssembler()
        var emitted: [Emitted] = []
        try appendPacket(&assembler, packet(1), wire: 100, into: &emitted)
        try appendPacket(&assembler, packet(2), wire: 100 - AgentFrameAssembler.wireReorderMargin, into: &emitted)
        XCTAssertEqual(emitted.count, 2)
        XCTAssertThrowsError(try appendPacket(&assembler, packet(3), wire: 99 - AgentFrameAssembler.wireReorderMargin,
                                              into: &emitted)) { error in
            XCTAssertEqual((error as? LayercodeError)?.code, .protocolViolation)
        }
        XCTAssertEqual(emitted.count, 2, "a refused packet emits nothing")
        XCTAssertGreaterThan(emitted[1].header.sequence, 0)
    }

    func testAPacketLongerThanAFrameIsRefused() {
        var assembler = AgentFrameAssembler()
        var emitted: [Emitted] = []
        let tooManyBytes = [UInt8](repeating: 0, count: assembler.maxPacketBytes + 1)
        XCTAssertThrowsError(try appendPacket(&assembler, tooManyBytes, wire: 1, into: &emitted))
        for samples in [0, 321] {
            XCTAssertThrowsError(try [UInt8](repeating: 0, count: 8).withUnsafeBytes { (bytes) throws in
                try assembler.appendPacket(bytes, kind: .pcm16, sampleCount: samples, wireSequence: 1, turnID: nil,
                                           deltaID: nil, arrivalNanoseconds: 0) { _, _ in XCTFail("emitted") }
            }) { error in
                XCTAssertEqual((error as? LayercodeError)?.code, .protocolViolation)
            }
        }
        XCTAssertTrue(emitted.isEmpty)
        XCTAssertEqual(assembler.rememberedCount, 0, "a refused packet remembers no delta")
    }

    /// A barge-in: the flush boundary covers every wire-numbered frame handed out (those
    /// still in flight are dropped as flushed, never concealed), and the next turn, whatever
    /// its wire numbers, lands above it and plays.
    func testTheFlushBoundaryCoversWireNumberedFramesAndTheNextTurnPlays() throws {
        var assembler = AgentFrameAssembler()
        var before: [Emitted] = []
        for wire: UInt64 in [5, 6, 9] {  // 7 and 8 still on their way
            try appendPacket(&assembler, packet(Int16(wire)), wire: wire, into: &before)
        }
        let boundary = assembler.flush()
        XCTAssertTrue(before.allSatisfy { $0.header.sequence < boundary })
        var after: [Emitted] = []
        for wire: UInt64 in [7, 8, 9] {  // the next turn reuses the numbers
            try appendPacket(&assembler, packet(Int16(100 + wire)), wire: wire, into: &after)
        }
        endTurn(&assembler, into: &after)
        XCTAssertTrue(after.allSatisfy { $0.header.sequence >= boundary })

        var config = JitterBufferConfig()
        config.minDelayMs = 0
        let jitter = JitterBuffer(config: config)
        before[0].payload.withUnsafeBytes { jitter.put(before[0].header, payload: $0) }
        jitter.flush(before: boundary)
        for e in before[1...] + after { e.payload.withUnsafeBytes { jitter.put(e.header, payload: $0) } }
        var out = [UInt8](repeating: 0, count: 640)
        var sequences: [UInt64] = []
        while case .audio(let h) = out.withUnsafeMutableBytes({ jitter.get(payloadInto: $0, nowNanoseconds: .max) }) {
            sequences.append(h.sequence)
        }
        XCTAssertEqual(sequences, after.map(\.header.sequence))
        XCTAssertEqual(jitter.stats.flushedFrames, 3)
        XCTAssertEqual(jitter.stats.lostFrames, 0)
    }
}
