// SPDX-License-Identifier: Apache-2.0
import CPosix
import LayercodeCore
import Synchronization

/// Records one session into one Ogg Opus file (RFC 7845): stereo 16 kHz, 20 ms packets,
/// left = the microphone frames as sent on the socket, right = the agent's audio as the
/// speaker rendered it, both on the session clock (monotonic ns since the session start).
///
/// Threads. Its own thread (normal priority) does all the work: resampling, placing on the
/// timeline, Opus encoding, Ogg paging, write(2). The event loop hands frames over through
/// bounded SPSC rings (`handOver`, `attach`) and never waits; the render threads only write
/// the playback side's render tap, which this thread drains. A full ring drops the frame,
/// counted in `droppedFrames`; so is audio lost from a full render tap.
///
/// Time alignment. A mic frame carries its capture time (the arrival of its newest sample);
/// render-tap audio is stamped with the time of the tap's last write
/// (`PlaybackSide.tapWrittenNanoseconds`: its render, or one render period later if render
/// ran again while this thread read), so a late read does not move it. Each side is placed by
/// `RecorderTrack` (continues at its cursor within 20 ms late / 250 ms early (mic: frames a
/// loop wake-up drained together share one capture time) or 60 ms early (tap), else jumps
/// to its timestamp), so both sides stay within ~20 ms of their true place; a mic frame's
/// timestamp is its place in capture order, checked against its stamp (FrameIndexTimeline:
/// a frame held up on a loaded machine leaves no gap). A frame is
/// encoded once the clock is 300 ms past its end, so audio handed over late still lands in
/// place; audio later than that (a reconnect's outage buffer) goes at the front, late.
///
/// Pages go to the file at least every 500 ms: a crash loses at most ~0.8 s. A write error
/// stops the recording (`failure`), never the session.
///
/// No comment per turn boundary: OpusTags is the file's second page, written when the
/// session starts, before any turn; adding to it later means rewriting the file's head and
/// re-paging everything after it (page sequence numbers and CRCs follow), which a file
/// written front to back, readable after a crash, cannot do. The turns are in the app's
/// events (turn.start with its time) if needed beside the file.
public final class SessionRecorder: @unchecked Sendable {
    public struct Tags: Sendable {
        public var conversationID: String
        public var agentID: String
        /// The library's version, for `ENCODER=liblayercode <version>`.
        public var version: String
        /// When the session started, seconds since 1970 (UTC).
        public var startEpochSeconds: Int
        public init(conversationID: String, agentID: String, version: String, startEpochSeconds: Int) {
            self.conversationID = conversationID
            self.agentID = agentID
            self.version = version
            self.startEpochSeconds = startEpochSeconds
        }
    }

    public static let sampleRate = 16_000
    public static let frameSamples = 320
    public static let bitrate: Int32 = 32_000
    static let slackSamples = sampleRate * 300 / 1000
    static let pollNanoseconds = 10_000_000
    static let pageNanoseconds: UInt64 = 500_000_000

    struct MicMeta: BitwiseCopyable {
        var endNanoseconds: UInt64 = 0
        var count: Int32 = 0
        var rate: Int32 = 0
        var frameIndex: UInt64 = 0
    }

    public let path: String
    public let startNanoseconds: UInt64
    /// Pre-skip at 16 kHz (the encoder's lookahead).
    public let lookahead: Int

    // Loop → recorder.
    private let micSamples = SPSCRing<Int16>(capacity: 2 * 16_000, zero: 0)
    private let micMeta = SPSCRing<MicMeta>(capacity: 128, zero: MicMeta())
    private let playbackChanges = SPSCRing<Unmanaged<PlaybackSide>?>(capacity: 16, zero: nil)
    private let endNanoseconds = Atomic<UInt64>(0)

    // Recorder → any thread.
    /// 20 ms frames lost: a full hand-over ring, or render-tap samples lost (as frames).
    public let droppedFrames = Atomic<UInt64>(0)
    /// 16 kHz samples encoded so far (the file's length).
    public let encodedSamples = Atomic<Int>(0)
    /// The recorder thread's CPU time (ns), published when it ends.
    public let cpuNanoseconds = Atomic<UInt64>(0)
    private let failed = Atomic<Bool>(false)
    private var failureMessage = ""

    // Recorder thread only.
    private let file: RecorderFile
    private var writer: OggOpusWriter
    private let encoder: OpusPacketEncoder
    private let tags: Tags
    private let clock: () -> UInt64
    private var left = RecorderTrack(capacity: 3 * 16_000, maxLag: 320, maxLead: 4000)
    private var micTimeline = FrameIndexTimeline()
    private var right = RecorderTrack(capacity: 3 * 16_000, maxLag: 320, maxLead: 960)
    private var micResampler: Resampler?
    private var tapResampler: Resampler?
    private var side: PlaybackSide?
    private var tapDroppedSeen: UInt64 = 0
    private var tapDroppedRemainder: UInt64 = 0
    private var trackOverflow = 0
    private var input = [Int16](repeating: 0, count: 4096)
    private var resampled = [Int16](repeating: 0, count: 4096 * 2 + 64)
    private var stereo = [Int16](repeating: 0, count: 2 * SessionRecorder.frameSamples)
    private var packet = [UInt8](repeating: 0, count: OpusPacketEncoder.maxPacketBytes)
    private var lastWriteNanoseconds: UInt64 = 0
    private var thread: AudioThread?

    /// Makes the encoder; nothing runs until `start`. `voice`: OPUS_APPLICATION_VOIP. The
    /// default, OPUS_APPLICATION_AUDIO, measured better here (stereo 16 kHz, 32 kbit/s,
    /// complexity 5; SessionRecorderTests.testEncoderApplicationMeasuredAUDIOIsChosen): SNR
    /// 26 dB (voiced signal) and 35 dB (1 kHz tone) against VOIP's 6.7 and 17.7 dB; its joint
    /// stereo leaks one channel into the other at -44 dB (VOIP: none), inaudible.
    public convenience init(file: RecorderFile, tags: Tags, startNanoseconds: UInt64,
                            clock: @escaping () -> UInt64, voice: Bool = false) throws(LayercodeError) {
        var settings = OpusEncoderSettings()
        settings.bitrate = Self.bitrate
        settings.complexity = 5
        settings.inbandFEC = false
        settings.expectedLossPercent = 0
        settings.voice = voice
        let encoder = try OpusPacketEncoder(sampleRate: Self.sampleRate, channels: 2, settings: settings)
        self.init(file: file, tags: tags, startNanoseconds: startNanoseconds, clock: clock, encoder: encoder)
    }

    private init(file: RecorderFile, tags: Tags, startNanoseconds: UInt64, clock: @escaping () -> UInt64,
                 encoder: OpusPacketEncoder) {
        self.file = file
        path = file.path
        self.tags = tags
        self.startNanoseconds = startNanoseconds
        self.clock = clock
        self.encoder = encoder
        lookahead = encoder.lookahead
        writer = OggOpusWriter(serial: UInt32.random(in: 1...UInt32.max), channels: 2,
                               preSkip: encoder.lookahead * 48_000 / Self.sampleRate)
    }

    /// The OpusTags comments.
    public var comments: [String] {
        ["CONVERSATION_ID=" + tags.conversationID, "AGENT_ID=" + tags.agentID,
         "DATE=" + Self.iso8601UTC(epochSeconds: tags.startEpochSeconds),
         "ENCODER=liblayercode " + tags.version]
    }

    /// Starts the thread, which writes the header pages first (loop). Throws when no thread
    /// can be made.
    public func start() throws(LayercodeError) {
        file.truncate()
        let t = AudioThread(name: "lc-recorder", realtimePriority: 0) { [self] t in run(t) }
        thread = t
        try t.start()
    }

    /// Why recording stopped early (nil: it did not).
    public var failure: String? { failed.load(ordering: .acquiring) ? failureMessage : nil }

    // MARK: Loop side (never waits)

    /// A microphone frame just sent on the socket: mono PCM at `sampleRate`, its newest
    /// sample captured at `capturedNanoseconds`, `frameIndex` its place in capture order
    /// (`UplinkFrame.frameIndex`, FrameIndexTimeline; 0: placed by the stamp alone).
    /// Dropped and counted when the ring is full.
    public func handOver(_ samples: UnsafeBufferPointer<Int16>, sampleRate: Int, capturedNanoseconds: UInt64,
                         frameIndex: UInt64 = 0) {
        guard !failed.load(ordering: .relaxed), samples.count > 0 else { return }
        guard micSamples.writableCount >= samples.count, micMeta.writableCount >= 1 else {
            droppedFrames.add(1, ordering: .relaxed)
            return
        }
        _ = micSamples.write(samples)
        var meta = MicMeta(endNanoseconds: capturedNanoseconds > 0 ? capturedNanoseconds : clock(),
                           count: Int32(samples.count), rate: Int32(sampleRate), frameIndex: frameIndex)
        _ = withUnsafePointer(to: &meta) { micMeta.write(UnsafeBufferPointer(start: $0, count: 1)) }
    }

    /// The playback side whose render tap is the right channel from now on (nil: none,
    /// silence). The side must have a render tap (`AudioEngine.Config.renderTapMilliseconds`).
    public func attach(_ playback: PlaybackSide?) {
        var change: Unmanaged<PlaybackSide>? = playback.map { Unmanaged.passRetained($0) }
        let written = withUnsafePointer(to: &change) {
            playbackChanges.write(UnsafeBufferPointer(start: $0, count: 1))
        }
        if written == 0 { change?.release() }
    }

    /// Ends the recording at `endNanoseconds` (the session's end): the thread encodes what is
    /// left, writes the EOS page and closes the file; returns once it has (loop).
    public func finish(atNanoseconds end: UInt64) {
        endNanoseconds.store(max(end, startNanoseconds + 1), ordering: .releasing)
        thread?.requestStop()
        thread?.join()
        thread = nil  // the body held this recorder
        file.close()
        // Sides not taken by the thread (it failed or never ran).
        var change: Unmanaged<PlaybackSide>?
        while withUnsafeMutablePointer(to: &change, {
            playbackChanges.read(into: UnsafeMutableBufferPointer(start: $0, count: 1))
        }) == 1 { change?.release() }
    }

    // MARK: Recorder thread

    private func run(_ t: AudioThread) {
        do throws(LayercodeError) {
            try file.write(writer.headers(inputSampleRate: Self.sampleRate,
                                          vendor: "liblayercode " + tags.version, comments: comments))
        } catch {
            failureMessage = error.message
            failed.store(true, ordering: .releasing)
        }
        lastWriteNanoseconds = clock()
        while !t.isStopRequested && !failed.load(ordering: .relaxed) {
            step(now: clock(), end: nil)
            var pause = timespec(tv_sec: 0, tv_nsec: Self.pollNanoseconds)
            nanosleep(&pause, nil)
        }
        if !failed.load(ordering: .relaxed) {
            step(now: clock(), end: endNanoseconds.load(ordering: .acquiring))
        }
        side = nil
        var cpu = timespec()
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &cpu)
        cpuNanoseconds.store(UInt64(cpu.tv_sec) * 1_000_000_000 + UInt64(cpu.tv_nsec), ordering: .relaxed)
    }

    /// 16 kHz timeline position of a monotonic time.
    private func position(_ ns: UInt64) -> Int {
        ns <= startNanoseconds ? 0 : Int((ns - startNanoseconds) / 62_500)
    }

    private func step(now: UInt64, end: UInt64?) {
        takePlaybackChanges()
        drainMicrophone()
        drainTap(now: now)
        do throws(LayercodeError) {
            if let end {
                try finishFile(at: position(end))
                return
            }
            // Whole frames the slack has passed.
            while left.base + Self.frameSamples + Self.slackSamples <= position(now) {
                try write(encodeFrame())
            }
            if now &- lastWriteNanoseconds >= Self.pageNanoseconds {
                try file.write(writer.flushPage())
                lastWriteNanoseconds = now
            }
        } catch {
            failureMessage = error.message
            failed.store(true, ordering: .releasing)
        }
    }

    private func finishFile(at end: Int) throws(LayercodeError) {
        while left.base + Self.frameSamples <= end { try write(encodeFrame()) }
        // The last real samples plus the encoder's lookahead, so the decoder (which drops
        // the pre-skip) gets all of them; the EOS granule trims the padding off again.
        var last: [[UInt8]] = []
        repeat { last.append(try encodeFrame()) } while left.base < end + lookahead
        let realSamples = max(0, end)
        try file.write(writer.finish(packets: last, samples48k: Self.frameSamples * 3,
                                     endSamples48k: realSamples * 3))
    }

    private func encodeFrame() throws(LayercodeError) -> [UInt8] {
        stereo.withUnsafeMutableBufferPointer { out in
            left.take(into: out, stride: 2, offset: 0)
            right.take(into: out, stride: 2, offset: 1)
        }
        encodedSamples.store(left.base, ordering: .relaxed)
        let n = stereo.withUnsafeBufferPointer { pcm in
            packet.withUnsafeMutableBufferPointer { encoder.encode(pcm, into: $0) }
        }
        guard n > 0 else { throw LayercodeError(.audio, "\(path): Opus encoding failed (\(n))") }
        return Array(packet[0..<n])
    }

    private func write(_ packet: [UInt8]) throws(LayercodeError) {
        let bytes = packet.withUnsafeBytes { writer.append(packet: $0, samples48k: Self.frameSamples * 3) }
        if !bytes.isEmpty {
            try file.write(bytes)
            lastWriteNanoseconds = clock()
        }
    }

    private func takePlaybackChanges() {
        var change: Unmanaged<PlaybackSide>?
        while withUnsafeMutablePointer(to: &change, {
            playbackChanges.read(into: UnsafeMutableBufferPointer(start: $0, count: 1))
        }) == 1 {
            side = change?.takeRetainedValue()
            tapResampler = nil
            tapDroppedSeen = side?.tapDroppedSamples.load(ordering: .relaxed) ?? 0
            if let side, side.deviceRate != Self.sampleRate {
                tapResampler = try? Resampler(inputRate: side.deviceRate, outputRate: Self.sampleRate)
            }
            if let tap = side?.renderTap, tap.capacity > input.count {
                input = [Int16](repeating: 0, count: tap.capacity)
                resampled = [Int16](repeating: 0, count: tap.capacity * 2 + 64)
            }
        }
    }

    private func drainMicrophone() {
        var meta = MicMeta()
        while withUnsafeMutablePointer(to: &meta, {
            micMeta.read(into: UnsafeMutableBufferPointer(start: $0, count: 1))
        }) == 1 {
            let count = Int(meta.count)
            if count > input.count {
                input = [Int16](repeating: 0, count: count)
                resampled = [Int16](repeating: 0, count: count * 2 + 64)
            }
            let n = input.withUnsafeMutableBufferPointer {
                micSamples.read(into: UnsafeMutableBufferPointer(rebasing: $0[0..<count]))
            }
            let rate = Int(meta.rate)
            if rate != Self.sampleRate, micResampler?.inputRate != rate {
                micResampler = try? Resampler(inputRate: rate, outputRate: Self.sampleRate)
            }
            let end = micTimeline.end(stamped: position(meta.endNanoseconds), index: meta.frameIndex,
                                      length: n * Self.sampleRate / max(1, rate))
            place(n, resampler: rate == Self.sampleRate ? nil : micResampler, endingAt: end, onLeft: true)
        }
    }

    private func drainTap(now: UInt64) {
        guard let side, let tap = side.renderTap else { return }
        let dropped = side.tapDroppedSamples.load(ordering: .relaxed)
        if dropped > tapDroppedSeen {
            // Lost samples as 20 ms frames at the device rate (the remainder carries over).
            let perFrame = UInt64(max(1, side.deviceRate / 50))
            let total = dropped - tapDroppedSeen + tapDroppedRemainder
            droppedFrames.add(total / perFrame, ordering: .relaxed)
            tapDroppedRemainder = total % perFrame
            tapDroppedSeen = dropped
        }
        let n = input.withUnsafeMutableBufferPointer { tap.read(into: $0) }
        // The newest samples read were rendered at (or, if render ran again meanwhile, one
        // period before) the tap's last write.
        let rendered = side.tapWrittenNanoseconds.load(ordering: .acquiring)
        place(n, resampler: side.deviceRate == Self.sampleRate ? nil : tapResampler,
              endingAt: position(rendered > 0 ? min(rendered, now) : now), onLeft: false)
    }

    /// Places input[0..<n] (resampled to 16 kHz) on one side, ending at `end`.
    private func place(_ n: Int, resampler: Resampler?, endingAt end: Int, onLeft: Bool) {
        guard n > 0 else { return }
        var produced = n
        if let resampler {
            var consumed = 0
            produced = 0
            while consumed < n {
                let (c, p) = input.withUnsafeBufferPointer { i in
                    resampled.withUnsafeMutableBufferPointer { o in
                        resampler.process(UnsafeBufferPointer(rebasing: i[consumed..<n]),
                                          into: UnsafeMutableBufferPointer(rebasing: o[produced...]))
                    }
                }
                consumed += c
                produced += p
                if c == 0 && p == 0 { break }
            }
        }
        let source = resampler == nil ? input : resampled
        let overflowBefore = left.overflowSamples + right.overflowSamples
        source.withUnsafeBufferPointer { s in
            let chunk = UnsafeBufferPointer(rebasing: s[0..<produced])
            if onLeft { left.place(chunk, endingAt: end) } else { right.place(chunk, endingAt: end) }
        }
        // Audio more than a track ahead of the encoder (this thread was stalled for seconds)
        // is lost: counted like the rings' losses, in 20 ms frames.
        trackOverflow += left.overflowSamples + right.overflowSamples - overflowBefore
        if trackOverflow >= Self.frameSamples {
            droppedFrames.add(UInt64(trackOverflow / Self.frameSamples), ordering: .relaxed)
            trackOverflow %= Self.frameSamples
        }
    }

    /// "2026-12-06T14:35:00Z" for `epochSeconds` (proleptic Gregorian, UTC).
    public static func iso8601UTC(epochSeconds: Int) -> String {
        let days = epochSeconds >= 0 ? epochSeconds / 86_400 : (epochSeconds - 86_399) / 86_400
        let secs = epochSeconds - days * 86_400
        // Howard Hinnant's civil_from_days.
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        let y = yoe + era * 400 + (m <= 2 ? 1 : 0)
        func two(_ v: Int) -> String { v < 10 ? "0" + String(v) : String(v) }
        return String(y) + "-" + two(m) + "-" + two(d) + "T" + two(secs / 3600) + ":"
            + two(secs % 3600 / 60) + ":" + two(secs % 60) + "Z"
    }
}
