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
}
