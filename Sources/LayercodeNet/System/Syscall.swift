// SPDX-License-Identifier: Apache-2.0
import CPosix

/// One syscall wrapper (STYLE.md §11): retries EINTR, maps EAGAIN to `nil` ("would block"),
/// throws a typed errno for the rest. Every syscall in LayercodeNet goes through it, except
/// the few whose errors mean something else (connect's EINPROGRESS, getsockopt's SO_ERROR)
/// and OpenSSL's own reads and writes. No allocation: `name` is a literal, so an audio
/// thread may use it (the eventfd write).
public struct Errno: Error, Equatable, CustomStringConvertible {
    public var code: Int32
    public var call: String
    public init(code: Int32, call: String) {
        self.code = code
        self.call = call
    }
    /// The system's text for `code` ("Connection refused").
    public var reason: String { String(cString: strerror(code)) }
    public var description: String { "\(call): \(reason)" }
}

@inline(__always)
func syscallRetrying<T: BinaryInteger>(_ name: String, _ body: () -> T) throws(Errno) -> T? {
    while true {
        let r = body()
        if r >= 0 { return r }
        let e = lcposix_errno()
        if e == EINTR { continue }
        if e == EAGAIN || e == EWOULDBLOCK { return nil }
        throw Errno(code: e, call: name)
    }
}

/// Monotonic time in nanoseconds.
public func monotonicNanoseconds() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return UInt64(ts.tv_sec) &* 1_000_000_000 &+ UInt64(ts.tv_nsec)
}

/// StreamConnection's plain-socket calls, each through `syscallRetrying` (EINTR retried,
/// EAGAIN as "would block", a typed errno for the rest).
enum TCPSocket {
    /// A non-blocking, close-on-exec stream socket with TCP_NODELAY, and SO_SNDBUF when
    /// `sendBufferBytes` > 0 (both best effort, as a socket without them still works).
    static func open(family: Int32, sendBufferBytes: Int) throws(Errno) -> Int32 {
        let fd = try syscallRetrying("socket") {
            socket(family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue)
                   | Int32(SOCK_CLOEXEC.rawValue), 0)
        } ?? -1
        guard fd >= 0 else { throw Errno(code: EAGAIN, call: "socket") }
        var one: Int32 = 1
        _ = try? syscallRetrying("setsockopt(TCP_NODELAY)") {
            setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
        }
        if sendBufferBytes > 0 {
            var size = Int32(clamping: sendBufferBytes)
            _ = try? syscallRetrying("setsockopt(SO_SNDBUF)") {
                setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, socklen_t(MemoryLayout<Int32>.size))
            }
        }
        return fd
    }

    /// Starts a non-blocking connect: true if it completed at once, false if it is under
    /// way (wait for writability, then `pendingError`). Not through `syscallRetrying`: here
    /// EINPROGRESS and EINTR both mean "under way" (retrying after EINTR gets EALREADY).
    static func connect(_ fd: Int32, to address: SocketAddress) throws(Errno) -> Bool {
        var address = address
        let rc = withUnsafePointer(to: &address.storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                CPosix.connect(fd, $0, address.length)
            }
        }
        if rc == 0 { return true }
        let e = lcposix_errno()
        if e == EINPROGRESS || e == EINTR { return false }
        throw Errno(code: e, call: "connect")
    }

    /// How a non-blocking connect ended (SO_ERROR): 0 if it succeeded.
    static func pendingError(_ fd: Int32) -> Int32 {
        var err: Int32 = 0
        var len = socklen_t(MemoryLayout<Int32>.size)
        do throws(Errno) {
            _ = try syscallRetrying("getsockopt(SO_ERROR)") { getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) }
        } catch {
            return error.code
        }
        return err
    }

    /// Bytes read (0: end of stream), nil if none are ready.
    static func read(_ fd: Int32, into buffer: UnsafeMutableRawBufferPointer) throws(Errno) -> Int? {
        try syscallRetrying("read") { CPosix.read(fd, buffer.baseAddress, buffer.count) }
    }

    /// Bytes the socket took (0 if it takes none now); never raises SIGPIPE.
    static func send(_ fd: Int32, _ bytes: UnsafeRawBufferPointer) throws(Errno) -> Int {
        try syscallRetrying("send") { CPosix.send(fd, bytes.baseAddress, bytes.count, Int32(MSG_NOSIGNAL)) } ?? 0
    }

    /// Never retried: on Linux the descriptor is gone even when close reports EINTR.
    static func close(_ fd: Int32) {
        _ = CPosix.close(fd)
    }
}
