// SPDX-License-Identifier: Apache-2.0
import LayercodeCore
import Synchronization

/// The speaker half of the audio engine, shared by every audio sink (ALSA playback thread,
/// lc_client_read_audio, a WAV file). Playout is the clock: what `render` consumes is what
/// counts as played, so "agent speaking", the agent level, the last delta played and the
/// drain that triggers replay_finished all come from here.
///
/// Threads: the event loop is the producer (`push`, `requestFlush`); `render` runs on the
/// sink's thread and owns the jitter buffer, the resampler and the meter. After `init`,
/// `render` never allocates, locks or logs; it talks to the loop through atomics and a
/// wake-up only.
public final class PlaybackSide: @unchecked Sendable {
    public static let frameSamples = 320  // 20 ms at 16 kHz

    public let deviceRate: Int
    public let channels: Int
    private let ring: FrameRing
    private let jitter: JitterBuffer
    /// PCM16 or Opus (with FEC and PLC), after the jitter buffer.
    private let decoder: PlayoutDecoder
    private let resampler: Resampler
    private var meter: LevelMeter
    /// Whether the agent's level is measured (0 updates per second: nobody listens).
    private let metering: Bool
    private let wake: @Sendable () -> Void

    // Loop → render.
    /// Flush requests: the loop bumps the generation after storing the sequence (release);
    /// render compares generations (acquire) and then reads the sequence.
    private let flushGeneration = Atomic<UInt64>(0)
    private let flushBefore = Atomic<UInt64>(0)
    private let flushRequestedNanoseconds = Atomic<UInt64>(0)
    /// Frames the loop could not push (ring full): counted, never silent.
    public let ringOverflowFrames = Atomic<UInt64>(0)

    // Render → any thread: one snapshot (PlayoutSnapshot), published after every render.
    private let publisher = PlayoutPublisher()
    /// The render thread's running totals, published as they are after each render.
    private var totals = PlayoutSnapshot()
    /// The loop's count of drains taken (`takeDrain`).
    private var drainsTaken: UInt64 = 0
    /// What the speaker got (channel 0, device rate), for the echo reference and the
    /// recorder; nil unless asked for at init. Render writes, one reader drains; a full tap
    /// drops the newest samples (the reader fell behind), counted in `tapDroppedSamples`.
    public let renderTap: SPSCRing<Int16>?
    public let tapDroppedSamples = Atomic<UInt64>(0)
    /// When render last wrote the tap (monotonic ns; 0: never): the recorder places what it
    /// reads by this, not by when it got to read it.
    public let tapWrittenNanoseconds = Atomic<UInt64>(0)
    /// What the speaker got again, stamped with when it is audible: the echo canceller's
    /// reference (nil unless asked for at init). Render writes, the loop's echo stage reads.
    public let echoTap: StampedTap?
    /// Set before the driver starts when it measures the device delay (`noteDeviceDelay`
    /// stamps the echo tap); otherwise render stamps it with the declared delay.
    public var deviceReportsDelay = false
    /// The playback latency an app declared (lc_client_set_audio_delays), for sinks that
    /// cannot measure their own. Loop stores, render loads; relaxed.
    public let declaredDelayNanoseconds = Atomic<UInt64>(0)
    /// Latency samples (ns) handed to the loop, which turns them into percentiles:
    /// first audio of a turn arrival → rendered; barge-in flush request → silent render.
    public let downlinkLatencies = SPSCRing<UInt64>(capacity: 256, zero: 0)
    public let bargeInLatencies = SPSCRing<UInt64>(capacity: 256, zero: 0)

    // Render-thread state, preallocated.
    private var seenFlushGeneration: UInt64 = 0
    private let frame16k: UnsafeMutablePointer<Int16>
    /// Device-rate mono samples resampled but not yet rendered, with a parallel flag per
    /// sample run: (count, isAgentAudio) segments in a small fixed ring.
    private let staging: UnsafeMutablePointer<Int16>
    private let stagingCapacity: Int
    private var stagedStart = 0
    private var stagedCount = 0
    private var segments: (counts: UnsafeMutablePointer<Int>, audio: UnsafeMutablePointer<Bool>)
    private let segmentCapacity = 64
    private var segmentStart = 0
    private var segmentCount = 0
    private var wasPlayingAudio = false
    /// A drain or an agent-audible change to wake the loop for, after the next publish.
    private var wakePending = false
    private let meterChunk = 256
    private let meterScratch: UnsafeMutablePointer<Int16>
    private var clockNanoseconds: () -> UInt64

    /// The loop → render hand-off: frames wait here only until the next render moves them
    /// into the jitter buffer, which holds the backlog (its capacityMs). 10 s of frames
    /// (320 KB) absorb any burst the loop can parse between two renders; a 60 s ring
    /// duplicated the jitter buffer's 1.9 MB in every client.
    public static let defaultRingFrames = 500

    /// `renderTapMilliseconds` > 0 keeps that much of what the speaker got in `renderTap`.
    public convenience init(deviceRate: Int, channels: Int, jitter config: JitterBufferConfig,
                ringFrames: Int = PlaybackSide.defaultRingFrames, meterUpdatesPerSecond: Int = 20,
                renderTapMilliseconds: Int = 0, echoTapMilliseconds: Int = 0,
                clock: @escaping () -> UInt64, wake: @escaping @Sendable () -> Void) throws(LayercodeError) {
        // The one step that can fail runs before the object exists (Embedded Swift does not
        // free an instance whose designated initializer throws).
        self.init(deviceRate: deviceRate, channels: channels, jitter: config, ringFrames: ringFrames,
                  meterUpdatesPerSecond: meterUpdatesPerSecond, renderTapMilliseconds: renderTapMilliseconds,
                  echoTapMilliseconds: echoTapMilliseconds, clock: clock, wake: wake,
                  resampler: try Resampler(inputRate: 16_000, outputRate: deviceRate),
                  decoder: try PlayoutDecoder(maxPacketBytes: Self.frameSamples * 2))
    }

    private init(deviceRate: Int, channels: Int, jitter config: JitterBufferConfig, ringFrames: Int,
                 meterUpdatesPerSecond: Int, renderTapMilliseconds: Int, echoTapMilliseconds: Int,
                 clock: @escaping () -> UInt64, wake: @escaping @Sendable () -> Void, resampler: Resampler,
                 decoder: PlayoutDecoder) {
        self.decoder = decoder
        self.deviceRate = deviceRate
        self.channels = max(1, channels)
        ring = FrameRing(capacityFrames: ringFrames, frameSamples: Self.frameSamples)
        jitter = JitterBuffer(config: config)
        self.resampler = resampler
        meter = LevelMeter(sampleRate: deviceRate, updatesPerSecond: max(1, meterUpdatesPerSecond))
        metering = meterUpdatesPerSecond > 0
        self.wake = wake
        clockNanoseconds = clock
        renderTap = renderTapMilliseconds > 0
            ? SPSCRing(capacity: max(1, deviceRate * renderTapMilliseconds / 1000), zero: 0) : nil
        echoTap = echoTapMilliseconds > 0 ? StampedTap(sampleRate: deviceRate, keepMilliseconds: echoTapMilliseconds) : nil
        frame16k = .allocate(capacity: Self.frameSamples)
        frame16k.initialize(repeating: 0, count: Self.frameSamples)
        stagingCapacity = resampler.maxOutputCount(forInput: Self.frameSamples) * 4 + 8192
        staging = .allocate(capacity: stagingCapacity)
        staging.initialize(repeating: 0, count: stagingCapacity)
        meterScratch = .allocate(capacity: meterChunk)
        meterScratch.initialize(repeating: 0, count: meterChunk)
        segments = (.allocate(capacity: segmentCapacity), .allocate(capacity: segmentCapacity))
        segments.counts.initialize(repeating: 0, count: segmentCapacity)
        segments.audio.initialize(repeating: false, count: segmentCapacity)
    }

    deinit {
        frame16k.deallocate()
        meterScratch.deallocate()
        staging.deallocate()
        segments.counts.deallocate()
        segments.audio.deallocate()
    }

    // MARK: Loop side

    /// Queues one frame of 16 kHz audio (header.sampleCount samples). False if the ring is
    /// full; the frame is then counted in ringOverflowFrames.
    @discardableResult
    public func push(_ header: AudioFrameHeader, samples: UnsafeBufferPointer<Int16>) -> Bool {
        if ring.push(header, samples: samples) { return true }
        ringOverflowFrames.add(1, ordering: .relaxed)
        return false
    }

    /// Queues one frame of any payload kind (`header.byteCount` bytes of `payload`, at most
    /// one PCM16 frame's 640). False if the ring is full; counted as `push` does.
    @discardableResult
    public func push(_ header: AudioFrameHeader, payload: UnsafeRawBufferPointer) -> Bool {
        if ring.push(header, payload: payload) { return true }
        ringOverflowFrames.add(1, ordering: .relaxed)
        return false
    }

    /// 20 ms frames of agent audio not yet played: in the ring, and in the jitter buffer as
    /// the render thread last published it. Exact once that thread has stopped.
    public var queuedFrames: Int {
        ring.readableFrames + snapshot().jitterDelayMs / 20
    }

    /// What the playout chain last rendered (any thread).
    public func snapshot() -> PlayoutSnapshot { publisher.read() }

    /// Loop only: the marker of the last frame played when playout drained, once per drain
    /// (nil: no drain since the last call). Drains that happened in between count as one:
    /// the latest names the last audio played.
    public func takeDrain() -> UInt32? { takeDrain(in: snapshot()) }

    /// The same, from a snapshot the loop just read (one read serves a whole wake-up).
    public func takeDrain(in s: PlayoutSnapshot) -> UInt32? {
        guard s.drains != drainsTaken else { return nil }
        drainsTaken = s.drains
        return s.drainedMarker
    }

    /// Barge-in: drop every frame with a sequence below `sequence`, at the next render.
    public func requestFlush(before sequence: UInt64) {
        flushBefore.store(sequence, ordering: .relaxed)
        flushRequestedNanoseconds.store(clockNanoseconds(), ordering: .relaxed)
        // Publishes flushBefore; pairs with the acquiring load in `applyFlush`.
        flushGeneration.add(1, ordering: .releasing)
    }

    // MARK: Render side (real-time)

    /// Fills `frames` interleaved frames (`channels` each) at the device rate with agent
    /// audio or silence. Returns how many frames carry agent audio.
    @discardableResult
    public func render(into out: UnsafeMutablePointer<Int16>, frames: Int) -> Int {
        applyFlush()
        // The frames waiting now (at most the ring's capacity): see `JitterBuffer.put(from:)`.
        jitter.put(from: ring)
        while stagedCount < frames {
            if !stageOneFrame() { break }
        }
        var audioFrames = 0
        var written = 0
        while written < frames && stagedCount > 0 {
            // frontSegment() never runs past the end of the staging ring: index directly.
            let (run, isAudio) = frontSegment()
            let n = min(run, frames - written)
            if channels == 1 {
                UnsafeMutableRawPointer(out + written).copyMemory(from: staging + stagedStart, byteCount: n * 2)
            } else {
                for i in 0..<n {
                    let sample = staging[stagedStart + i]
                    let base = out + (written + i) * channels
                    for c in 0..<channels { base[c] = sample }
                }
            }
            consumeStaged(n)
            if isAudio { audioFrames += n }
            written += n
        }
        if written < frames {
            (out + written * channels).update(repeating: 0, count: (frames - written) * channels)
        }
        if metering { meterRendered(out, frames: frames) }
        tapRendered(out, frames: frames)
        if let echoTap {
            echoTap.write(out, frames: frames, channels: channels)
            if !deviceReportsDelay {
                echoTap.stamp(atNanoseconds: clockNanoseconds() + declaredDelayNanoseconds.load(ordering: .relaxed))
            }
        }
        publishStats(audioFrames: audioFrames)
        return audioFrames
    }

    /// Render thread: what the device holds after the last write (snd_pcm_delay), published
    /// with the next render.
    public func noteDeviceDelay(frames: Int) {
        totals.deviceDelayFrames = frames
        // Measured before this clock read: the stamp errs late, as the aligner expects.
        if let echoTap { echoTap.stamp(atNanoseconds: clockNanoseconds() + echoTap.nanoseconds(ofFrames: frames)) }
    }

    private func applyFlush() {
        // Pairs with the releasing add in `requestFlush`.
        let generation = flushGeneration.load(ordering: .acquiring)
        guard generation != seenFlushGeneration else { return }
        seenFlushGeneration = generation
        let before = flushBefore.load(ordering: .relaxed)
        record(bargeInLatencies, since: flushRequestedNanoseconds.load(ordering: .relaxed))
        jitter.flush(before: before)
        decoder.reset()
        resampler.reset()
        stagedStart = 0
        stagedCount = 0
        segmentStart = 0
        segmentCount = 0
    }

    /// Takes one 20 ms frame from the jitter buffer and resamples it into staging.
    private func stageOneFrame() -> Bool {
        guard segmentCount < segmentCapacity,
              stagingCapacity - stagedCount >= resampler.maxOutputCount(forInput: Self.frameSamples)
        else { return false }
        let outcome = jitter.get(payloadInto: UnsafeMutableRawBufferPointer(start: frame16k, count: Self.frameSamples * 2),
                                 nowNanoseconds: clockNanoseconds())
        // The decoder step: PCM16 is its own samples (silence fills the rest of the period);
        // Opus is decoded, and its missing frames rebuilt from FEC or by PLC.
        decoder.decode(outcome, frame: UnsafeMutableBufferPointer(start: frame16k, count: Self.frameSamples),
                       jitter: jitter)
        let isAudio: Bool
        switch outcome {
        case .audio(let header):
            isAudio = true
            if header.marker != 0 { totals.lastPlayedMarker = header.marker }
            if header.flags.contains(.turnStart) { record(downlinkLatencies, since: header.arrivalNanoseconds) }
        case .concealed:
            isAudio = false
            totals.underrunSamples += UInt64(Self.frameSamples * deviceRate / 16_000)
        case .prefetching, .idle:
            isAudio = false
        }
        noteDrain(playingAudio: isAudio)
        // Resample into the free part of the staging ring (contiguous chunk by chunk).
        var consumed = 0
        var produced = 0
        while consumed < Self.frameSamples {
            let writeIndex = (stagedStart + stagedCount + produced) % stagingCapacity
            let contiguous = stagingCapacity - writeIndex
            let (c, p) = resampler.process(
                UnsafeBufferPointer(start: frame16k + consumed, count: Self.frameSamples - consumed),
                into: UnsafeMutableBufferPointer(start: staging + writeIndex, count: contiguous))
            consumed += c
            produced += p
            if c == 0 && p == 0 { break }
        }
        stagedCount += produced
        appendSegment(produced, isAudio)
        return true
    }

    private func record(_ ring: SPSCRing<UInt64>, since start: UInt64) {
        let now = clockNanoseconds()
        guard start > 0, now > start else { return }
        var value = now - start
        withUnsafePointer(to: &value) { _ = ring.write(UnsafeBufferPointer(start: $0, count: 1)) }
    }

    /// A drain is the moment playout runs out of audio after playing some (doc/protocol.md:
    /// replay_finished each time local playout has actually drained).
    private func noteDrain(playingAudio: Bool) {
        if wasPlayingAudio && !playingAudio && jitter.bufferedFrames == 0 {
            totals.drains &+= 1
            totals.drainedMarker = totals.lastPlayedMarker
            wakePending = true
        }
        wasPlayingAudio = playingAudio
    }

    private func appendSegment(_ count: Int, _ isAudio: Bool) {
        guard count > 0 else { return }
        if segmentCount > 0 {
            let last = (segmentStart + segmentCount - 1) % segmentCapacity
            if segments.audio[last] == isAudio {
                segments.counts[last] += count
                return
            }
        }
        let index = (segmentStart + segmentCount) % segmentCapacity
        segments.counts[index] = count
        segments.audio[index] = isAudio
        segmentCount += 1
    }

    private func frontSegment() -> (Int, Bool) {
        (min(segments.counts[segmentStart], stagingCapacity - stagedStart), segments.audio[segmentStart])
    }

    private func consumeStaged(_ n: Int) {
        stagedStart = (stagedStart + n) % stagingCapacity
        stagedCount -= n
        segments.counts[segmentStart] -= n
        if segments.counts[segmentStart] == 0 {
            segmentStart = (segmentStart + 1) % segmentCapacity
            segmentCount -= 1
        }
    }

    private func meterRendered(_ out: UnsafeMutablePointer<Int16>, frames: Int) {
        // The meter reads channel 0 of what the speaker actually gets.
        if channels == 1 {
            if let level = meter.process(UnsafeBufferPointer(start: out, count: frames)) { totals.agentLevel = level }
            return
        }
        var level: Float?
        var i = 0
        while i < frames {
            let n = min(meterChunk, frames - i)
            for k in 0..<n { meterScratch[k] = out[(i + k) * channels] }
            if let l = meter.process(UnsafeBufferPointer(start: meterScratch, count: n)) { level = l }
            i += n
        }
        if let level { totals.agentLevel = level }
    }

    private func tapRendered(_ out: UnsafeMutablePointer<Int16>, frames: Int) {
        guard let tap = renderTap else { return }
        var i = 0
        while i < frames {
            let n = min(meterChunk, frames - i)
            for k in 0..<n { meterScratch[k] = out[(i + k) * channels] }
            let written = tap.write(UnsafeBufferPointer(start: meterScratch, count: n))
            if written < n { tapDroppedSamples.add(UInt64(n - written), ordering: .relaxed) }
            i += n
        }
        tapWrittenNanoseconds.store(clockNanoseconds(), ordering: .releasing)
    }

    private func publishStats(audioFrames: Int) {
        totals.playedSamples += UInt64(audioFrames)
        let audible = jitter.isPlayingTurn
        // "Agent speaking" reaches the app at once: the loop is woken on every change.
        if audible != totals.agentAudible { wakePending = true }
        totals.agentAudible = audible
        let s = jitter.stats
        totals.jitterDelayMs = s.currentDelayMs
        totals.jitterTargetMs = s.targetDelayMs
        totals.concealedMs = s.concealedMs
        totals.interruptions = s.interruptions
        totals.interruptionMs = s.interruptionMs
        totals.lateFrames = s.lateFrames
        totals.droppedFrames = s.overflowDroppedFrames + s.flushedFrames
        totals.fecRecoveredFrames = decoder.fecRecoveredFrames
        totals.decodeErrors = decoder.decodeErrors
        totals.playedFrames = UInt32(truncatingIfNeeded: s.playedFrames)
        totals.lostFrames = UInt32(truncatingIfNeeded: s.lostFrames)
        publisher.publish(totals)
        if wakePending {
            // After the publish: the loop woken here sees the drain or the change.
            wakePending = false
            wake()
        }
    }
}
