// SPDX-License-Identifier: Apache-2.0
import LayercodeAudio
import Synchronization

/// Counters of one client. Written on the loop thread (audio counters also by the audio
/// side), read from any thread: relaxed atomics, each counter on its own.
public final class ClientStats: @unchecked Sendable {
    let audioFramesSent = Atomic<UInt64>(0)
    let audioBytesSent = Atomic<UInt64>(0)
    let audioFramesReceived = Atomic<UInt64>(0)
    let audioBytesReceived = Atomic<UInt64>(0)
    let messagesSent = Atomic<UInt64>(0)
    let messagesReceived = Atomic<UInt64>(0)
    let inputSamplesDropped = Atomic<UInt64>(0)
    let lateSamplesDropped = Atomic<UInt64>(0)
    let connectTimeMicroseconds = Atomic<Int64>(-1)
    let reconnects = Atomic<UInt64>(0)
    let sendQueueDroppedFrames = Atomic<UInt64>(0)
    let outageDroppedFrames = Atomic<UInt64>(0)
    /// Server messages the session refused (published by the loop after each session step).
    let protocolErrors = Atomic<UInt64>(0)
    /// WebSocket bytes on the wire (frames, headers included, before TLS), every socket.
    let wireBytesSent = Atomic<UInt64>(0)
    let wireBytesReceived = Atomic<UInt64>(0)
    /// The socket's codec (LC_CODEC_*): 0 PCM16 JSON, 1 Opus.
    let wireCodec = Atomic<Int32>(0)
    /// Agent audio left on a speaker that was switched for one at another rate.
    let switchDroppedFrames = Atomic<UInt64>(0)
    /// 20 ms frames the session recorder lost (published by the loop, SessionRecording).
    let recorderDroppedFrames = Atomic<UInt64>(0)
    /// Latency percentiles (µs, -1 until measured), published by the loop from its windows.
    let uplinkP50 = Atomic<Int64>(-1), uplinkP99 = Atomic<Int64>(-1)
    let downlinkP50 = Atomic<Int64>(-1), downlinkP99 = Atomic<Int64>(-1)
    let bargeInP50 = Atomic<Int64>(-1), bargeInP99 = Atomic<Int64>(-1)

    public struct Snapshot: Sendable, Equatable {
        public var audioFramesSent: UInt64 = 0
        public var audioBytesSent: UInt64 = 0
        public var audioFramesReceived: UInt64 = 0
        public var audioBytesReceived: UInt64 = 0
        public var messagesSent: UInt64 = 0
        public var messagesReceived: UInt64 = 0
        public var inputSamplesDropped: UInt64 = 0
        public var playoutSamplesDropped: UInt64 = 0
        public var playedSamples: UInt64 = 0
        public var underrunSamples: UInt64 = 0
        public var connectTimeMicroseconds: Int64 = -1
        public var jitterDelayMs = 0
        public var jitterTargetMs = 0
        public var concealedMs = 0
        public var interruptions = 0
        public var interruptionMs = 0
        public var lateFrames = 0
        public var droppedFrames = 0
        public var captureXruns = 0
        public var playbackXruns = 0
        public var uplinkLatencyP50Us: Int64 = -1
        public var uplinkLatencyP99Us: Int64 = -1
        public var downlinkLatencyP50Us: Int64 = -1
        public var downlinkLatencyP99Us: Int64 = -1
        public var bargeInLatencyP50Us: Int64 = -1
        public var bargeInLatencyP99Us: Int64 = -1
        public var reconnects: UInt64 = 0
        public var sendQueueDroppedFrames: UInt64 = 0
        public var outageDroppedFrames: UInt64 = 0
        public var protocolErrors: UInt64 = 0
        /// Agent audio queued in the playback device, not yet audible (ALSA snd_pcm_delay),
        /// in ms; 0 for external audio and WAV. Filled by the audio engine.
        public var deviceDelayMs = 0
        /// 20 ms frames the session recorder lost (it fell behind).
        public var recorderDroppedFrames: UInt64 = 0
        /// Opus: missing agent frames rebuilt from FEC (from the playout snapshot).
        public var fecRecoveredFrames: UInt64 = 0
        public var wireBytesSent: UInt64 = 0
        public var wireBytesReceived: UInt64 = 0
        /// LC_CODEC_PCM16 (0) or LC_CODEC_OPUS (1).
        public var wireCodec: Int32 = 0
        /// The echo stage (lc_stats' echo fields): filled by the audio engine.
        public var echoEngine: Int32 = 0
        public var echoReturnLossEnhancementDb = 0.0
        public var residualEchoLevelDbfs = -120.0
        public var echoDelayMs: Int64 = -1
        public var doubleTalkFrames: UInt64 = 0
        public var echoFrames: UInt64 = 0
        public var echoReferenceLateFrames: UInt64 = 0
        public var halfDuplexGatedFrames: UInt64 = 0

        mutating func addEcho(_ c: EchoCounters) {
            echoEngine = c.engine.load(ordering: .relaxed)
            let erle = c.erleHundredthsDb.load(ordering: .relaxed)
            if erle != EchoCounters.unknown { echoReturnLossEnhancementDb = Double(erle) / 100 }
            let residual = c.residualHundredthsDb.load(ordering: .relaxed)
            if residual != EchoCounters.unknown { residualEchoLevelDbfs = Double(residual) / 100 }
            echoDelayMs = c.delayMilliseconds.load(ordering: .relaxed)
            doubleTalkFrames = c.doubleTalkFrames.load(ordering: .relaxed)
            echoFrames = c.processedFrames.load(ordering: .relaxed)
            echoReferenceLateFrames = c.referenceLateFrames.load(ordering: .relaxed)
            halfDuplexGatedFrames = c.gatedFrames.load(ordering: .relaxed)
        }
    }

    /// The counters kept here; MediaBridge.addAudioStats adds the audio engine's part.
    func snapshot() -> Snapshot {
        var s = Snapshot()
        s.audioFramesSent = audioFramesSent.load(ordering: .relaxed)
        s.audioBytesSent = audioBytesSent.load(ordering: .relaxed)
        s.audioFramesReceived = audioFramesReceived.load(ordering: .relaxed)
        s.audioBytesReceived = audioBytesReceived.load(ordering: .relaxed)
        s.messagesSent = messagesSent.load(ordering: .relaxed)
        s.messagesReceived = messagesReceived.load(ordering: .relaxed)
        s.inputSamplesDropped = inputSamplesDropped.load(ordering: .relaxed)
        s.playoutSamplesDropped = lateSamplesDropped.load(ordering: .relaxed)
        s.connectTimeMicroseconds = connectTimeMicroseconds.load(ordering: .relaxed)
        s.uplinkLatencyP50Us = uplinkP50.load(ordering: .relaxed)
        s.uplinkLatencyP99Us = uplinkP99.load(ordering: .relaxed)
        s.downlinkLatencyP50Us = downlinkP50.load(ordering: .relaxed)
        s.downlinkLatencyP99Us = downlinkP99.load(ordering: .relaxed)
        s.bargeInLatencyP50Us = bargeInP50.load(ordering: .relaxed)
        s.bargeInLatencyP99Us = bargeInP99.load(ordering: .relaxed)
        s.reconnects = reconnects.load(ordering: .relaxed)
        s.sendQueueDroppedFrames = sendQueueDroppedFrames.load(ordering: .relaxed)
        s.outageDroppedFrames = outageDroppedFrames.load(ordering: .relaxed)
        s.protocolErrors = protocolErrors.load(ordering: .relaxed)
        s.recorderDroppedFrames = recorderDroppedFrames.load(ordering: .relaxed)
        s.wireBytesSent = wireBytesSent.load(ordering: .relaxed)
        s.wireBytesReceived = wireBytesReceived.load(ordering: .relaxed)
        s.wireCodec = wireCodec.load(ordering: .relaxed)
        return s
    }

    static func bump(_ counter: borrowing Atomic<UInt64>, _ by: UInt64 = 1) {
        counter.add(by, ordering: .relaxed)
    }
}
