// SPDX-License-Identifier: Apache-2.0
import Synchronization

/// What the playout chain last rendered, as one consistent value: "agent audible", the
/// agent level, what was played and concealed, the jitter buffer's state and the device's
/// delay. Sample counts are at the device rate.
public struct PlayoutSnapshot: Sendable, Equatable {
    /// A turn is playing (the jitter buffer is in a turn): "agent speaking".
    public var agentAudible = false
    /// The agent level of what the speaker got, 0...1.
    public var agentLevel: Float = 0
    public var playedSamples: UInt64 = 0
    public var underrunSamples: UInt64 = 0
    public var jitterDelayMs = 0
    public var jitterTargetMs = 0
    public var concealedMs = 0
    public var interruptions = 0
    public var interruptionMs = 0
    public var lateFrames = 0
    /// Frames dropped by the jitter buffer (overflow) or flushed by a barge-in.
    public var droppedFrames = 0
    /// Frames the playback device holds, not yet audible (snd_pcm_delay; 0 without one).
    public var deviceDelayFrames = 0
    /// Marker of the last frame actually played (0: none yet).
    public var lastPlayedMarker: UInt32 = 0
    /// Times playout drained (ran out of audio after playing some), and the marker of the
    /// last frame played at the latest drain: the loop compares `drains` with what it saw.
    public var drains: UInt64 = 0
    public var drainedMarker: UInt32 = 0
    /// Opus: missing frames rebuilt from the next packet's in-band FEC; packets libopus
    /// refused (played as silence). Frames played and declared lost by the jitter buffer
    /// (the downlink's measured loss). Each wraps at 2^32.
    public var fecRecoveredFrames: UInt32 = 0
    public var decodeErrors: UInt32 = 0
    public var playedFrames: UInt32 = 0
    public var lostFrames: UInt32 = 0
    public init() {}
}

/// Publishes PlayoutSnapshot from the render thread to any reader without a lock: a
/// sequence lock over atomic words. The single writer makes the sequence odd, stores the
/// fields, makes it even again; a reader retries while the sequence is odd or moved. Every
/// word is an atomic, so readers never race with the writer in the memory model's sense.
/// The writer is wait-free and never allocates.
final class PlayoutPublisher: @unchecked Sendable {
    private let sequence = Atomic<UInt64>(0)
    private let flags = Atomic<UInt64>(0)  // bit 0: agentAudible; high 32 bits: level
    private let played = Atomic<UInt64>(0)
    private let underrun = Atomic<UInt64>(0)
    private let delays = Atomic<UInt64>(0)  // jitter delay | target << 32
    private let concealed = Atomic<Int>(0)
    private let interruptions = Atomic<Int>(0)
    private let interruptionMs = Atomic<Int>(0)
    private let late = Atomic<Int>(0)
    private let dropped = Atomic<Int>(0)
    private let deviceDelay = Atomic<Int>(0)
    private let markers = Atomic<UInt64>(0)  // lastPlayedMarker | drainedMarker << 32
    private let drains = Atomic<UInt64>(0)
    private let codec = Atomic<UInt64>(0)  // fecRecoveredFrames | decodeErrors << 32
    private let frames = Atomic<UInt64>(0)  // playedFrames | lostFrames << 32

    /// Render thread only.
    func publish(_ s: PlayoutSnapshot) {
        let start = sequence.load(ordering: .relaxed)
        sequence.store(start &+ 1, ordering: .relaxed)
        // Orders the odd sequence before the field stores below.
        atomicMemoryFence(ordering: .releasing)
        flags.store((s.agentAudible ? 1 : 0) | UInt64(s.agentLevel.bitPattern) << 32, ordering: .relaxed)
        played.store(s.playedSamples, ordering: .relaxed)
        underrun.store(s.underrunSamples, ordering: .relaxed)
        delays.store(UInt64(UInt32(truncatingIfNeeded: s.jitterDelayMs))
                     | UInt64(UInt32(truncatingIfNeeded: s.jitterTargetMs)) << 32, ordering: .relaxed)
        concealed.store(s.concealedMs, ordering: .relaxed)
        interruptions.store(s.interruptions, ordering: .relaxed)
        interruptionMs.store(s.interruptionMs, ordering: .relaxed)
        late.store(s.lateFrames, ordering: .relaxed)
        dropped.store(s.droppedFrames, ordering: .relaxed)
        deviceDelay.store(s.deviceDelayFrames, ordering: .relaxed)
        markers.store(UInt64(s.lastPlayedMarker) | UInt64(s.drainedMarker) << 32, ordering: .relaxed)
        drains.store(s.drains, ordering: .relaxed)
        codec.store(UInt64(s.fecRecoveredFrames) | UInt64(s.decodeErrors) << 32, ordering: .relaxed)
        frames.store(UInt64(s.playedFrames) | UInt64(s.lostFrames) << 32, ordering: .relaxed)
        // Publishes the fields; pairs with the acquiring load in `read`.
        sequence.store(start &+ 2, ordering: .releasing)
    }

    /// Any thread. Retries while the render thread is mid-publish (a few stores long); a
    /// render thread preempted mid-publish for longer yields a torn statistic rather than a
    /// reader that spins.
    func read() -> PlayoutSnapshot {
        var tries = 0
        while true {
            tries += 1
            let before = sequence.load(ordering: .acquiring)
            var s = PlayoutSnapshot()
            let f = flags.load(ordering: .relaxed)
            s.agentAudible = f & 1 != 0
            s.agentLevel = Float(bitPattern: UInt32(truncatingIfNeeded: f >> 32))
            s.playedSamples = played.load(ordering: .relaxed)
            s.underrunSamples = underrun.load(ordering: .relaxed)
            let d = delays.load(ordering: .relaxed)
            s.jitterDelayMs = Int(UInt32(truncatingIfNeeded: d))
            s.jitterTargetMs = Int(UInt32(truncatingIfNeeded: d >> 32))
            s.concealedMs = concealed.load(ordering: .relaxed)
            s.interruptions = interruptions.load(ordering: .relaxed)
            s.interruptionMs = interruptionMs.load(ordering: .relaxed)
            s.lateFrames = late.load(ordering: .relaxed)
            s.droppedFrames = dropped.load(ordering: .relaxed)
            s.deviceDelayFrames = deviceDelay.load(ordering: .relaxed)
            let m = markers.load(ordering: .relaxed)
            s.lastPlayedMarker = UInt32(truncatingIfNeeded: m)
            s.drainedMarker = UInt32(truncatingIfNeeded: m >> 32)
            s.drains = drains.load(ordering: .relaxed)
            let c = codec.load(ordering: .relaxed)
            s.fecRecoveredFrames = UInt32(truncatingIfNeeded: c)
            s.decodeErrors = UInt32(truncatingIfNeeded: c >> 32)
            let fr = frames.load(ordering: .relaxed)
            s.playedFrames = UInt32(truncatingIfNeeded: fr)
            s.lostFrames = UInt32(truncatingIfNeeded: fr >> 32)
            // Orders the field loads before the second look at the sequence.
            atomicMemoryFence(ordering: .acquiring)
            if before & 1 == 0 && sequence.load(ordering: .relaxed) == before || tries >= 10_000 {
                return s
            }
        }
    }
}
