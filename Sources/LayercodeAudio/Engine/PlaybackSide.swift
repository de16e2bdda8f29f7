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
    private let resampler: Resampler
    private var meter: LevelMeter
    private let wake: @Sendable () -> Void

    // Loop → render.
    /// Flush requests: the loop bumps the generation after storing the sequence (release);
    /// render compares generations (acquire) and then reads the sequence.
    private let flushGeneration = Atomic<UInt64>(0)
    private let flushBefore = Atomic<UInt64>(0)
    private let flushRequestedNanoseconds = Atomic<UInt64>(0)
    /// Frames the loop could not push (ring full): counted, never silent.
    public let ringOverflowFrames = Atomic<UInt64>(0)

    // Render → loop (all relaxed counters/snapshots unless noted).
    public let agentLevelBits = Atomic<UInt32>(0)
    public let agentSpeaking = Atomic<Bool>(false)
    /// Marker of the last frame actually played; paired with `drained` (release/acquire).
    public let lastPlayedMarker = Atomic<UInt32>(0)
    public let drained = Atomic<Bool>(false)
    public let playedSamples = Atomic<UInt64>(0)
    public let underrunSamples = Atomic<UInt64>(0)
    public let currentDelayMs = Atomic<Int>(0)
    public let targetDelayMs = Atomic<Int>(0)
    public let concealedMs = Atomic<Int>(0)
    public let interruptions = Atomic<Int>(0)
    public let interruptionMs = Atomic<Int>(0)
    public let lateFrames = Atomic<Int>(0)
    public let droppedFrames = Atomic<Int>(0)
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
    private let meterChunk = 256
    private let meterScratch: UnsafeMutablePointer<Int16>
    private var clockNanoseconds: () -> UInt64

    /// The loop → render hand-off: frames wait here only until the next render moves them
    /// into the jitter buffer, which holds the backlog (its capacityMs). 10 s of frames
    /// (320 KB) absorb any burst the loop can parse between two renders; a 60 s ring
    /// duplicated the jitter buffer's 1.9 MB in every client.
    public static let defaultRingFrames = 500

    public init(deviceRate: Int, channels: Int, jitter config: JitterBufferConfig,
                ringFrames: Int = PlaybackSide.defaultRingFrames, meterUpdatesPerSecond: Int = 20,
                clock: @escaping () -> UInt64, wake: @escaping @Sendable () -> Void) throws {
        self.deviceRate = deviceRate
        self.channels = max(1, channels)
        ring = FrameRing(capacityFrames: ringFrames, frameSamples: Self.frameSamples)
        jitter = JitterBuffer(config: config)
        resampler = try Resampler(inputRate: 16_000, outputRate: deviceRate)
        meter = LevelMeter(sampleRate: deviceRate, updatesPerSecond: max(1, meterUpdatesPerSecond))
        self.wake = wake
        clockNanoseconds = clock
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

    /// 20 ms frames of agent audio not yet played: in the ring, and in the jitter buffer as
    /// the render thread last published it. Exact once that thread has stopped.
    public var queuedFrames: Int {
        ring.readableFrames + currentDelayMs.load(ordering: .relaxed) / 20
    }

    /// Barge-in: drop every frame with a sequence below `sequence`, at the next render.
    public func requestFlush(before sequence: UInt64) {
        flushBefore.store(sequence, ordering: .relaxed)
        flushRequestedNanoseconds.store(clockNanoseconds(), ordering: .relaxed)
        // Publishes flushBefore; pairs with the acquiring load in `applyFlush`.
        flushGeneration.add(1, ordering: .releasing)
    }

    public var agentLevel: Float { Float(bitPattern: agentLevelBits.load(ordering: .relaxed)) }

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
            for i in 0..<n {
                let sample = staging[stagedStart + i]
                let base = out + (written + i) * channels
                for c in 0..<channels { base[c] = sample }
            }
            consumeStaged(n)
            if isAudio { audioFrames += n }
            written += n
        }
        if written < frames {
            (out + written * channels).update(repeating: 0, count: (frames - written) * channels)
        }
        meterRendered(out, frames: frames)
        publishStats(audioFrames: audioFrames, frames: frames)
        return audioFrames
    }

    private func applyFlush() {
        // Pairs with the releasing add in `requestFlush`.
        let generation = flushGeneration.load(ordering: .acquiring)
        guard generation != seenFlushGeneration else { return }
        seenFlushGeneration = generation
        let before = flushBefore.load(ordering: .relaxed)
        record(bargeInLatencies, since: flushRequestedNanoseconds.load(ordering: .relaxed))
        jitter.flush(before: before)
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
        // The decoder step (PLC/FEC once Opus is in): PCM16 is its own samples; silence fills
        // the rest of the period.
        PCM16Decoder.decode(outcome, frame: UnsafeMutableBufferPointer(start: frame16k, count: Self.frameSamples))
        let isAudio: Bool
        switch outcome {
        case .audio(let header):
            isAudio = true
            if header.marker != 0 { lastPlayedMarker.store(header.marker, ordering: .relaxed) }
            if header.flags.contains(.turnStart) { record(downlinkLatencies, since: header.arrivalNanoseconds) }
        case .concealed:
            isAudio = false
            underrunSamples.add(UInt64(Self.frameSamples * deviceRate / 16_000), ordering: .relaxed)
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
            // Publishes lastPlayedMarker; pairs with the loop's acquiring exchange.
            drained.store(true, ordering: .releasing)
            wake()
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
        var level: Float?
        var i = 0
        while i < frames {
            let n = min(meterChunk, frames - i)
            for k in 0..<n { meterScratch[k] = out[(i + k) * channels] }
            if let l = meter.process(UnsafeBufferPointer(start: meterScratch, count: n)) { level = l }
            i += n
        }
        if let level { agentLevelBits.store(level.bitPattern, ordering: .relaxed) }
    }

    private func publishStats(audioFrames: Int, frames: Int) {
        if audioFrames > 0 { playedSamples.add(UInt64(audioFrames), ordering: .relaxed) }
        agentSpeaking.store(jitter.isPlayingTurn, ordering: .relaxed)
        let s = jitter.stats
        currentDelayMs.store(s.currentDelayMs, ordering: .relaxed)
        targetDelayMs.store(s.targetDelayMs, ordering: .relaxed)
        concealedMs.store(s.concealedMs, ordering: .relaxed)
        interruptions.store(s.interruptions, ordering: .relaxed)
        interruptionMs.store(s.interruptionMs, ordering: .relaxed)
        lateFrames.store(s.lateFrames, ordering: .relaxed)
        droppedFrames.store(s.overflowDroppedFrames + s.flushedFrames, ordering: .relaxed)
    }

    /// True once per drain; the loop then reads `lastPlayedMarker`.
    public func takeDrained() -> Bool {
        drained.exchange(false, ordering: .acquiringAndReleasing)
    }
}
