// SPDX-License-Identifier: Apache-2.0
import CPosix
import LayercodeCore

/// The recording's file: created (or truncated) when the session connects, so a path that
/// cannot be written fails the connect; written with write(2) by the recorder thread;
/// closed without fsync. One owner at a time.
public final class RecorderFile: @unchecked Sendable {
    public let path: String
    private var fd: Int32

    /// Throws LayercodeError(.invalidArgument, "<path>: ...") when the file cannot be created.
    public convenience init(path: String) throws(LayercodeError) {
        guard !path.isEmpty else { throw LayercodeError(.invalidArgument, "record_path is empty") }
        let fd = lcposix_open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else {
            throw LayercodeError(.invalidArgument,
                                 "record_path \(path): cannot create: \(String(cString: strerror(lcposix_errno())))")
        }
        self.init(path: path, fd: fd)
    }

    private init(path: String, fd: Int32) {
        self.path = path
        self.fd = fd
    }

    deinit { close() }

    /// Writes all of `bytes`; the error names the path.
    public func write(_ bytes: [UInt8]) throws(LayercodeError) {
        guard fd >= 0 else { throw LayercodeError(.audio, "\(path): closed") }
        var failure: Int32 = 0
        bytes.withUnsafeBytes { b in
            var done = 0
            while done < b.count {
                let n = CPosix.write(fd, b.baseAddress! + done, b.count - done)
                if n < 0 {
                    let e = lcposix_errno()
                    if e == EINTR { continue }
                    failure = e
                    return
                }
                if n == 0 { failure = EIO; return }
                done += n
            }
        }
        if failure != 0 {
            throw LayercodeError(.audio, "\(path): write failed: \(String(cString: strerror(failure)))")
        }
    }

    public func close() {
        guard fd >= 0 else { return }
        _ = CPosix.close(fd)
        fd = -1
    }

    /// Removes the file (a session that never connected leaves none).
    public func remove() {
        close()
        _ = unlink(path)
    }
}
