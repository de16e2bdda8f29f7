// SPDX-License-Identifier: Apache-2.0
import XCTest
@testable import LayercodeCore

/// Findings of the libFuzzer targets (fuzz/), kept as tests.
final class FuzzRegressionTests: XCTestCase {
    /// Regression (numeric_id_overflow_prints_null): a numeric turn_id or delta_id too large
    /// for a double (1e999) parsed as infinity and came back as the id "null". An id that
    /// cannot be printed as the number that was sent is treated as absent.
    func testNumericIDTooLargeForADoubleIsAbsentNotNull() throws {
        let message = try ServerMessage.decode(
            #"{"type":"response.audio","turn_id":1e999,"delta_id":-1e999,"content":""}"#, maxDepth: 8)
        XCTAssertNil(message.turnID)
        XCTAssertNil(message.deltaID)
        let finite = try ServerMessage.decode(#"{"type":"response.audio","turn_id":42,"delta_id":7}"#,
                                              maxDepth: 8)
        XCTAssertEqual(finite.turnID, "42")
        XCTAssertEqual(finite.deltaID, "7")
    }
}
