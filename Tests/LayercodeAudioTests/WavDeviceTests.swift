// SPDX-License-Identifier: Apache-2.0
import Foundation
import Glibc
import Synchronization
import XCTest
import LayercodeAudio
import LayercodeCore

// The WAV backend against real files: WAVs made by sox in the formats found in the wild,
// decoded by WavReader and compared with what sox itself decodes; WavWriter's files read
// back by sox; WavDevice run in real time on real files.
final class WavDeviceTests: XCTestCase {
    private var tempDir: URL!

    override func setUpWithError() throws {
        tempDir = FileManager.default.temporaryDirectory
            .appendingPathComponent("lc-wav-\(getpid())-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: tempDir, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: tempDir)
    }

    // MARK: Helpers

    private func path(_ name: String) -> String { tempDir.appendingPathComponent(name).path }

    /// Runs sox (or soxi) and returns its standard output.
    @discardableResult
    private func sox(_ args: [String], tool: String = "/usr/bin/sox") throws -> Data {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: tool)
        process.arguments = args
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        let errors = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw NSError(domain: "sox", code: Int(process.terminationStatus), userInfo: [
                NSLocalizedDescriptionKey: "sox \(args.joined(separator: " ")): "
                    + (String(data: errors, encoding: .utf8) ?? "")])
        }
        return data
    }

    private func int16s(_ data: Data) -> [Int16] {
        data.withUnsafeBytes { raw in
            (0..<raw.count / 2).map { Int16(littleEndian: raw.loadUnaligned(fromByteOffset: $0 * 2, as: Int16.self)) }
        }
    }

    /// What sox makes of `file` as mono 16-bit (no dither, so the reference is exact).
    private func soxMono16(_ file: String) throws -> [Int16] {
        int16s(try sox(["-D", file, "-c", "1", "-b", "16", "-e", "signed", "-t", "raw", "-"]))
    }

    private func readAll(_ reader: WavReader, chunk: Int = 97) -> [Int16] {
        var all: [Int16] = []
        var buffer = [Int16](repeating: 0, count: chunk)
        while true {
            let n = buffer.withUnsafeMutableBufferPointer { reader.read(into: $0.baseAddress!, frames: chunk) }
            all += buffer[0..<n]
            if n < chunk { break }
        }
        return all
    }

    private func le16(_ v: Int) -> [UInt8] { [UInt8(v & 0xFF), UInt8((v >> 8) & 0xFF)] }
    private func le32(_ v: UInt32) -> [UInt8] { (0..<4).map { UInt8((v >> (8 * UInt32($0))) & 0xFF) } }

    private func chunk(_ id: String, _ body: [UInt8], declaredSize: UInt32? = nil) -> [UInt8] {
        var out = Array(id.utf8) + le32(declaredSize ?? UInt32(body.count)) + body
        if body.count % 2 == 1 { out.append(0) }  // RIFF pads odd chunks
        return out
    }

    private func fmtBody(tag: Int = 1, channels: Int = 1, rate: Int = 16_000, bits: Int = 16,
                         blockAlign: Int? = nil, extra: [UInt8]? = nil) -> [UInt8] {
        let align = blockAlign ?? channels * ((bits + 7) / 8)
        var body = le16(tag) + le16(channels) + le32(UInt32(rate)) + le32(UInt32(rate * align))
            + le16(align) + le16(bits)
        if let extra { body += le16(extra.count) + extra }
        return body
    }

    private func riff(_ chunks: [[UInt8]], form: String = "RIFF", size: UInt32? = nil) -> [UInt8] {
        let body = Array("WAVE".utf8) + chunks.flatMap { $0 }
        return Array(form.utf8) + le32(size ?? UInt32(body.count)) + body
    }

    private func write(_ bytes: [UInt8], to name: String) throws -> String {
        let p = path(name)
        try Data(bytes).write(to: URL(fileURLWithPath: p))
        return p
    }

    private func samplesBytes(_ samples: [Int16]) -> [UInt8] {
        samples.flatMap { le16(Int(UInt16(bitPattern: $0))) }
    }

    private func assertClose(_ got: [Int16], _ want: [Int16], tolerance: Int, _ label: String,
                             file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(got.count, want.count, "\(label): frame count", file: file, line: line)
        var worst = 0, worstIndex = -1
        for i in 0..<min(got.count, want.count) {
            let d = abs(Int(got[i]) - Int(want[i]))
            if d > worst { worst = d; worstIndex = i }
        }
        XCTAssertLessThanOrEqual(worst, tolerance,
                                 "\(label): sample \(worstIndex) differs by \(worst) from sox", file: file, line: line)
    }

    private static func monotonicNanoseconds() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
    }

    /// Header fields of a canonical 44-byte WAV header.
    private func header(_ file: String) throws -> (riff: UInt32, rate: UInt32, channels: Int, bits: Int,
                                                    data: UInt32, fileSize: Int) {
        let d = try Data(contentsOf: URL(fileURLWithPath: file))
        let b = [UInt8](d.prefix(44))
        func u32(_ at: Int) -> UInt32 { (0..<4).reduce(0) { $0 | UInt32(b[at + $1]) << (8 * UInt32($1)) } }
        return (u32(4), u32(24), Int(b[22]) | Int(b[23]) << 8, Int(b[34]) | Int(b[35]) << 8, u32(40), d.count)
    }

    // MARK: WavReader: formats

    func testDecodesEveryFormatLikeSox() throws {
        // (sox output options, channels, rate, tolerance in LSB)
        let cases: [(args: [String], channels: Int, rate: Int, tolerance: Int)] = [
            (["-b", "8"], 1, 16_000, 1),
            (["-b", "16"], 1, 16_000, 0),
            (["-b", "24"], 1, 16_000, 1),                       // WAVE_FORMAT_EXTENSIBLE
            (["-t", "wavpcm", "-b", "24"], 1, 16_000, 1),       // plain PCM
            (["-b", "32"], 1, 16_000, 1),                       // extensible
            (["-t", "wavpcm", "-b", "32"], 1, 16_000, 1),
            (["-e", "floating-point", "-b", "32"], 1, 16_000, 1),
            (["-e", "floating-point", "-b", "64"], 1, 16_000, 1),
            (["-b", "16"], 2, 44_100, 1),
            (["-b", "8"], 2, 22_050, 1),
            (["-b", "24"], 2, 48_000, 1),
            (["-e", "floating-point", "-b", "32"], 2, 11_025, 1),
            (["-b", "16"], 3, 8000, 1),                         // extensible (> 2 channels)
            (["-t", "wavpcm", "-b", "16"], 6, 32_000, 1),
        ]
        let tones = ["sine 440", "sine 1000", "square 300", "sine 2000", "sawtooth 150", "sine 700"]
        for (i, c) in cases.enumerated() {
            let file = path("fmt\(i).wav")
            var args = ["-n", "-r", "\(c.rate)", "-c", "\(c.channels)"]
            // Each channel its own tone, loud enough to reach the clipping edge when averaged.
            args += c.args
            args += [file, "synth", "0.3"] + tones.prefix(c.channels).flatMap { $0.split(separator: " ").map(String.init) }
            args += ["vol", "0.95"]
            try sox(args)
            let label = "\(c.args.joined(separator: " ")) \(c.channels) ch \(c.rate) Hz"
            let reader = try WavReader(path: file, maxChunkFrames: 64)
            XCTAssertEqual(reader.sampleRate, c.rate, label)
            XCTAssertEqual(reader.channels, c.channels, label)
            XCTAssertEqual(reader.frameCount, Int(Double(c.rate) * 0.3), label)
            let got = readAll(reader)
            assertClose(got, try soxMono16(file), tolerance: c.tolerance, label)
            XCTAssertTrue(got.contains { $0 != 0 }, label)
            XCTAssertEqual(readAll(reader), [], "\(label): reads past the end")
        }
    }

    func testExtensibleAndPlainHeadersDecodeTheSame() throws {
        let extensible = path("ext.wav"), plain = path("plain.wav")
        try sox(["-n", "-r", "16000", "-b", "24", extensible, "synth", "0.2", "sine", "300"])
        try sox([extensible, "-t", "wavpcm", plain])
        let a = try Data(contentsOf: URL(fileURLWithPath: extensible))
        let b = try Data(contentsOf: URL(fileURLWithPath: plain))
        XCTAssertEqual(a[20], 0xFE, "sox no longer writes WAVE_FORMAT_EXTENSIBLE for 24-bit")
        XCTAssertEqual(b[20], 0x01)
        let ra = try WavReader(path: extensible), rb = try WavReader(path: plain)
        XCTAssertEqual(ra.bitsPerSample, 24)
        XCTAssertEqual(rb.bitsPerSample, 24)
        XCTAssertFalse(ra.isFloat)
        XCTAssertEqual(readAll(ra), readAll(rb))
    }

    // MARK: WavReader: robustness

    func testSkipsListFactAndOddSizedChunks() throws {
        let samples: [Int16] = (0..<500).map { Int16(truncatingIfNeeded: $0 * 61 - 15_000) }
        let bytes = riff([
            chunk("LIST", Array("INFOISFT\u{5}\0\0\0lavf".utf8) + [0x21]),  // odd size, padded
            chunk("fmt ", fmtBody(extra: [])),                                // fmt with cbSize 0
            chunk("fact", le32(500)),
            chunk("junk", [1, 2, 3]),
            chunk("data", samplesBytes(samples)),
            chunk("LIST", Array("INFOICMTtrailing".utf8)),
        ])
        let file = try write(bytes, to: "chunks.wav")
        let reader = try WavReader(path: file)
        XCTAssertEqual(reader.frameCount, 500)
        XCTAssertEqual(readAll(reader), samples)
        // sox agrees.
        XCTAssertEqual(try soxMono16(file), samples)
    }

    func testTruncatedFileEndsEarlyWithoutError() throws {
        let full = path("full.wav")
        try sox(["-n", "-r", "16000", "-c", "2", "-b", "16", full, "synth", "0.5", "sine", "440", "sine", "660"])
        let data = try Data(contentsOf: URL(fileURLWithPath: full))
        let cut = data.count - 1001  // mid-frame
        let file = try write([UInt8](data.prefix(cut)), to: "cut.wav")
        let reader = try WavReader(path: file)
        let whole = (cut - 44) / 4
        XCTAssertEqual(reader.frameCount, whole)
        let got = readAll(reader)
        XCTAssertEqual(got.count, whole)
        XCTAssertEqual(got, Array(try readAll(WavReader(path: full)).prefix(whole)))
        XCTAssertTrue(reader.isAtEnd)
    }

    func testZeroOrUnknownDataSizeReadsToEndOfFile() throws {
        let full = path("full.wav")
        try sox(["-n", "-r", "16000", "-b", "16", full, "synth", "0.25", "sine", "440"])
        let want = try readAll(WavReader(path: full))
        XCTAssertEqual(want.count, 4000)
        for size: UInt32 in [0, 0xFFFF_FFFF] {
            var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: full)))
            bytes.replaceSubrange(4..<8, with: le32(size))
            bytes.replaceSubrange(40..<44, with: le32(size))
            let file = try write(bytes, to: "streamed-\(size).wav")
            let reader = try WavReader(path: file)
            XCTAssertNil(reader.frameCount, "size \(size)")
            XCTAssertEqual(readAll(reader, chunk: 1000), want, "size \(size)")
        }
    }

    func testRF64TakesTheDataSizeFromDs64() throws {
        let samples: [Int16] = (0..<300).map { Int16($0 * 100 - 15_000) }
        // ds64: riff size, data size (200 frames: less than what follows), sample count, table.
        let ds64 = le32(0) + le32(0) + le32(400) + le32(0) + le32(200) + le32(0) + le32(0)
        let bytes = riff([chunk("ds64", ds64), chunk("fmt ", fmtBody()),
                          chunk("data", samplesBytes(samples), declaredSize: 0xFFFF_FFFF)],
                         form: "RF64", size: 0xFFFF_FFFF)
        let reader = try WavReader(path: try write(bytes, to: "rf64.wav"))
        XCTAssertEqual(reader.frameCount, 200)
        XCTAssertEqual(readAll(reader), Array(samples.prefix(200)))
    }

    func testRewindStartsOver() throws {
        let file = path("r.wav")
        try sox(["-n", "-r", "8000", "-b", "16", file, "synth", "0.1", "sine", "440"])
        let reader = try WavReader(path: file)
        let first = readAll(reader)
        XCTAssertTrue(reader.rewind())
        XCTAssertEqual(readAll(reader), first)
        reader.close()
        XCTAssertFalse(reader.rewind())
        XCTAssertEqual(readAll(reader), [])
    }

    func testUnreadableFilesAreAudioErrorsNamingThePath() throws {
        var files: [(name: String, why: String)] = []
        func add(_ name: String, _ bytes: [UInt8], _ why: String) throws {
            _ = try write(bytes, to: name)
            files.append((name, why))
        }
        try add("empty.wav", [], "RIFF")
        var random = SystemRandomNumberGenerator()
        try add("garbage.wav", (0..<4096).map { _ in UInt8.random(in: 0...255, using: &random) }, "RIFF")
        try add("riff-only.wav", riff([]), "fmt")
        try add("no-data.wav", riff([chunk("fmt ", fmtBody())]), "data")
        try add("data-first.wav", riff([chunk("data", [0, 0]), chunk("fmt ", fmtBody())]), "fmt")
        try add("no-channels.wav", riff([chunk("fmt ", fmtBody(channels: 0, blockAlign: 2)), chunk("data", [0, 0])]), "channels")
        try add("float16.wav", riff([chunk("fmt ", fmtBody(tag: 3, bits: 16)), chunk("data", [0, 0])]), "16 bits")
        try add("pcm40.wav", riff([chunk("fmt ", fmtBody(bits: 40)), chunk("data", [0, 0])]), "40 bits")
        try add("short-fmt.wav", riff([chunk("fmt ", [1, 0, 1, 0]), chunk("data", [0, 0])]), "fmt")
        try add("bad-align.wav", riff([chunk("fmt ", fmtBody(channels: 2, blockAlign: 3)), chunk("data", [0, 0])]), "block")
        try add("rifx.wav", Array("RIFX".utf8) + le32(4) + Array("WAVE".utf8), "RIFX")
        try add("ext-short.wav", riff([chunk("fmt ", fmtBody(tag: 0xFFFE, extra: [0, 0])), chunk("data", [0, 0])]), "EXTENSIBLE")
        // Made by sox: encodings and rates the reader does not take.
        try sox(["-n", "-r", "16000", "-e", "ms-adpcm", path("adpcm.wav"), "synth", "0.1", "sine", "440"])
        files.append(("adpcm.wav", "0x2"))
        try sox(["-n", "-r", "16000", "-e", "u-law", path("ulaw.wav"), "synth", "0.1", "sine", "440"])
        files.append(("ulaw.wav", "0x7"))
        try sox(["-n", "-r", "96000", "-b", "16", path("96k.wav"), "synth", "0.1", "sine", "440"])
        files.append(("96k.wav", "96000"))
        try sox(["-n", "-r", "4000", "-b", "16", path("4k.wav"), "synth", "0.1", "sine", "440"])
        files.append(("4k.wav", "4000"))

        for (name, why) in files {
            let p = path(name)
            XCTAssertThrowsError(try WavReader(path: p), name) { error in
                guard let e = error as? LayercodeError else { return XCTFail("\(name): \(error)") }
                XCTAssertEqual(e.code, .audio, name)
                XCTAssertTrue(e.message.hasPrefix("\(p): "), "\(name): \(e.message)")
                XCTAssertTrue(e.message.contains(why), "\(name): '\(e.message)' does not say '\(why)'")
            }
        }
    }

    func testNonexistentPathIsAnAudioErrorNamingIt() {
        let p = path("does/not/exist.wav")
        XCTAssertThrowsError(try WavReader(path: p)) { error in
            let e = error as? LayercodeError
            XCTAssertEqual(e?.code, .audio)
            XCTAssertEqual(e?.message.hasPrefix(p), true, e?.message ?? "")
            XCTAssertEqual(e?.message.contains("No such file"), true, e?.message ?? "")
        }
    }

    /// Random damage to a good file's headers and length: an error or some audio, never a
    /// crash, a hang or a read past the buffer.
    func testDamagedHeadersNeverCrash() throws {
        let good = path("good.wav")
        try sox(["-n", "-r", "16000", "-c", "2", "-b", "24", good, "synth", "0.05", "sine", "440", "sine", "500"])
        let original = [UInt8](try Data(contentsOf: URL(fileURLWithPath: good)))
        var generator = SystemRandomNumberGenerator()
        var opened = 0
        for round in 0..<400 {
            var bytes = original
            for _ in 0..<Int.random(in: 1...6, using: &generator) {
                let at = Int.random(in: 0..<min(90, bytes.count), using: &generator)
                bytes[at] = round % 3 == 0 ? 0xFF : UInt8.random(in: 0...255, using: &generator)
            }
            if round % 4 == 0 { bytes.removeLast(Int.random(in: 0..<bytes.count, using: &generator)) }
            let file = try write(bytes, to: "damaged.wav")
            guard let reader = try? WavReader(path: file, maxChunkFrames: 128) else { continue }
            opened += 1
            let frames = readAll(reader, chunk: 333)
            XCTAssertLessThanOrEqual(frames.count, bytes.count, "round \(round)")
        }
        XCTAssertGreaterThan(opened, 0)
    }

    // MARK: WavWriter

    func testWriterFilesReadBackThroughSoxWithFixedSizes() throws {
        let file = path("out.wav")
        let rate = 44_100, channels = 2
        let writer = try WavWriter(path: file, sampleRate: rate, channels: channels)
        var all: [Int16] = []
        var frame = 0
        for chunkFrames in [441, 1, 1000, 7, 30_000, 12_651] {
            var block = [Int16](repeating: 0, count: chunkFrames * channels)
            for i in 0..<chunkFrames {
                let v = Int16(12_000 * sin(2 * Double.pi * 440 * Double(frame + i) / Double(rate)))
                block[i * 2] = v
                block[i * 2 + 1] = v / 2
            }
            frame += chunkFrames
            try block.withUnsafeBufferPointer { try writer.write($0.baseAddress!, frames: chunkFrames) }
            all += block
        }
        XCTAssertEqual(writer.framesWritten, rate)
        // Before close the header says "unknown length", and readers take it to the end.
        XCTAssertEqual(try header(file).data, 0xFFFF_FFFF)
        XCTAssertEqual(try WavReader(path: file).frameCount, nil)
        try writer.close()
        try writer.close()  // idempotent
        let h = try header(file)
        XCTAssertEqual(h.fileSize, 44 + rate * channels * 2)
        XCTAssertEqual(Int(h.riff), h.fileSize - 8)
        XCTAssertEqual(Int(h.data), h.fileSize - 44)
        XCTAssertEqual(h.rate, UInt32(rate))
        XCTAssertEqual(h.channels, channels)
        XCTAssertEqual(h.bits, 16)
        let info = String(decoding: try sox(["--i", "-D", file]), as: UTF8.self)
        XCTAssertEqual(Double(info.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0, 1.0, accuracy: 1e-6)
        XCTAssertEqual(int16s(try sox(["-D", file, "-t", "raw", "-"])), all)
        XCTAssertThrowsError(try all.withUnsafeBufferPointer { try writer.write($0.baseAddress!, frames: 1) })
    }

    func testWriterDeinitFixesTheHeader() throws {
        let file = path("deinit.wav")
        do {
            let writer = try WavWriter(path: file, sampleRate: 8000)
            let block = [Int16](repeating: 77, count: 800)
            try block.withUnsafeBufferPointer { try writer.write($0.baseAddress!, frames: 800) }
        }
        let h = try header(file)
        XCTAssertEqual(h.data, 1600)
        XCTAssertEqual(h.riff, 1636)
        XCTAssertEqual(readAll(try WavReader(path: file)), [Int16](repeating: 77, count: 800))
    }

    func testWriterRefusesBadArgumentsAndPaths() {
        XCTAssertThrowsError(try WavWriter(path: path("x.wav"), sampleRate: 0)) {
            XCTAssertEqual(($0 as? LayercodeError)?.code, .invalidArgument)
        }
        XCTAssertThrowsError(try WavWriter(path: path("x.wav"), sampleRate: 16_000, channels: 0)) {
            XCTAssertEqual(($0 as? LayercodeError)?.code, .invalidArgument)
        }
        let p = path("no/such/dir/x.wav")
        XCTAssertThrowsError(try WavWriter(path: p, sampleRate: 16_000)) {
            XCTAssertEqual(($0 as? LayercodeError)?.code, .audio)
            XCTAssertEqual(($0 as? LayercodeError)?.message.hasPrefix(p), true)
        }
        // /dev/full: the header write at open fails like a full disk.
        XCTAssertThrowsError(try WavWriter(path: "/dev/full", sampleRate: 16_000)) {
            XCTAssertEqual(($0 as? LayercodeError)?.code, .audio)
            XCTAssertEqual(($0 as? LayercodeError)?.message.contains("No space left"), true)
        }
    }

    // MARK: WavDevice

    final class Wakes: @unchecked Sendable {
        let count = Atomic<Int>(0)
    }

    /// A WavDriver with the engine sides it drives (built as AudioEngine builds them: the
    /// capture side at the file's rate, the playback side at the output rate) and the latch
    /// its thread raises failures on.
    final class WavRig {
        let driver: WavDriver
        let capture: CaptureSide?
        let playback: PlaybackSide?
        let failures: FailureLatch

        init(_ driver: WavDriver, wakes: Wakes) throws {
            self.driver = driver
            let wake: @Sendable () -> Void = { wakes.count.add(1, ordering: .relaxed) }
            failures = FailureLatch(wake: wake)
            capture = driver.inputFormat.map {
                CaptureSide(sampleRate: $0.sampleRate, clock: WavDeviceTests.monotonicNanoseconds, wake: wake)
            }
            playback = try driver.outputFormat.map {
                try PlaybackSide(deviceRate: $0.sampleRate, channels: $0.channels, jitter: JitterBufferConfig(),
                                 clock: WavDeviceTests.monotonicNanoseconds, wake: wake)
            }
        }

        func start() { driver.start(capture: capture, playback: playback, failures: failures) }
        func stop() { driver.stop() }
        func takeFailure() -> LayercodeError? { failures.take() }
        var inputFinished: Bool { driver.inputFinished }
        var isRealtime: Bool { driver.isRealtime }
    }

    private func makeDevice(input: String?, output: String?, outputRate: Int = 16_000,
                            loop: Bool = false, wakes: Wakes = Wakes()) throws -> WavRig {
        try WavRig(WavDriver(inputPath: input, outputPath: output, outputSampleRate: outputRate,
                             periodMilliseconds: 10, loopInput: loop), wakes: wakes)
    }

    private func drain(_ ring: SPSCRing<Int16>) -> [Int16] {
        var all: [Int16] = []
        var buffer = [Int16](repeating: 0, count: 4096)
        while true {
            let n = buffer.withUnsafeMutableBufferPointer { ring.read(into: $0) }
            if n == 0 { break }
            all += buffer[0..<n]
        }
        return all
    }

    private func sleep(until deadline: UInt64) {
        while true {
            let now = Self.monotonicNanoseconds()
            if now >= deadline { return }
            usleep(UInt32(min(deadline - now, 50_000_000) / 1000))
        }
    }

    /// 1 s of 16 kHz input run for ~1.2 s: the capture ring gets the file then silence, at
    /// wall-clock speed; five 20 ms agent frames pushed mid-way land in the output file, which
    /// is as long as the run, with its header fixed at stop.
    func testDeviceRunsBothDirectionsInRealTime() throws {
        let input = path("mic.wav"), output = path("speaker.wav")
        try sox(["-n", "-r", "16000", "-b", "16", input, "synth", "1", "sine", "440", "vol", "0.5"])
        let fileSamples = try readAll(WavReader(path: input))
        XCTAssertEqual(fileSamples.count, 16_000)
        let wakes = Wakes()
        let device = try makeDevice(input: input, output: output, wakes: wakes)
        let capture = try XCTUnwrap(device.capture), playback = try XCTUnwrap(device.playback)
        XCTAssertEqual(capture.sampleRate, 16_000)
        XCTAssertEqual(playback.deviceRate, 16_000)
        capture.accepting.store(true, ordering: .relaxed)

        let start = Self.monotonicNanoseconds()
        device.start()
        sleep(until: start + 200_000_000)
        let pushedAt = Self.monotonicNanoseconds()
        for i in 0..<5 {
            var flags: AudioFrameFlags = i == 0 ? [.turnStart] : []
            if i == 4 { flags.insert(.turnEnd) }
            let samples = [Int16](repeating: Int16(2000 + i), count: 320)
            let header = AudioFrameHeader(sequence: UInt64(i + 1), arrivalNanoseconds: Self.monotonicNanoseconds(),
                                          marker: UInt32(i + 1), sampleCount: 320, flags: flags)
            XCTAssertTrue(samples.withUnsafeBufferPointer { playback.push(header, samples: $0) })
        }
        sleep(until: start + 1_200_000_000)
        XCTAssertNil(device.takeFailure())
        let stopAt = Self.monotonicNanoseconds()
        device.stop()
        let end = Self.monotonicNanoseconds()
        let elapsed = Double(end - start) / 1e9
        XCTAssertLessThan(Double(end - stopAt) / 1e6, 100, "stop() did not join promptly")
        XCTAssertNil(device.takeFailure())
        print("WavDevice: ran \(elapsed) s, realtime \(device.isRealtime), late resets "
              + "\(device.driver.lateResets.load(ordering: .relaxed)), wakes \(wakes.count.load(ordering: .relaxed))")

        // Capture: the file, then silence, in real time.
        let captured = drain(capture.ring)
        let audioSeconds = Double(captured.count) / 16_000
        XCTAssertEqual(UInt64(captured.count), device.driver.capturedFrames.load(ordering: .relaxed))
        XCTAssertGreaterThanOrEqual(audioSeconds, 1.2 * 0.9, "capture slower than real time")
        XCTAssertGreaterThanOrEqual(elapsed, audioSeconds * 0.9, "capture faster than real time")
        XCTAssertLessThanOrEqual(audioSeconds, elapsed + 0.02)
        XCTAssertEqual(Array(captured.prefix(16_000)), fileSamples)
        XCTAssertTrue(captured.dropFirst(16_000).allSatisfy { $0 == 0 }, "no silence after the file")
        XCTAssertTrue(device.inputFinished)
        XCTAssertEqual(capture.droppedSamples.load(ordering: .relaxed), 0)
        XCTAssertGreaterThan(wakes.count.load(ordering: .relaxed), 50)

        // Playback: everything rendered, the agent frames in order, header fixed.
        let h = try header(output)
        XCTAssertEqual(h.rate, 16_000)
        XCTAssertEqual(h.channels, 1)
        XCTAssertEqual(Int(h.data), h.fileSize - 44)
        XCTAssertEqual(Int(h.riff), h.fileSize - 8)
        let rendered = try readAll(WavReader(path: output), chunk: 4096)
        XCTAssertEqual(UInt64(rendered.count), device.driver.renderedFrames.load(ordering: .relaxed))
        XCTAssertEqual(Double(rendered.count) / 16_000, elapsed, accuracy: elapsed * 0.1)
        let first = try XCTUnwrap(rendered.firstIndex { $0 != 0 })
        let last = try XCTUnwrap(rendered.lastIndex { $0 != 0 })
        XCTAssertEqual(last - first + 1, 5 * 320)
        XCTAssertEqual(Array(rendered[first...last]), (0..<5).flatMap { [Int16](repeating: Int16(2000 + $0), count: 320) })
        let pushedSeconds = Double(pushedAt - start) / 1e9
        let startSeconds = Double(first) / 16_000
        XCTAssertGreaterThanOrEqual(startSeconds, pushedSeconds - 0.05)
        XCTAssertLessThan(startSeconds, pushedSeconds + 0.3, "agent audio played late")
        XCTAssertEqual(playback.snapshot().playedSamples, 1600)
        XCTAssertNotNil(playback.takeDrain())
        XCTAssertEqual(playback.snapshot().lastPlayedMarker, 5)
    }

    /// A short stereo 11025 Hz file looped, and a 48 kHz speaker: fractional periods add up
    /// to the exact rate, the loop seams are seamless, the output is as long as the run.
    func testDeviceLoopsInputAndKeepsFractionalRates() throws {
        let input = path("loop.wav"), output = path("out48k.wav")
        try sox(["-n", "-r", "11025", "-c", "2", "-b", "16", input, "synth", "0.13", "sine", "440", "sine", "880"])
        let once = try readAll(WavReader(path: input))
        let device = try makeDevice(input: input, output: output, outputRate: 48_000, loop: true)
        let capture = try XCTUnwrap(device.capture)
        XCTAssertEqual(capture.sampleRate, 11_025)
        capture.accepting.store(true, ordering: .relaxed)
        let start = Self.monotonicNanoseconds()
        device.start()
        sleep(until: start + 600_000_000)
        device.stop()
        let elapsed = Double(Self.monotonicNanoseconds() - start) / 1e9
        XCTAssertNil(device.takeFailure())
        XCTAssertFalse(device.inputFinished)

        let captured = drain(capture.ring)
        XCTAssertGreaterThan(captured.count, 3 * once.count, "did not loop")
        for (i, s) in captured.enumerated() where s != once[i % once.count] {
            return XCTFail("looped input differs at \(i)")
        }
        XCTAssertEqual(Double(captured.count) / 11_025, elapsed, accuracy: elapsed * 0.1)
        let h = try header(output)
        XCTAssertEqual(h.rate, 48_000)
        XCTAssertEqual(Double(h.data) / 2 / 48_000, elapsed, accuracy: elapsed * 0.1)
        // 10 ms periods at 11025 Hz are 110.25 frames: whole periods must sum exactly.
        let periods = device.driver.renderedFrames.load(ordering: .relaxed) / 480
        XCTAssertEqual(device.driver.capturedFrames.load(ordering: .relaxed), periods * 11_025 / 100)
    }

    func testDeviceWithOneDirectionOnly() throws {
        let input = path("in.wav")
        try sox(["-n", "-r", "8000", "-b", "16", input, "synth", "0.05", "sine", "440"])
        let captureOnly = try makeDevice(input: input, output: nil)
        XCTAssertNil(captureOnly.playback)
        captureOnly.capture?.accepting.store(true, ordering: .relaxed)
        captureOnly.start()
        usleep(150_000)
        captureOnly.stop()
        XCTAssertTrue(captureOnly.inputFinished)
        XCTAssertGreaterThan(captureOnly.capture?.ring.readableCount ?? 0, 400)

        let output = path("only-out.wav")
        let playbackOnly = try makeDevice(input: nil, output: output)
        XCTAssertNil(playbackOnly.capture)
        playbackOnly.start()
        usleep(100_000)
        playbackOnly.stop()
        playbackOnly.stop()
        let h = try header(output)
        XCTAssertEqual(Int(h.data), h.fileSize - 44)
        XCTAssertGreaterThan(h.data, 16_000 * 2 / 20)
    }

    func testDeviceRefusesBadArguments() throws {
        let input = path("in.wav")
        try sox(["-n", "-r", "16000", "-b", "16", input, "synth", "0.05", "sine", "440"])
        XCTAssertThrowsError(try WavDriver(inputPath: input, outputPath: nil, periodMilliseconds: 0)) {
            XCTAssertEqual(($0 as? LayercodeError)?.code, .invalidArgument)
        }
        let output = path("never.wav")
        XCTAssertThrowsError(try makeDevice(input: input, output: output, outputRate: 4000)) {
            XCTAssertEqual(($0 as? LayercodeError)?.code, .invalidArgument)
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: output), "a refused device left a file")
        let missing = path("missing.wav")
        XCTAssertThrowsError(try makeDevice(input: missing, output: output)) {
            XCTAssertEqual(($0 as? LayercodeError)?.code, .audio)
            XCTAssertEqual(($0 as? LayercodeError)?.message.hasPrefix(missing), true)
        }
    }

    /// A speaker file that cannot grow (RLIMIT_FSIZE stands in for a full disk: EFBIG)
    /// ends the thread and is reported once through takeFailure, with a wake-up.
    func testOutputWriteFailureIsReported() throws {
        let output = path("full.wav")
        var saved = rlimit()
        XCTAssertEqual(getrlimit(__rlimit_resource_t(RLIMIT_FSIZE.rawValue), &saved), 0)
        let oldHandler = signal(SIGXFSZ, SIG_IGN)
        var limit = saved
        limit.rlim_cur = 8000  // about 0.25 s of 16 kHz mono
        XCTAssertEqual(setrlimit(__rlimit_resource_t(RLIMIT_FSIZE.rawValue), &limit), 0)
        var restored = false
        func restore() {
            guard !restored else { return }
            restored = true
            setrlimit(__rlimit_resource_t(RLIMIT_FSIZE.rawValue), &saved)
            signal(SIGXFSZ, oldHandler)
        }
        defer { restore() }

        let wakes = Wakes()
        let device = try makeDevice(input: nil, output: output, wakes: wakes)
        device.start()
        let start = Self.monotonicNanoseconds()
        var failure: LayercodeError?
        while failure == nil && Self.monotonicNanoseconds() - start < 3_000_000_000 {
            usleep(10_000)
            failure = device.takeFailure()
        }
        device.stop()
        restore()
        let e = try XCTUnwrap(failure, "a failed write was not reported")
        XCTAssertEqual(e.code, .audio)
        XCTAssertTrue(e.message.hasPrefix("\(output): write: "), e.message)
        XCTAssertTrue(e.message.contains("too large"), e.message)
        XCTAssertNil(device.takeFailure(), "reported twice")
        XCTAssertGreaterThan(wakes.count.load(ordering: .relaxed), 0)
        let h = try header(output)
        XCTAssertEqual(h.fileSize, 8000)
        XCTAssertEqual(Int(h.data), h.fileSize - 44, "header not fixed after the failure")
    }
}
