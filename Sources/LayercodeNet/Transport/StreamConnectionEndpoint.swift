// SPDX-License-Identifier: Apache-2.0

/// Where a StreamConnection goes, and how long each connecting step may take.
extension StreamConnection {
    public struct Endpoint: Sendable {
        public var host: String
        public var port: Int
        public var hostIsIPLiteral: Bool
        public var tls: TLSContext?
        public var timeouts: Timeouts
        /// SO_SNDBUF for the socket; 0: the system's (auto-tuned) default. A small one is
        /// what a slow uplink amounts to; tests use it to make the kernel take little.
        public var sendBufferBytes: Int
        public init(host: String, port: Int, hostIsIPLiteral: Bool, tls: TLSContext?,
                    timeouts: Timeouts = Timeouts(), sendBufferBytes: Int = 0) {
            self.host = host
            self.port = port
            self.hostIsIPLiteral = hostIsIPLiteral
            self.tls = tls
            self.timeouts = timeouts
            self.sendBufferBytes = sendBufferBytes
        }
    }

    /// Per-step limits in milliseconds (0: none; the caller's overall timer still runs).
    /// The DNS lookup runs on its own thread and cannot be cancelled: on timeout its answer
    /// is ignored.
    public struct Timeouts: Sendable, Equatable {
        public var dnsMilliseconds = 0
        public var connectMilliseconds = 0
        public var tlsMilliseconds = 0
        public init(dnsMilliseconds: Int = 0, connectMilliseconds: Int = 0, tlsMilliseconds: Int = 0) {
            self.dnsMilliseconds = dnsMilliseconds
            self.connectMilliseconds = connectMilliseconds
            self.tlsMilliseconds = tlsMilliseconds
        }
    }
}
