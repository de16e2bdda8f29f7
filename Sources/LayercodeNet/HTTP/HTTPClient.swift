// SPDX-License-Identifier: Apache-2.0
import LayercodeCore

/// One HTTP/1.1 request on its own connection (`Connection: close`), on the event loop.
/// Used for the authorize POST. The completion runs once, on the loop thread, unless the
/// request is cancelled first.
///
/// Ownership (no weak references: Embedded Swift has none): once started, the request's
/// timer and its connection's callbacks hold it strongly, so it runs to its end even if the
/// caller lets go of it. Completing (response, failure or the timeout) and `cancel()` both
/// cancel the timer and close the connection, which drops those callbacks and the cycle;
/// the timeout guarantees one of them happens. To stop it, `cancel()`.
public final class HTTPRequest {
    public struct Response: Sendable {
        public var status: Int
        public var head: HTTPResponseHead
        public var body: [UInt8]
    }

    public typealias Completion = (Result<Response, LayercodeError>) -> Void

    private let loop: EventLoop
    private let connection: StreamConnection
    private var parser: HTTPResponseParser
    private var completion: Completion?
    private var timer: EventLoop.TimerHandle?
    private let requestBytes: [UInt8]
    private let timeoutMilliseconds: Int
    private let description: String

    /// `headers` are extra "Name: Value" pairs; Host, Content-Length, Connection and
    /// User-Agent are set here.
    public init(loop: EventLoop, method: String, url: URLParts, headers: [(String, String)],
                body: [UInt8], contentType: String?, tls: TLSContext?, timeoutMilliseconds: Int,
                maxResponseBytes: Int, userAgent: String,
                connectionTimeouts: StreamConnection.Timeouts = StreamConnection.Timeouts()) {
        self.loop = loop
        self.timeoutMilliseconds = timeoutMilliseconds
        description = "\(method) \(url.redacted)"  // errors reach on_error and the log
        connection = StreamConnection(loop: loop, endpoint: .init(
            host: url.host, port: url.port, hostIsIPLiteral: url.hostIsIPLiteral, tls: tls,
            timeouts: connectionTimeouts))
        parser = HTTPResponseParser(mode: .full, maxBodyBytes: maxResponseBytes,
                                    isHeadRequest: method == "HEAD")
        var head = "\(method) \(url.pathAndQuery) HTTP/1.1\r\nHost: \(url.hostHeader)\r\n"
        head += "User-Agent: \(userAgent)\r\nAccept: application/json\r\nConnection: close\r\n"
        if let contentType { head += "Content-Type: \(contentType)\r\n" }
        head += "Content-Length: \(body.count)\r\n"
        for (name, value) in headers { head += "\(name): \(value)\r\n" }
        head += "\r\n"
        requestBytes = Array(head.utf8) + body
    }

    public func start(_ completion: @escaping Completion) {
        self.completion = completion
        // Strong captures: complete() and cancel() cancel this timer and close the connection
        // (which drops its callbacks), and this timer makes sure one of them runs.
        timer = loop.schedule(afterMilliseconds: timeoutMilliseconds) { [self] in
            self.complete(.failure(LayercodeError(
                .timeout, "\(self.description): no complete response in \(self.timeoutMilliseconds) ms")))
        }
        connection.onOpen = { [self] in
            self.connection.send(self.requestBytes)
        }
        connection.onBytes = { [self] bytes in
            do throws(HTTPParseError) {
                if try self.parser.feed(bytes) { self.finishParsed() }
            } catch {
                self.complete(.failure(self.parseError(error)))
            }
        }
        connection.onClose = { [self] error in
            if let error {
                self.complete(.failure(error))
                return
            }
            do throws(HTTPParseError) {
                if try self.parser.finishAtEOF() {
                    self.finishParsed()
                } else {
                    self.complete(.failure(LayercodeError(
                        .protocolViolation, "\(self.description): connection closed before a response")))
                }
            } catch {
                self.complete(.failure(self.parseError(error)))
            }
        }
        connection.start()
    }

    public func cancel() {
        completion = nil
        loop.cancel(timer)
        connection.close()
    }

    /// A response the parser refused: over a limit is `.tooLarge`, anything else (not HTTP,
    /// or cut short) a protocol violation.
    static func errorCode(_ reason: HTTPParseError.Reason) -> ErrorCode {
        switch reason {
        case .tooLarge: return .tooLarge
        case .malformed, .truncated: return .protocolViolation
        }
    }

    private func parseError(_ error: HTTPParseError) -> LayercodeError {
        LayercodeError(Self.errorCode(error.reason), "\(description): bad HTTP response: \(error.message)")
    }

    private func finishParsed() {
        guard let head = parser.head else { return }
        complete(.success(Response(status: head.status, head: head, body: parser.body)))
    }

    private func complete(_ result: Result<Response, LayercodeError>) {
        guard let completion else { return }
        self.completion = nil
        loop.cancel(timer)
        connection.close()
        completion(result)
    }
}
