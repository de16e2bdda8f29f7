// SPDX-License-Identifier: Apache-2.0
import CLayercodeABI
import LayercodeCore

// lc_stats: the one place a ClientStats.Snapshot becomes the C struct. Adding a stat: the
// field at the end of lc_stats in layercode.h, the Snapshot property, one line here (and
// the ctypes field list in bindings/python/layercode/_lib.py).

@_cdecl("lc_client_get_stats_sized")
public func lc_client_get_stats_sized(_ client: OpaquePointer?, _ stats: UnsafeMutablePointer<lc_stats>?,
                                      _ size: Int) -> Int32 {
    guard let handle = ClientHandle.from(client) else { return LC_ERR_INVALID_ARGUMENT }
    guard let stats else {
        handle.noteFailure(LayercodeError(.invalidArgument, "lc_client_get_stats: stats is NULL"))
        return LC_ERR_INVALID_ARGUMENT
    }
    // An output struct: struct_size says how many of its bytes were written (doc/abi.md).
    let bytes: Int
    do { bytes = try SizedStruct.stats.outputBytes(size) } catch {
        handle.noteFailure(error)
        return LC_ERR_INVALID_ARGUMENT
    }
    var out = lc_stats(handle.client.snapshot(), events: handle.client.events)
    out.struct_size = bytes
    SizedStruct.writePrefix(out, to: UnsafeMutableRawPointer(stats), count: out.struct_size)
    return LC_OK
}

extension lc_stats {
    /// The C view of a snapshot: every lc_stats field, one line each, in the header's order.
    init(_ s: ClientStats.Snapshot, events: EventQueue) {
        self.init()
        self.audio_frames_sent = s.audioFramesSent
        self.audio_bytes_sent = s.audioBytesSent
        self.audio_frames_received = s.audioFramesReceived
        self.audio_bytes_received = s.audioBytesReceived
        self.messages_sent = s.messagesSent
        self.messages_received = s.messagesReceived
        self.input_samples_dropped = s.inputSamplesDropped
        self.playout_samples_dropped = s.playoutSamplesDropped
        self.played_samples = s.playedSamples
        self.underrun_samples = s.underrunSamples
        self.connect_time_us = s.connectTimeMicroseconds
        self.jitter_delay_ms = Int32(clamping: s.jitterDelayMs)
        self.jitter_target_ms = Int32(clamping: s.jitterTargetMs)
        self.concealed_ms = Int64(s.concealedMs)
        self.interruptions = Int64(s.interruptions)
        self.interruption_ms = Int64(s.interruptionMs)
        self.late_frames = UInt64(s.lateFrames)
        self.dropped_frames = UInt64(s.droppedFrames)
        self.capture_xruns = UInt64(s.captureXruns)
        self.playback_xruns = UInt64(s.playbackXruns)
        self.uplink_latency_p50_us = s.uplinkLatencyP50Us
        self.uplink_latency_p99_us = s.uplinkLatencyP99Us
        self.downlink_latency_p50_us = s.downlinkLatencyP50Us
        self.downlink_latency_p99_us = s.downlinkLatencyP99Us
        self.barge_in_latency_p50_us = s.bargeInLatencyP50Us
        self.barge_in_latency_p99_us = s.bargeInLatencyP99Us
        self.events_dropped = events.droppedCount
        self.reconnects = s.reconnects
        self.send_queue_dropped_frames = s.sendQueueDroppedFrames
        self.outage_dropped_frames = s.outageDroppedFrames
        self.event_queue_bytes = UInt64(events.byteCount)
        self.protocol_errors = s.protocolErrors
        self.device_delay_ms = Int64(s.deviceDelayMs)
        self.recorder_dropped_frames = s.recorderDroppedFrames
        self.fec_recovered_frames = s.fecRecoveredFrames
        self.wire_bytes_sent = s.wireBytesSent
        self.wire_bytes_received = s.wireBytesReceived
        self.wire_codec = s.wireCodec
        self.echo_engine = s.echoEngine
        self.echo_return_loss_enhancement_db = s.echoReturnLossEnhancementDb
        self.residual_echo_level_dbfs = s.residualEchoLevelDbfs
        self.echo_delay_ms = s.echoDelayMs
        self.double_talk_frames = s.doubleTalkFrames
        self.echo_frames = s.echoFrames
        self.echo_reference_late_frames = s.echoReferenceLateFrames
        self.half_duplex_gated_frames = s.halfDuplexGatedFrames
    }
}
