// SPDX-License-Identifier: Apache-2.0
import Glibc

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
        let e = errno
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
