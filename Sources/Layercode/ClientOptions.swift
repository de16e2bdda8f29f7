// SPDX-License-Identifier: Apache-2.0
import LayercodeAudio
import LayercodeCore
import LayercodeNet

/// Swift-side options, validated. The C layer fills these from lc_options.
public struct ClientOptions: Sendable {
    public enum AudioMode: Int32, Sendable { case external = 0, none = 1, alsa = 2, wav = 3 }

    public var agentID: String
    public var authorizeURL: String
    public var authorizeHeaders: [(String, String)] = []
    public var metadataJSON: String?
    public var conversationID: String?
    public var wsURL = Authorize.defaultWebSocketURL
    public var caFile: String?
    public var caDir: String?
    public var connectTimeoutMilliseconds = 10_000
    public var audioMode = AudioMode.external
    public var inputSampleRate = 16_000
    public var outputSampleRate = 16_000
    /// ALSA: PCM names (nil: "default"). WAV: file paths (nil: no microphone / no speaker).
    public var captureDevice: String?
    public var playbackDevice: String?
    /// Asked of the ALSA devices; they may settle on another rate (resampled).
    public var deviceSampleRate = 48_000
    public var periodMilliseconds = 10
    public var jitterMinMilliseconds = 40
    public var jitterMaxMilliseconds = 500
    public var audioInputEnabled = true
    public var audioOutputEnabled = true
    public var startMuted = false
    /// Amplitude callbacks per second; 0 turns them off.
    public var amplitudeRateHz = 20
    public var maxMessageBytes = 16 << 20
    public var maxAuthorizeResponseBytes = 1 << 20
    /// Reconnect after an unexpected drop: attempts (0: off) and the backoff's base and cap.
    public var reconnectMaxAttempts = 5
    public var reconnectBaseMilliseconds = 500
    public var reconnectMaxDelayMilliseconds = 7000
    /// Ping after this long without a byte from the server (0: off); dead after the timeout.
    public var keepaliveIntervalMilliseconds = 20_000
    public var keepaliveTimeoutMilliseconds = 10_000
    /// Per-step limits; 0 leaves only connectTimeoutMilliseconds (per authorize / open).
    public var dnsTimeoutMilliseconds = 0
    public var tcpConnectTimeoutMilliseconds = 0
    public var tlsTimeoutMilliseconds = 0
    public var upgradeTimeoutMilliseconds = 0
    /// The whole authorize request; 0: connectTimeoutMilliseconds.
    public var authorizeTimeoutMilliseconds = 0
    /// Bytes waiting for a server that stopped reading; the oldest mic audio goes beyond it.
    public var sendQueueMaxBytes = 256 << 10
    /// Microphone audio held while reconnecting (the oldest goes first beyond it).
    public var outageBufferMilliseconds = 2000
    /// How often ALSA's device list is checked for changes; 0: never.
    public var deviceWatchMilliseconds = 2000
    /// Each session recorded into this Ogg Opus file (nil: none); see SessionRecorder.
    public var recordPath: String?
    /// The wire codecs to offer at authorize, comma-separated, most preferred first
    /// ("opus,pcm16"; doc/opus-profile.md §1). nil, empty or "pcm16": PCM only, no offer.
    public var wireCodecs: String?
    /// The Opus uplink's bitrate (bits/s; 0 also means the default), complexity (0...10;
    /// -1 also means the default) and DTX. lc_options_init() writes the defaults.
    public var opusBitrate = ClientOptions.defaultOpusBitrate
    public var opusComplexity = ClientOptions.defaultOpusComplexity
    public var opusDTX = false
    /// Echo cancellation: nil (the default: on in ALSA and WAV modes when an engine is built
    /// in), true, false. The engine (nil: the best built in), noise suppression, automatic
    /// gain and half duplex (nil: on in ALSA mode without a canceller). EchoOptions.swift.
    public var echoCancellation: Bool?
    public var echoEngine: String?
    public var noiseSuppression = false
    public var autoGain = false
    public var halfDuplex: Bool?

    /// The uplink default: at least 8x fewer bytes on the wire than PCM JSON's ~23.6 kB/s
    /// with its framing, speech still clear (README, "Opus wire profile").
    public static let defaultOpusBitrate = 16_000
    /// Pi-class CPUs: the middle of libopus's range (README's encode CPU figures).
    public static let defaultOpusComplexity = 5
    /// The codecs the library speaks on the wire.
    public static let knownWireCodecs = ["opus", "pcm16"]

    public init(agentID: String, authorizeURL: String) {
        self.agentID = agentID
        self.authorizeURL = authorizeURL
    }

    /// Everything checked once, at creation.
    struct Validated {
        var authorize: URLParts
        var webSocket: URLParts
        var metadata: JSONValue?
        var tls: TLSContext?
        /// The codecs offered at authorize (empty: no offer).
        var wireCodecs: [String] = []
        /// The Opus uplink's encoder settings (defaults applied).
        var opus = OpusEncoderSettings()
    }

    /// `wire_codecs` as offered: [] when it offers nothing but PCM.
    static func parseWireCodecs(_ text: String?) throws(LayercodeError) -> [String] {
        guard let text else { return [] }
        var codecs: [String] = []
        for part in text.split(separator: ",") {
            let name = String(String(part.drop { $0 == " " }.reversed()).drop { $0 == " " }.reversed())
            if name.isEmpty { continue }
            guard knownWireCodecs.contains(name) else {
                throw LayercodeError(.invalidArgument, "wire_codecs: unknown codec \"\(CText.replacingNUL(name))\" "
                                     + "(known: opus, pcm16)")
            }
            if !codecs.contains(name) { codecs.append(name) }
        }
        return codecs.contains("opus") ? codecs : []
    }

    func validate() throws(LayercodeError) -> Validated {
        guard !agentID.isEmpty else { throw LayercodeError(.invalidArgument, "agent_id is required") }
        let authorize: URLParts
        do { authorize = try URLParts.parse(authorizeURL) } catch {
            throw LayercodeError(.invalidArgument, "authorize_url \"\(authorizeURL)\": \(error)")
        }
        guard authorize.scheme == "http" || authorize.scheme == "https" else {
            throw LayercodeError(.invalidArgument, "authorize_url must be http:// or https://")
        }
        let ws: URLParts
        do { ws = try URLParts.parse(wsURL) } catch {
            throw LayercodeError(.invalidArgument, "ws_url \"\(wsURL)\": \(error)")
        }
        guard ws.scheme == "ws" || ws.scheme == "wss" else {
            throw LayercodeError(.invalidArgument, "ws_url must be ws:// or wss://")
        }
        var metadata: JSONValue?
        if let text = metadataJSON {
            let value: JSONValue
            do { value = try JSONValue.parse(text) } catch {
                throw LayercodeError(.invalidArgument, "metadata_json: \(error)")
            }
            guard value.objectValue != nil else {
                throw LayercodeError(.invalidArgument, "metadata_json must be a JSON object")
            }
            metadata = value
        }
        for (index, (name, value)) in authorizeHeaders.enumerated() {
            try Self.checkAuthorizeHeader(index: index, name: name, value: value)
        }
        if let conversationID, conversationID.isEmpty {
            throw LayercodeError(.invalidArgument, "conversation_id is empty")
        }
        guard connectTimeoutMilliseconds > 0 else {
            throw LayercodeError(.invalidArgument, "connect_timeout_ms must be positive")
        }
        let limits: [(String, Int, ClosedRange<Int>)] = [
            ("reconnect_max_attempts", reconnectMaxAttempts, 0...1000),
            ("reconnect_base_ms", reconnectBaseMilliseconds, 1...600_000),
            ("reconnect_max_delay_ms", reconnectMaxDelayMilliseconds, 1...3_600_000),
            ("keepalive_interval_ms", keepaliveIntervalMilliseconds, 0...3_600_000),
            ("keepalive_timeout_ms", keepaliveTimeoutMilliseconds, 1...3_600_000),
            ("dns_timeout_ms", dnsTimeoutMilliseconds, 0...3_600_000),
            ("tcp_connect_timeout_ms", tcpConnectTimeoutMilliseconds, 0...3_600_000),
            ("tls_timeout_ms", tlsTimeoutMilliseconds, 0...3_600_000),
            ("upgrade_timeout_ms", upgradeTimeoutMilliseconds, 0...3_600_000),
            ("authorize_timeout_ms", authorizeTimeoutMilliseconds, 0...3_600_000),
            ("send_queue_max_bytes", sendQueueMaxBytes, 4096...(1 << 30)),
            ("outage_buffer_ms", outageBufferMilliseconds, 0...600_000),
            ("device_watch_ms", deviceWatchMilliseconds, 0...3_600_000),
            ("max_message_bytes", maxMessageBytes, 1024...(1 << 30)),
            ("max_http_response_bytes", maxAuthorizeResponseBytes, 1024...(1 << 30)),
        ]
        for (name, value, range) in limits where !range.contains(value) {
            throw LayercodeError(.invalidArgument,
                                 "\(name) must be \(range.lowerBound)..\(range.upperBound) (got \(value))")
        }
        guard reconnectMaxDelayMilliseconds >= reconnectBaseMilliseconds else {
            throw LayercodeError(.invalidArgument, "reconnect_max_delay_ms must be >= reconnect_base_ms")
        }
        for (name, rate) in [("input_sample_rate", inputSampleRate),
                             ("output_sample_rate", outputSampleRate)] {
            guard (8000...48_000).contains(rate) else {
                throw LayercodeError(.invalidArgument, "\(name) must be 8000..48000 (got \(rate))")
            }
        }
        guard (2...100).contains(periodMilliseconds) else {
            throw LayercodeError(.invalidArgument, "period_ms must be 2..100 (got \(periodMilliseconds))")
        }
        guard (8000...48_000).contains(deviceSampleRate) else {
            throw LayercodeError(.invalidArgument,
                                 "device_sample_rate must be 8000..48000 (got \(deviceSampleRate))")
        }
        guard jitterMinMilliseconds >= 0, jitterMaxMilliseconds >= jitterMinMilliseconds,
              jitterMaxMilliseconds <= 10_000 else {
            throw LayercodeError(.invalidArgument,
                                 "jitter_min_ms/jitter_max_ms must satisfy 0 <= min <= max <= 10000")
        }
        guard (0...100).contains(amplitudeRateHz) else {
            throw LayercodeError(.invalidArgument, "amplitude_rate_hz must be 0..100")
        }
        if (audioMode == .alsa || audioMode == .wav)
            && (captureDevice?.isEmpty == true || playbackDevice?.isEmpty == true) {
            throw LayercodeError(.invalidArgument, "device names must not be empty")
        }
        let codecs = try Self.parseWireCodecs(wireCodecs)
        guard opusBitrate == 0 || (6000...510_000).contains(opusBitrate) else {
            throw LayercodeError(.invalidArgument, "opus_bitrate must be 0 (default) or 6000..510000 (got \(opusBitrate))")
        }
        guard (-1...10).contains(opusComplexity) else {
            throw LayercodeError(.invalidArgument, "opus_complexity must be -1 (default) or 0..10 (got \(opusComplexity))")
        }
        var opus = OpusEncoderSettings()
        opus.bitrate = Int32(opusBitrate == 0 ? Self.defaultOpusBitrate : opusBitrate)
        opus.complexity = Int32(opusComplexity < 0 ? Self.defaultOpusComplexity : opusComplexity)
        opus.dtx = opusDTX
        _ = try echoSettings()
        var tls: TLSContext?
        if authorize.isTLS || ws.isTLS {
            tls = try TLSContext(TLSClientConfig(caFile: caFile, caDir: caDir))
        }
        return Validated(authorize: authorize, webSocket: ws, metadata: metadata, tls: tls,
                         wireCodecs: codecs, opus: opus)
    }

    /// Headers the authorize request writes itself, or that change how a message is framed
    /// or routed: an app's copy would be a second one (two Content-Lengths, two Hosts: the
    /// request-smuggling shape behind a proxy), so they are refused, whatever their case.
    static let reservedHeaderNames: [String] = [
        "host", "content-length", "transfer-encoding", "connection", "content-type",
        "user-agent", "accept", "upgrade", "te", "trailer", "expect", "keep-alive",
        "proxy-connection",
    ]

    /// RFC 9110 §5.1: a name is a token; a value has no control character but HTAB.
    static func checkAuthorizeHeader(index: Int, name: String, value: String) throws(LayercodeError) {
        func isTokenByte(_ b: UInt8) -> Bool {
            switch b {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                 UInt8(ascii: "0")...UInt8(ascii: "9"):
                return true
            default:
                return "!#$%&'*+-.^_`|~".utf8.contains(b)
            }
        }
        guard !name.isEmpty, name.utf8.allSatisfy(isTokenByte) else {
            throw LayercodeError(.invalidArgument,
                                 "authorize_headers[\(index)]: the name must be a token (letters, digits, !#$%&'*+-.^_`|~)")
        }
        let lowercased = String(decoding: name.utf8.map { $0 >= 65 && $0 <= 90 ? $0 + 32 : $0 }, as: UTF8.self)
        if reservedHeaderNames.contains(lowercased) {
            throw LayercodeError(.invalidArgument,
                                 "authorize_headers[\(index)]: \(name) is set by the library and may not be given")
        }
        if let bad = value.utf8.first(where: { ($0 < 0x20 && $0 != 0x09) || $0 == 0x7F }) {
            throw LayercodeError(.invalidArgument,
                                 "authorize_headers[\(index)] (\(name)): the value has control character 0x\(String(bad, radix: 16))")
        }
    }

    /// Splits "Name: Value".
    public static func header(_ line: String) -> (String, String)? {
        guard let colon = line.firstIndex(of: ":") else { return nil }
        let name = String(line[..<colon])
        var value = line[line.index(after: colon)...]
        while value.first == " " || value.first == "\t" { value.removeFirst() }
        return (name, String(value))
    }
}
