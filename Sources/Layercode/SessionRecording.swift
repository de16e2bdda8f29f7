// SPDX-License-Identifier: Apache-2.0
import CPosix
import LayercodeAudio
import LayercodeCore
import LayercodeNet
import Synchronization

/// The `record_path` option on the event loop: the file opened by connect, the recorder
/// started when the session first connects (the conversation id is known then) and
/// finished when it ends, the uplink frames handed over as they are sent, the speaker's
/// render tap attached, and the recorder's losses and failure logged once and counted.
/// Loop thread only (the file arrives from `connect` through a posted closure).
final class SessionRecording {
    private let options: ClientOptions
    private let counters: ClientStats
    private var file: RecorderFile?
    private var recorder: SessionRecorder?
    /// Drops of the sessions before this one (lc_stats counts the client's).
    private var droppedBefore: UInt64 = 0
    private var reportedDrops = false
    private var reportedFailure = false

    init(options: ClientOptions, counters: ClientStats) {
        self.options = options
        self.counters = counters
    }

    /// The render tap the engine keeps for the recorder (0: not recording).
    var renderTapMilliseconds: Int { options.recordPath == nil ? 0 : 1000 }

    /// The app's thread, in connect: opens (not yet truncates) the file, so a bad path fails
    /// the call. nil when not recording.
    static func open(_ options: ClientOptions) throws(LayercodeError) -> RecorderFile? {
        guard let path = options.recordPath else { return nil }
        return try RecorderFile(path: path)
    }

    /// A session starts with this file (loop).
    func prepare(_ file: RecorderFile?) {
        finish()
        self.file = file
    }

    /// The session connected (each reconnect too): the first starts the recording.
    func connected(conversationID: String, playback: PlaybackSide?) {
        guard recorder == nil, let file else { return }
        self.file = nil
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        let tags = SessionRecorder.Tags(conversationID: conversationID, agentID: options.agentID,
                                        version: LayercodeClient.sdkVersion, startEpochSeconds: Int(now.tv_sec))
        do throws(LayercodeError) {
            let made = try SessionRecorder(file: file, tags: tags, startNanoseconds: monotonicNanoseconds(),
                                           clock: monotonicNanoseconds)
            made.attach(playback)
            try made.start()
            recorder = made
            reportedDrops = false
            reportedFailure = false
            Log.write(.info, "recording the session to \(file.path)")
        } catch {
            Log.write(.error, "recording: \(error.message); the session goes on unrecorded")
            file.close()
        }
    }

    /// A mic frame went out on the socket (the uplink's 20 ms frames, any rate).
    func sent(_ frame: UplinkFrame) {
        guard let recorder else { return }
        let rate = frame.samples.count * 1000 / AudioFormat.layercodeUplink.frameMilliseconds
        frame.samples.withUnsafeBufferPointer {
            recorder.handOver($0, sampleRate: rate, capturedNanoseconds: frame.capturedNanoseconds,
                              frameIndex: frame.frameIndex)
        }
    }

    /// The speaker side changed (switch, output on or off).
    func attach(_ playback: PlaybackSide?) {
        recorder?.attach(playback)
    }

    /// The loop's periodic tick: publishes the drop count; logs the first drop and a failure.
    func poll() {
        guard let recorder else { return }
        let dropped = recorder.droppedFrames.load(ordering: .relaxed)
        counters.recorderDroppedFrames.store(droppedBefore + dropped, ordering: .relaxed)
        if dropped > 0 && !reportedDrops {
            reportedDrops = true
            Log.write(.warn, "recording \(recorder.path): the recorder fell behind; \(dropped) frames dropped "
                      + "(lc_stats.recorder_dropped_frames counts them)")
        }
        if let failure = recorder.failure, !reportedFailure {
            reportedFailure = true
            Log.write(.error, "recording stopped: \(failure); the session goes on")
        }
    }

    /// The session ended (or the client is freed): the file gets its last page and closes;
    /// a session that never connected leaves the path as it was.
    func finish() {
        file?.abandon()
        file = nil
        guard let recorder else { return }
        recorder.finish(atNanoseconds: monotonicNanoseconds())
        poll()
        droppedBefore += recorder.droppedFrames.load(ordering: .relaxed)
        let seconds = recorder.encodedSamples.load(ordering: .relaxed) / SessionRecorder.sampleRate
        Log.write(.info, "recorded \(seconds) s to \(recorder.path)")
        self.recorder = nil
    }
}
