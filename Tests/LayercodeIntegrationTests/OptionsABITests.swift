// SPDX-License-Identifier: Apache-2.0
import CLayercodeABI
@testable import Layercode
import LayercodeCore
import XCTest

/// lc_options <-> ClientOptions is written once (ClientOptions.transfer): the defaults
/// lc_options_init gives are a default ClientOptions', and reading them back gives it again.
final class OptionsABITests: XCTestCase {
    func testDefaultsRoundTripThroughTheCStruct() throws {
        var c = OptionsABI.defaults()
        XCTAssertEqual(c.struct_size, MemoryLayout<lc_options>.size)
        XCTAssertNil(c.ws_url)
        XCTAssertEqual(c.connect_timeout_ms, 10_000)
        XCTAssertEqual(c.device_sample_rate, 48_000)
        XCTAssertEqual(c.audio_input_enabled, 1)
        XCTAssertEqual(c.send_queue_max_bytes, 256 << 10)
        let read = try "ag".withCString { agent in
            try "http://127.0.0.1:9/authorize".withCString { url in
                c.agent_id = agent
                c.authorize_url = url
                return try OptionsABI.clientOptions(c)
            }
        }
        let expected = ClientOptions(agentID: "ag", authorizeURL: "http://127.0.0.1:9/authorize")
        XCTAssertEqual(describe(read), describe(expected))
    }

    func testZeroDeviceRateMeansTheDefault() throws {
        var c = OptionsABI.defaults()
        c.device_sample_rate = 0
        let read = try "ag".withCString { agent in
            try "http://h/a".withCString { url in
                c.agent_id = agent
                c.authorize_url = url
                return try OptionsABI.clientOptions(c)
            }
        }
        XCTAssertEqual(read.deviceSampleRate, 48_000)
    }

    func testMissingAgentIsRefused() {
        XCTAssertThrowsError(try OptionsABI.clientOptions(OptionsABI.defaults())) { error in
            XCTAssertTrue((error as? LayercodeError)?.message.contains("agent_id") == true)
        }
    }

    /// Every stored property, as text (ClientOptions is not Equatable: header tuples).
    private func describe(_ o: ClientOptions) -> String {
        Mirror(reflecting: o).children.map { "\($0.label ?? "?")=\($0.value)" }.joined(separator: " ")
    }
}
