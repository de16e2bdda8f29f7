// SPDX-License-Identifier: Apache-2.0
/// What goes into the `Session` and what comes out of it (Session.swift): its options, its
/// inputs (the app's calls, the authorize response, server events, mic frames, drains) and
/// the actions the driver carries out. Values only: no JSON, no I/O.
public enum SessionStatus: Int32, Sendable {
    case disconnected = 0, connecting = 1, connected = 2, reconnecting = 3, error = 4
}

public struct SessionOptions: Sendable {
    public var agentID: String
    public var metadata: JSONValue?
    /// The same object as the app wrote it (validated JSON text): sent unchanged when set.
    public var metadataJSON: String?
    public var conversationID: String?
    public var sdkVersion: String
    /// false: text-only mode, no client.audio is sent and agent audio is discarded.
    public var audioEnabled: Bool
    public var maxJSONDepth: Int
    /// Run the client VAD (voice activity, `vad_events`, gating in automatic mode). false:
    /// automatic mode streams every frame and sends no `vad_events`, and no `.userSpeaking`.
    public var clientVAD: Bool
    /// Reconnecting after an unexpected drop (off by default here; the client turns it on).
    public var reconnect: ReconnectPolicy
    /// The microphone starts on (see `.setAudioInput`).
    public var inputEnabled = true
    /// Agent audio starts on (see `.setAudioOutput`).
    public var outputEnabled = true
    /// The codecs offered at authorize, most preferred first (doc/opus-profile.md §1);
    /// empty (the default): no offer, Layercode's request byte for byte.
    public var wireCodecs: [String] = []

    public init(agentID: String, metadata: JSONValue? = nil, conversationID: String? = nil,
                sdkVersion: String, audioEnabled: Bool = true, maxJSONDepth: Int = 64,
                clientVAD: Bool = true, reconnect: ReconnectPolicy = ReconnectPolicy()) {
        self.agentID = agentID
        self.metadata = metadata
        self.conversationID = conversationID
        self.sdkVersion = sdkVersion
        self.audioEnabled = audioEnabled
        self.maxJSONDepth = maxJSONDepth
        self.clientVAD = clientVAD
        self.reconnect = reconnect
    }
}

public enum SessionInput {
    case connect
    case disconnect
    case authorizeResponse(status: Int, body: [UInt8])
    /// Authorize or socket transport failed (DNS, TCP, TLS, timeout, protocol).
    case transportFailed(LayercodeError)
    case socketOpened
    /// A server message, decoded by the socket's `wireProfile`.
    case received(ServerEvent)
    /// A server message the `wireProfile` refused to decode (invalid JSON, no type, bad ids,
    /// undecodable audio): counted in `refusedMessages` and reported; the session goes on.
    case refused(LayercodeError)
    /// The WebSocket closed with a close handshake (code nil: no status in the frame).
    case socketClosed(code: UInt16?, reason: String)
    /// One 20 ms frame of microphone PCM (`AudioFormat.layercodeUplink`).
    case micFrame(UplinkFrame)
    /// Playout consumed everything queued; the last chunk actually played.
    case playoutDrained(turnID: String?, lastDeltaID: String?)
    case turnStart
    case turnEnd
    case sendText(String)
    case sendData(JSONValue)
    /// Mute or unmute the microphone: muted sends nothing. Kept across reconnects.
    case setMuted(Bool)
    /// The wait asked for by `.scheduleReconnect` is over.
    case reconnectTimerFired
    /// The connection has stayed open long enough to count as recovered: the next drop
    /// starts a fresh series of reconnect attempts. Until then a server that accepts and
    /// drops again at once keeps using up the same attempts (no endless fast reconnects).
    case connectionStable
    /// Turn the microphone on or off (JS SDK setAudioInput): off sends nothing, like mute,
    /// but is the app's device choice rather than a mute. Kept across reconnects.
    case setAudioInput(Bool)
    /// Agent audio on or off (JS SDK setAudioOutput). Off: nothing plays, so each assistant
    /// turn's `replay_finished` is sent at once, at its `response.end`. Kept across reconnects.
    case setAudioOutput(Bool)
}

public enum SessionAction: Equatable {
    case status(SessionStatus)
    case postAuthorize(body: [UInt8])
    /// Open the WebSocket; it talks `Session.wireProfile`.
    case openSocket(clientSessionKey: String)
    /// A control message for the socket.
    case send(ClientMessage)
    /// A microphone frame for the socket (it keeps its capture time).
    case sendAudio(UplinkFrame)
    case closeSocket(code: UInt16, reason: String)
    /// Cancel an authorize or socket open in progress, or drop the socket without a close.
    case abortTransport
    /// Agent audio to queue for playout.
    case play(AgentAudio)
    /// Silence playout now and drop what is queued.
    case flushPlayout
    /// Whether an assistant turn is still delivering audio (silence then is an underrun).
    case assistantTurnActive(Bool)
    /// A `response.end` arrived: playout closes the turn it is playing (plays what it holds
    /// of it, then stops; the silence after it is not an underrun). Emitted for every
    /// `response.end` the session takes, whether or not it names the current turn (audio
    /// may come without turn ids), exactly where the driver used to look for the type.
    /// Not at a reconnect: the turn stays open in playout, and the resumed audio goes on.
    case endPlayoutTurn
    /// Late audio of an interrupted turn, dropped on arrival (samples at 16 kHz).
    case droppedLateAudio(samples: Int)
    case connected(conversationID: String, config: JSONValue)
    case message(type: String, json: String)
    case data(contentJSON: String, turnID: String?)
    case error(LayercodeError)
    /// The session ended: code nil for a clean close.
    case disconnected(code: ErrorCode?, message: String)
    /// The client VAD says the user started (true) or stopped (false) speaking; only on change.
    case userSpeaking(Bool)
    /// The mute state changed (only on change).
    case muteChanged(Bool)
    /// The connection was lost (`cause`) and will be reopened: feed `.reconnectTimerFired`
    /// after the delay. Status is `.reconnecting` until it opens or fails for good.
    case scheduleReconnect(attempt: Int, afterMilliseconds: Int, cause: LayercodeError)
    /// Microphone frames held during an outage were dropped (the oldest first).
    case droppedOutageAudio(frames: Int)
    /// The microphone was turned on or off (only on change).
    case audioInputChanged(Bool)
}
