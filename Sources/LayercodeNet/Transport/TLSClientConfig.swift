// SPDX-License-Identifier: Apache-2.0
import CLayercodeShims
import CPosix
import LayercodeCore

/// What a TLS client trusts. Peer verification is always on; TLS 1.2 is the minimum.
public struct TLSClientConfig: Sendable, Equatable {
    /// PEM file / directory of trusted CAs; both nil: the system store.
    public var caFile: String?
    public var caDir: String?
    public init(caFile: String? = nil, caDir: String? = nil) {
        self.caFile = caFile
        self.caDir = caDir
    }
}

/// An OpenSSL SSL_CTX configured from a TLSClientConfig (after OpenSSL's client guide).
public final class TLSContext: @unchecked Sendable {
    let ctx: OpaquePointer

    /// Everything that can fail runs before the object exists: Embedded Swift does not free
    /// an instance whose designated initializer throws before it is whole.
    public convenience init(_ config: TLSClientConfig) throws(LayercodeError) {
        guard let ctx = SSL_CTX_new(TLS_client_method()) else {
            throw LayercodeError(.tls, "SSL_CTX_new failed")
        }
        do {
            try Self.configure(ctx, config)
        } catch {
            SSL_CTX_free(ctx)
            throw error
        }
        self.init(ctx: ctx)
    }

    private init(ctx: OpaquePointer) { self.ctx = ctx }

    private static func configure(_ ctx: OpaquePointer, _ config: TLSClientConfig) throws(LayercodeError) {
        guard lcshim_ctx_configure_client(ctx) == 1 else {
            throw LayercodeError(.tls, "cannot set TLS 1.2 minimum")
        }
        if config.caFile != nil || config.caDir != nil {
            guard SSL_CTX_load_verify_locations(ctx, config.caFile, config.caDir) == 1 else {
                throw LayercodeError(.tls, "cannot load CA \(config.caFile ?? config.caDir ?? ""): "
                                     + TLSContext.errorText(nil))
            }
        } else if SSL_CTX_set_default_verify_paths(ctx) != 1 {
            throw LayercodeError(.tls, "cannot load the system CA store")
        }
    }

    deinit { SSL_CTX_free(ctx) }

    static func errorText(_ ssl: OpaquePointer?) -> String {
        var buf = [CChar](repeating: 0, count: 512)
        lcshim_ssl_error_text(ssl, &buf, buf.count)
        let text = String(decoding: buf.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) },
                          as: UTF8.self)
        return text.isEmpty ? "unknown TLS failure" : text
    }

    /// A failure of an established TLS session is a lost connection (worth a reconnect),
    /// whatever OpenSSL calls it: an EOF without close_notify (OpenSSL 3's "unexpected eof
    /// while reading"), a reset, a broken record. Only the handshake and the certificate
    /// give final TLS verdicts.
    static func lostConnection(_ err: Int32, _ rc: Int32, _ ssl: OpaquePointer) -> LayercodeError {
        let systemErrno = lcposix_errno()
        if err == SSL_ERROR_SYSCALL && ERR_peek_error() == 0 {
            if rc == 0 || systemErrno == 0 {
                return LayercodeError(.network, "connection closed without TLS close_notify")
            }
            return LayercodeError(.network, "TLS connection lost: " + String(cString: strerror(systemErrno)))
        }
        if lcshim_err_is_unexpected_eof(ERR_peek_error()) != 0 {
            _ = errorText(ssl)   // drains the queue
            return LayercodeError(.network, "connection closed without TLS close_notify")
        }
        return LayercodeError(.network, "TLS connection lost: " + errorText(ssl))
    }
}
