// SPDX-License-Identifier: Apache-2.0
import CLayercodeShims
import CPosix
import LayercodeCore

/// A non-blocking TCP connection, optionally TLS, driven by the event loop:
/// resolve → connect (each address in turn) → TLS handshake → open.
/// All methods and callbacks run on the loop thread. After `onClose` or `close()` nothing
/// more is called back.
///
/// Ownership (no weak references: Embedded Swift has none): the callbacks may capture the
/// owner strongly. The cycle owner -> connection -> callback -> owner is broken by `close()`
/// and by the end of the connection (`onClose`), which both drop every callback and cancel
/// the step timer; an owner must end the connection one of these ways before letting go of
/// it (releasing it alone stops nothing while the loop watches its socket).
public final class StreamConnection: FDHandler {
    public var onOpen: (() -> Void)?
    /// Bytes received; the buffer is valid only during the call.
    public var onBytes: ((UnsafeRawBufferPointer) -> Void)?
    /// The connection ended: nil for an orderly end of stream, or the failure.
    public var onClose: ((LayercodeError?) -> Void)?
    /// Everything queued has been written to the socket.
    public var onDrained: (() -> Void)?

    private enum State { case idle, resolving, connecting, handshaking, open, closed }
    private var state = State.idle
    private let loop: EventLoop
    private let endpoint: Endpoint
    private var fd: Int32 = -1
    /// What epoll watches `fd` for now (bit 0 readable, bit 1 writable; -1 not registered),
    /// so that a send that leaves nothing queued costs no epoll_ctl.
    private var watching: Int8 = -1
    private var ssl: OpaquePointer?
    private var addresses: [SocketAddress] = []
    private var addressIndex = 0
    private var lastConnectError = ""
    private var outbox: [UInt8] = []
    private var outboxOffset = 0
    private var closeWhenFlushed = false
    /// Set once the connection failed: a TLS close_notify is sent only on an orderly end.
    private var failed = false
    private var plainBytesReceived: UInt64 = 0
    private var stepTimer: EventLoop.TimerHandle?
    private let readBuffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 64 << 10,
                                                                   alignment: 16)

    public init(loop: EventLoop, endpoint: Endpoint) {
        self.loop = loop
        self.endpoint = endpoint
    }

    deinit {
        teardown()
        readBuffer.deallocate()
    }

    public var isOpen: Bool { state == .open }
    public var pendingOutputBytes: Int { outbox.count - outboxOffset }

    /// Bytes received from the socket so far, counted as they arrive: over TLS, partial
    /// records too (what a keepalive should count as life on a slow link).
    public var socketBytesReceived: UInt64 {
        if let ssl { return UInt64(lcshim_ssl_socket_bytes_received(ssl)) }
        return plainBytesReceived
    }

    /// At most this many bytes are read per readiness event, so a peer that sends faster
    /// than we parse cannot keep the loop in one handler: posted commands, timers and other
    /// connections run between slices. The loop's epoll is level-triggered, so the rest is
    /// reported again at once.
    public static let readSliceBytes = 64 << 10

    public func start() {
        guard state == .idle else { return }
        state = .resolving
        startStepTimer(endpoint.timeouts.dnsMilliseconds, "DNS lookup of \(endpoint.host)")
        // Strong: the answer holds this connection until it arrives (getaddrinfo's own wait);
        // after close() the state check makes it a no-op.
        Resolver.resolve(host: endpoint.host, port: endpoint.port, on: loop) { [self] result in
            guard self.state == .resolving else { return }
            switch result {
            case .success(let addresses):
                self.addresses = addresses
                self.startStepTimer(self.endpoint.timeouts.connectMilliseconds,
                                    "TCP connect to \(self.endpoint.host):\(self.endpoint.port)")
                self.connectNext()
            case .failure(let error):
                self.fail(error)
            }
        }
    }

    /// Queues bytes and writes what the socket takes now.
    public func send(_ bytes: [UInt8]) {
        guard state != .closed else { return }
        if outboxOffset == outbox.count {
            outbox.removeAll(keepingCapacity: true)
            outboxOffset = 0
        }
        outbox.append(contentsOf: bytes)
        if state == .open { flush() }
    }

    /// Closes after the queued bytes are written (or at once if nothing is queued), and at
    /// the latest after `milliseconds`: a peer that stays connected but stops reading must not
    /// keep the socket, its buffers and its TLS state for ever.
    public func closeAfterFlush(within milliseconds: Int) {
        closeWhenFlushed = true
        if state == .open && pendingOutputBytes == 0 { close(); return }
        loop.cancel(stepTimer)
        // Strong: close() and finish() cancel it; otherwise it ends the connection itself.
        stepTimer = loop.schedule(afterMilliseconds: max(1, milliseconds)) { [self] in close() }
    }

    /// Closes now, silently: no callback follows.
    public func close() {
        onOpen = nil
        onBytes = nil
        onClose = nil
        onDrained = nil
        loop.cancel(stepTimer)
        stepTimer = nil
        teardown()
        state = .closed
    }

    // MARK: Connecting

    private func connectNext() {
        if fd >= 0 {
            loop.unregister(fd: fd)
            watching = -1
            TCPSocket.close(fd)
            fd = -1
        }
        guard addressIndex < addresses.count else {
            fail(LayercodeError(.network, "cannot connect to \(endpoint.host):\(endpoint.port): "
                                + (lastConnectError.isEmpty ? "no address" : lastConnectError)))
            return
        }
        let address = addresses[addressIndex]
        addressIndex += 1
        let connectedAtOnce: Bool
        do throws(Errno) {
            fd = try TCPSocket.open(family: address.family, sendBufferBytes: endpoint.sendBufferBytes)
            connectedAtOnce = try TCPSocket.connect(fd, to: address)
        } catch {
            lastConnectError = error.reason
            connectNext()
            return
        }
        if connectedAtOnce {
            connected()
        } else {
            state = .connecting
            watch(readable: false, writable: true, register: true)
        }
    }

    private func connected() {
        if let tls = endpoint.tls {
            do { try beginTLS(tls) } catch { fail(error); return }
            state = .handshaking
            startStepTimer(endpoint.timeouts.tlsMilliseconds, "TLS handshake with \(endpoint.host)")
            guard watch(readable: true, writable: true, register: true) else { return }
            handshake()
        } else {
            becomeOpen()
        }
    }

    private func beginTLS(_ tls: TLSContext) throws(LayercodeError) {
        guard let ssl = SSL_new(tls.ctx) else { throw LayercodeError(.tls, "SSL_new failed") }
        self.ssl = ssl
        // Our own socket BIO: send(MSG_NOSIGNAL), so a write after a reset never raises
        // SIGPIPE in the host, and a count of raw bytes received.
        guard lcshim_ssl_set_socket(ssl, fd) == 1 else {
            throw LayercodeError(.tls, "cannot attach the socket to TLS")
        }
        // A trailing dot names the same host; certificates never carry it.
        var host = endpoint.host
        while host.hasSuffix(".") { host.removeLast() }
        guard !host.isEmpty else { throw LayercodeError(.tls, "empty host name") }
        if endpoint.hostIsIPLiteral {
            // Never SNI for an IP literal; verify it against the certificate's IP SANs.
            guard X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), host) == 1 else {
                throw LayercodeError(.tls, "invalid IP address \(host)")
            }
        } else {
            guard lcshim_ssl_set_sni(ssl, host) == 1, SSL_set1_host(ssl, host) == 1 else {
                throw LayercodeError(.tls, "cannot set the TLS host name \(host)")
            }
            // Only subjectAltName DNS entries name the host, never the subject's CN (RFC 9525).
            lcshim_ssl_never_check_subject(ssl)
        }
    }

    private func handshake() {
        guard let ssl else { return }
        ERR_clear_error()
        let rc = SSL_connect(ssl)
        if rc == 1 {
            becomeOpen()
            return
        }
        let sslError = SSL_get_error(ssl, rc)
        switch sslError {
        case SSL_ERROR_WANT_READ:
            watch(readable: true, writable: false)
        case SSL_ERROR_WANT_WRITE:
            watch(readable: true, writable: true)
        case SSL_ERROR_SYSCALL where ERR_peek_error() == 0:
            // The peer reset or closed the TCP connection mid-handshake: a network failure
            // (worth a reconnect), not a certificate or protocol verdict.
            let reason = rc == 0 || lcposix_errno() == 0 ? "connection closed" : String(cString: strerror(lcposix_errno()))
            fail(LayercodeError(.network, "TLS handshake with \(endpoint.host) failed: \(reason)"))
        case SSL_ERROR_SSL where lcshim_err_is_unexpected_eof(ERR_peek_error()) != 0:
            // OpenSSL 3 reports a peer that closed mid-handshake this way.
            fail(LayercodeError(.network, "TLS handshake with \(endpoint.host) failed: "
                                + "connection closed by the server"))
        default:
            fail(LayercodeError(.tls, "TLS handshake with \(endpoint.host) failed: "
                                + TLSContext.errorText(ssl)))
        }
    }

    private func becomeOpen() {
        state = .open
        loop.cancel(stepTimer)
        stepTimer = nil
        guard watch(readable: true, writable: pendingOutputBytes > 0, register: true) else { return }
        onOpen?()
        if state == .open { flush() }
    }

    // MARK: Readiness

    public func fdReady(readable: Bool, writable: Bool, hangup: Bool) {
        switch state {
        case .connecting:
            let err = TCPSocket.pendingError(fd)
            if err == 0 && (writable || readable) {
                connected()
            } else {
                lastConnectError = String(cString: strerror(err == 0 ? ECONNREFUSED : err))
                connectNext()
            }
        case .handshaking:
            handshake()
        case .open:
            if writable { flush() }
            if state == .open && (readable || hangup) { readAvailable() }
        default:
            break
        }
    }

    /// Reads up to `readSliceBytes`, then returns to the loop. Over TLS the slice ends only
    /// once OpenSSL holds no decrypted bytes (at most one record), which epoll cannot see.
    private func readAvailable() {
        var taken = 0
        while state == .open {
            if taken >= Self.readSliceBytes {
                guard let ssl, SSL_pending(ssl) > 0 else { return }
            }
            let n: Int
            if let ssl {
                ERR_clear_error()
                let rc = SSL_read(ssl, readBuffer.baseAddress, Int32(readBuffer.count))
                if rc > 0 {
                    n = Int(rc)
                } else {
                    let err = SSL_get_error(ssl, rc)
                    if err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE { return }
                    if err == SSL_ERROR_ZERO_RETURN { finish(nil); return }
                    finish(TLSContext.lostConnection(err, rc, ssl))
                    return
                }
            } else {
                let rc: Int
                do throws(Errno) {
                    guard let got = try TCPSocket.read(fd, into: readBuffer) else { return }   // would block
                    rc = got
                } catch {
                    finish(LayercodeError(.network, "read failed: \(error.reason)"))
                    return
                }
                if rc == 0 {
                    finish(nil)
                    return
                }
                n = rc
                plainBytesReceived &+= UInt64(rc)
            }
            taken += n
            onBytes?(UnsafeRawBufferPointer(rebasing: readBuffer[0..<n]))
        }
    }

    private func flush() {
        var sendErrno: Int32 = 0
        while state == .open && pendingOutputBytes > 0 {
            let written: Int = outbox.withUnsafeBytes { all in
                let chunk = UnsafeRawBufferPointer(rebasing: all[outboxOffset...])
                if let ssl {
                    ERR_clear_error()
                    let rc = SSL_write(ssl, chunk.baseAddress, Int32(min(chunk.count, 1 << 20)))
                    if rc > 0 { return Int(rc) }
                    let err = SSL_get_error(ssl, rc)
                    if err == SSL_ERROR_WANT_WRITE || err == SSL_ERROR_WANT_READ { return 0 }
                    return -1
                }
                do throws(Errno) {
                    return try TCPSocket.send(fd, chunk)
                } catch {
                    sendErrno = error.code
                    return -1
                }
            }
            if written < 0 {
                let detail = ssl != nil ? TLSContext.errorText(ssl) : String(cString: strerror(sendErrno))
                finish(LayercodeError(.network, "write failed: \(detail)"))
                return
            }
            if written == 0 { break }
            outboxOffset += written
        }
        guard state == .open else { return }
        if pendingOutputBytes == 0 {
            outbox.removeAll(keepingCapacity: true)
            outboxOffset = 0
            if closeWhenFlushed { finish(nil); return }
            guard watch(readable: true, writable: false) else { return }
            onDrained?()
            return
        }
        watch(readable: true, writable: true)
    }

    /// Tells the loop what to watch the socket for. A socket epoll refuses to watch would
    /// wait forever, so a refusal fails the connection at once, with the reason; false then.
    @discardableResult
    private func watch(readable: Bool, writable: Bool, register: Bool = false) -> Bool {
        let wanted: Int8 = (readable ? 1 : 0) | (writable ? 2 : 0)
        if !register && wanted == watching { return true }
        do throws(Errno) {
            if register {
                try loop.register(fd: fd, readable: readable, writable: writable, handler: self)
            } else {
                try loop.modify(fd: fd, readable: readable, writable: writable)
            }
            watching = wanted
            return true
        } catch {
            fail(LayercodeError(.network, "cannot watch the socket to \(endpoint.host):\(endpoint.port): "
                                + error.description))
            return false
        }
    }

    /// One timer per connecting step: each step's limit starts when the step does.
    private func startStepTimer(_ milliseconds: Int, _ step: String) {
        loop.cancel(stepTimer)
        stepTimer = nil
        guard milliseconds > 0 else { return }
        // Strong: close() and becomeOpen() cancel the timer, which releases this closure.
        stepTimer = loop.schedule(afterMilliseconds: milliseconds) { [self] in
            guard self.state != .open, self.state != .closed else { return }
            self.fail(LayercodeError(.timeout, "\(step) timed out after \(milliseconds) ms"))
        }
    }

    // MARK: Ending

    private func fail(_ error: LayercodeError) { finish(error) }

    private func finish(_ error: LayercodeError?) {
        guard state != .closed else { return }
        if error != nil { failed = true }
        let callback = onClose
        close()
        callback?(error)
    }

    private func teardown() {
        if let ssl {
            // close_notify on an orderly end only: after a failure there is nobody to tell.
            if state == .open && !failed { SSL_shutdown(ssl) }
            SSL_free(ssl)
            self.ssl = nil
        }
        if fd >= 0 {
            loop.unregister(fd: fd)
            watching = -1
            TCPSocket.close(fd)
            fd = -1
        }
    }
}
