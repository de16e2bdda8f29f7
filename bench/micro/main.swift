// SPDX-License-Identifier: Apache-2.0
// layercode-microbench: ns per 20 ms frame for the audio-path building blocks, single
// thread, release build (`swift run -c release layercode-microbench`). Prints JSON lines.
import CPosix
import LayercodeAudio
import LayercodeCore
import Synchronization

func now() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
}

/// Runs `body` `iterations` times (after a warm-up) and prints ns per iteration.
func bench(_ name: String, iterations: Int = 200_000, _ body: () -> Void) {
    for _ in 0..<(iterations / 10) { body() }
    let start = now()
    for _ in 0..<iterations { body() }
    let ns = Double(now() - start) / Double(iterations)
    print("{\"bench\":\"micro\",\"name\":\"\(name)\",\"ns_per_frame\":\(Int(ns.rounded()))}")
}

let frame16k = (0..<320).map { Int16(truncatingIfNeeded: $0 * 97) }
let frame8k = Array(frame16k.prefix(160))
var scratch = [Int16](repeating: 0, count: 4096)

// SPSC ring: one 20 ms frame at 48 kHz written and read.
let ring = SPSCRing<Int16>(capacity: 48_000, zero: 0)
let frame48k = [Int16](repeating: 1, count: 960)
bench("spsc_ring_write_read_960") {
    _ = frame48k.withUnsafeBufferPointer { ring.write($0) }
    _ = scratch.withUnsafeMutableBufferPointer { ring.read(into: UnsafeMutableBufferPointer(rebasing: $0[0..<960])) }
}

// FrameRing push + pop of a 16 kHz frame.
let frameRing = FrameRing(capacityFrames: 64)
var sequence: UInt64 = 0
bench("frame_ring_push_pop") {
    sequence += 1
    let header = AudioFrameHeader(sequence: sequence, arrivalNanoseconds: 0, marker: 0, sampleCount: 320)
    _ = frame16k.withUnsafeBufferPointer { frameRing.push(header, samples: $0) }
    _ = scratch.withUnsafeMutableBufferPointer { frameRing.pop(into: $0) }
}

// Jitter buffer put + get (+ the PCM16 decoder step), steady state.
let jitter = JitterBuffer(config: JitterBufferConfig())
var jbSequence: UInt64 = 0
var clock: UInt64 = 1_000_000_000
for _ in 0..<10 {
    jbSequence += 1
    let header = AudioFrameHeader(sequence: jbSequence, arrivalNanoseconds: clock, marker: 0,
                                  sampleCount: 320, flags: jbSequence == 1 ? .turnStart : [])
    frame16k.withUnsafeBufferPointer { jitter.put(header, payload: UnsafeRawBufferPointer($0)) }
}
bench("jitter_buffer_put_get") {
    jbSequence += 1
    clock += 20_000_000
    let header = AudioFrameHeader(sequence: jbSequence, arrivalNanoseconds: clock, marker: 0, sampleCount: 320)
    frame16k.withUnsafeBufferPointer { jitter.put(header, payload: UnsafeRawBufferPointer($0)) }
    scratch.withUnsafeMutableBufferPointer {
        let frame = UnsafeMutableBufferPointer(rebasing: $0[0..<320])
        PCM16Decoder.decode(jitter.get(payloadInto: UnsafeMutableRawBufferPointer(frame), nowNanoseconds: clock),
                            frame: frame)
    }
}

// Playback side: push one frame, render 20 ms at 48 kHz stereo (jitter + resample + meter).
let playback = try! PlaybackSide(deviceRate: 48_000, channels: 2, jitter: JitterBufferConfig(),
                                clock: now, wake: {})
var pbSequence: UInt64 = 0
var stereo = [Int16](repeating: 0, count: 960 * 2)
bench("playback_render_48k_stereo", iterations: 50_000) {
    pbSequence += 1
    let header = AudioFrameHeader(sequence: pbSequence, arrivalNanoseconds: now(), marker: 1,
                                  sampleCount: 320, flags: pbSequence == 1 ? .turnStart : [])
    _ = frame16k.withUnsafeBufferPointer { playback.push(header, samples: $0) }
    _ = stereo.withUnsafeMutableBufferPointer { playback.render(into: $0.baseAddress!, frames: 960) }
}

// Capture side: 20 ms of 48 kHz stereo delivered (downmix + ring), then drained.
let capture = CaptureSide(sampleRate: 48_000, clock: now, wake: {})
capture.accepting.store(true, ordering: .relaxed)
let stereoIn = [Int16](repeating: 3, count: 960 * 2)
bench("capture_deliver_48k_stereo", iterations: 50_000) {
    _ = stereoIn.withUnsafeBufferPointer { capture.deliver($0.baseAddress!, frames: 960, channels: 2) }
    _ = scratch.withUnsafeMutableBufferPointer { capture.ring.read(into: UnsafeMutableBufferPointer(rebasing: $0[0..<960])) }
}

// Uplink message: 8 kHz frame → client.audio JSON (base64 inside).
bench("client_audio_encode", iterations: 100_000) {
    _ = WireProfile.pcmJSON.encode(UplinkFrame(samples: frame8k))
}

// Downlink message: response.audio JSON (100 ms chunk) → samples.
let chunk = (0..<1600).map { Int16(truncatingIfNeeded: $0 * 31) }
let chunkJSON = "{\"type\":\"response.audio\",\"content\":\"" +
    chunk.withUnsafeBytes { Base64.encode($0) } + "\",\"turn_id\":\"t1\",\"delta_id\":\"d1\"}"
bench("response_audio_decode_100ms", iterations: 50_000) {
    _ = try? ServerMessage.decode(chunkJSON).audioSamples()
}

// Client VAD on one 8 kHz frame.
var vad = EnergyVAD(config: EnergyVAD.Config())
bench("energy_vad_frame") {
    _ = frame8k.withUnsafeBufferPointer { vad.process($0) }
}

// Session recorder: 60 s of a session (8 kHz mic frames as sent, a 48 kHz render tap) into
// Ogg Opus (stereo 16 kHz, 32 kbit/s, AUDIO, complexity 5) on its own thread, fed 500 ms
// at a time on a clock this loop advances; the recorder thread's CPU (resample, place,
// encode, page, write) per 20 ms of audio.
final class BenchClock: @unchecked Sendable {
    let nanoseconds = Atomic<UInt64>(1_000_000_000)
}

func benchRecorder() {
    let recorderClock = BenchClock()
    let clock: () -> UInt64 = { recorderClock.nanoseconds.load(ordering: .relaxed) }
    let path = "/tmp/layercode-microbench-recorder.opus"
    _ = unlink(path)
    let side = try! PlaybackSide(deviceRate: 48_000, channels: 1, jitter: JitterBufferConfig(),
                                 renderTapMilliseconds: 1000, clock: clock, wake: {})
    let recorder = try! SessionRecorder(
        file: RecorderFile(path: path),
        tags: .init(conversationID: "bench", agentID: "bench", version: "bench", startEpochSeconds: 0),
        startNanoseconds: clock(), clock: clock)
    recorder.attach(side)
    try! recorder.start()
    var out = [Int16](repeating: 0, count: 960)
    var agentSequence: UInt64 = 0
    let seconds = 60
    for _ in 0..<(seconds * 2) {
        for _ in 0..<25 {
            recorderClock.nanoseconds.add(20_000_000, ordering: .relaxed)
            frame8k.withUnsafeBufferPointer {
                recorder.handOver($0, sampleRate: 8000, capturedNanoseconds: clock())
            }
            agentSequence += 1
            let header = AudioFrameHeader(sequence: agentSequence, arrivalNanoseconds: clock(), marker: 0,
                                          sampleCount: 320, flags: agentSequence == 1 ? .turnStart : [])
            _ = frame16k.withUnsafeBufferPointer { side.push(header, samples: $0) }
            _ = out.withUnsafeMutableBufferPointer { side.render(into: $0.baseAddress!, frames: 960) }
        }
        while side.renderTap!.readableCount > 0 {
            var pause = timespec(tv_sec: 0, tv_nsec: 1_000_000)
            nanosleep(&pause, nil)
        }
    }
    recorder.finish(atNanoseconds: clock())
    _ = unlink(path)
    let frames = UInt64(seconds * 50)
    print("{\"bench\":\"micro\",\"name\":\"recorder_stereo_opus_20ms\",\"ns_per_frame\":"
          + "\(recorder.cpuNanoseconds.load(ordering: .relaxed) / frames),\"dropped_frames\":"
          + "\(recorder.droppedFrames.load(ordering: .relaxed))}")
}
benchRecorder()
// Opus (the wire profile's codec and the recorder's): one 20 ms frame of a speech-like
// signal (a gliding harmonic tone with noise) encoded at 16 kHz mono, 24 kbit/s, FEC on,
// at complexity 0, 5 and 10; decoded; concealed (PLC). (The recorder's whole path is
// `recorder_stereo_opus_20ms`.)
var noise: UInt32 = 1
let speechLike: [Int16] = (0..<16_000).map { i in
    noise = noise &* 1_664_525 &+ 1_013_904_223
    let t = Double(i) / 16_000
    let f0 = 140 + 40 * sin(2 * Double.pi * 3 * t)
    var s = 0.0
    for h in 1...6 { s += sin(2 * Double.pi * f0 * Double(h) * t) / Double(h) }
    return Int16(truncatingIfNeeded: Int(3000 * s) + Int(noise >> 24) - 128)
}
var packet = [UInt8](repeating: 0, count: OpusPacketEncoder.maxPacketBytes)
var packets: [[UInt8]] = []
for complexity: Int32 in [0, 5, 10] {
    var settings = OpusEncoderSettings()
    settings.complexity = complexity
    let encoder = try! OpusPacketEncoder(sampleRate: 16_000, channels: 1, settings: settings)
    var offset = 0
    bench("opus_encode_16k_c\(complexity)", iterations: 5_000) {
        let n = speechLike[offset..<offset + 320].withUnsafeBufferPointer { f in
            packet.withUnsafeMutableBufferPointer { encoder.encode(f, into: $0) }
        }
        if complexity == 5 && packets.count < 50 { packets.append(Array(packet[0..<n])) }
        offset = (offset + 320) % (16_000 - 320)
    }
}
let opusDecoder = try! OpusPacketDecoder(sampleRate: 16_000, channels: 1)
var nextPacket = 0
bench("opus_decode_16k", iterations: 20_000) {
    _ = packets[nextPacket].withUnsafeBytes { p in
        scratch.withUnsafeMutableBufferPointer { opusDecoder.decode(p, into: UnsafeMutableBufferPointer(rebasing: $0[0..<320])) }
    }
    nextPacket = (nextPacket + 1) % packets.count
}
bench("opus_plc_16k", iterations: 20_000) {
    _ = scratch.withUnsafeMutableBufferPointer { opusDecoder.conceal(into: UnsafeMutableBufferPointer(rebasing: $0[0..<320])) }
}
