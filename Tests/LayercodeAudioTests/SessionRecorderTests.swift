// SPDX-License-Identifier: Apache-2.0
import Foundation
@testable import LayercodeAudio
import LayercodeCore
import XCTest

/// The session recorder end to end inside the library: mic frames and a real playback
/// side's render tap in, an Ogg Opus file out, read back with OggReader and decoded with
/// libopus. The clock is the test's: the recorder thread encodes what the clock has passed.
final class SessionRecorderTests: XCTestCase {
    final class Clock: @unchecked Sendable {
        private let lock = NSLock()
        private var value: UInt64 = 5_000_000_000
        var now: UInt64 {
            get { lock.withLock { value } }
            set { lock.withLock { value = newValue } }
        }
    }

    static func tone(_ hz: Double, rate: Int, from: Int, count: Int, amplitude: Double = 8000) -> [Int16] {
        (from..<from + count).map { Int16(amplitude * sin(2 * Double.pi * hz * Double($0) / Double(rate))) }
    }

    static func rms(_ x: ArraySlice<Int16>) -> Double {
        guard !x.isEmpty else { return 0 }
        return (x.reduce(0.0) { $0 + Double($1) * Double($1) } / Double(x.count)).squareRoot()
    }

    /// Energy of `x` at `hz` relative to its total energy (Goertzel), 0...1.
    static func toneShare(_ x: ArraySlice<Int16>, hz: Double, rate: Int) -> Double {
        let w = 2 * Double.pi * hz / Double(rate)
        var s1 = 0.0, s2 = 0.0
        for v in x {
            let s = Double(v) + 2 * cos(w) * s1 - s2
            s2 = s1
            s1 = s
        }
        let power = s1 * s1 + s2 * s2 - 2 * cos(w) * s1 * s2
        let energy = x.reduce(0.0) { $0 + Double($1) * Double($1) }
        return energy > 0 ? 2 * power / (Double(x.count) * energy) : 0
    }

    struct Decoded {
        var head: OpusHead
        var tags: OpusTags
        var left: [Int16] = []
        var right: [Int16] = []
        var endGranule: UInt64
        var audioPackets = 0
    }

    /// Reads and decodes a recording (pre-skip dropped, end trimmed to the EOS granule).
    static func decode(_ path: String) throws -> Decoded {
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        var reader = OggReader()
        let packets = try bytes.withUnsafeBytes { try reader.push($0) }
        try reader.finish()
        var out = Decoded(head: try OpusHead.parse(packets[0].bytes), tags: try OpusTags.parse(packets[1].bytes),
                          endGranule: reader.lastGranule)
        let decoder = try OpusPacketDecoder(sampleRate: 16_000, channels: 2)
        var pcm = [Int16](repeating: 0, count: 2 * 960)
        var interleaved: [Int16] = []
        out.audioPackets = packets.count - 2
        for p in packets.dropFirst(2) {
            let n = p.bytes.withUnsafeBytes { b in pcm.withUnsafeMutableBufferPointer { decoder.decode(b, into: $0) } }
            XCTAssertGreaterThan(n, 0)
            interleaved += pcm[0..<2 * max(0, n)]
        }
        let skip = out.head.preSkip / 3
        let total = Int(reader.lastGranule - UInt64(out.head.preSkip)) / 3
        for i in skip..<min(skip + total, interleaved.count / 2) {
            out.left.append(interleaved[2 * i])
            out.right.append(interleaved[2 * i + 1])
        }
        return out
    }

    func tempPath() -> String {
        NSTemporaryDirectory() + "lc-rec-\(UUID().uuidString).opus"
    }

    /// 2 s: 1 s of 440 Hz microphone (8 kHz frames, as sent), then nothing sent; the agent's
    /// 1 kHz tone through a 48 kHz playback side, rendered in 20 ms periods.
    func testStereoTimelineMicLeftRenderedAgentRight() throws {
        let path = tempPath()
        defer { try? FileManager.default.removeItem(atPath: path) }
        let clock = Clock()
        let t0 = clock.now
        var jitter = JitterBufferConfig()
        jitter.minDelayMs = 40
        jitter.initialDelayMs = 40
        let side = try PlaybackSide(deviceRate: 48_000, channels: 1, jitter: jitter, renderTapMilliseconds: 1000,
                                    clock: { clock.now }, wake: {})
        let tags = SessionRecorder.Tags(conversationID: "conv_1", agentID: "ag_1", version: "9.9.9",
                                        startEpochSeconds: 1_796_000_000)
        let recorder = try SessionRecorder(file: RecorderFile(path: path), tags: tags, startNanoseconds: t0,
                                           clock: { clock.now })
        recorder.attach(side)
        try recorder.start()
        // Agent: 30 frames (600 ms) of 1 kHz at 16 kHz, queued at the start.
        for i in 0..<30 {
            let samples = Self.tone(1000, rate: 16_000, from: i * 320, count: 320)
            var flags: AudioFrameFlags = i == 0 ? [.turnStart] : []
            if i == 29 { flags.insert(.turnEnd) }
            let header = AudioFrameHeader(sequence: UInt64(i + 1), arrivalNanoseconds: t0, marker: UInt32(i + 1),
                                          sampleCount: 320, flags: flags)
            XCTAssertTrue(samples.withUnsafeBufferPointer { side.push(header, samples: $0) })
        }
        var rendered: [Int16] = []
        var out = [Int16](repeating: 0, count: 960)
        for k in 0..<100 {
            clock.now = t0 + UInt64(k + 1) * 20_000_000
            if k < 50 {
                let mic = Self.tone(440, rate: 8000, from: k * 160, count: 160)
                mic.withUnsafeBufferPointer { recorder.handOver($0, sampleRate: 8000, capturedNanoseconds: clock.now) }
            }
            out.withUnsafeMutableBufferPointer { _ = side.render(into: $0.baseAddress!, frames: 960) }
            rendered += out
            // The recorder stamps tap audio when it reads it: let it read at this clock.
            let deadline = Date().addingTimeInterval(10)
            while side.renderTap!.readableCount > 0 && Date() < deadline { usleep(500) }
        }
        recorder.finish(atNanoseconds: t0 + 2_000_000_000)
        XCTAssertNil(recorder.failure)
        XCTAssertEqual(recorder.droppedFrames.load(ordering: .relaxed), 0)

        let d = try Self.decode(path)
        XCTAssertEqual(d.head.channels, 2)
        XCTAssertEqual(d.head.inputSampleRate, 16_000)
        XCTAssertEqual(d.head.preSkip, recorder.lookahead * 3)
        XCTAssertEqual(d.endGranule - UInt64(d.head.preSkip), 96_000, "2 s exactly")
        // End trimming within the last packet (RFC 7845 §4.4; opusinfo warns beyond it).
        XCTAssertLessThan(UInt64(d.audioPackets * 960) - d.endGranule, 960)
        XCTAssertGreaterThanOrEqual(UInt64(d.audioPackets * 960), d.endGranule)
        XCTAssertEqual(d.tags.comments, ["CONVERSATION_ID=conv_1", "AGENT_ID=ag_1", "DATE=2026-11-30T00:53:20Z",
                                         "ENCODER=liblayercode 9.9.9"])
        XCTAssertEqual(d.left.count, 32_000)
        // Left: the 440 Hz tone for the first second, silence after.
        XCTAssertGreaterThan(Self.rms(d.left[1600..<14_400]), 3000)
        XCTAssertGreaterThan(Self.toneShare(d.left[1600..<14_400], hz: 440, rate: 16_000), 0.9)
        XCTAssertLessThan(Self.rms(d.left[17_600..<32_000]), 100)
        // Right: where the rendered tone is (first and last loud 48 kHz sample / 3), ±20 ms.
        let loud = rendered.indices.filter { abs(Int(rendered[$0])) > 2000 }
        let renderedStart = loud.first! / 3, renderedEnd = loud.last! / 3
        let decodedLoud = d.right.indices.filter { abs(Int(d.right[$0])) > 2000 }
        XCTAssertEqual(Double(decodedLoud.first!), Double(renderedStart), accuracy: 320)
        XCTAssertEqual(Double(decodedLoud.last!), Double(renderedEnd), accuracy: 320)
        XCTAssertGreaterThan(Self.toneShare(d.right[renderedStart + 800..<renderedEnd - 800], hz: 1000, rate: 16_000), 0.9)
        XCTAssertLessThan(Self.rms(d.right[(renderedEnd + 800)...]), 100)
    }

    func testUnwritablePathFailsWithItsName() {
        XCTAssertThrowsError(try RecorderFile(path: "/nonexistent-dir/x.opus")) { error in
            let e = error as? LayercodeError
            XCTAssertEqual(e?.code, .invalidArgument)
            XCTAssertTrue(e?.message.contains("/nonexistent-dir/x.opus") == true, e?.message ?? "")
        }
        XCTAssertThrowsError(try RecorderFile(path: ""))
    }

    /// /dev/full opens but every write fails (ENOSPC): the recorder stops, names the path,
    /// and takes no more frames; nothing crashes or blocks.
    func testWriteErrorStopsRecording() throws {
        let clock = Clock()
        let recorder = try SessionRecorder(file: RecorderFile(path: "/dev/full"),
                                           tags: .init(conversationID: "c", agentID: "a", version: "v",
                                                       startEpochSeconds: 0),
                                           startNanoseconds: clock.now, clock: { clock.now })
        try recorder.start()
        let deadline = Date().addingTimeInterval(10)
        while recorder.failure == nil && Date() < deadline { usleep(1000) }
        XCTAssertTrue(recorder.failure?.contains("/dev/full") == true, recorder.failure ?? "nil")
        let frame = [Int16](repeating: 1, count: 160)
        for _ in 0..<1000 { frame.withUnsafeBufferPointer { recorder.handOver($0, sampleRate: 8000, capturedNanoseconds: 1) } }
        XCTAssertEqual(recorder.droppedFrames.load(ordering: .relaxed), 0)
        recorder.finish(atNanoseconds: clock.now + 1_000_000_000)
    }

    /// A hand-over ring that nobody drains fills, then drops whole frames and counts them.
    func testFullHandOverRingDropsAndCounts() throws {
        let path = tempPath()
        defer { try? FileManager.default.removeItem(atPath: path) }
        let clock = Clock()
        let recorder = try SessionRecorder(file: RecorderFile(path: path),
                                           tags: .init(conversationID: "c", agentID: "a", version: "v",
                                                       startEpochSeconds: 0),
                                           startNanoseconds: clock.now, clock: { clock.now })
        // Not started: the ring holds 2 s (32,000 samples) = 100 frames of 320.
        let frame = [Int16](repeating: 1, count: 320)
        for _ in 0..<130 {
            frame.withUnsafeBufferPointer { recorder.handOver($0, sampleRate: 16_000, capturedNanoseconds: clock.now) }
        }
        XCTAssertEqual(recorder.droppedFrames.load(ordering: .relaxed), 30)
        recorder.finish(atNanoseconds: clock.now + 1)
    }

    /// The recorder's encoder choice, measured: stereo 16 kHz 32 kbit/s complexity 5, left a
    /// voiced burst (200 Hz and harmonics, syllable envelope) then silence, right a 1 kHz tone
    /// throughout; per-channel SNR and the left's leak into the right while it talks alone.
    static func measureStereo(voice: Bool) throws -> (left: Double, right: Double, crosstalk: Double) {
        var settings = OpusEncoderSettings()
        settings.bitrate = SessionRecorder.bitrate
        settings.complexity = 5
        settings.inbandFEC = false
        settings.expectedLossPercent = 0
        settings.voice = voice
        let encoder = try OpusPacketEncoder(sampleRate: 16_000, channels: 2, settings: settings)
        let decoder = try OpusPacketDecoder(sampleRate: 16_000, channels: 2)
        let n = 16_000 * 4
        let left: [Int16] = (0..<n).map { i in
            let t = Double(i) / 16_000
            guard t < 2 else { return 0 }
            let env = 0.5 - 0.5 * cos(2 * Double.pi * 4 * t)
            let v = [1.0, 2, 3].reduce(0.0) { $0 + sin(2 * Double.pi * 200 * $1 * t) / $1 }
            return Int16(6000 * (0.3 + 0.7 * env) * v)
        }
        let right: [Int16] = (0..<n).map { i in
            i >= 16_000 * 2 ? Int16(6000 * sin(2 * Double.pi * 1000 * Double(i) / 16_000)) : 0
        }
        var decodedL: [Int16] = [], decodedR: [Int16] = []
        var frame = [Int16](repeating: 0, count: 640)
        var packet = [UInt8](repeating: 0, count: OpusPacketEncoder.maxPacketBytes)
        var pcm = [Int16](repeating: 0, count: 640)
        for start in stride(from: 0, to: n, by: 320) {
            for i in 0..<320 { frame[2 * i] = left[start + i]; frame[2 * i + 1] = right[start + i] }
            let bytes = frame.withUnsafeBufferPointer { f in packet.withUnsafeMutableBufferPointer { encoder.encode(f, into: $0) } }
            let got = packet[0..<bytes].withUnsafeBytes { p in pcm.withUnsafeMutableBufferPointer { decoder.decode(p, into: $0) } }
            XCTAssertEqual(got, 320)
            for i in 0..<320 { decodedL.append(pcm[2 * i]); decodedR.append(pcm[2 * i + 1]) }
        }
        let d = encoder.lookahead
        func snr(_ ref: [Int16], _ dec: [Int16], _ range: Range<Int>) -> Double {
            var s = 0.0, e = 0.0
            for i in range { let r = Double(ref[i - d]), x = Double(dec[i]); s += r * r; e += (r - x) * (r - x) }
            return 10 * log10(s / max(e, 1))
        }
        var leak = 0.0, talk = 0.0
        for i in 3200..<30_000 { leak += Double(decodedR[i]) * Double(decodedR[i]); talk += Double(decodedL[i]) * Double(decodedL[i]) }
        return (snr(left, decodedL, 3200..<30_000), snr(right, decodedR, 35_000..<60_000), 10 * log10(max(leak, 1) / talk))
    }

    func testEncoderApplicationMeasuredAUDIOIsChosen() throws {
        let audio = try Self.measureStereo(voice: false)
        let voip = try Self.measureStereo(voice: true)
        print("recorder encoder, stereo 16 kHz 32 kbit/s: AUDIO left \(audio.left) dB right \(audio.right) dB "
              + "crosstalk \(audio.crosstalk) dB; VOIP left \(voip.left) dB right \(voip.right) dB crosstalk \(voip.crosstalk) dB")
        XCTAssertGreaterThan(audio.left, voip.left)
        XCTAssertGreaterThan(audio.right, voip.right)
        XCTAssertGreaterThan(audio.left, 20)
        XCTAssertGreaterThan(audio.right, 25)
        XCTAssertLessThan(audio.crosstalk, -25)
    }

    func testISO8601UTC() {
        XCTAssertEqual(SessionRecorder.iso8601UTC(epochSeconds: 0), "1970-01-01T00:00:00Z")
        XCTAssertEqual(SessionRecorder.iso8601UTC(epochSeconds: 951_782_400), "2000-02-29T00:00:00Z")
        XCTAssertEqual(SessionRecorder.iso8601UTC(epochSeconds: 1_796_000_000), "2026-11-30T00:53:20Z")
        XCTAssertEqual(SessionRecorder.iso8601UTC(epochSeconds: 4_102_444_799), "2099-12-31T23:59:59Z")
    }
}
