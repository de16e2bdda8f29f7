// SPDX-License-Identifier: Apache-2.0
import XCTest
@testable import LayercodeCore

// Client VAD, audio gating and mute in the session (doc/protocol.md §2 "Audio gating",
// `vad_events`). Frames are sequence-numbered: sample 0 of frame k holds k, the rest is
// either digital silence (a quiet frame, ".") or a ±16000 square (a speech frame, "S"), so
// every client.audio sent can be decoded back to the frame it carries.

// MARK: - Fixtures

private func frame(_ k: Int, speech: Bool) -> [Int16] {
    var samples = [Int16](repeating: 0, count: 160)
    if speech {
        for i in 1..<160 { samples[i] = i % 2 == 0 ? 16000 : -16000 }
    }
    samples[0] = Int16(k)
    return samples
}

private func samplesFromLittleEndian(_ bytes: [UInt8]) -> [Int16] {
    stride(from: 0, to: bytes.count - 1, by: 2).map {
        Int16(bitPattern: UInt16(bytes[$0]) | UInt16(bytes[$0 + 1]) << 8)
    }
}

private func authorizeBody(trigger: String, vad: String?) -> [UInt8] {
    var config = #"{"transcription":{"trigger":"\#(trigger)","can_interrupt":true}"#
    if let vad { config += #","vad":"# + vad }
    config += "}"
    return Array(#"{"client_session_key":"key-1","conversation_id":"conv-1","config":\#(config)}"#.utf8)
}

private func serverText(_ json: String) -> SessionInput { .socketText(json) }

private let vadStart = "vad_start"
private let vadEnd = "vad_end"

// MARK: - Session driver

/// A session plus the frames fed to it, so sends can be checked against what was captured.
private final class Mic {
    let session: Session
    private(set) var fed: [Int: [Int16]] = [:]
    private(set) var next = 0

    init(_ session: Session) { self.session = session }

    /// Feeds one frame per character of `script` ("." quiet, "S" speech), numbered on from
    /// the last one fed. Returns every action.
    @discardableResult
    func feed(_ script: String) -> [SessionAction] {
        var out: [SessionAction] = []
        for c in script where c != " " {
            let f = frame(next, speech: c == "S")
            fed[next] = f
            next += 1
            out += session.handle(.micFrame(f))
        }
        return out
    }

    func handle(_ input: SessionInput) -> [SessionAction] { session.handle(input) }

    /// The sends as tokens: "k" for client.audio carrying frame k, the vad event name for
    /// vad_events, else the message type. Fails on audio that is not a fed frame, verbatim.
    func tokens(_ actions: [SessionAction], file: StaticString = #filePath, line: UInt = #line) -> [String] {
        actions.compactMap { action -> String? in
            guard let text = action.wireText else { return nil }
            guard let json = try? JSONValue.parse(text), let type = json["type"]?.stringValue else {
                XCTFail("invalid message \(text)", file: file, line: line)
                return "?"
            }
            switch type {
            case "client.audio":
                guard let content = json["content"]?.stringValue, let bytes = Base64.decode(content) else {
                    XCTFail("undecodable audio \(text)", file: file, line: line)
                    return "?"
                }
                let samples = samplesFromLittleEndian(bytes)
                let k = Int(samples.first ?? -1)
                XCTAssertEqual(samples, fed[k], "client.audio is not frame \(k) as captured",
                               file: file, line: line)
                return "\(k)"
            case "vad_events":
                return json["event"]?.stringValue ?? "?"
            default:
                return type
            }
        }
    }

    func feedTokens(_ script: String, file: StaticString = #filePath, line: UInt = #line) -> [String] {
        tokens(feed(script), file: file, line: line)
    }
}

private func frames(_ range: Range<Int>) -> [String] { range.map { "\($0)" } }
private func frames(_ range: ClosedRange<Int>) -> [String] { range.map { "\($0)" } }

private func speaking(_ actions: [SessionAction]) -> [Bool] {
    actions.compactMap { if case .userSpeaking(let s) = $0 { return s } else { return nil } }
}

private func muteChanges(_ actions: [SessionAction]) -> [Bool] {
    actions.compactMap { if case .muteChanged(let m) = $0 { return m } else { return nil } }
}

private func q(_ n: Int) -> String { String(repeating: ".", count: n) }
private func s(_ n: Int) -> String { String(repeating: "S", count: n) }

final class SessionGatingTests: XCTestCase {

    /// An open session; `vad` is the config.vad JSON object (nil: none).
    private func live(trigger: String = "automatic", vad: String? = nil, clientVAD: Bool = true,
                      audioEnabled: Bool = true,
                      file: StaticString = #filePath, line: UInt = #line) -> Mic {
        let session = Session(options: SessionOptions(agentID: "agent", sdkVersion: "1.0.0",
                                                      audioEnabled: audioEnabled, clientVAD: clientVAD))
        _ = session.handle(.connect)
        _ = session.handle(.authorizeResponse(status: 200, body: authorizeBody(trigger: trigger, vad: vad)))
        let open = session.handle(.socketOpened)
        XCTAssertEqual(open.compactMap(\.wireText),
                       [#"{"type":"client.ready"}"#], file: file, line: line)
        XCTAssertEqual(session.phase, .open, file: file, line: line)
        return Mic(session)
    }

    // MARK: Automatic mode, gated (the default)

    func testAutomaticModeRunsTheVADByDefault() {
        let mic = live()
        XCTAssertNotNil(mic.session.vad)
        XCTAssertEqual(mic.session.vad?.config, EnergyVAD.Config())
    }

    func testAutomaticGatedQuietFramesSendNothing() {
        let mic = live()
        let actions = mic.feed(q(50))
        XCTAssertEqual(actions, [])
    }

    func testAutomaticGatedSpeechStartSendsVadStartFirstThenPreRollThenConfirmingFramesThenCurrentFrame() {
        let mic = live()
        XCTAssertEqual(mic.feedTokens(q(20) + s(2)), [], "nothing until speech is confirmed")
        let start = mic.feed(s(1))                                   // frame 22: the 3rd speech frame
        // Pre-roll: the last 10 frames before the confirming ones (10...19), then 20, 21, 22.
        XCTAssertEqual(mic.tokens(start), [vadStart] + frames(10...22))
        XCTAssertEqual(speaking(start), [true])
    }

    func testAutomaticGatedFramesStreamWhileSpeakingHangoverIncludedThenVadEnd() {
        let mic = live()
        _ = mic.feed(q(20) + s(3))                                   // speech starts at 22
        XCTAssertEqual(mic.feedTokens(s(10)), frames(23...32))
        XCTAssertEqual(mic.feedTokens(q(29)), frames(33...61), "the hangover is part of the speech")
        let end = mic.feed(q(1))                                     // frame 62: 30th quiet frame
        XCTAssertEqual(mic.tokens(end), ["62", vadEnd], "the last hangover frame goes out, then vad_end")
        XCTAssertEqual(speaking(end), [false])
        XCTAssertEqual(mic.feed(q(40)), [], "gated again after vad_end")
    }

    func testAutomaticGatedSpeechInTheHangoverContinuesTheUtteranceWithoutNewVadEvents() {
        let mic = live()
        var tokens = mic.feedTokens(s(3) + s(5))
        tokens += mic.feedTokens(q(20) + s(4) + q(29))
        XCTAssertEqual(tokens, [vadStart] + frames(0..<61))
        XCTAssertEqual(mic.feedTokens(q(1)), ["61", vadEnd])
    }

    func testAutomaticGatedNoFrameIsSentTwiceOrLostAcrossUtterances() {
        let mic = live(vad: #"{"buffer_frames":5}"#)
        var all: [String] = []
        // Pre-roll 5 + 2 confirming frames. Utterance 1: 10...14, starts at 12 (sends 5...12),
        // ends with the 30th quiet frame, 44.
        all += mic.feedTokens(q(10) + s(5) + q(30))                  // frames 0...44
        // Utterance 2: the pre-roll holds only 45...49, nothing of utterance 1.
        all += mic.feedTokens(q(3) + s(3))                           // 45...50: start at 50
        all += mic.feedTokens(q(30))                                 // 51...80: end at 80
        // Utterance 3: a lone speech frame (89) is pre-roll; 91...93 start it; the pre-roll
        // is the 5 frames before 91 (86...90).
        all += mic.feedTokens(q(8) + s(1) + q(1) + s(3) + q(30))     // 81...123
        XCTAssertEqual(all, [vadStart] + frames(5...44) + [vadEnd]
                       + [vadStart] + frames(45...80) + [vadEnd]
                       + [vadStart] + frames(86...123) + [vadEnd])
        let audio = all.compactMap { Int($0) }
        XCTAssertEqual(audio, audio.sorted(), "strictly chronological")
        XCTAssertEqual(Set(audio).count, audio.count, "no frame twice")
        for k in 0..<mic.next where mic.fed[k]?[1] != 0 {
            XCTAssertTrue(audio.contains(k), "speech frame \(k) lost")
        }
    }

    func testAutomaticGatedPreRollAfterAnUtteranceHoldsOnlyFramesNotYetSent() {
        let mic = live()
        _ = mic.feed(s(3) + q(30))                                   // 0...32, vad_end at 32
        // Only two quiet frames since: the pre-roll holds 33, 34, not the hangover again.
        XCTAssertEqual(mic.feedTokens(q(2) + s(3)), [vadStart] + frames(33...37))
    }

    func testAutomaticGatedPreRollIsBoundedByBufferFrames() {
        let mic = live(vad: #"{"buffer_frames":4}"#)
        XCTAssertEqual(mic.feedTokens(q(30) + s(3)), [vadStart] + frames(26...32),
                       "4 frames before the 2 confirming frames, then the current one")
    }

    func testAutomaticGatedDefaultPreRollIsTenFrames() {
        let mic = live(vad: #"{"enabled":true}"#)
        XCTAssertEqual(mic.feedTokens(q(100) + s(3)), [vadStart] + frames(90...102))
    }

    func testAutomaticGatedZeroBufferFramesStillSendsTheConfirmingFrames() {
        let mic = live(vad: #"{"buffer_frames":0}"#)
        XCTAssertEqual(mic.feedTokens(q(30) + s(3)), [vadStart] + frames(30...32))
    }

    func testAutomaticGatedSpeechRightAfterConnectSendsWhatThereIs() {
        let mic = live()
        XCTAssertEqual(mic.feedTokens(q(1) + s(3)), [vadStart] + frames(0...3))
    }

    func testAutomaticGatedShortBurstsDoNotOpenTheGateAndStayInThePreRoll() {
        let mic = live()
        XCTAssertEqual(mic.feed("..SS..S.SS.."), [])
        XCTAssertEqual(mic.feedTokens(s(3)), [vadStart] + frames(2...14),
                       "the bursts are ordinary pre-roll, in order")
    }

    func testAutomaticGatedLongerConfirmationFromServerSettingsKeepsEveryConfirmingFrame() {
        // min_speech_frames 1 of 96 ms → 5 frames; redemption_frames 2 → 10 frames.
        let mic = live(vad: #"{"buffer_frames":2,"min_speech_frames":1,"redemption_frames":2}"#)
        XCTAssertEqual(mic.session.vad?.config.minSpeechFrames, 5)
        XCTAssertEqual(mic.session.vad?.config.hangoverFrames, 10)
        XCTAssertEqual(mic.feedTokens(q(10) + s(4)), [])
        XCTAssertEqual(mic.feedTokens(s(1)), [vadStart] + frames(8...14))
        XCTAssertEqual(mic.feedTokens(q(9)), frames(15...23))
        XCTAssertEqual(mic.feedTokens(q(1)), ["24", vadEnd])
    }

    func testUserSpeakingIsReportedOnlyOnChange() {
        let mic = live()
        var actions = mic.feed(q(5) + s(10) + q(10) + s(10) + q(30))
        actions += mic.feed(q(10))
        XCTAssertEqual(speaking(actions), [true, false])
        XCTAssertEqual(mic.tokens(actions).filter { $0 == vadStart || $0 == vadEnd }, [vadStart, vadEnd])
        XCTAssertFalse(mic.session.isUserSpeaking)
    }

    func testUserSpeakingFollowsTheSendsOfItsFrame() {
        let mic = live()
        let start = mic.feed(s(3))
        XCTAssertEqual(start.last, .userSpeaking(true))
        let end = mic.feed(q(30))
        XCTAssertEqual(end.last, .userSpeaking(false))
    }

    // MARK: Automatic mode, gate_audio false

    func testGateAudioFalseStreamsEveryFrameAndStillSendsVadEvents() {
        let mic = live(vad: #"{"gate_audio":false}"#)
        XCTAssertEqual(mic.feedTokens(q(20) + s(2)), frames(0...21))
        let start = mic.feed(s(1))
        XCTAssertEqual(mic.tokens(start), [vadStart, "22"], "vad_start before the frame that starts speech")
        XCTAssertEqual(speaking(start), [true])
        XCTAssertEqual(mic.feedTokens(s(5) + q(29)), frames(23...56))
        XCTAssertEqual(mic.feedTokens(q(1)), ["57", vadEnd])
        XCTAssertEqual(mic.feedTokens(q(5)), frames(58...62))
    }

    // MARK: VAD off

    func testVADDisabledByConfigStreamsContinuouslyWithoutVadEvents() {
        let mic = live(vad: #"{"enabled":false,"gate_audio":true}"#)
        XCTAssertNil(mic.session.vad)
        let actions = mic.feed(q(5) + s(10) + q(40) + s(3))
        XCTAssertEqual(mic.tokens(actions), frames(0..<58))
        XCTAssertEqual(speaking(actions), [], "no VAD, no userSpeaking")
    }

    func testVADDisabledByOptionStreamsContinuouslyWithoutVadEvents() {
        let mic = live(vad: #"{"enabled":true}"#, clientVAD: false)
        XCTAssertNil(mic.session.vad)
        let actions = mic.feed(q(5) + s(10) + q(40) + s(3))
        XCTAssertEqual(mic.tokens(actions), frames(0..<58))
        XCTAssertEqual(speaking(actions), [])
    }

    func testVADDisabledInPushToTalkLeavesTurnGatingAsIs() {
        let mic = live(trigger: "push_to_talk", clientVAD: false)
        XCTAssertEqual(mic.feed(s(12)), [])
        XCTAssertEqual(mic.tokens(mic.handle(.turnStart)), ["trigger.turn.start"] + frames(2...11))
    }

    func testTextOnlyModeRunsNoVAD() {
        let mic = live(audioEnabled: false)
        XCTAssertNil(mic.session.vad)
        XCTAssertEqual(mic.feed(s(10)), [])
    }

    // MARK: Push-to-talk

    func testPushToTalkGatingIsUnchangedByTheVADAndSendsNoVadEvents() {
        let mic = live(trigger: "push_to_talk")
        XCTAssertNotNil(mic.session.vad)
        let before = mic.feed(q(5) + s(10))                          // 0...14
        XCTAssertEqual(mic.tokens(before), [], "no audio and no vad_events before the turn")
        XCTAssertEqual(speaking(before), [true], "the VAD still reports the user speaking")

        let start = mic.handle(.turnStart)
        XCTAssertEqual(mic.tokens(start), ["trigger.turn.start"] + frames(5...14),
                       "pre-roll: exactly the last buffer_frames frames")
        XCTAssertEqual(mic.feedTokens(s(3) + q(30)), frames(15...47))
        XCTAssertEqual(mic.tokens(mic.handle(.turnEnd)), ["trigger.turn.end"])
        XCTAssertEqual(mic.feedTokens(s(10) + q(40)), [])
    }

    func testPushToTalkReportsUserSpeakingFromTheVAD() {
        let mic = live(trigger: "push_to_talk")
        _ = mic.handle(.turnStart)
        let actions = mic.feed(s(3) + q(30) + s(3))
        XCTAssertEqual(speaking(actions), [true, false, true])
        XCTAssertFalse(mic.tokens(actions).contains(vadStart))
        XCTAssertFalse(mic.tokens(actions).contains(vadEnd))
    }

    func testPushToTalkWithGateAudioFalseStreamsAndSendsNoVadEvents() {
        let mic = live(trigger: "push_to_talk", vad: #"{"gate_audio":false}"#)
        XCTAssertEqual(mic.feedTokens(q(3) + s(5) + q(31)), frames(0...38))
    }

    // MARK: Mute

    func testMuteAndUnmuteReportMuteChangedOnlyOnChange() {
        let mic = live()
        XCTAssertEqual(mic.handle(.setMuted(false)), [])
        XCTAssertEqual(mic.handle(.setMuted(true)), [.muteChanged(true)])
        XCTAssertTrue(mic.session.isMuted)
        XCTAssertEqual(mic.handle(.setMuted(true)), [])
        XCTAssertEqual(mic.handle(.setMuted(false)), [.muteChanged(false)])
        XCTAssertEqual(mic.handle(.setMuted(false)), [])
        XCTAssertFalse(mic.session.isMuted)
    }

    func testMutedAutomaticGatedSendsNothingAtAll() {
        let mic = live()
        _ = mic.handle(.setMuted(true))
        XCTAssertEqual(mic.feed(q(5) + s(20) + q(40)), [], "no audio, no vad_events, no userSpeaking")
    }

    func testMutedWithGateAudioFalseSendsNothingAtAll() {
        let mic = live(vad: #"{"gate_audio":false}"#)
        _ = mic.handle(.setMuted(true))
        XCTAssertEqual(mic.feed(q(5) + s(20) + q(40)), [])
    }

    func testMutedWithTheVADDisabledSendsNothingAtAll() {
        for mic in [live(vad: #"{"enabled":false}"#), live(clientVAD: false)] {
            _ = mic.handle(.setMuted(true))
            XCTAssertEqual(mic.feed(q(5) + s(20)), [])
        }
    }

    func testMuteMidSpeechSendsTheOutstandingVadEndAndReportsNotSpeaking() {
        let mic = live()
        _ = mic.feed(q(5) + s(5))
        XCTAssertTrue(mic.session.isUserSpeaking)
        let mute = mic.handle(.setMuted(true))
        XCTAssertEqual(mute, [.muteChanged(true),
                              .send(.vadEvent(.end)),
                              .userSpeaking(false)])
        XCTAssertFalse(mic.session.isUserSpeaking)
        XCTAssertEqual(mic.feed(s(10) + q(40)), [], "nothing while muted, and no second vad_end")
    }

    func testMuteMidSpeechWithGateAudioFalseAlsoEndsTheOutstandingVadStart() {
        let mic = live(vad: #"{"gate_audio":false}"#)
        _ = mic.feed(s(5))
        XCTAssertEqual(mic.tokens(mic.handle(.setMuted(true))), [vadEnd])
    }

    func testMuteDuringTheHangoverEndsTheUtteranceOnce() {
        let mic = live()
        _ = mic.feed(s(5) + q(10))
        let mute = mic.handle(.setMuted(true))
        XCTAssertEqual(mic.tokens(mute), [vadEnd])
        XCTAssertEqual(speaking(mute), [false])
        _ = mic.handle(.setMuted(false))
        XCTAssertEqual(mic.feed(q(40)), [], "no late vad_end after unmute")
    }

    func testMuteWhileQuietSendsNoVadEnd() {
        let mic = live()
        _ = mic.feed(s(3) + q(30))                                   // a finished utterance
        XCTAssertEqual(mic.handle(.setMuted(true)), [.muteChanged(true)])
    }

    func testUnmuteStartsWithAnEmptyPreRollAndAFreshVAD() {
        let mic = live()
        _ = mic.feed(q(10))                                          // 0...9 in the pre-roll
        _ = mic.handle(.setMuted(true))
        _ = mic.feed(s(5))                                           // 10...14 dropped
        XCTAssertEqual(mic.handle(.setMuted(false)), [.muteChanged(false)])
        XCTAssertEqual(mic.feedTokens(s(2)), [], "speech must be confirmed afresh")
        XCTAssertEqual(mic.feedTokens(s(1)), [vadStart] + frames(15...17),
                       "nothing captured before or during the mute is sent")
    }

    func testUnmuteMidSpeechRestartsTheUtteranceWithItsOwnVadStart() {
        let mic = live()
        _ = mic.feed(s(5))                                           // speaking, vad_start sent
        _ = mic.handle(.setMuted(true))
        _ = mic.handle(.setMuted(false))
        let again = mic.feed(s(3))                                   // 5...7
        XCTAssertEqual(mic.tokens(again), [vadStart] + frames(5...7))
        XCTAssertEqual(speaking(again), [true])
    }

    func testMutedPushToTalkSendsTurnEventsButNoAudioAndKeepsNoPreRoll() {
        let mic = live(trigger: "push_to_talk")
        _ = mic.feed(q(5))                                           // pre-roll 0...4
        _ = mic.handle(.setMuted(true))
        _ = mic.feed(s(5))                                           // 5...9 dropped
        let start = mic.handle(.turnStart)
        XCTAssertEqual(mic.tokens(start), ["trigger.turn.start"], "pre-roll cleared by the mute")
        XCTAssertEqual(mic.feed(s(5)), [], "no audio during a muted turn")
        _ = mic.handle(.setMuted(false))
        XCTAssertEqual(mic.feedTokens(s(2)), frames(15...16), "unmuted during the turn: audio resumes")
        XCTAssertEqual(mic.tokens(mic.handle(.turnEnd)), ["trigger.turn.end"])
    }

    func testMutePushToTalkMidSpeechReportsNotSpeakingWithoutVadEvents() {
        let mic = live(trigger: "push_to_talk")
        _ = mic.handle(.turnStart)
        _ = mic.feed(s(5))
        XCTAssertEqual(mic.handle(.setMuted(true)), [.muteChanged(true), .userSpeaking(false)])
    }

    func testMuteBeforeConnectingIsKeptAndReported() {
        let session = Session(options: SessionOptions(agentID: "a", sdkVersion: "1"))
        XCTAssertEqual(session.handle(.setMuted(true)), [.muteChanged(true)])
        _ = session.handle(.connect)
        _ = session.handle(.authorizeResponse(status: 200, body: authorizeBody(trigger: "automatic", vad: nil)))
        let open = session.handle(.socketOpened)
        XCTAssertFalse(open.contains(.muteChanged(false)))
        XCTAssertTrue(session.isMuted)
        let mic = Mic(session)
        XCTAssertEqual(mic.feed(s(10)), [])
    }

    func testMuteStateSurvivesReconnects() {
        let mic = live()
        _ = mic.handle(.setMuted(true))
        var actions = mic.handle(.socketClosed(code: 1011, reason: "boom"))
        actions += mic.handle(.connect)
        actions += mic.handle(.authorizeResponse(status: 200, body: authorizeBody(trigger: "automatic", vad: nil)))
        actions += mic.handle(.socketOpened)
        XCTAssertEqual(muteChanges(actions), [], "the app's choice is not reset")
        XCTAssertTrue(mic.session.isMuted)
        XCTAssertEqual(mic.feed(s(10)), [])
        XCTAssertEqual(mic.handle(.setMuted(false)), [.muteChanged(false)])
        XCTAssertEqual(mic.feedTokens(s(3)), [vadStart] + frames(10...12))
    }

    func testMuteWhileClosingSendsNothing() {
        let mic = live()
        _ = mic.feed(s(5))
        _ = mic.handle(.disconnect)
        XCTAssertEqual(mic.handle(.setMuted(true)), [.muteChanged(true)])
    }

    // MARK: Connection changes

    func testUserSpeakingEndsWhenTheSessionEndsMidSpeechWithoutVadEnd() {
        let mic = live()
        _ = mic.feed(s(5))
        let end = mic.handle(.socketClosed(code: 1000, reason: "limit"))
        XCTAssertEqual(speaking(end), [false])
        XCTAssertEqual(mic.tokens(end), [])
        guard let last = end.last, case .disconnected = last else {
            return XCTFail("disconnected must stay the last action: \(end)")
        }
    }

    func testUserSpeakingEndsWhenTheAppDisconnectsMidSpeech() {
        let mic = live()
        _ = mic.feed(s(5))
        let closing = mic.handle(.disconnect)
        XCTAssertEqual(speaking(closing), [false])
        XCTAssertEqual(mic.tokens(closing), [], "no vad_end on the way out")
        XCTAssertEqual(speaking(mic.handle(.socketClosed(code: 1000, reason: ""))), [])
    }

    func testUserSpeakingEndsWhenTheTransportFailsMidSpeech() {
        let mic = live()
        _ = mic.feed(s(5))
        let failed = mic.handle(.transportFailed(LayercodeError(.network, "reset")))
        XCTAssertEqual(speaking(failed), [false])
        guard let last = failed.last, case .disconnected = last else {
            return XCTFail("disconnected must stay the last action: \(failed)")
        }
    }

    func testReconnectStartsWithAFreshVADAndAnEmptyPreRoll() {
        let mic = live()
        _ = mic.feed(q(10) + s(2))                                   // pre-roll and a partial run
        _ = mic.handle(.transportFailed(LayercodeError(.network, "reset")))
        _ = mic.handle(.connect)
        _ = mic.handle(.authorizeResponse(status: 200, body: authorizeBody(trigger: "automatic", vad: nil)))
        _ = mic.handle(.socketOpened)
        XCTAssertEqual(mic.feedTokens(s(2)), [], "the old run does not count")
        XCTAssertEqual(mic.feedTokens(s(1)), [vadStart] + frames(12...14))
    }

    func testReconnectPicksUpTheNewConfigVAD() {
        let mic = live()
        _ = mic.handle(.socketClosed(code: 1000, reason: ""))
        _ = mic.handle(.connect)
        _ = mic.handle(.authorizeResponse(status: 200, body: authorizeBody(
            trigger: "automatic", vad: #"{"enabled":false}"#)))
        _ = mic.handle(.socketOpened)
        XCTAssertNil(mic.session.vad)
        XCTAssertEqual(mic.feedTokens(q(2)), frames(0...1))
    }

    // MARK: Unchanged behaviour

    func testVadStartDoesNotInterruptPlayoutOnlyTheServersUserTurnDoes() {
        let mic = live()
        _ = mic.handle(serverText(#"{"type":"turn.start","role":"assistant","turn_id":"a1"}"#))
        let start = mic.feed(s(3))
        XCTAssertFalse(start.contains(.flushPlayout), "barge-in waits for the server's turn.start")
        let bargeIn = mic.handle(serverText(#"{"type":"turn.start","role":"user","turn_id":"u1"}"#))
        XCTAssertEqual(bargeIn.first, .flushPlayout)
    }

    func testTextDataAndReplayFinishedAreUnaffectedByGatingAndMute() {
        let mic = live()
        _ = mic.handle(.setMuted(true))
        XCTAssertEqual(mic.tokens(mic.handle(.sendText("hi"))), ["client.response.text"])
        XCTAssertEqual(mic.tokens(mic.handle(.sendData(["a": 1]))), ["client.response.data"])
        _ = mic.handle(serverText(#"{"type":"turn.start","role":"assistant","turn_id":"a2"}"#))
        XCTAssertEqual(mic.tokens(mic.handle(.playoutDrained(turnID: "a2", lastDeltaID: "d1"))),
                       ["trigger.response.audio.replay_finished"])
    }
}
