// SPDX-License-Identifier: Apache-2.0
import XCTest
@testable import LayercodeCore

/// Regression (metadata_json_numbers_reserialised_through_doubles): the app's metadata went
/// through JSONValue and back, so 9007199254740993 became 9007199254740992.0. The session now
/// sends the app's validated text as it is, on the first authorize and on every reconnect.
final class AuthorizeRequestTests: XCTestCase {
    let metadata = #"{"big": 9007199254740993, "price": 1.50, "s": "caf\u00e9"}"#

    func testMetadataJSONGoesOutByteForByte() {
        let body = Authorize.requestBody(agentID: "a", metadata: try? JSONValue.parse(metadata),
                                         metadataJSON: metadata, conversationID: "c",
                                         sdkVersion: "1")
        let text = String(decoding: body, as: UTF8.self)
        XCTAssertTrue(text.contains(#""metadata":"# + metadata), text)
        XCTAssertNotNil(try? JSONValue.parse(body))
    }

    func testSessionSendsTheTextOnConnectAndReconnect() {
        var options = SessionOptions(agentID: "a", metadata: try? JSONValue.parse(metadata),
                                     sdkVersion: "1")
        options.metadataJSON = metadata
        let session = Session(options: options)
        let posted = session.handle(.connect).compactMap { action -> String? in
            if case .postAuthorize(let body) = action { return String(decoding: body, as: UTF8.self) }
            return nil
        }
        XCTAssertEqual(posted.count, 1)
        XCTAssertTrue(posted[0].contains(#""metadata":"# + metadata), posted[0])
    }

    func testWithoutTheTextTheValueIsSerialised() {
        let body = Authorize.requestBody(agentID: "a", metadata: ["n": 2], conversationID: nil,
                                         sdkVersion: "1")
        XCTAssertEqual((try? JSONValue.parse(body))?["metadata"], ["n": 2])
    }
}
