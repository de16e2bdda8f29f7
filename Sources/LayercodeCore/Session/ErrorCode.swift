// SPDX-License-Identifier: Apache-2.0
/// The library's error codes. The raw values are the C ABI's LC_ERR_* numbers
/// (include/layercode.h); they are never reused or renumbered.
public enum ErrorCode: Int32, Sendable, Error {
    case invalidArgument = -1
    case invalidState = -2
    case noMemory = -3
    case authorize = -4
    case network = -5
    case tls = -6
    case protocolViolation = -7
    case timeout = -8
    case closed = -9
    case audio = -10
    case tooLarge = -11
    case internalError = -12

    /// Static English text, the same as lc_strerror().
    public var text: String {
        switch self {
        case .invalidArgument: return "invalid argument"
        case .invalidState: return "invalid state for this call"
        case .noMemory: return "out of memory"
        case .authorize: return "authorize request rejected"
        case .network: return "network error"
        case .tls: return "TLS error"
        case .protocolViolation: return "protocol error"
        case .timeout: return "timed out"
        case .closed: return "session closed"
        case .audio: return "audio error"
        case .tooLarge: return "too large"
        case .internalError: return "internal error"
        }
    }
}

/// An error with its code and a detail message for lc_client_last_error().
public struct LayercodeError: Error, Sendable, Equatable {
    public var code: ErrorCode
    public var message: String
    /// The HTTP status behind the error (authorize refused, WebSocket upgrade refused).
    public var httpStatus: Int?
    public init(_ code: ErrorCode, _ message: String, httpStatus: Int? = nil) {
        self.code = code
        self.message = message
        self.httpStatus = httpStatus
    }
}
