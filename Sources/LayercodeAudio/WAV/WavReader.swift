// SPDX-License-Identifier: Apache-2.0
import CPosix
import LayercodeCore

/// Reads a RIFF/WAVE file as mono int16, the microphone of `WavDriver`.
///
/// Understood: PCM (format 1) with 8 (unsigned), 16, 24 or 32-bit samples, IEEE float
/// (format 3) with 32 or 64-bit samples, and WAVE_FORMAT_EXTENSIBLE (0xFFFE) carrying
/// either; any channel count (averaged to mono); 8000...48000 Hz. Chunks it does not need
/// (LIST, fact, cue, junk, ...) are skipped, odd-sized ones with their pad byte. RF64 files
/// take their data size from `ds64`.
///
/// Forgiving where writers are careless: a data size of 0 or 0xFFFFFFFF (a writer that
/// streamed and never came back to fix the header) means "read to end of file", and a file
/// shorter than its header says ends early, at the last whole frame, without an error.
/// Anything else it cannot read is a LayercodeError(.audio, "<path>: <why>") from `init`.
///
/// `read` makes read(2) calls on a buffer allocated in `init`: no allocation, lock or log,
/// so it may run on an audio thread. One thread at a time.
public final class WavReader {
    public let path: String
    public let sampleRate: Int
    public let channels: Int
    /// Frames in the file: what the header declares, or fewer when the file is truncated;
    /// nil when the data size is unknown (streamed) or the file is not a regular file.
    public let frameCount: Int?
    /// Bits of one stored sample (the container size: 24 for 24-in-24, 32 for float32).
    public let bitsPerSample: Int
    public let isFloat: Bool

    private var fd: Int32
    private let encoding: Encoding
    private let blockAlign: Int
    /// Offset of the first sample, or -1 when the file cannot seek (a pipe): no rewind.
    private let dataOffset: Int64
    /// Bytes of sample data after `dataOffset`, nil = to end of file.
    private let dataBytes: UInt64?
    private var remainingBytes: UInt64?
    private var ended = false
    private let raw: UnsafeMutableRawPointer
    private let chunkFrames: Int

    private enum Encoding { case unsigned8, signed16, signed24, signed32, float32, float64 }

    /// Opens and parses `path`. `maxChunkFrames` sizes the one read buffer (a `read` of more
    /// frames loops over it).
    /// Throws LayercodeError(.audio, "<path>: ...") when the file cannot be opened or is not
    /// a WAV file this reader understands.
    public convenience init(path: String, maxChunkFrames: Int = 4096) throws(LayercodeError) {
        let fd = lcposix_open(path, O_RDONLY | O_CLOEXEC, 0)
        guard fd >= 0 else {
            throw LayercodeError(.audio, "\(path): cannot open: \(String(cString: strerror(lcposix_errno())))")
        }
        let header: Header
        do {
            header = try Self.parse(fd: fd, path: path)
        } catch {
            CPosix.close(fd)
            throw error
        }
        // Everything that can fail ran before the object exists (Embedded Swift does not free
        // an instance whose designated initializer throws).
        self.init(path: path, fd: fd, header: header, maxChunkFrames: maxChunkFrames)
    }

    private init(path: String, fd: Int32, header: Header, maxChunkFrames: Int) {
        self.path = path
        self.fd = fd
        sampleRate = header.sampleRate
        channels = header.channels
        bitsPerSample = header.bytesPerSample * 8
        isFloat = header.isFloat
        blockAlign = header.blockAlign
        switch (header.isFloat, header.bytesPerSample) {
        case (false, 1): encoding = .unsigned8
        case (false, 2): encoding = .signed16
        case (false, 3): encoding = .signed24
        case (false, _): encoding = .signed32
        case (true, 4): encoding = .float32
        case (true, _): encoding = .float64
        }
        dataOffset = header.dataOffset
        // A declared size larger than what is on disk is a truncated file: count what is there.
        var declared = header.dataBytes
        var status = stat()
        let isRegular = fstat(fd, &status) == 0 && (status.st_mode & mode_t(S_IFMT)) == mode_t(S_IFREG)
        if let size = declared, isRegular, header.dataOffset >= 0 {
            declared = min(size, UInt64(max(0, Int64(status.st_size) - header.dataOffset)))
        }
        dataBytes = declared
        remainingBytes = declared
        frameCount = isRegular ? declared.map { Int($0 / UInt64(header.blockAlign)) } : nil
        // Bounded at about 1 MB whatever the channel count.
        chunkFrames = max(1, min(max(1, maxChunkFrames), (1 << 20) / header.blockAlign))
        raw = .allocate(byteCount: chunkFrames * header.blockAlign, alignment: 16)
        raw.initializeMemory(as: UInt8.self, repeating: 0, count: chunkFrames * header.blockAlign)
    }

    deinit {
        close()
        raw.deallocate()
    }

    /// True once the data has ended (end of file, end of the data chunk, or a read error).
    public var isAtEnd: Bool { ended }

    /// Reads up to `frames` frames as mono int16 (channels averaged) into `out`; fewer only
    /// at the end of the data (0 from then on, until `rewind`). Real-time safe: read(2)
    /// calls on the preallocated buffer.
    public func read(into out: UnsafeMutablePointer<Int16>, frames: Int) -> Int {
        var done = 0
        while done < frames && !ended {
            var want = min(frames - done, chunkFrames)
            if let remaining = remainingBytes {
                want = min(want, Int(min(remaining / UInt64(blockAlign), UInt64(Int.max))))
                if want == 0 {
                    ended = true
                    break
                }
            }
            let bytes = readFully(raw, count: want * blockAlign)
            let got = bytes / blockAlign
            decode(frames: got, into: out + done)
            done += got
            if let remaining = remainingBytes { remainingBytes = remaining - UInt64(bytes) }
            // Short: end of file, or a read error, which ends the input the same way.
            if got < want { ended = true }
        }
        return done
    }

    /// Goes back to the first sample. False when the file cannot seek (a pipe) or is closed.
    /// Real-time safe: one lseek(2).
    @discardableResult
    public func rewind() -> Bool {
        guard fd >= 0, dataOffset >= 0, lseek(fd, off_t(dataOffset), SEEK_SET) == off_t(dataOffset)
        else { return false }
        remainingBytes = dataBytes
        ended = false
        return true
    }

    /// Closes the file; `read` then returns 0. Idempotent.
    public func close() {
        guard fd >= 0 else { return }
        CPosix.close(fd)
        fd = -1
        ended = true
    }

    // MARK: Decoding

    /// Decodes `frames` frames from `raw` (little-endian) to mono int16. Integer formats go
    /// through a 32-bit full scale and round to 16 bits (as sox does); floats are scaled by
    /// 32768 and clipped.
    private func decode(frames: Int, into out: UnsafeMutablePointer<Int16>) {
        guard frames > 0 else { return }
        let bytes = UnsafeRawPointer(raw)
        let channels = self.channels, stride = blockAlign
        switch encoding {
        case .float32, .float64:
            let is64 = encoding == .float64
            for i in 0..<frames {
                let frame = bytes + i * stride
                var sum = 0.0
                for c in 0..<channels {
                    if is64 {
                        sum += Double(bitPattern: frame.loadUnaligned(fromByteOffset: c * 8, as: UInt64.self).littleEndian)
                    } else {
                        sum += Double(Float(bitPattern: frame.loadUnaligned(fromByteOffset: c * 4, as: UInt32.self).littleEndian))
                    }
                }
                out[i] = Self.int16(fromUnit: sum / Double(channels))
            }
        case .unsigned8, .signed16, .signed24, .signed32:
            let width = encoding == .unsigned8 ? 1 : encoding == .signed16 ? 2 : encoding == .signed24 ? 3 : 4
            for i in 0..<frames {
                let frame = bytes + i * stride
                var sum: Int64 = 0
                for c in 0..<channels {
                    sum += Int64(Self.sample32(frame + c * width, encoding))
                }
                // Mean, rounded half away from zero, still at 32-bit scale.
                let n = Int64(channels)
                let mean = sum >= 0 ? (sum + n / 2) / n : (sum - n / 2) / n
                out[i] = Self.int16(fromFullScale32: mean)
            }
        }
    }

    /// One sample at 32-bit full scale (the container's bits left-justified).
    @inline(__always)
    private static func sample32(_ p: UnsafeRawPointer, _ encoding: Encoding) -> Int32 {
        switch encoding {
        case .unsigned8:
            return (Int32(p.load(as: UInt8.self)) - 128) << 24
        case .signed16:
            return Int32(Int16(bitPattern: p.loadUnaligned(as: UInt16.self).littleEndian)) << 16
        case .signed24:
            let b0 = UInt32(p.load(fromByteOffset: 0, as: UInt8.self))
            let b1 = UInt32(p.load(fromByteOffset: 1, as: UInt8.self))
            let b2 = UInt32(p.load(fromByteOffset: 2, as: UInt8.self))
            return Int32(bitPattern: (b0 << 8) | (b1 << 16) | (b2 << 24))
        default:
            return Int32(bitPattern: p.loadUnaligned(as: UInt32.self).littleEndian)
        }
    }

    @inline(__always)
    private static func int16(fromFullScale32 v: Int64) -> Int16 {
        let rounded = (v + 0x8000) >> 16
        return Int16(clamping: rounded)
    }

    @inline(__always)
    private static func int16(fromUnit v: Double) -> Int16 {
        guard v.isFinite else { return v.isNaN ? 0 : (v > 0 ? .max : .min) }
        let scaled = (v * 32768).rounded()
        if scaled >= 32767 { return .max }
        if scaled <= -32768 { return .min }
        return Int16(scaled)
    }

    /// read(2) until `count` bytes, end of file or an error; returns the bytes read.
    private func readFully(_ buffer: UnsafeMutableRawPointer, count: Int) -> Int {
        Self.readFully(fd: fd, buffer, count: count)
    }

    private static func readFully(fd: Int32, _ buffer: UnsafeMutableRawPointer, count: Int) -> Int {
        guard fd >= 0 else { return 0 }
        var got = 0
        while got < count {
            let r = CPosix.read(fd, buffer + got, count - got)
            if r > 0 {
                got += r
            } else if r < 0 && lcposix_errno() == EINTR {
                continue
            } else {
                break
            }
        }
        return got
    }

    // MARK: Parsing (in init only: allocation is fine here)

    private struct Header {
        var sampleRate = 0, channels = 0, bytesPerSample = 0, blockAlign = 0
        var isFloat = false
        var dataOffset: Int64 = -1
        var dataBytes: UInt64?
    }

    private static let pcmTag = 1, floatTag = 3, extensibleTag = 0xFFFE
    /// The 14 bytes after the format tag in KSDATAFORMAT_SUBTYPE_PCM / _IEEE_FLOAT GUIDs.
    private static let subformatGUIDTail: [UInt8] = [0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x80, 0x00,
                                                     0x00, 0xAA, 0x00, 0x38, 0x9B, 0x71]

    private static func parse(fd: Int32, path: String) throws(LayercodeError) -> Header {
        func fail(_ why: String) -> LayercodeError { LayercodeError(.audio, "\(path): \(why)") }
        var riff = [UInt8](repeating: 0, count: 12)
        guard riff.withUnsafeMutableBytes({ readFully(fd: fd, $0.baseAddress!, count: 12) }) == 12 else {
            throw fail("not a WAV file (shorter than a RIFF header)")
        }
        let form = fourCC(riff, 0)
        if form == "RIFX" { throw fail("big-endian WAV (RIFX) is not supported") }
        guard form == "RIFF" || form == "RF64", fourCC(riff, 8) == "WAVE" else {
            throw fail("not a WAV file (no RIFF/WAVE header)")
        }
        var header = Header()
        var sawFormat = false
        var rf64DataBytes: UInt64?
        // Bounded so a file of endless empty chunks cannot keep us here.
        for _ in 0..<100_000 {
            var chunk = [UInt8](repeating: 0, count: 8)
            guard chunk.withUnsafeMutableBytes({ readFully(fd: fd, $0.baseAddress!, count: 8) }) == 8 else {
                break
            }
            let id = fourCC(chunk, 0)
            let size = UInt64(le32(chunk, 4))
            switch id {
            case "fmt ":
                guard size >= 16 else { throw fail("fmt chunk too short (\(size) bytes)") }
                let keep = Int(min(size, 64))
                var body = [UInt8](repeating: 0, count: keep)
                guard body.withUnsafeMutableBytes({ readFully(fd: fd, $0.baseAddress!, count: keep) }) == keep else {
                    throw fail("fmt chunk cut short")
                }
                try parseFormat(body, into: &header, fail: fail)
                sawFormat = true
                skip(fd: fd, bytes: size - UInt64(keep) + (size & 1))
            case "ds64":
                let keep = Int(min(size, 28))
                var body = [UInt8](repeating: 0, count: keep)
                let got = body.withUnsafeMutableBytes { readFully(fd: fd, $0.baseAddress!, count: keep) }
                if got >= 16 { rf64DataBytes = UInt64(le32(body, 8)) | (UInt64(le32(body, 12)) << 32) }
                skip(fd: fd, bytes: size - UInt64(got) + (size & 1))
            case "data":
                guard sawFormat else { throw fail("data chunk before the fmt chunk") }
                let here = lseek(fd, 0, SEEK_CUR)
                header.dataOffset = here >= 0 ? Int64(here) : -1
                if size == 0xFFFF_FFFF, let big = rf64DataBytes, big > 0 {
                    header.dataBytes = big
                } else if size == 0 || size == 0xFFFF_FFFF {
                    header.dataBytes = nil  // streamed: to end of file
                } else {
                    header.dataBytes = size
                }
                return header
            default:
                skip(fd: fd, bytes: size + (size & 1))
            }
        }
        throw fail(sawFormat ? "no data chunk" : "no fmt chunk")
    }

    private static func parseFormat(_ b: [UInt8], into header: inout Header,
                                    fail: (String) -> LayercodeError) throws(LayercodeError) {
        var tag = Int(le16(b, 0))
        let channels = Int(le16(b, 2))
        let rate = Int(le32(b, 4))
        let blockAlign = Int(le16(b, 12))
        let bits = Int(le16(b, 14))
        if tag == extensibleTag {
            guard b.count >= 40 else { throw fail("WAVE_FORMAT_EXTENSIBLE fmt chunk too short") }
            let subformat = Int(le16(b, 24))
            guard Array(b[26..<40]) == subformatGUIDTail else {
                throw fail("unsupported WAVE_FORMAT_EXTENSIBLE subformat")
            }
            tag = subformat
        }
        guard tag == pcmTag || tag == floatTag else {
            throw fail("unsupported WAV encoding (format tag 0x\(String(tag, radix: 16))); "
                       + "PCM or IEEE float expected")
        }
        guard channels >= 1 else { throw fail("no channels") }
        guard (8000...48_000).contains(rate) else {
            throw fail("unsupported sample rate \(rate) Hz (8000...48000 Hz)")
        }
        let isFloat = tag == floatTag
        var bytes = (bits + 7) / 8
        if isFloat {
            guard bits == 32 || bits == 64 else { throw fail("unsupported float sample size \(bits) bits") }
        } else {
            guard (1...32).contains(bits) else { throw fail("unsupported PCM sample size \(bits) bits") }
            // Some writers declare the significant bits (20) with a bigger container in blockAlign.
            if blockAlign != bytes * channels, blockAlign % channels == 0,
               (bytes...4).contains(blockAlign / channels) {
                bytes = blockAlign / channels
            }
        }
        guard blockAlign == bytes * channels else {
            throw fail("inconsistent block size \(blockAlign) for \(channels) channels of \(bits) bits")
        }
        header.sampleRate = rate
        header.channels = channels
        header.bytesPerSample = bytes
        header.blockAlign = blockAlign
        header.isFloat = isFloat
    }

    /// Skips `bytes` forward: lseek, or reading when the file cannot seek.
    private static func skip(fd: Int32, bytes: UInt64) {
        guard bytes > 0 else { return }
        if lseek(fd, off_t(bytes), SEEK_CUR) >= 0 { return }
        var left = bytes
        var scratch = [UInt8](repeating: 0, count: 4096)
        while left > 0 {
            let n = Int(min(left, 4096))
            let got = scratch.withUnsafeMutableBytes { readFully(fd: fd, $0.baseAddress!, count: n) }
            if got < n { return }  // end of file: the chunk loop then finds no data chunk
            left -= UInt64(n)
        }
    }

    private static func fourCC(_ b: [UInt8], _ at: Int) -> String {
        String(decoding: b[at..<at + 4], as: UTF8.self)
    }

    private static func le16(_ b: [UInt8], _ at: Int) -> UInt16 {
        UInt16(b[at]) | UInt16(b[at + 1]) << 8
    }

    private static func le32(_ b: [UInt8], _ at: Int) -> UInt32 {
        UInt32(b[at]) | UInt32(b[at + 1]) << 8 | UInt32(b[at + 2]) << 16 | UInt32(b[at + 3]) << 24
    }
}
