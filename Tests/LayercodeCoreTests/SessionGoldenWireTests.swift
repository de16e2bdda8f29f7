// SPDX-License-Identifier: Apache-2.0
import Foundation
import XCTest
@testable import LayercodeCore

// The golden wire test (issue 10 step zero): one fixed, deterministic session script run
// through `Session`, and every text the client puts on the socket recorded in order. The
// golden lines (SessionGoldenWire.swift) were generated before the typed-actions refactor;
// the exact bytes on the wire must never change by accident. Lines starting "> " name the
// step that follows; every other line is one WebSocket text message, byte for byte.

// MARK: - The script's inputs

/// A 160-sample (20 ms, 8 kHz) mic frame: sample 0 holds k, the rest is digital silence
/// (quiet) or a ±16000 square with a k-dependent ripple (speech).
private func goldenFrame(_ k: Int, speech: Bool) -> [Int16] {
    var samples = [Int16](repeating: 0, count: 160)
    if speech {
        for i in 1..<160 { samples[i] = Int16((i % 2 == 0 ? 16000 : -16000) + (k * 7 + i) % 13) }
    }
    samples[0] = Int16(k)
    return samples
}

/// Agent PCM at 16 kHz, `count` samples identified by `seed`.
private func agentPCM(_ seed: Int, count: Int) -> [Int16] {
    (0..<count).map { Int16(truncatingIfNeeded: seed * 977 + $0 * 31 - 4000) }
}

private func base64PCM(_ samples: [Int16]) -> String {
    var bytes: [UInt8] = []
    for s in samples {
        let bits = UInt16(bitPattern: s)
        bytes.append(UInt8(truncatingIfNeeded: bits))
        bytes.append(UInt8(truncatingIfNeeded: bits >> 8))
    }
    return Base64.encode(bytes)
}

private func authorizeBody(trigger: String, vad: String) -> [UInt8] {
    Array(("{\"client_session_key\":\"key-\(trigger)\",\"conversation_id\":\"conv-golden\","
           + "\"config\":{\"transcription\":{\"trigger\":\"\(trigger)\",\"can_interrupt\":true},"
           + "\"vad\":\(vad)}}").utf8)
}

// MARK: - Recording what goes on the wire

/// Drives a Session and records the wire: the texts it sends, in order, with step labels.
private final class WireRecorder {
    let session: Session
    private(set) var lines: [String] = []
    private var frameNumber = 0

    init(_ session: Session) { self.session = session }

    func step(_ label: String) { lines.append("> " + label) }

    /// Feeds one input; records every text the session sends.
    func handle(_ input: SessionInput) {
        for action in session.handle(input) {
            if let text = action.wireText { lines.append(text) }
        }
    }

    /// A server text frame, as the socket hands it over.
    func server(_ text: String) { handle(.socketText(text)) }

    /// One mic frame per character: "." quiet, "S" speech.
    func mic(_ script: String) {
        for c in script {
            handle(.micFrame(goldenFrame(frameNumber, speech: c == "S")))
            frameNumber += 1
        }
    }

    func audio(turn: String?, delta: String?, seed: Int, count: Int) {
        var text = "{\"type\":\"response.audio\",\"content\":\"\(base64PCM(agentPCM(seed, count: count)))\""
        if let turn { text += ",\"turn_id\":\"\(turn)\"" }
        if let delta { text += ",\"delta_id\":\"\(delta)\"" }
        server(text + "}")
    }
}

final class SessionGoldenWireTests: XCTestCase {

    /// The fixed script. Deterministic: the backoff jitter is fixed, no clocks are read.
    private func runScript() -> [String] {
        var options = SessionOptions(agentID: "agent-golden", sdkVersion: "9.9.9",
                                     reconnect: ReconnectPolicy(maxAttempts: 5, outageFrames: 3))
        options.metadataJSON = #"{"user":"ünïcode","n":1.50}"#
        let session = Session(options: options)
        session.random = { 0.5 }
        let w = WireRecorder(session)

        w.step("connect, authorize (automatic, gated, pre-roll 2), open")
        w.handle(.connect)
        w.handle(.authorizeResponse(status: 200, body: authorizeBody(
            trigger: "automatic",
            vad: #"{"gate_audio":true,"buffer_frames":2,"frame_samples":320,"min_speech_frames":2,"redemption_frames":3}"#)))
        w.handle(.socketOpened)

        w.step("quiet frames are held, speech sends vad_start, the pre-roll, then the speech")
        w.mic("....SSSS")
        w.step("the hangover ends the utterance: vad_end after its last frame; then gated again")
        w.mic("...........")

        w.step("text (a barge-in) and data")
        w.handle(.sendText("hello \"agent\"\n\tü 😀 \\ /"))
        w.handle(.sendData(.object(["k": 1, "nested": ["a": [true, .null, 2.5]], "s": "x\u{1}y"])))

        w.step("speech, then mute with vad_start outstanding: vad_end; muted frames go nowhere")
        w.mic("..SSS")
        w.handle(.setMuted(true))
        w.mic("SSSS")
        w.handle(.setMuted(false))
        w.mic("...")

        w.step("agent turn a1: audio, response.end, playout drains: replay_finished")
        w.server(#"{"type":"turn.start","role":"assistant","turn_id":"a1"}"#)
        w.audio(turn: "a1", delta: "d1", seed: 1, count: 480)
        w.audio(turn: "a1", delta: "d2", seed: 2, count: 100)
        w.server(#"{"type":"response.end","turn_id":"a1"}"#)
        w.handle(.playoutDrained(turnID: "a1", lastDeltaID: "d2"))

        w.step("agent turn a2 without delta ids: replay_finished names no delta")
        w.audio(turn: "a2", delta: nil, seed: 3, count: 320)
        w.server(#"{"type":"response.end","turn_id":"a2"}"#)
        w.handle(.playoutDrained(turnID: "a2", lastDeltaID: nil))

        w.step("output off: replay_finished at response.end")
        w.handle(.setAudioOutput(false))
        w.server(#"{"type":"turn.start","role":"assistant","turn_id":"a3"}"#)
        w.audio(turn: "a3", delta: "d7", seed: 4, count: 320)
        w.server(#"{"type":"response.end","turn_id":"a3"}"#)
        w.handle(.setAudioOutput(true))

        w.step("user barge-in interrupts a4: its drain sends nothing")
        w.audio(turn: "a4", delta: "d1", seed: 5, count: 320)
        w.server(#"{"type":"turn.start","role":"user","turn_id":"u1"}"#)
        w.audio(turn: "a4", delta: "d2", seed: 6, count: 320)
        w.handle(.playoutDrained(turnID: "a4", lastDeltaID: "d1"))

        w.step("the socket drops (1006): frames during the outage are held, the oldest dropped")
        w.handle(.socketClosed(code: 1006, reason: "dropped"))
        w.mic("..S..")
        w.step("reconnect (automatic, not gated): ready, then the outage frames")
        w.handle(.reconnectTimerFired)
        w.handle(.authorizeResponse(status: 200, body: authorizeBody(
            trigger: "automatic", vad: #"{"gate_audio":false,"frame_samples":320,"min_speech_frames":1,"redemption_frames":3}"#)))
        w.handle(.socketOpened)
        w.mic("..")

        w.step("drops again (1001); reconnect in push-to-talk, gated, pre-roll 3")
        w.handle(.socketClosed(code: 1001, reason: "going away"))
        w.mic("S.")
        w.handle(.reconnectTimerFired)
        w.handle(.authorizeResponse(status: 200, body: authorizeBody(
            trigger: "push_to_talk", vad: #"{"gate_audio":true,"buffer_frames":3}"#)))
        w.handle(.socketOpened)
        w.mic("....")
        w.step("push-to-talk turn: start, the pre-roll, frames, end; then gated")
        w.handle(.turnStart)
        w.mic("SS.")
        w.handle(.turnEnd)
        w.mic("..")

        w.step("disconnect")
        w.handle(.disconnect)
        w.handle(.socketClosed(code: 1000, reason: "client disconnect"))
        return w.lines
    }

    func testGoldenWireBytesAreUnchanged() {
        let lines = runScript()
        let expected = goldenWireLines.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        if lines != expected {
            let path = "/tmp/layercode-golden-wire.actual"
            _ = FileManager.default.createFile(atPath: path, contents: Data(lines.joined(separator: "\n").utf8))
            XCTFail("the wire differs from the golden lines; the actual lines are in \(path)")
        }
        XCTAssertEqual(lines.count, expected.count)
        for (i, (got, want)) in zip(lines, expected).enumerated() where got != want {
            XCTFail("line \(i + 1):\n got \(got)\nwant \(want)")
            break
        }
    }

    func testGoldenScriptIsDeterministic() {
        XCTAssertEqual(runScript(), runScript())
    }
}
