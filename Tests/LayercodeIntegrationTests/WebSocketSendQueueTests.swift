// SPDX-License-Identifier: Apache-2.0
@testable import LayercodeNet
import XCTest

/// WebSocketSendQueue on its own: the byte bound, the drop policy, and (issue 9, item 7)
/// that written frames are released as they go, not when the queue next empties.
final class WebSocketSendQueueTests: XCTestCase {
    private func frame(_ n: Int, _ byte: UInt8 = 0x61) -> [UInt8] { [UInt8](repeating: byte, count: n) }

    func testSendQueueReleasesWrittenFramesWhileItNeverEmpties() {
        var queue = WebSocketSendQueue(maxBytes: 64 << 10)
        var maxRetained = 0, through = 0
        // Steady state of a link slower than the microphone: a few frames leave, a few more
        // arrive, and the queue is never empty; 20 MB go through it.
        for _ in 0..<100 { _ = queue.push(frame(420), droppable: true) }
        while through < 20 << 20 {
            for _ in 0..<3 {
                guard let sent = queue.popFirst() else { return XCTFail("the queue emptied") }
                through += sent.count
            }
            for _ in 0..<3 { XCTAssertTrue(queue.push(frame(420), droppable: true).accepted) }
            maxRetained = max(maxRetained, queue.retainedBytes)
        }
        XCTAssertFalse(queue.isEmpty)
        XCTAssertEqual(queue.bytes, 100 * 420)
        XCTAssertLessThanOrEqual(maxRetained, queue.maxBytes, "only waiting frames are kept")
    }

    func testFullQueueDropsTheOldestDroppableAndRefusesTheRest() {
        var queue = WebSocketSendQueue(maxBytes: 1000)
        XCTAssertEqual(queue.push(frame(400, 1), droppable: true).accepted, true)
        XCTAssertEqual(queue.push(frame(400, 2), droppable: false).accepted, true)
        // 400 more: the oldest droppable frame (1) goes.
        let third = queue.push(frame(400, 3), droppable: true)
        XCTAssertEqual(third.accepted, true)
        XCTAssertEqual(third.dropped, 1)
        XCTAssertEqual(queue.bytes, 800)
        // 700 more do not fit even without the audio: the audio goes, the message is refused.
        let control = queue.push(frame(700, 4), droppable: false)
        XCTAssertEqual(control.accepted, false)
        XCTAssertEqual(control.dropped, 1)      // frame 3 made room, still not enough
        XCTAssertEqual(queue.popFirst()?.first, 2)
        XCTAssertNil(queue.popFirst())
        XCTAssertTrue(queue.isEmpty)
        XCTAssertEqual(queue.bytes, 0)
    }

    func testRemoveAllKeepsWhatMayNotBeDroppedInOrder() {
        var queue = WebSocketSendQueue(maxBytes: 10_000)
        _ = queue.push(frame(10, 1), droppable: false)
        _ = queue.push(frame(10, 2), droppable: true)
        _ = queue.push(frame(10, 3), droppable: false)
        _ = queue.popFirst()
        let (kept, dropped) = queue.removeAll()
        XCTAssertEqual(kept.map { $0.first }, [3])
        XCTAssertEqual(dropped, 1)
        XCTAssertTrue(queue.isEmpty)
    }
}
