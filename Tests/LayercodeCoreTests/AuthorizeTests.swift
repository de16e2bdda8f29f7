// SPDX-License-Identifier: Apache-2.0
import XCTest
@testable import LayercodeCore

// Authorize.parseResponse's refusals (issue 9 item 17): every invalid body says what is
// wrong and where, and empty or NUL-bearing keys and conversation ids are refused.

final class AuthorizeTests: XCTestCase {
    private let config = #""config":{"transcription":{"trigger":"automatic"}}"#

    private func refusal(_ body: String, status: Int = 200,
                         file: StaticString = #filePath, line: UInt = #line) -> LayercodeError? {
        do {
            let result = try Authorize.parseResponse(status: status, body: Array(body.utf8))
            XCTFail("accepted: \(result.conversationID)", file: file, line: line)
            return nil
        } catch {
            return error
        }
    }

    func testInvalidAuthorizeJSONReportsTheParseErrorAndItsByteOffset() {
        let error = refusal(#"{"client_session_key": "k", oops}"#)
        XCTAssertEqual(error?.code, .protocolViolation)
        XCTAssertTrue(error?.message.hasPrefix("authorize response is not valid JSON: ") ?? false,
                      error?.message ?? "")
        XCTAssertTrue(error?.message.hasSuffix("at byte 28") ?? false, error?.message ?? "")
    }

    func testAuthorizeJSONOfAnotherTypeSaysWhichType() {
        XCTAssertEqual(refusal("[1,2]")?.message, "authorize response is an array, not a JSON object")
        XCTAssertEqual(refusal("\"k\"")?.message, "authorize response is a string, not a JSON object")
    }

    func testAuthorizeResponseNamesTheMissingOrMistypedField() {
        XCTAssertEqual(refusal(#"{"conversation_id":"c",\#(config)}"#)?.message,
                       "authorize response has no client_session_key")
        XCTAssertEqual(refusal(#"{"client_session_key":7,"conversation_id":"c",\#(config)}"#)?.message,
                       "authorize response client_session_key is a number, not a string")
        XCTAssertEqual(refusal(#"{"client_session_key":"k",\#(config)}"#)?.message,
                       "authorize response has no conversation_id")
        XCTAssertEqual(refusal(#"{"client_session_key":"k","conversation_id":null,\#(config)}"#)?.message,
                       "authorize response conversation_id is null, not a string")
        XCTAssertEqual(refusal(#"{"client_session_key":"k","conversation_id":"c"}"#)?.message,
                       "authorize response has no config")
        XCTAssertEqual(refusal(#"{"client_session_key":"k","conversation_id":"c","config":[]}"#)?.message,
                       "authorize response config is an array, not an object")
        XCTAssertEqual(refusal(#"{"client_session_key":"k","conversation_id":"c","config":{}}"#)?.message,
                       "authorize response has no config.transcription")
        XCTAssertEqual(refusal(#"{"client_session_key":"k","conversation_id":"c","config":{"transcription":{"trigger":true}}}"#)?.message,
                       "config.transcription.trigger is a boolean, not a string")
    }

    func testEmptyConversationIDOrSessionKeyIsRefusedAsAProtocolError() {
        let emptyConversation = refusal(#"{"client_session_key":"k","conversation_id":"",\#(config)}"#)
        XCTAssertEqual(emptyConversation?.code, .protocolViolation)
        XCTAssertEqual(emptyConversation?.message, "authorize response conversation_id is empty")
        XCTAssertEqual(refusal(#"{"client_session_key":"k","session_id":"",\#(config)}"#)?.message,
                       "authorize response session_id is empty")
        XCTAssertEqual(refusal(#"{"client_session_key":"","conversation_id":"c",\#(config)}"#)?.message,
                       "authorize response client_session_key is empty")
    }

    func testNULInConversationIDOrSessionKeyIsRefused() {
        XCTAssertEqual(refusal(#"{"client_session_key":"k","conversation_id":"c\u0000d",\#(config)}"#)?.message,
                       "authorize response conversation_id contains a NUL")
        XCTAssertEqual(refusal(#"{"client_session_key":"k\u0000","conversation_id":"c",\#(config)}"#)?.message,
                       "authorize response client_session_key contains a NUL")
    }

    func testLegacySessionIDIsStillAcceptedForTheConversation() throws {
        let result = try Authorize.parseResponse(
            status: 200, body: Array(#"{"client_session_key":"k","session_id":"s-1",\#(config)}"#.utf8))
        XCTAssertEqual(result.conversationID, "s-1")
    }

    func testNULInTheServersAuthorizeErrorTextIsShownNotTruncated() {
        let error = refusal(#"{"error":"bad key\u0000 secret detail"}"#, status: 400)
        XCTAssertEqual(error?.code, .authorize)
        XCTAssertEqual(error?.message, "authorize failed: HTTP 400: bad key\u{FFFD} secret detail")
    }
}

/// The socket URL of an authorized session (doc/protocol.md §1.3): the key as a query
/// parameter, appended to a query the app's ws_url may already have, percent-encoded.
final class SocketURLTests: XCTestCase {
    func testTheKeyIsTheClientSessionKeyParameter() throws {
        let plain = try URLParts.parse("wss://api.layercode.com/v1/agents/web/websocket")
        XCTAssertEqual(Authorize.socketURL(plain, clientSessionKey: "k1").pathAndQuery,
                       "/v1/agents/web/websocket?client_session_key=k1")
        let withQuery = try URLParts.parse("ws://127.0.0.1:9/ws?region=eu")
        XCTAssertEqual(Authorize.socketURL(withQuery, clientSessionKey: "a b&c=d/é").pathAndQuery,
                       "/ws?region=eu&client_session_key=a%20b%26c%3Dd%2F%C3%A9")
        XCTAssertEqual(Authorize.defaultWebSocketURL, "wss://api.layercode.com/v1/agents/web/websocket")
    }
}
