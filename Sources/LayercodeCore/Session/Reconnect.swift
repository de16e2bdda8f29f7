// SPDX-License-Identifier: Apache-2.0
/// Why a session ended for good (lc_client_failure_reason). The raw values are the C ABI's
/// LC_FAILURE_* numbers; they are never reused or renumbered.
public enum FailureReason: Int32, Sendable, Equatable {
    case none = 0
    /// DNS, TCP, connection reset or dropped, a timeout: the service could not be reached.
    case unreachable = 1
    /// The authorize endpoint refused (the HTTP status comes with it).
    case authorizeRejected = 2
    case tls = 3
    /// The server broke the HTTP, WebSocket or Layercode protocol, or closed with a
    /// protocol-error code (1002, 1003, 1007..1010).
    case protocolError = 4
    /// Every reconnect attempt failed with a retryable error.
    case maxRetries = 5
    /// The server closed the session with an application code (3000..4999).
    case closedByServer = 6
    /// The audio device failed.
    case audio = 7
}

/// Reconnect and backoff (issue "survives the real world"). Exponential backoff with
/// "equal jitter": attempt n waits a random time in [d/2, d], d = min(cap, base * 2^(n-1)).
public struct ReconnectPolicy: Sendable, Equatable {
    /// Attempts after an unexpected drop; 0 turns reconnecting off.
    public var maxAttempts: Int
    public var baseDelayMilliseconds: Int
    public var maxDelayMilliseconds: Int
    /// Microphone audio kept while reconnecting (20 ms frames); the oldest is dropped first.
    public var outageFrames: Int

    public init(maxAttempts: Int = 0, baseDelayMilliseconds: Int = 500,
                maxDelayMilliseconds: Int = 7000, outageFrames: Int = 100) {
        self.maxAttempts = maxAttempts
        self.baseDelayMilliseconds = baseDelayMilliseconds
        self.maxDelayMilliseconds = maxDelayMilliseconds
        self.outageFrames = outageFrames
    }

    /// The wait before attempt `attempt` (1-based); `unitRandom` in 0...1.
    public func delayMilliseconds(attempt: Int, unitRandom: Double) -> Int {
        let exponent = min(max(attempt - 1, 0), 30)
        let ceiling = min(maxDelayMilliseconds, baseDelayMilliseconds.multipliedReportingOverflow(
            by: 1 << exponent).overflow ? maxDelayMilliseconds : baseDelayMilliseconds << exponent)
        let r = min(max(unitRandom, 0), 1)
        return ceiling / 2 + Int(Double(ceiling - ceiling / 2) * r)
    }

    /// Whether an error is worth another attempt (the network or the server's load), or final
    /// (a refusal, a certificate, a protocol violation: retrying gives the same answer).
    public static func isRetryable(_ error: LayercodeError) -> Bool {
        switch error.code {
        case .network, .timeout:
            return true
        case .authorize, .protocolViolation:
            // A refused authorize or WebSocket upgrade: only the server's own trouble passes.
            guard let status = error.httpStatus else { return false }
            return status >= 500 || status == 408 || status == 429
        default:
            return false
        }
    }

    /// The reason a final error reports.
    public static func reason(for error: LayercodeError) -> FailureReason {
        switch error.code {
        case .network, .timeout: return .unreachable
        case .authorize: return .authorizeRejected
        case .tls: return .tls
        case .closed: return .closedByServer
        case .audio: return .audio
        default: return .protocolError
        }
    }

    /// What a server's close code means (doc/protocol.md: the server ends sessions by closing).
    public enum CloseKind: Equatable { case cleanEnd, retryable, protocolError, application }

    /// - 1000 (normal) and a close without a code: the server ended the session on purpose
    ///   (e.g. its duration limit): a clean end.
    /// - 1001 (going away: a deploy, a restart, a load balancer draining) is the server
    ///   leaving, not the conversation ending: reconnect and resume, like 1006 (dropped),
    ///   1011 (server error), 1012 (restart), 1013 (try again later), 1014 (bad gateway).
    /// - 3000..4999: the application's own reason: final.
    /// - Anything else (1002, 1003, 1007..1010, unknown codes): a protocol error, final.
    public static func classify(closeCode code: UInt16?) -> CloseKind {
        guard let code else { return .cleanEnd }
        switch code {
        case 1000: return .cleanEnd
        case 1001, 1006, 1011, 1012, 1013, 1014: return .retryable
        case 3000...4999: return .application
        default: return .protocolError
        }
    }
}
