// SPDX-License-Identifier: Apache-2.0
import CLayercodeABI
import LayercodeCore

// lc_options <-> ClientOptions, written once. ClientOptions' property defaults are the only
// defaults there are: lc_options_init() gets them by transferring a default ClientOptions
// into an lc_options, lc_client_new() reads an lc_options back with the same lines.
// Adding an option: the field in layercode.h, the property in ClientOptions, one line in
// `transfer` (and the ctypes field list in bindings/python/layercode/_lib.py).

/// Which way `ClientOptions.transfer` moves each field.
struct OptionsTransfer {
    enum Direction { case toC, fromC }
    let direction: Direction

    init(_ direction: Direction) { self.direction = direction }

    /// An int field. zeroIsDefault: a 0 in C leaves the Swift default (device_sample_rate).
    func int(_ c: inout Int32, _ s: inout Int, zeroIsDefault: Bool = false) {
        switch direction {
        case .toC: c = Int32(clamping: s)
        case .fromC: if !(zeroIsDefault && c == 0) { s = Int(c) }
        }
    }

    /// A size_t field (imported as Int: 2^63 and more read as negative, refused by validate()).
    func size(_ c: inout Int, _ s: inout Int) {
        switch direction {
        case .toC: c = s
        case .fromC: s = c
        }
    }

    /// A 0/1 int field.
    func flag(_ c: inout Int32, _ s: inout Bool) {
        switch direction {
        case .toC: c = s ? 1 : 0
        case .fromC: s = c != 0
        }
    }

    /// -1 (the default: nil), 0 or 1; anything else is refused.
    func tristate(_ c: inout Int32, _ s: inout Bool?, _ name: String) throws(LayercodeError) {
        switch direction {
        case .toC: c = s.map { $0 ? 1 : 0 } ?? -1
        case .fromC:
            guard (-1...1).contains(c) else {
                throw LayercodeError(.invalidArgument, "\(name) must be -1 (default), 0 or 1 (got \(c))")
            }
            s = c < 0 ? nil : c == 1
        }
    }

    func mode(_ c: inout Int32, _ s: inout ClientOptions.AudioMode) throws(LayercodeError) {
        switch direction {
        case .toC: c = s.rawValue
        case .fromC:
            guard let mode = ClientOptions.AudioMode(rawValue: c) else {
                throw LayercodeError(.invalidArgument, "unknown audio_mode \(c)")
            }
            s = mode
        }
    }

    /// An optional string: NULL is nil. The C default of every string is NULL.
    func text(_ c: inout UnsafePointer<CChar>?, _ s: inout String?, _ name: String) throws(LayercodeError) {
        switch direction {
        case .toC: c = nil
        case .fromC: s = try Self.utf8(c, name)
        }
    }

    /// A string with a Swift default (ws_url): NULL keeps the default.
    func text(_ c: inout UnsafePointer<CChar>?, _ s: inout String, _ name: String) throws(LayercodeError) {
        switch direction {
        case .toC: c = nil
        case .fromC: if let text = try Self.utf8(c, name) { s = text }
        }
    }

    /// A string lc_client_new() cannot do without (agent_id, authorize_url).
    func required(_ c: inout UnsafePointer<CChar>?, _ s: inout String, _ name: String) throws(LayercodeError) {
        switch direction {
        case .toC: c = nil
        case .fromC:
            guard let text = try Self.utf8(c, name) else {
                throw LayercodeError(.invalidArgument, "\(name) is required")
            }
            s = text
        }
    }

    /// authorize_headers and authorize_header_count (default: none).
    func headers(_ c: inout UnsafePointer<UnsafePointer<CChar>?>?, _ count: inout Int,
                 _ s: inout [(String, String)]) throws(LayercodeError) {
        switch direction {
        case .toC:
            c = nil
            count = 0
        case .fromC:
            guard count != 0 else { return }
            guard let lines = c, (1...256).contains(count) else {
                throw LayercodeError(.invalidArgument, "authorize_headers is NULL or too long")
            }
            var headers: [(String, String)] = []
            for i in 0..<count {
                guard let line = try Self.utf8(lines[i], "authorize_headers[\(i)]"),
                      let header = ClientOptions.header(line) else {
                    throw LayercodeError(.invalidArgument,
                                         "authorize_headers[\(i)] must be \"Name: Value\"")
                }
                headers.append(header)
            }
            s = headers
        }
    }

    /// A C string as Swift text: invalid UTF-8 is refused, never replaced.
    static func utf8(_ p: UnsafePointer<CChar>?, _ name: String) throws(LayercodeError) -> String? {
        guard let p else { return nil }
        var length = 0
        while p[length] != 0 { length += 1 }
        let bytes = UnsafeRawBufferPointer(start: p, count: length)
        var validator = UTF8Validator()
        guard validator.feed(bytes), validator.isAtBoundary else {
            throw LayercodeError(.invalidArgument, "\(name) is not valid UTF-8")
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}

extension ClientOptions {
    /// Every lc_options field but struct_size, user_data and the callbacks (ClientHandle
    /// wraps those), one line each, in the header's order.
    static func transfer(_ c: inout lc_options, _ s: inout ClientOptions,
                         _ t: OptionsTransfer) throws(LayercodeError) {
        try t.required(&c.agent_id, &s.agentID, "agent_id")
        try t.required(&c.authorize_url, &s.authorizeURL, "authorize_url")
        try t.headers(&c.authorize_headers, &c.authorize_header_count, &s.authorizeHeaders)
        try t.text(&c.metadata_json, &s.metadataJSON, "metadata_json")
        try t.text(&c.conversation_id, &s.conversationID, "conversation_id")
        try t.text(&c.ws_url, &s.wsURL, "ws_url")
        try t.text(&c.ca_file, &s.caFile, "ca_file")
        try t.text(&c.ca_dir, &s.caDir, "ca_dir")
        t.int(&c.connect_timeout_ms, &s.connectTimeoutMilliseconds)
        try t.mode(&c.audio_mode, &s.audioMode)
        t.int(&c.input_sample_rate, &s.inputSampleRate)
        t.int(&c.output_sample_rate, &s.outputSampleRate)
        try t.text(&c.capture_device, &s.captureDevice, "capture_device")
        try t.text(&c.playback_device, &s.playbackDevice, "playback_device")
        t.int(&c.device_sample_rate, &s.deviceSampleRate, zeroIsDefault: true)
        t.int(&c.period_ms, &s.periodMilliseconds)
        t.int(&c.jitter_min_ms, &s.jitterMinMilliseconds)
        t.int(&c.jitter_max_ms, &s.jitterMaxMilliseconds)
        t.flag(&c.audio_input_enabled, &s.audioInputEnabled)
        t.flag(&c.audio_output_enabled, &s.audioOutputEnabled)
        t.flag(&c.start_muted, &s.startMuted)
        t.int(&c.amplitude_rate_hz, &s.amplitudeRateHz)
        t.int(&c.reconnect_max_attempts, &s.reconnectMaxAttempts)
        t.int(&c.reconnect_base_ms, &s.reconnectBaseMilliseconds)
        t.int(&c.reconnect_max_delay_ms, &s.reconnectMaxDelayMilliseconds)
        t.int(&c.keepalive_interval_ms, &s.keepaliveIntervalMilliseconds)
        t.int(&c.keepalive_timeout_ms, &s.keepaliveTimeoutMilliseconds)
        t.int(&c.dns_timeout_ms, &s.dnsTimeoutMilliseconds)
        t.int(&c.tcp_connect_timeout_ms, &s.tcpConnectTimeoutMilliseconds)
        t.int(&c.tls_timeout_ms, &s.tlsTimeoutMilliseconds)
        t.int(&c.upgrade_timeout_ms, &s.upgradeTimeoutMilliseconds)
        t.int(&c.authorize_timeout_ms, &s.authorizeTimeoutMilliseconds)
        t.size(&c.send_queue_max_bytes, &s.sendQueueMaxBytes)
        t.int(&c.outage_buffer_ms, &s.outageBufferMilliseconds)
        t.size(&c.max_message_bytes, &s.maxMessageBytes)
        t.size(&c.max_http_response_bytes, &s.maxAuthorizeResponseBytes)
        t.int(&c.device_watch_ms, &s.deviceWatchMilliseconds)
        try t.text(&c.record_path, &s.recordPath, "record_path")
        try t.text(&c.wire_codecs, &s.wireCodecs, "wire_codecs")
        t.int(&c.opus_bitrate, &s.opusBitrate)
        t.int(&c.opus_complexity, &s.opusComplexity)
        t.flag(&c.opus_dtx, &s.opusDTX)
        try t.tristate(&c.echo_cancellation, &s.echoCancellation, "echo_cancellation")
        try t.text(&c.echo_engine, &s.echoEngine, "echo_engine")
        t.flag(&c.noise_suppression, &s.noiseSuppression)
        t.flag(&c.auto_gain, &s.autoGain)
        try t.tristate(&c.half_duplex, &s.halfDuplex, "half_duplex")
    }
}

enum OptionsABI {
    /// A whole lc_options holding the defaults: a default ClientOptions transferred.
    static func defaults() -> lc_options {
        var c = lc_options()
        var s = ClientOptions(agentID: "", authorizeURL: "")
        try? ClientOptions.transfer(&c, &s, OptionsTransfer(.toC))  // toC never throws
        c.struct_size = MemoryLayout<lc_options>.size
        return c
    }

    /// The caller's lc_options: its struct_size bytes, and defaults for the fields past them
    /// (an application built against an older header). Reads nothing past struct_size.
    static func read(_ p: UnsafePointer<lc_options>) throws(LayercodeError) -> lc_options {
        let size = UnsafeRawPointer(p).load(as: Int.self)  // struct_size, the first field
        try SizedStruct.options.check(size)
        var full = defaults()
        withUnsafeMutableBytes(of: &full) { $0.baseAddress!.copyMemory(from: p, byteCount: size) }
        return full
    }

    /// The ClientOptions an lc_options asks for, every field checked.
    static func clientOptions(_ c: lc_options) throws(LayercodeError) -> ClientOptions {
        var c = c
        var s = ClientOptions(agentID: "", authorizeURL: "")
        try ClientOptions.transfer(&c, &s, OptionsTransfer(.fromC))
        return s
    }
}

@_cdecl("lc_options_init_sized")
public func lc_options_init_sized(_ opts: UnsafeMutablePointer<lc_options>?, _ size: Int) -> Int32 {
    guard let opts else {
        ThreadLastError.set("lc_options_init: opts is NULL")
        return LC_ERR_INVALID_ARGUMENT
    }
    do {
        try SizedStruct.options.check(size)
    } catch {
        ThreadLastError.set(error.message)
        return LC_ERR_INVALID_ARGUMENT
    }
    var filled = OptionsABI.defaults()
    filled.struct_size = size
    SizedStruct.writePrefix(filled, to: UnsafeMutableRawPointer(opts), count: size)
    return LC_OK
}
