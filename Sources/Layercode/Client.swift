import LayercodeAudio
import LayercodeCore
import LayercodeNet
import Synchronization

/// The app's callbacks, as Swift closures. All run on the event-loop thread.
public struct ClientCallbacks {
    public var onStatus: ((SessionStatus) -> Void)?
    public var onConnected: ((_ conversationID: String, _ configJSON: String) -> Void)?
    public var onDisconnected: ((_ code: ErrorCode?, _ message: String) -> Void)?
    public var onError: ((LayercodeError) -> Void)?
    public var onMessage: ((_ type: String, _ json: String) -> Void)?
    public var onData: ((_ contentJSON: String, _ turnID: String?) -> Void)?
    public init() {}
}

/// One Layercode client: wires the pure Session to the network (authorize + WebSocket on the
/// event loop) and to external audio (input ring → resampler → 8 kHz frames; 16 kHz agent
/// audio → resampler → playout buffer). Session, sockets and callbacks live on the loop
/// thread; the public methods may be called from any thread and post work to it.
public final class LayercodeClient: @unchecked Sendable {
    public static let sdkVersion = "0.1.0"
    static let frameSamples = 160  // 20 ms at 8 kHz

    public let options: ClientOptions
    public let stats = ClientStats()
    private let validated: ClientOptions.Validated
    private let loop = EventLoop.shared

    // Any thread.
    private let statusValue = Atomic<Int32>(SessionStatus.disconnected.rawValue)
    private let acceptingAudio = Atomic<Bool>(false)
    private let lastErrorText = Mutex<String>("")
    private let inputRing: SPSCRing<Int16>
    private let playout: PlayoutBuffer

    // Loop thread only.
    private let session: Session
    private var callbacks: ClientCallbacks
    private var authorizeRequest: HTTPRequest?
    private var socket: WebSocketClient?
    private let upsampler: Resampler
    private let downsampler: Resampler
    private var inputScratch: [Int16]
    private var resampleScratch: [Int16]
    private var frame: [Int16] = []
    private var playScratch: [Int16] = []
    private var markers: [(end: UInt64, turnID: String?, deltaID: String?)] = []
    private var connectStartedNanoseconds: UInt64 = 0
    private var isShutDown = false
    private var callbackDepth = 0
    private var freeWhenCallbackReturns: (() -> Void)?

    public init(options: ClientOptions, callbacks: ClientCallbacks = ClientCallbacks()) throws {
        self.options = options
        validated = try options.validate()
        self.callbacks = callbacks
        session = Session(options: SessionOptions(
            agentID: options.agentID, metadata: validated.metadata,
            conversationID: options.conversationID, sdkVersion: Self.sdkVersion,
            audioEnabled: options.audioMode == .external))
        upsampler = try Resampler(inputRate: options.inputSampleRate, outputRate: 8000)
        downsampler = try Resampler(inputRate: 16_000, outputRate: options.outputSampleRate)
        // Two seconds of microphone; a minute of agent audio (TTS runs ahead of playout; what
        // does not fit is dropped and counted in playout_samples_dropped).
        inputRing = SPSCRing(capacity: options.inputSampleRate * 2, zero: 0)
        inputScratch = [Int16](repeating: 0, count: 4096)
        resampleScratch = [Int16](repeating: 0, count: upsampler.maxOutputCount(forInput: 4096))
        frame.reserveCapacity(Self.frameSamples)
        let loop = self.loop
        playout = PlayoutBuffer(capacity: options.outputSampleRate * 60) { loop.wake() }
        loop.execute { [weak self] in
            guard let self else { return }
            loop.addWakeObserver(self) { [weak self] in self?.wokeUp() }
        }
    }

    deinit {
        // Normally shutdown() ran already; a Swift user who just drops the client still gets
        // its sockets closed (on the loop, which owns them).
        let socket = self.socket
        let request = authorizeRequest
        if socket != nil || request != nil {
            loop.execute {
                socket?.abort()
                request?.cancel()
            }
        }
    }

    // MARK: Any thread

    public var status: SessionStatus {
        SessionStatus(rawValue: statusValue.load(ordering: .acquiring)) ?? .error
    }

    public var lastError: String { lastErrorText.withLock { $0 } }

    public func connect() throws {
        let s = status
        guard s == .disconnected || s == .error else {
            throw LayercodeError(.invalidState, "already connecting or connected")
        }
        post { $0.connectStartedNanoseconds = monotonicNanoseconds(); $0.run(.connect) }
    }

    public func disconnect() {
        post { $0.run(.disconnect) }
    }

    public func sendText(_ text: String) throws {
        guard text.utf8.count <= 64 << 10 else {
            throw LayercodeError(.tooLarge, "text over 64 KiB")
        }
        try requireConnected()
        post { $0.run(.sendText(text)) }
    }

    public func sendData(json: String) throws {
        guard json.utf8.count <= 64 << 10 else {
            throw LayercodeError(.tooLarge, "data over 64 KiB")
        }
        let value: JSONValue
        do { value = try JSONValue.parse(json) } catch {
            throw LayercodeError(.invalidArgument, "data is not valid JSON: \(error)")
        }
        guard value.objectValue != nil else {
            throw LayercodeError(.invalidArgument, "data must be a JSON object")
        }
        try requireConnected()
        post { $0.run(.sendData(value)) }
    }

    public func turnStart() throws {
        try requireConnected()
        post { $0.run(.turnStart) }
    }

    public func turnEnd() throws {
        try requireConnected()
        post { $0.run(.turnEnd) }
    }

    /// Microphone PCM at inputSampleRate. Wait-free: copies into the ring, wakes the loop.
    /// Returns the samples accepted; the rest is dropped and counted.
    public func writeAudio(_ samples: UnsafeBufferPointer<Int16>) -> Int {
        guard options.audioMode == .external, acceptingAudio.load(ordering: .relaxed) else {
            return samples.count  // discarded while not in a session (documented)
        }
        let n = inputRing.write(samples)
        if n < samples.count {
            ClientStats.bump(stats.inputSamplesDropped, UInt64(samples.count - n))
        }
        loop.wake()
        return n
    }

    /// Agent PCM at outputSampleRate; fills `out`, returns how much was agent audio.
    public func readAudio(into out: UnsafeMutableBufferPointer<Int16>) -> Int {
        playout.read(into: out)
    }

    public func snapshot() -> ClientStats.Snapshot {
        var s = ClientStats.Snapshot()
        s.audioFramesSent = stats.audioFramesSent.load(ordering: .relaxed)
        s.audioBytesSent = stats.audioBytesSent.load(ordering: .relaxed)
        s.audioFramesReceived = stats.audioFramesReceived.load(ordering: .relaxed)
        s.audioBytesReceived = stats.audioBytesReceived.load(ordering: .relaxed)
        s.messagesSent = stats.messagesSent.load(ordering: .relaxed)
        s.messagesReceived = stats.messagesReceived.load(ordering: .relaxed)
        s.inputSamplesDropped = stats.inputSamplesDropped.load(ordering: .relaxed)
        s.playoutSamplesDropped = playout.droppedSamples.load(ordering: .relaxed)
            + stats.lateSamplesDropped.load(ordering: .relaxed)
        s.playedSamples = playout.playedSamples.load(ordering: .relaxed)
        s.underrunSamples = playout.underrunSamples.load(ordering: .relaxed)
        s.connectTimeMicroseconds = stats.connectTimeMicroseconds.load(ordering: .relaxed)
        return s
    }

    /// Stops everything and guarantees no callback runs afterwards. Blocks until the loop
    /// has done it, except when called from this client's own callback: then `release` runs
    /// once that callback returns, and this returns at once.
    public func shutdown(release: @escaping () -> Void) {
        if loop.inLoop && callbackDepth > 0 {
            freeWhenCallbackReturns = release
            return
        }
        loop.executeAndWait { [self] in shutDownOnLoop() }
        release()
    }

    private func requireConnected() throws {
        guard status == .connected else {
            throw LayercodeError(.invalidState, "not connected")
        }
    }

    private func post(_ work: @escaping (LayercodeClient) -> Void) {
        loop.execute { [weak self] in
            guard let self, !self.isShutDown else { return }
            work(self)
        }
    }

    // MARK: Loop thread

    private func shutDownOnLoop() {
        guard !isShutDown else { return }
        isShutDown = true
        acceptingAudio.store(false, ordering: .relaxed)
        authorizeRequest?.cancel()
        authorizeRequest = nil
        if let socket {
            socket.close(code: WSCloseCode.goingAway, reason: "client freed")
            socket.abort()
        }
        socket = nil
        callbacks = ClientCallbacks()
        loop.removeWakeObserver(self)
    }

    private func run(_ input: SessionInput) {
        guard !isShutDown else { return }
        for action in session.handle(input) {
            if isShutDown { return }
            perform(action)
        }
    }

    /// Runs an app callback, honouring a free requested from inside it.
    private func deliver(_ body: (inout ClientCallbacks) -> Void) {
        callbackDepth += 1
        body(&callbacks)
        callbackDepth -= 1
        if callbackDepth == 0, let release = freeWhenCallbackReturns {
            freeWhenCallbackReturns = nil
            shutDownOnLoop()
            release()
        }
    }

    private func perform(_ action: SessionAction) {
        switch action {
        case .status(let s):
            statusValue.store(s.rawValue, ordering: .releasing)
            deliver { $0.onStatus?(s) }
        case .postAuthorize(let body):
            startAuthorize(body)
        case .openSocket(let key):
            openSocket(key)
        case .send(let text):
            guard let socket, socket.sendText(text) else { return }
            ClientStats.bump(stats.messagesSent)
            if text.hasPrefix("{\"type\":\"client.audio\"") {
                ClientStats.bump(stats.audioFramesSent)
                ClientStats.bump(stats.audioBytesSent, UInt64(Self.frameSamples * 2))
            }
        case .closeSocket(let code, let reason):
            socket?.close(code: code, reason: reason)
        case .abortTransport:
            authorizeRequest?.cancel()
            authorizeRequest = nil
            socket?.abort()
            socket = nil
        case .play(let samples, let turnID, let deltaID):
            ClientStats.bump(stats.audioFramesReceived)
            ClientStats.bump(stats.audioBytesReceived, UInt64(samples.count * 2))
            queueForPlayout(samples, turnID, deltaID)
        case .flushPlayout:
            playout.flush()
            downsampler.reset()
        case .assistantTurnActive(let active):
            playout.setTurnActive(active)
        case .droppedLateAudio(let count):
            ClientStats.bump(stats.audioFramesReceived)
            ClientStats.bump(stats.audioBytesReceived, UInt64(count * 2))
            ClientStats.bump(stats.lateSamplesDropped,
                             UInt64(count * options.outputSampleRate / 16_000))
        case .connected(let conversationID, let config):
            let elapsed = (monotonicNanoseconds() &- connectStartedNanoseconds) / 1000
            stats.connectTimeMicroseconds.store(Int64(elapsed), ordering: .relaxed)
            acceptingAudio.store(true, ordering: .relaxed)
            let configJSON = config.serialized()
            deliver { $0.onConnected?(conversationID, configJSON) }
        case .message(let type, let json):
            deliver { $0.onMessage?(type, json) }
        case .data(let content, let turnID):
            deliver { $0.onData?(content, turnID) }
        case .error(let error):
            lastErrorText.withLock { $0 = error.message }
            deliver { $0.onError?(error) }
        case .disconnected(let code, let message):
            acceptingAudio.store(false, ordering: .relaxed)
            socket = nil
            frame.removeAll(keepingCapacity: true)
            deliver { $0.onDisconnected?(code, message) }
        }
    }

    private func startAuthorize(_ body: [UInt8]) {
        let request = HTTPRequest(
            loop: loop, method: "POST", url: validated.authorize,
            headers: options.authorizeHeaders, body: body, contentType: "application/json",
            tls: validated.authorize.isTLS ? validated.tls : nil,
            timeoutMilliseconds: options.connectTimeoutMilliseconds,
            maxResponseBytes: options.maxAuthorizeResponseBytes,
            userAgent: "liblayercode/\(Self.sdkVersion)")
        authorizeRequest = request
        request.start { [weak self] result in
            guard let self else { return }
            self.authorizeRequest = nil
            switch result {
            case .success(let response):
                self.run(.authorizeResponse(status: response.status, body: response.body))
            case .failure(let error):
                self.run(.transportFailed(error))
            }
        }
    }

    private func openSocket(_ key: String) {
        var url = validated.webSocket
        let separator = url.pathAndQuery.contains("?") ? "&" : "?"
        url.pathAndQuery += "\(separator)client_session_key=\(percentEncodeQueryValue(key))"
        var wsOptions = WebSocketClient.Options()
        wsOptions.maxMessageSize = options.maxMessageBytes
        wsOptions.openTimeoutMilliseconds = options.connectTimeoutMilliseconds
        wsOptions.userAgent = "liblayercode/\(Self.sdkVersion)"
        let ws = WebSocketClient(loop: loop, url: url, tls: url.isTLS ? validated.tls : nil,
                                 options: wsOptions)
        socket = ws
        ws.onOpen = { [weak self] in self?.run(.socketOpened) }
        ws.onText = { [weak self] text in
            guard let self else { return }
            ClientStats.bump(self.stats.messagesReceived)
            self.run(.socketText(text))
        }
        ws.onBinary = { [weak self] bytes in
            guard let self else { return }
            ClientStats.bump(self.stats.messagesReceived)
            self.run(.socketBinary(bytes))
        }
        ws.onClosed = { [weak self] code, reason in
            self?.socket = nil
            self?.run(.socketClosed(code: code, reason: reason))
        }
        ws.onFailure = { [weak self] error in
            self?.socket = nil
            self?.run(.transportFailed(error))
        }
        ws.start()
    }

    // MARK: Audio on the loop

    private func wokeUp() {
        guard !isShutDown else { return }
        drainInput()
        if playout.takeDrained() { playoutDrained() }
    }

    /// Input ring → 8 kHz → 20 ms frames → session.
    private func drainInput() {
        while true {
            let n = inputScratch.withUnsafeMutableBufferPointer { inputRing.read(into: $0) }
            if n == 0 { return }
            guard session.isOpen else { continue }
            var offset = 0
            while offset < n {
                let (consumed, produced) = inputScratch.withUnsafeBufferPointer { input in
                    resampleScratch.withUnsafeMutableBufferPointer { output in
                        upsampler.process(UnsafeBufferPointer(rebasing: input[offset..<n]),
                                          into: output)
                    }
                }
                offset += consumed
                for i in 0..<produced {
                    frame.append(resampleScratch[i])
                    if frame.count == Self.frameSamples {
                        let full = frame
                        frame.removeAll(keepingCapacity: true)
                        run(.micFrame(full))
                        if isShutDown { return }
                    }
                }
                if consumed == 0 { break }
            }
        }
    }

    /// 16 kHz agent audio → output rate → playout, remembering which delta ends where.
    private func queueForPlayout(_ samples: [Int16], _ turnID: String?, _ deltaID: String?) {
        let needed = downsampler.maxOutputCount(forInput: samples.count)
        if playScratch.count < needed {
            playScratch = [Int16](repeating: 0, count: needed)
        }
        var offset = 0
        while offset < samples.count {
            let (consumed, produced) = samples.withUnsafeBufferPointer { input in
                playScratch.withUnsafeMutableBufferPointer { output in
                    downsampler.process(UnsafeBufferPointer(rebasing: input[offset...]),
                                        into: output)
                }
            }
            playScratch.withUnsafeBufferPointer {
                _ = playout.write(UnsafeBufferPointer(rebasing: $0[0..<produced]))
            }
            offset += consumed
            if consumed == 0 { break }
        }
        markers.append((playout.ring.producedCount, turnID, deltaID))
    }

    /// Playout emptied: report the chunk that was actually played last.
    private func playoutDrained() {
        let played = playout.playedPosition
        guard played > 0,
              let index = markers.firstIndex(where: { $0.end >= played }) else {
            markers.removeAll()
            return
        }
        let marker = markers[index]
        markers.removeFirst(index)
        run(.playoutDrained(turnID: marker.turnID, lastDeltaID: marker.deltaID))
    }
}
