// SPDX-License-Identifier: Apache-2.0
import CPosix
import LayercodeCore

/// The recording's file. Opened when the app connects (so a path that cannot be written
/// fails the connect) without truncating it; emptied by `truncate` when the session first
/// connects; written with write(2) by the recorder thread; closed without fsync. A session
/// that never connected leaves the path as it was (`abandon`: a file this made is removed,
/// an existing one is untouched). One owner at a time.
public final class RecorderFile: @unchecked Sendable {
    public let path: String
    private var fd: Int32
    /// Whether this object created the file (it did not exist before).
    private let created: Bool

    /// Throws LayercodeError(.invalidArgument, "record_path <path>: ...") when the file
    /// cannot be opened for writing.
    public convenience init(path: String) throws(LayercodeError) {
        guard !path.isEmpty else { throw LayercodeError(.invalidArgument, "record_path is empty") }
        var created = true
        var fd = lcposix_open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        if fd < 0 && lcposix_errno() == EEXIST {
            created = false
            // O_NONBLOCK: opening a FIFO nobody reads must fail, not hang lc_client_connect.
            fd = lcposix_open(path, O_WRONLY | O_CLOEXEC | O_NONBLOCK, 0)
        }
        guard fd >= 0 else {
            throw LayercodeError(.invalidArgument,
                                 "record_path \(path): cannot open for writing: \(String(cString: strerror(lcposix_errno())))")
        }
        var info = stat()
        let kind = fstat(fd, &info) == 0 ? UInt32(info.st_mode) & UInt32(S_IFMT) : 0
        if kind == UInt32(S_IFIFO) || kind == UInt32(S_IFSOCK) {
            _ = CPosix.close(fd)
            throw LayercodeError(.invalidArgument,
                                 "record_path \(path): a pipe or socket; a recording needs a file")
        }
        self.init(path: path, fd: fd, created: created)
    }

    private init(path: String, fd: Int32, created: Bool) {
        self.path = path
        self.fd = fd
        self.created = created
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

    /// Empties the file: the recording starts (a device or pipe that cannot be truncated,
    /// /dev/null, is written as it is).
    public func truncate() {
        guard fd >= 0 else { return }
        _ = ftruncate(fd, 0)
    }

    /// The session never connected: closes, and removes the file if this made it.
    public func abandon() {
        close()
        if created { _ = unlink(path) }
    }
}
