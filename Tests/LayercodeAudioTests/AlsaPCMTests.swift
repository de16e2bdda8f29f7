// SPDX-License-Identifier: Apache-2.0
import Foundation
import Glibc
import XCTest
import LayercodeAudio
import LayercodeCore

// AlsaPCM and AlsaDeviceList against real ALSA, without a sound card: devices are ALSA's
// `null` plugin and `file` plugins over it, defined per PCM through `Config.configText`
// (snd_pcm_open_lconf over a copy of the system configuration), so no ~/.asoundrc, HOME or
// ALSA_CONFIG_PATH is touched and the tests may run in parallel.
//
// Pacing, measured on ALSA 1.2.8 (see testNullAndFilePluginsAreNotPaced): neither `null`
// nor `file` over `null` runs in real time; reads and writes return as fast as the CPU
// goes. So these tests check content and negotiation, not timing, and an xrun cannot be
// provoked on them (testXrunRecoveryOnAPacedDevice needs LC_TEST_PACED_DEVICE).

final class AlsaPCMTests: XCTestCase {
    private var tempDir: URL!

    override func setUpWithError() throws {
        tempDir = FileManager.default.temporaryDirectory
            .appendingPathComponent("lc-alsa-\(getpid())-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: tempDir, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: tempDir)
    }

    // MARK: Helpers

    /// asoundrc text for a `file` PCM over `null`.
    private func fileDevice(_ name: String, file: String, format: String = "raw",
                            infile: String? = nil) -> String {
        """
        pcm.\(name) {
            type file
            slave.pcm "null"
            file "\(file)"
            format "\(format)"
            \(infile.map { "infile \"\($0)\"" } ?? "")
        }
        """
    }

    /// `frames` frames of a sine, the same on every channel, starting at frame `start`.
    private func sine(frequency: Double, rate: Int, channels: Int, start: Int, frames: Int,
                      amplitude: Double) -> [Int16] {
        var out = [Int16](repeating: 0, count: frames * channels)
        for i in 0..<frames {
            let v = Int16((amplitude * sin(2 * .pi * frequency * Double(start + i) / Double(rate))).rounded())
            for c in 0..<channels { out[i * channels + c] = v }
        }
        return out
    }

    /// Writes one second of a 1 kHz sine in periods, closes, and returns the samples the
    /// file plugin wrote (after the header for wav).
    private func playSine(rate: Int, channels: Int, format: String,
                          file: String) throws -> (pcm: (rate: Int, channels: Int, period: Int), samples: [Int16], raw: Data) {
        let config = AlsaPCM.Config(device: "lc_out", direction: .playback, sampleRate: rate,
                                    channels: channels, periodMilliseconds: 10, periods: 4,
                                    configText: fileDevice("lc_out", file: file, format: format))
        let pcm = try AlsaPCM(config)
        XCTAssertEqual(pcm.sampleRate, rate)
        XCTAssertEqual(pcm.channels, channels)
        let total = rate  // one second
        var written = 0
        while written < total {
            let n = min(pcm.periodFrames, total - written)
            let chunk = sine(frequency: 1000, rate: rate, channels: channels, start: written,
                             frames: n, amplitude: 10_000)
            let done = try chunk.withUnsafeBufferPointer { try pcm.write(from: $0.baseAddress!, frames: n) }
            XCTAssertEqual(done, n)
            written += n
        }
        pcm.drain()
        let negotiated = (pcm.sampleRate, pcm.channels, pcm.periodFrames)
        pcm.close()
        let raw = try Data(contentsOf: URL(fileURLWithPath: file))
        let body = format == "wav" ? raw.dropFirst(44) : raw[...]
        let samples = body.withUnsafeBytes { Array($0.bindMemory(to: Int16.self)) }
        return (negotiated, samples, raw)
    }

    /// Checks one channel of an interleaved 1 kHz, amplitude-10000 sine: frequency by rising
    /// zero crossings, and no click (no step steeper than the sine's steepest).
    private func checkSine(_ samples: [Int16], rate: Int, channels: Int,
                           file: StaticString = #filePath, line: UInt = #line) {
        let frames = samples.count / channels
        for c in 0..<channels {
            var rising = 0
            var maxStep = 0
            for i in 1..<frames {
                let a = Int(samples[(i - 1) * channels + c]), b = Int(samples[i * channels + c])
                if a < 0 && b >= 0 { rising += 1 }
                maxStep = max(maxStep, abs(b - a))
            }
            let hz = Double(rising) * Double(rate) / Double(frames)
            XCTAssertEqual(hz, 1000, accuracy: 10, "channel \(c) frequency", file: file, line: line)
            let steepest = 10_000 * 2 * Double.pi * 1000 / Double(rate)
            XCTAssertLessThanOrEqual(Double(maxStep), steepest + 2, "channel \(c) has a click",
                                     file: file, line: line)
        }
    }

    // MARK: Playback through the file plugin

    func testPlaybackWav44100StereoReachesTheFileIntact() throws {
        let path = tempDir.appendingPathComponent("out44.wav").path
        let (negotiated, samples, raw) = try playSine(rate: 44_100, channels: 2, format: "wav", file: path)
        XCTAssertEqual(negotiated.rate, 44_100)
        XCTAssertEqual(negotiated.channels, 2)
        XCTAssertEqual(negotiated.period, 441)
        // The WAV header the plugin wrote, with its sizes filled in at close.
        XCTAssertEqual(String(decoding: raw.prefix(4), as: UTF8.self), "RIFF")
        XCTAssertEqual(String(decoding: raw[8..<12], as: UTF8.self), "WAVE")
        let le16 = { (o: Int) in Int(raw[o]) | Int(raw[o + 1]) << 8 }
        let le32 = { (o: Int) in le16(o) | le16(o + 2) << 16 }
        XCTAssertEqual(le16(22), 2)
        XCTAssertEqual(le32(24), 44_100)
        XCTAssertEqual(le32(40), 44_100 * 2 * 2)
        XCTAssertEqual(samples.count, 44_100 * 2)
        checkSine(samples, rate: 44_100, channels: 2)
        // Both channels carry the same signal.
        for i in stride(from: 0, to: samples.count, by: 2) where samples[i] != samples[i + 1] {
            XCTFail("channels differ at frame \(i / 2)")
            break
        }
    }

    func testPlaybackRaw16000MonoReachesTheFileIntact() throws {
        let path = tempDir.appendingPathComponent("out16.raw").path
        let (negotiated, samples, _) = try playSine(rate: 16_000, channels: 1, format: "raw", file: path)
        XCTAssertEqual(negotiated.rate, 16_000)
        XCTAssertEqual(negotiated.channels, 1)
        XCTAssertEqual(negotiated.period, 160)
        XCTAssertEqual(samples.count, 16_000)
        checkSine(samples, rate: 16_000, channels: 1)
        // Bit-exact: the file holds exactly what was written.
        XCTAssertEqual(samples, sine(frequency: 1000, rate: 16_000, channels: 1, start: 0,
                                     frames: 16_000, amplitude: 10_000))
    }

    // MARK: Capture through the file plugin

    func testCapture48000StereoReadsTheInfile() throws {
        let frames = 24_000, channels = 2
        // Distinct content per channel and frame (no period-sized repetition), so a lost,
        // repeated or swapped block shows.
        var content = [Int16](repeating: 0, count: frames * channels)
        var x: UInt32 = 0x1234_5678
        for i in content.indices {
            x = x &* 1_664_525 &+ 1_013_904_223
            content[i] = Int16(truncatingIfNeeded: x >> 16)
        }
        let inPath = tempDir.appendingPathComponent("in48.raw").path
        try content.withUnsafeBytes { try Data($0).write(to: URL(fileURLWithPath: inPath)) }
        let teePath = tempDir.appendingPathComponent("tee48.raw").path

        let pcm = try AlsaPCM(.init(device: "lc_in", direction: .capture, sampleRate: 48_000,
                                    channels: channels, periodMilliseconds: 10, periods: 4,
                                    configText: fileDevice("lc_in", file: teePath, infile: inPath)))
        XCTAssertEqual(pcm.sampleRate, 48_000)
        XCTAssertEqual(pcm.channels, 2)
        XCTAssertEqual(pcm.periodFrames, 480)
        var captured = [Int16](repeating: 0, count: frames * channels)
        var done = 0
        try captured.withUnsafeMutableBufferPointer { buf in
            while done < frames {
                let n = min(pcm.periodFrames, frames - done)
                XCTAssertEqual(try pcm.read(into: buf.baseAddress! + done * channels, frames: n), n)
                done += n
            }
        }
        pcm.close()
        XCTAssertEqual(done, frames)
        XCTAssertEqual(captured, content)
        XCTAssertEqual(pcm.xrunCount, 0)
    }

    // MARK: Negotiation

    func testNegotiatedValuesOnNull() throws {
        let play = try AlsaPCM(.init(device: "null", direction: .playback, sampleRate: 44_100,
                                     channels: 2, periodMilliseconds: 20, periods: 3))
        XCTAssertEqual(play.device, "null")
        XCTAssertEqual(play.direction, .playback)
        XCTAssertEqual(play.sampleRate, 44_100)
        XCTAssertEqual(play.channels, 2)
        XCTAssertEqual(play.periodFrames, 882)
        XCTAssertEqual(play.bufferFrames, 882 * 3)

        // channels 0 = mono when the device has it; sampleRate 0 = 48000.
        let cap = try AlsaPCM(.init(device: "null", direction: .capture, sampleRate: 0, channels: 0))
        XCTAssertEqual(cap.sampleRate, 48_000)
        XCTAssertEqual(cap.channels, 1)
        XCTAssertEqual(cap.periodFrames, 480)
        XCTAssertEqual(cap.bufferFrames, 480 * 4)
        // Reads complete. (alsa-lib 1.2.8's `null` leaves the buffer as it was rather than
        // writing silence, so the content is not checked.)
        var buf = [Int16](repeating: 0, count: 480)
        XCTAssertEqual(try buf.withUnsafeMutableBufferPointer { try cap.read(into: $0.baseAddress!, frames: 480) }, 480)
    }

    func testPlugConvertsToTheRequestOverAFixedSlave() throws {
        // A plug over a slave pinned to 22050 Hz stereo: the caller still gets its request.
        let text = """
        pcm.lc_fixed {
            type plug
            slave { pcm "null" rate 22050 channels 2 format S16_LE }
        }
        """
        let pcm = try AlsaPCM(.init(device: "lc_fixed", direction: .playback, sampleRate: 16_000,
                                    channels: 1, configText: text))
        XCTAssertEqual(pcm.sampleRate, 16_000)
        XCTAssertEqual(pcm.channels, 1)
        XCTAssertEqual(pcm.periodFrames, 160)
        let silence = [Int16](repeating: 0, count: 1600)
        XCTAssertEqual(try silence.withUnsafeBufferPointer { try pcm.write(from: $0.baseAddress!, frames: 1600) }, 1600)
    }

    // MARK: Errors

    func testOpeningANonexistentDeviceThrowsAnAudioErrorNamingIt() {
        for direction in [AlsaPCM.Direction.playback, .capture] {
            XCTAssertThrowsError(try AlsaPCM(.init(device: "lc_no_such_device", direction: direction))) { error in
                guard let error = error as? LayercodeError else { return XCTFail("\(error)") }
                XCTAssertEqual(error.code, .audio)
                XCTAssertTrue(error.message.hasPrefix("lc_no_such_device: "), error.message)
            }
        }
    }

    func testBadConfigTextAndBadArgumentsThrow() {
        XCTAssertThrowsError(try AlsaPCM(.init(device: "x", direction: .playback,
                                               configText: "pcm.x { type file"))) { error in
            XCTAssertEqual((error as? LayercodeError)?.code, .audio)
        }
        XCTAssertThrowsError(try AlsaPCM(.init(device: "null", direction: .playback, periods: 1))) { error in
            XCTAssertEqual((error as? LayercodeError)?.code, .invalidArgument)
        }
        XCTAssertThrowsError(try AlsaPCM(.init(device: "null", direction: .playback, sampleRate: -1))) { error in
            XCTAssertEqual((error as? LayercodeError)?.code, .invalidArgument)
        }
    }

    func testWrongDirectionAndUseAfterCloseThrowInvalidState() throws {
        let pcm = try AlsaPCM(.init(device: "null", direction: .playback, channels: 1))
        var buf = [Int16](repeating: 0, count: 480)
        XCTAssertThrowsError(try buf.withUnsafeMutableBufferPointer { try pcm.read(into: $0.baseAddress!, frames: 480) }) {
            XCTAssertEqual(($0 as? LayercodeError)?.code, .invalidState)
        }
        pcm.close()
        pcm.close()  // idempotent
        pcm.drop()
        pcm.drain()
        XCTAssertEqual(pcm.delayFrames, 0)
        XCTAssertThrowsError(try buf.withUnsafeBufferPointer { try pcm.write(from: $0.baseAddress!, frames: 480) }) {
            XCTAssertEqual(($0 as? LayercodeError)?.code, .invalidState)
        }
    }

    // MARK: Device list

    func testListIncludesNullAndIsDeterministic() {
        let first = AlsaDeviceList.list()
        XCTAssertFalse(first.isEmpty)
        let null = first.first { $0.name == "null" }
        XCTAssertNotNil(null)
        XCTAssertEqual(null?.isInput, true)
        XCTAssertEqual(null?.isOutput, true)
        XCTAssertFalse(null?.description.isEmpty ?? true)
        for device in first {
            XCTAssertFalse(device.description.contains("\n"), device.name)
            XCTAssertTrue(device.isInput || device.isOutput, device.name)
        }
        XCTAssertEqual(AlsaDeviceList.list(), first)
    }

    // MARK: Stopping, resuming, xruns

    func testPlaybackGoesOnAfterAPauseAndAfterDrop() throws {
        let path = tempDir.appendingPathComponent("pause.raw").path
        let pcm = try AlsaPCM(.init(device: "lc_out", direction: .playback, sampleRate: 16_000,
                                    channels: 1, configText: fileDevice("lc_out", file: path)))
        let period = pcm.periodFrames
        let tone = sine(frequency: 1000, rate: 16_000, channels: 1, start: 0, frames: period * 8,
                        amplitude: 10_000)
        try tone.withUnsafeBufferPointer { buf in
            XCTAssertEqual(try pcm.write(from: buf.baseAddress!, frames: period * 8), period * 8)
            // Longer than the whole buffer: a paced device would underrun here.
            usleep(UInt32(pcm.bufferFrames * 1_000_000 / pcm.sampleRate) * 3)
            XCTAssertEqual(try pcm.write(from: buf.baseAddress!, frames: period * 8), period * 8)
            pcm.drop()  // barge-in: discard, then go on
            XCTAssertEqual(try pcm.write(from: buf.baseAddress!, frames: period * 8), period * 8)
        }
        XCTAssertGreaterThanOrEqual(pcm.delayFrames, 0)
        pcm.drain()
        pcm.close()
        // `null` never underruns, so nothing was recovered (see the file comment).
        XCTAssertEqual(pcm.xrunCount, 0)
    }

    /// Needs a sound card (or snd-aloop/snd-dummy), named by LC_TEST_PACED_DEVICE (e.g.
    /// `plughw:0`), with optional asoundrc text in LC_TEST_PACED_CONFIG. Provokes an
    /// underrun by writing nothing for three buffer lengths, then checks it is recovered and
    /// counted, and playback goes on.
    /// Not PulseAudio: its ALSA plugin (alsa-plugins 1.2.7) paces in real time but never
    /// reports the underrun, even with `handle_underrun true` (state stays RUNNING, avail
    /// reaches the buffer size), so writes just go on and nothing is counted.
    func testXrunRecoveryOnAPacedDevice() throws {
        let env = ProcessInfo.processInfo.environment
        guard let device = env["LC_TEST_PACED_DEVICE"] else {
            throw XCTSkip("null/file do not run in real time and never xrun; set LC_TEST_PACED_DEVICE")
        }
        let pcm = try AlsaPCM(.init(device: device, direction: .playback, sampleRate: 48_000, channels: 0,
                                    configText: env["LC_TEST_PACED_CONFIG"]))
        let silence = [Int16](repeating: 0, count: pcm.bufferFrames * pcm.channels)
        try silence.withUnsafeBufferPointer { buf in
            _ = try pcm.write(from: buf.baseAddress!, frames: pcm.bufferFrames)
            usleep(UInt32(pcm.bufferFrames * 1_000_000 / pcm.sampleRate) * 3)
            XCTAssertEqual(try pcm.write(from: buf.baseAddress!, frames: pcm.bufferFrames), pcm.bufferFrames)
        }
        XCTAssertGreaterThanOrEqual(pcm.xrunCount, 1)
        pcm.close()
    }

    /// Records how fast `null` and `file`-over-`null` consume and produce: whether a test
    /// through them takes audio time or CPU time.
    func testNullAndFilePluginsAreNotPaced() throws {
        let seconds = 2
        func timePlayback(_ config: AlsaPCM.Config) throws -> Double {
            let pcm = try AlsaPCM(config)
            let block = [Int16](repeating: 0, count: pcm.periodFrames * pcm.channels)
            let start = Date()
            var frames = 0
            try block.withUnsafeBufferPointer { buf in
                while frames < pcm.sampleRate * seconds {
                    frames += try pcm.write(from: buf.baseAddress!, frames: pcm.periodFrames)
                }
            }
            pcm.drain()
            return Date().timeIntervalSince(start)
        }
        func timeCapture(_ config: AlsaPCM.Config) throws -> Double {
            let pcm = try AlsaPCM(config)
            var block = [Int16](repeating: 0, count: pcm.periodFrames * pcm.channels)
            let start = Date()
            var frames = 0
            try block.withUnsafeMutableBufferPointer { buf in
                while frames < pcm.sampleRate * seconds {
                    frames += try pcm.read(into: buf.baseAddress!, frames: pcm.periodFrames)
                }
            }
            return Date().timeIntervalSince(start)
        }
        let file = tempDir.appendingPathComponent("pace.raw").path
        let nullPlay = try timePlayback(.init(device: "null", direction: .playback, channels: 2))
        let filePlay = try timePlayback(.init(device: "lc_out", direction: .playback, channels: 2,
                                              configText: fileDevice("lc_out", file: file)))
        let nullCapture = try timeCapture(.init(device: "null", direction: .capture, channels: 2))
        print("ALSA pacing for \(seconds) s of 48 kHz stereo: null playback \(nullPlay) s, "
              + "file-over-null playback \(filePlay) s, null capture \(nullCapture) s")
        // Far below real time; if a later alsa-lib paces `null`, this says so.
        XCTAssertLessThan(nullPlay, Double(seconds) / 4)
        XCTAssertLessThan(filePlay, Double(seconds) / 4)
        XCTAssertLessThan(nullCapture, Double(seconds) / 4)
    }
}
