// SPDX-License-Identifier: Apache-2.0
import Foundation
import Layercode
import LayercodeCore
import XCTest

/// The Swift API against the real devserver over loopback (plain and TLS).
final class LiveSessionTests: XCTestCase {
    /// Collects callbacks (they arrive on the event-loop thread).
    final class Recorder: @unchecked Sendable {
        private let lock = NSLock()
        private var _events: [String] = []
        private var _messages: [(String, String)] = []
        private var _data: [String] = []
        var events: [String] { lock.withLock { _events } }
        var messages: [(String, String)] { lock.withLock { _messages } }
        var data: [String] { lock.withLock { _data } }

        func callbacks() -> ClientCallbacks {
            var cb = ClientCallbacks()
            cb.onStatus = { s in self.lock.withLock { self._events.append("status:\(s)") } }
            cb.onConnected = { conv, _ in self.lock.withLock { self._events.append("connected:\(conv)") } }
            cb.onDisconnected = { code, message in
                self.lock.withLock { self._events.append("disconnected:\(code.map { "\($0)" } ?? "ok"):\(message)") }
            }
            cb.onError = { e in self.lock.withLock { self._events.append("error:\(e.code):\(e.message)") } }
            cb.onMessage = { type, json in self.lock.withLock { self._messages.append((type, json)) } }
            cb.onData = { content, _ in self.lock.withLock { self._data.append(content) } }
            return cb
        }

        func wait(_ what: String, timeout: TimeInterval = 10, _ ok: () -> Bool) throws {
            let deadline = Date().addingTimeInterval(timeout)
            while !ok() {
                if Date() > deadline { throw NSError(domain: "timeout waiting for \(what): \(events)", code: 1) }
                Thread.sleep(forTimeInterval: 0.01)
            }
        }
    }

    func options(_ server: DevServer, agent: String = "echo") -> ClientOptions {
        var o = ClientOptions(agentID: agent, authorizeURL: server.authorizeURL)
        o.wsURL = server.wsURL
        o.caFile = server.caFile
        o.inputSampleRate = 16_000
        o.outputSampleRate = 16_000
        return o
    }

    /// Speech-like input: 1 s of a 300 Hz tone at 16 kHz, then silence.
    func burst(seconds: Double, rate: Int = 16_000) -> [Int16] {
        (0..<Int(seconds * Double(rate))).map {
            Int16(12_000 * sin(2 * Double.pi * 300 * Double($0) / Double(rate)))
        }
    }

    /// Writes `samples` then silence in real-time 20 ms steps, reading playout as a speaker does.
    func stream(_ client: LayercodeClient, _ samples: [Int16], seconds: Double,
                until done: () -> Bool = { false }) -> [Int16] {
        var played: [Int16] = []
        var out = [Int16](repeating: 0, count: 320)
        let silence = [Int16](repeating: 0, count: 320)
        var offset = 0
        let start = Date()
        var step = 0
        while Date().timeIntervalSince(start) < seconds && !done() {
            let chunk = offset < samples.count ? Array(samples[offset..<min(offset + 320, samples.count)]) : silence
            offset += 320
            _ = chunk.withUnsafeBufferPointer { client.writeAudio($0) }
            _ = out.withUnsafeMutableBufferPointer { client.readAudio(into: $0) }
            played += out
            step += 1
            let next = start.addingTimeInterval(Double(step) * 0.02)
            Thread.sleep(until: next)
        }
        return played
    }

    func testEchoSessionOverPlainWebSocket() throws {
        try runEchoSession(DevServer())
    }

    func testEchoSessionOverTLS() throws {
        let server = try DevServer(["--tls"])
        XCTAssertNotNil(server.caFile)
        XCTAssertTrue(server.wsURL.hasPrefix("wss://"))
        try runEchoSession(server)
    }

    func runEchoSession(_ server: DevServer) throws {
        let recorder = Recorder()
        let client = try LayercodeClient(options: options(server), callbacks: recorder.callbacks())
        try client.connect()
        try recorder.wait("connected") { client.status == .connected }
        let played = stream(client, burst(seconds: 1.0), seconds: 8) {
            recorder.messages.contains { $0.0 == "response.text" && $0.1.contains("You said") }
                && recorder.messages.filter { $0.0 == "response.end" }.count >= 2
        }
        client.disconnect()
        try recorder.wait("disconnected") { recorder.events.contains { $0.hasPrefix("disconnected:ok") } }

        XCTAssertTrue(recorder.messages.contains { $0.0 == "response.text" && $0.1.contains("You said") },
                      "no echo: \(recorder.messages.map(\.0))")
        XCTAssertGreaterThan(played.map { abs(Int($0)) }.max() ?? 0, 1000, "no agent audio was played")
        let stats = client.snapshot()
        XCTAssertGreaterThan(stats.audioFramesSent, 50)
        XCTAssertEqual(stats.audioBytesSent, stats.audioFramesSent * 320)
        XCTAssertGreaterThan(stats.audioFramesReceived, 0)
        XCTAssertGreaterThan(stats.connectTimeMicroseconds, 0)

        let received = server.received()
        XCTAssertEqual(received.first?["type"] as? String, "client.ready")
        let audio = received.filter { $0["type"] as? String == "client.audio" }
        XCTAssertEqual(UInt64(audio.count), stats.audioFramesSent)
        XCTAssertTrue(audio.allSatisfy { $0["content_bytes"] as? Int == 320 })
        XCTAssertTrue(received.contains { $0["type"] as? String == "trigger.response.audio.replay_finished" },
                      "replay_finished never sent")
    }

    func testTextAndDataRoundTrip() throws {
        let server = try DevServer()
        let recorder = Recorder()
        var o = options(server)
        o.audioMode = .none
        let client = try LayercodeClient(options: o, callbacks: recorder.callbacks())
        try client.connect()
        try recorder.wait("connected") { client.status == .connected }
        try client.sendText("hello there")
        try client.sendData(json: #"{"button":"ok","n":2}"#)
        try recorder.wait("echoes") {
            recorder.messages.contains { $0.0 == "response.text" && $0.1.contains("hello there") }
                && !recorder.data.isEmpty
        }
        XCTAssertTrue(recorder.data[0].contains(#""button":"ok""#), recorder.data[0])
        client.disconnect()
        try recorder.wait("disconnected") { client.status == .disconnected }
        let types = server.received().compactMap { $0["type"] as? String }
        XCTAssertTrue(types.contains("client.response.text"))
        XCTAssertTrue(types.contains("client.response.data"))
        XCTAssertFalse(types.contains("client.audio"), "text-only mode sent audio")
    }

    func testAuthorizeRejectionReportsStatusAndMessage() throws {
        let server = try DevServer()
        let recorder = Recorder()
        let client = try LayercodeClient(options: options(server, agent: "insufficient-balance"),
                                         callbacks: recorder.callbacks())
        try client.connect()
        try recorder.wait("error") { client.status == .error }
        let error = recorder.events.first { $0.hasPrefix("error:") } ?? ""
        XCTAssertTrue(error.contains("402"), error)
        XCTAssertTrue(error.contains("insufficient balance"), error)
        XCTAssertTrue(client.lastError.contains("402"))
    }

    func testUntrustedCertificateIsRefused() throws {
        let server = try DevServer(["--tls"])
        let recorder = Recorder()
        var o = options(server)
        o.caFile = nil  // the system store does not trust the dev CA
        let client = try LayercodeClient(options: o, callbacks: recorder.callbacks())
        try client.connect()
        try recorder.wait("error") { client.status == .error }
        XCTAssertTrue(client.lastError.contains("certificate verify failed"), client.lastError)
        XCTAssertTrue(server.received().isEmpty)
    }

    func testFreeFromInsideCallbackDoesNotDeadlock() throws {
        let server = try DevServer()
        let freed = NSLock()
        var done = false
        var cb = ClientCallbacks()
        var client: LayercodeClient?
        cb.onConnected = { _, _ in
            client?.shutdown { freed.withLock { done = true } }
        }
        client = try LayercodeClient(options: options(server), callbacks: cb)
        try client!.connect()
        let deadline = Date().addingTimeInterval(10)
        while !freed.withLock({ done }) && Date() < deadline { Thread.sleep(forTimeInterval: 0.01) }
        XCTAssertTrue(freed.withLock { done })
    }
}

/// Barge-in against the devserver: the agent talks (a long tone, streamed in real time),
/// the user speaks, the server sends turn.start{user} and then, like a real pipeline, a few
/// late chunks of the interrupted turn. Playout must be silent from the next period on, and
/// the late chunks must never play.
final class BargeInTests: XCTestCase {
    final class Events: @unchecked Sendable {
        let lock = NSLock()
        var bargeInSeen = false
        var replyStarted = false
        var userTurns = 0
    }

    func testPlayoutGoesSilentAtOnceAndLateAudioNeverPlays() throws {
        let server = try DevServer(["--agent", "tone", "--tone-seconds", "8", "--audio-speed", "1.0",
                                    "--late-audio-chunks", "3"])
        let events = Events()
        var cb = ClientCallbacks()
        cb.onMessage = { type, json in
            events.lock.withLock {
                if type == "turn.start" && json.contains("\"user\"") {
                    events.bargeInSeen = true
                    events.userTurns += 1
                }
                if type == "turn.start" && json.contains("\"assistant\"") && events.bargeInSeen {
                    events.replyStarted = true
                }
            }
        }
        var o = ClientOptions(agentID: "tone", authorizeURL: server.authorizeURL)
        o.wsURL = server.wsURL
        let client = try LayercodeClient(options: o, callbacks: cb)
        try client.connect()
        let deadline = Date().addingTimeInterval(10)
        while client.status != .connected && Date() < deadline { Thread.sleep(forTimeInterval: 0.01) }
        XCTAssertEqual(client.status, .connected)

        var out = [Int16](repeating: 0, count: 320)
        let silence = [Int16](repeating: 0, count: 320)
        let speech = (0..<320).map { Int16(10_000 * sin(2 * Double.pi * 300 * Double($0) / 16_000)) }
        var playedBeforeBargeIn = 0
        var audioAfterBargeIn = 0
        var periodsAfterBargeIn = 0
        let start = Date()
        var step = 0
        while Date().timeIntervalSince(start) < 6 {
            let elapsed = Date().timeIntervalSince(start)
            let talking = elapsed > 1.5 && elapsed < 2.1
            // Snapshot before the read: a barge-in seen now was flushed before this read.
            let (seen, reply) = events.lock.withLock { (events.bargeInSeen, events.replyStarted) }
            _ = (talking ? speech : silence).withUnsafeBufferPointer { client.writeAudio($0) }
            let n = out.withUnsafeMutableBufferPointer { client.readAudio(into: $0) }
            if !seen {
                playedBeforeBargeIn += n
            } else if !reply {
                audioAfterBargeIn += n
                periodsAfterBargeIn += 1
            }
            step += 1
            Thread.sleep(until: start.addingTimeInterval(Double(step) * 0.02))
        }
        client.disconnect()
        XCTAssertGreaterThan(playedBeforeBargeIn, 16_000 / 2, "the agent never played before the barge-in")
        XCTAssertTrue(events.lock.withLock { events.bargeInSeen }, "the server never saw the user speak")
        XCTAssertGreaterThan(periodsAfterBargeIn, 5)
        XCTAssertEqual(audioAfterBargeIn, 0, "agent audio played after turn.start{user}")
        let stats = client.snapshot()
        XCTAssertGreaterThan(stats.playoutSamplesDropped, 0, "late/queued audio was not dropped")
        XCTAssertGreaterThanOrEqual(stats.bargeInLatencyP50Us, 0)
        let received = server.received().compactMap { $0["type"] as? String }
        XCTAssertTrue(received.contains("vad_events"), "the client VAD sent no vad_events")
    }
}

/// LC_AUDIO_WAV: the same engine with WAV files as microphone and speaker, paced by the
/// library's own thread.
final class WavModeTests: XCTestCase {
    func testWavFilesAsMicrophoneAndSpeaker() throws {
        let server = try DevServer()
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("lc-wav-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let mic = dir.appendingPathComponent("mic.wav").path
        let speaker = dir.appendingPathComponent("speaker.wav").path
        // 1 s of silence, a 1 s 300 Hz "utterance" at 44.1 kHz stereo, then the file ends.
        let sox = Process()
        sox.executableURL = URL(fileURLWithPath: "/usr/bin/sox")
        sox.arguments = ["-n", "-r", "44100", "-c", "2", "-b", "16", mic,
                         "synth", "2", "sine", "300", "gain", "-6", "trim", "0", "2", "pad", "1", "0"]
        try sox.run()
        sox.waitUntilExit()
        XCTAssertEqual(sox.terminationStatus, 0)

        let recorder = LiveSessionTests.Recorder()
        var o = ClientOptions(agentID: "echo", authorizeURL: server.authorizeURL)
        o.wsURL = server.wsURL
        o.audioMode = .wav
        o.captureDevice = mic
        o.playbackDevice = speaker
        let client = try LayercodeClient(options: o, callbacks: recorder.callbacks())
        try client.connect()
        // The utterance barges in on the greeting; the echo turn then plays to its end.
        try recorder.wait("echo", timeout: 15) {
            let types = recorder.messages
            guard let said = types.firstIndex(where: { $0.0 == "response.text" && $0.1.contains("You said") })
            else { return false }
            return types[said...].contains { $0.0 == "response.end" }
        }
        Thread.sleep(forTimeInterval: 1.0)
        client.disconnect()
        try recorder.wait("disconnected") { client.status == .disconnected }

        let stats = client.snapshot()
        XCTAssertGreaterThan(stats.audioFramesSent, 40)
        XCTAssertGreaterThan(stats.playedSamples, 16_000)
        // The speaker file: 16 kHz mono WAV holding the greeting and the echo.
        let data = try Data(contentsOf: URL(fileURLWithPath: speaker))
        XCTAssertGreaterThan(data.count, 44 + 16_000 * 2 * 2)
        let pcm = data.dropFirst(44).withUnsafeBytes { Array($0.bindMemory(to: Int16.self)) }
        XCTAssertGreaterThan(pcm.filter { abs(Int($0)) > 2000 }.count, 8_000, "no agent audio in the speaker file")
    }
}
