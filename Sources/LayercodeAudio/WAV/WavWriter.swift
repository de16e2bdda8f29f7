// SPDX-License-Identifier: Apache-2.0
import CPosix
import LayercodeCore

/// Writes 16-bit PCM WAV, the speaker of `WavDriver`.
///
/// The 44-byte header goes out at `init` with both sizes 0xFFFFFFFF ("unknown length", what
/// streaming writers use), so a file whose writer died mid-way still reads to its end
/// (WavReader, ffmpeg, sox); `close()` (or deinit) puts the real RIFF and data sizes in.
/// Output that cannot seek (a pipe) keeps the unknown-length header.
///
/// `write` makes write(2) calls straight from the caller's samples (through a preallocated
/// buffer on big-endian hosts): no allocation, lock or log, so it may run on an audio
/// thread. One thread at a time.
public final class WavWriter {
    public let path: String
    public let sampleRate: Int
    public let channels: Int
    /// Whole frames written so far.
    public var framesWritten: Int { Int(dataBytes / UInt64(2 * channels)) }

    private var fd: Int32
    private var dataBytes: UInt64 = 0
    private static let headerBytes = 44
    #if _endian(big)
    private let swapped: UnsafeMutablePointer<Int16>
    private let swappedCapacity = 4096
    #endif

    /// Creates (or truncates) `path` and writes the header.
    /// Throws LayercodeError(.invalidArgument) for a rate outside 1...4294967295 or channels
    /// outside 1...65535, and LayercodeError(.audio, "<path>: ...") when the file cannot be
    /// created or written.
    public convenience init(path: String, sampleRate: Int, channels: Int = 1) throws(LayercodeError) {
        guard sampleRate >= 1, sampleRate <= Int(UInt32.max / UInt32(2 * max(1, min(channels, 65_535)))),
              (1...65_535).contains(channels) else {
            throw LayercodeError(.invalidArgument,
                                 "\(path): WAV rate and channels out of range (\(sampleRate) Hz, \(channels) ch)")
        }
        let fd = lcposix_open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else {
            throw LayercodeError(.audio, "\(path): cannot create: \(String(cString: strerror(lcposix_errno())))")
        }
        var header = [UInt8]()
        header.reserveCapacity(Self.headerBytes)
        func put(_ s: String) { header += Array(s.utf8) }
        func put32(_ v: UInt32) { for i in 0..<4 { header.append(UInt8(truncatingIfNeeded: v >> (8 * i))) } }
        func put16(_ v: UInt16) { header.append(UInt8(v & 0xFF)); header.append(UInt8(v >> 8)) }
        put("RIFF"); put32(0xFFFF_FFFF); put("WAVE")
        put("fmt "); put32(16)
        put16(1)  // PCM
        put16(UInt16(channels))
        put32(UInt32(sampleRate))
        put32(UInt32(sampleRate * channels * 2))  // bytes per second
        put16(UInt16(channels * 2))  // block align
        put16(16)
        put("data"); put32(0xFFFF_FFFF)
        let error: LayercodeError? = header.withUnsafeBytes { bytes in
            var written = 0
            return Self.writeFully(fd, path, bytes.baseAddress!, count: bytes.count, written: &written)
        }
        if let error {
            CPosix.close(fd)
            throw error
        }
        // Everything that can fail ran before the object exists (Embedded Swift does not free
        // an instance whose designated initializer throws).
        self.init(path: path, sampleRate: sampleRate, channels: channels, fd: fd)
    }

    private init(path: String, sampleRate: Int, channels: Int, fd: Int32) {
        self.path = path
        self.sampleRate = sampleRate
        self.channels = channels
        self.fd = fd
        #if _endian(big)
        swapped = .allocate(capacity: swappedCapacity)
        swapped.initialize(repeating: 0, count: swappedCapacity)
        #endif
    }

    deinit {
        try? close()
        #if _endian(big)
        swapped.deallocate()
        #endif
    }

    /// Appends `frames` interleaved frames (`channels` samples each).
    /// Throws LayercodeError(.audio, "<path>: write: <reason>") when the file cannot take
    /// them (disk full, file too large, closed); what did fit is kept and counted.
    public func write(_ samples: UnsafePointer<Int16>, frames: Int) throws(LayercodeError) {
        guard frames > 0 else { return }
        guard fd >= 0 else { throw LayercodeError(.audio, "\(path): write: file is closed") }
        let count = frames * channels
        #if _endian(little)
        var written = 0
        let error = Self.writeFully(fd, path, UnsafeRawPointer(samples), count: count * 2, written: &written)
        dataBytes += UInt64(written)
        if let error { throw error }
        #else
        var done = 0
        while done < count {
            let n = min(count - done, swappedCapacity)
            for i in 0..<n { swapped[i] = samples[done + i].littleEndian }
            var written = 0
            let error = Self.writeFully(fd, path, UnsafeRawPointer(swapped), count: n * 2, written: &written)
            dataBytes += UInt64(written)
            if let error { throw error }
            done += n
        }
        #endif
    }

    /// Puts the real sizes in the header and closes the file. Idempotent; a no-op after the
    /// first call. Throws LayercodeError(.audio, "<path>: ...") when the header cannot be
    /// fixed or the close reports a deferred write error; the file is closed either way.
    public func close() throws(LayercodeError) {
        guard fd >= 0 else { return }
        let fd = self.fd
        self.fd = -1
        // RIFF size: everything after its own 8 bytes. Clamped: past 4 GiB the sizes cannot
        // be told, and "unknown" (0xFFFFFFFF) is the best a reader gets.
        let riffSize = UInt32(min(UInt64(Self.headerBytes - 8) + dataBytes, 0xFFFF_FFFF))
        let dataSize = UInt32(min(dataBytes, 0xFFFF_FFFF))
        var failure: LayercodeError?
        for (offset, value) in [(4, riffSize), (40, dataSize)] {
            var le = value.littleEndian
            let r = withUnsafeBytes(of: &le) { pwrite(fd, $0.baseAddress, 4, off_t(offset)) }
            // A pipe cannot seek: the unknown-length header stays, as with any streamed WAV.
            if r != 4 && !(r < 0 && lcposix_errno() == ESPIPE) {
                failure = failure ?? Self.error(path, "fixing the header", r < 0 ? lcposix_errno() : ENOSPC)
            }
        }
        if CPosix.close(fd) != 0 && lcposix_errno() != EINTR {
            failure = failure ?? Self.error(path, "close", lcposix_errno())
        }
        if let failure { throw failure }
    }

    /// write(2) until done; retries EINTR and short writes. Returns the error, if any (not
    /// thrown, so the caller counts what went out first).
    private static func writeFully(_ fd: Int32, _ path: String, _ bytes: UnsafeRawPointer, count: Int,
                                   written: inout Int) -> LayercodeError? {
        while written < count {
            let r = CPosix.write(fd, bytes + written, count - written)
            if r > 0 {
                written += r
            } else if r < 0 && lcposix_errno() == EINTR {
                continue
            } else {
                return Self.error(path, "write", r < 0 ? lcposix_errno() : ENOSPC)
            }
        }
        return nil
    }

    private static func error(_ path: String, _ what: String, _ code: Int32) -> LayercodeError {
        LayercodeError(.audio, "\(path): \(what): \(String(cString: strerror(code)))")
    }
}
