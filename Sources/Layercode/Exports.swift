// SPDX-License-Identifier: Apache-2.0
import CLayercodeABI
import Glibc
import LayercodeAudio
import LayercodeCore

// The C ABI (include/layercode.h). Only this file declares `lc_` symbols; the linker
// version script exports exactly these. Bad input returns an error, never traps.

private let versionText = StaticCString.make(LayercodeClient.sdkVersion)
private let unknownErrorText = StaticCString.make("unknown error")
private let okText = StaticCString.make("ok")
private let errorTexts: [Int32: UnsafePointer<CChar>] = {
    var table: [Int32: UnsafePointer<CChar>] = [:]
    for raw in Int32(-12)...Int32(-1) {
        if let code = ErrorCode(rawValue: raw) { table[raw] = StaticCString.make(code.text) }
    }
    return table
}()

private func fail(_ error: Error) -> Int32 {
    (error as? LayercodeError)?.code.rawValue ?? ErrorCode.internalError.rawValue
}

/// Resolves the handle and runs `body`; a thrown LayercodeError becomes its code.
private func call(_ client: OpaquePointer?, _ body: (LayercodeClient) throws -> Void) -> Int32 {
    guard let handle = ClientHandle.from(client) else { return LC_ERR_INVALID_ARGUMENT }
    do {
        try body(handle.client)
    } catch {
        handle.client.noteFailure(error as? LayercodeError ?? LayercodeError(.internalError, "\(error)"))
        return fail(error)
    }
    return LC_OK
}

/// An option's C string as Swift text: invalid UTF-8 is refused, never replaced.
private func optionText(_ p: UnsafePointer<CChar>?, _ name: String) throws(LayercodeError) -> String? {
    guard let p else { return nil }
    let bytes = UnsafeRawBufferPointer(start: p, count: strlen(p))
    var validator = UTF8Validator()
    guard validator.feed(bytes), validator.isAtBoundary else {
        throw LayercodeError(.invalidArgument, "\(name) is not valid UTF-8")
    }
    return String(decoding: bytes, as: UTF8.self)
}

@_cdecl("lc_version")
public func lc_version() -> UnsafePointer<CChar> { versionText }

@_cdecl("lc_version_number")
public func lc_version_number() -> Int32 {
    Int32(LC_VERSION_MAJOR * 10000 + LC_VERSION_MINOR * 100 + LC_VERSION_PATCH)
}

@_cdecl("lc_strerror")
public func lc_strerror(_ code: Int32) -> UnsafePointer<CChar> {
    if code == 0 { return okText }
    return errorTexts[code] ?? unknownErrorText
}

@_cdecl("lc_options_init_sized")
public func lc_options_init_sized(_ opts: UnsafeMutablePointer<lc_options>?, _ size: Int) -> Int32 {
    guard let opts, size == MemoryLayout<lc_options>.size else {
        return LC_ERR_INVALID_ARGUMENT
    }
    UnsafeMutableRawPointer(opts).initializeMemory(as: UInt8.self, repeating: 0, count: size)
    opts.pointee.struct_size = size
    opts.pointee.connect_timeout_ms = 10_000
    opts.pointee.audio_mode = LC_AUDIO_EXTERNAL
    opts.pointee.input_sample_rate = 16_000
    opts.pointee.output_sample_rate = 16_000
    opts.pointee.device_sample_rate = 48_000
    opts.pointee.period_ms = 10
    opts.pointee.jitter_min_ms = 40
    opts.pointee.jitter_max_ms = 500
    opts.pointee.audio_input_enabled = 1
    opts.pointee.audio_output_enabled = 1
    opts.pointee.amplitude_rate_hz = 20
    opts.pointee.reconnect_max_attempts = 5
    opts.pointee.reconnect_base_ms = 500
    opts.pointee.reconnect_max_delay_ms = 7000
    opts.pointee.keepalive_interval_ms = 20_000
    opts.pointee.keepalive_timeout_ms = 10_000
    opts.pointee.send_queue_max_bytes = 256 << 10
    opts.pointee.outage_buffer_ms = 2000
    opts.pointee.max_message_bytes = 16 << 20
    opts.pointee.max_http_response_bytes = 1 << 20
    opts.pointee.device_watch_ms = 2000
    return LC_OK
}

/// lc_options → ClientOptions, checking every field.
private func clientOptions(_ o: lc_options) throws -> ClientOptions {
    guard o.struct_size == MemoryLayout<lc_options>.size else {
        throw LayercodeError(.invalidArgument,
                             "lc_options.struct_size is \(o.struct_size); use lc_options_init()")
    }
    guard let agent = try optionText(o.agent_id, "agent_id") else {
        throw LayercodeError(.invalidArgument, "agent_id is required")
    }
    guard let authorize = try optionText(o.authorize_url, "authorize_url") else {
        throw LayercodeError(.invalidArgument, "authorize_url is required")
    }
    var options = ClientOptions(agentID: agent, authorizeURL: authorize)
    // size_t arrives as Int: a count of 2^63 or more is negative here, and refused too.
    if o.authorize_header_count != 0 {
        guard let headers = o.authorize_headers, (1...256).contains(o.authorize_header_count) else {
            throw LayercodeError(.invalidArgument, "authorize_headers is NULL or too long")
        }
        for i in 0..<o.authorize_header_count {
            guard let line = try optionText(headers[i], "authorize_headers[\(i)]"),
                  let header = ClientOptions.header(line) else {
                throw LayercodeError(.invalidArgument,
                                     "authorize_headers[\(i)] must be \"Name: Value\"")
            }
            options.authorizeHeaders.append(header)
        }
    }
    options.metadataJSON = try optionText(o.metadata_json, "metadata_json")
    options.conversationID = try optionText(o.conversation_id, "conversation_id")
    if let ws = try optionText(o.ws_url, "ws_url") { options.wsURL = ws }
    options.caFile = try optionText(o.ca_file, "ca_file")
    options.caDir = try optionText(o.ca_dir, "ca_dir")
    options.connectTimeoutMilliseconds = Int(o.connect_timeout_ms)
    guard let mode = ClientOptions.AudioMode(rawValue: o.audio_mode) else {
        throw LayercodeError(.invalidArgument, "unknown audio_mode \(o.audio_mode)")
    }
    options.audioMode = mode
    options.inputSampleRate = Int(o.input_sample_rate)
    options.outputSampleRate = Int(o.output_sample_rate)
    options.captureDevice = try optionText(o.capture_device, "capture_device")
    options.playbackDevice = try optionText(o.playback_device, "playback_device")
    options.deviceSampleRate = o.device_sample_rate == 0 ? 48_000 : Int(o.device_sample_rate)
    options.periodMilliseconds = Int(o.period_ms)
    options.jitterMinMilliseconds = Int(o.jitter_min_ms)
    options.jitterMaxMilliseconds = Int(o.jitter_max_ms)
    options.audioInputEnabled = o.audio_input_enabled != 0
    options.audioOutputEnabled = o.audio_output_enabled != 0
    options.startMuted = o.start_muted != 0
    options.amplitudeRateHz = Int(o.amplitude_rate_hz)
    options.reconnectMaxAttempts = Int(o.reconnect_max_attempts)
    options.reconnectBaseMilliseconds = Int(o.reconnect_base_ms)
    options.reconnectMaxDelayMilliseconds = Int(o.reconnect_max_delay_ms)
    options.keepaliveIntervalMilliseconds = Int(o.keepalive_interval_ms)
    options.keepaliveTimeoutMilliseconds = Int(o.keepalive_timeout_ms)
    options.dnsTimeoutMilliseconds = Int(o.dns_timeout_ms)
    options.tcpConnectTimeoutMilliseconds = Int(o.tcp_connect_timeout_ms)
    options.tlsTimeoutMilliseconds = Int(o.tls_timeout_ms)
    options.upgradeTimeoutMilliseconds = Int(o.upgrade_timeout_ms)
    options.authorizeTimeoutMilliseconds = Int(o.authorize_timeout_ms)
    // size_t arrives as Int: values of 2^63 and more are negative, and refused by validate().
    options.sendQueueMaxBytes = o.send_queue_max_bytes
    options.outageBufferMilliseconds = Int(o.outage_buffer_ms)
    options.maxMessageBytes = o.max_message_bytes
    options.maxAuthorizeResponseBytes = o.max_http_response_bytes
    options.deviceWatchMilliseconds = Int(o.device_watch_ms)
    return options
}

@_cdecl("lc_client_new")
public func lc_client_new(_ opts: UnsafePointer<lc_options>?,
                          _ out: UnsafeMutablePointer<OpaquePointer?>?) -> Int32 {
    AlsaMessages.install()
    guard let out else {
        ThreadLastError.set("out is NULL")
        return LC_ERR_INVALID_ARGUMENT
    }
    out.pointee = nil
    guard let opts else {
        ThreadLastError.set("opts is NULL")
        return LC_ERR_INVALID_ARGUMENT
    }
    do {
        let options = try clientOptions(opts.pointee)
        let client = try LayercodeClient(options: options,
                                         callbacks: ClientHandle.callbacks(from: opts.pointee))
        let handle = ClientHandle(client: client)
        out.pointee = OpaquePointer(Unmanaged.passRetained(handle).toOpaque())
        ThreadLastError.set("")
        return LC_OK
    } catch {
        ThreadLastError.set((error as? LayercodeError)?.message ?? "\(error)")
        return fail(error)
    }
}

@_cdecl("lc_client_free")
public func lc_client_free(_ client: OpaquePointer?) {
    guard let client else { return }
    let unmanaged = Unmanaged<ClientHandle>.fromOpaque(UnsafeRawPointer(client))
    unmanaged.takeUnretainedValue().client.shutdown { unmanaged.release() }
}

@_cdecl("lc_client_connect")
public func lc_client_connect(_ client: OpaquePointer?) -> Int32 {
    call(client) { try $0.connect() }
}

@_cdecl("lc_client_disconnect")
public func lc_client_disconnect(_ client: OpaquePointer?) -> Int32 {
    call(client) { $0.disconnect() }
}

@_cdecl("lc_client_status")
public func lc_client_status(_ client: OpaquePointer?) -> Int32 {
    guard let handle = ClientHandle.from(client) else { return LC_ERR_INVALID_ARGUMENT }
    return handle.client.status.rawValue
}

@_cdecl("lc_client_write_audio")
public func lc_client_write_audio(_ client: OpaquePointer?, _ samples: UnsafePointer<Int16>?,
                                  _ count: Int) -> Int32 {
    guard let handle = ClientHandle.from(client), count >= 0 else { return LC_ERR_INVALID_ARGUMENT }
    if count == 0 { return 0 }
    guard let samples, count <= Int(Int32.max) else { return LC_ERR_INVALID_ARGUMENT }
    return Int32(handle.client.writeAudio(UnsafeBufferPointer(start: samples, count: count)))
}

@_cdecl("lc_client_read_audio")
public func lc_client_read_audio(_ client: OpaquePointer?, _ out: UnsafeMutablePointer<Int16>?,
                                 _ count: Int) -> Int32 {
    guard let handle = ClientHandle.from(client), count >= 0 else { return LC_ERR_INVALID_ARGUMENT }
    if count == 0 { return 0 }
    guard let out, count <= Int(Int32.max) else { return LC_ERR_INVALID_ARGUMENT }
    return Int32(handle.client.readAudio(into: UnsafeMutableBufferPointer(start: out, count: count)))
}

/// A C string as Swift text, refusing invalid UTF-8.
private func validUTF8(_ p: UnsafePointer<CChar>, limit: Int) throws -> String {
    let length = strnlen(p, limit + 1)
    guard length <= limit else { throw LayercodeError(.tooLarge, "over \(limit / 1024) KiB") }
    let bytes = UnsafeRawBufferPointer(start: p, count: length)
    var validator = UTF8Validator()
    guard validator.feed(bytes), validator.isAtBoundary else {
        throw LayercodeError(.invalidArgument, "not valid UTF-8")
    }
    return String(decoding: bytes, as: UTF8.self)
}

@_cdecl("lc_client_send_text")
public func lc_client_send_text(_ client: OpaquePointer?, _ text: UnsafePointer<CChar>?) -> Int32 {
    guard let text else { return LC_ERR_INVALID_ARGUMENT }
    return call(client) { try $0.sendText(validUTF8(text, limit: 64 << 10)) }
}

@_cdecl("lc_client_send_data")
public func lc_client_send_data(_ client: OpaquePointer?, _ json: UnsafePointer<CChar>?) -> Int32 {
    guard let json else { return LC_ERR_INVALID_ARGUMENT }
    return call(client) { try $0.sendData(json: validUTF8(json, limit: 64 << 10)) }
}

@_cdecl("lc_client_turn_start")
public func lc_client_turn_start(_ client: OpaquePointer?) -> Int32 {
    call(client) { try $0.turnStart() }
}

@_cdecl("lc_client_turn_end")
public func lc_client_turn_end(_ client: OpaquePointer?) -> Int32 {
    call(client) { try $0.turnEnd() }
}

@_cdecl("lc_client_mute")
public func lc_client_mute(_ client: OpaquePointer?) -> Int32 {
    call(client) { $0.setMuted(true) }
}

@_cdecl("lc_client_unmute")
public func lc_client_unmute(_ client: OpaquePointer?) -> Int32 {
    call(client) { $0.setMuted(false) }
}

@_cdecl("lc_client_is_muted")
public func lc_client_is_muted(_ client: OpaquePointer?) -> Int32 {
    guard let handle = ClientHandle.from(client) else { return LC_ERR_INVALID_ARGUMENT }
    return handle.client.isMuted ? 1 : 0
}

@_cdecl("lc_client_set_audio_input")
public func lc_client_set_audio_input(_ client: OpaquePointer?, _ enabled: Int32) -> Int32 {
    call(client) { try $0.setAudioInput(enabled != 0) }
}

@_cdecl("lc_client_set_audio_output")
public func lc_client_set_audio_output(_ client: OpaquePointer?, _ enabled: Int32) -> Int32 {
    call(client) { try $0.setAudioOutput(enabled != 0) }
}

@_cdecl("lc_client_set_input_device")
public func lc_client_set_input_device(_ client: OpaquePointer?, _ name: UnsafePointer<CChar>?) -> Int32 {
    guard let name else { return LC_ERR_INVALID_ARGUMENT }
    return call(client) { try $0.switchDevice(input: true, to: validUTF8(name, limit: 4096)) }
}

@_cdecl("lc_client_set_output_device")
public func lc_client_set_output_device(_ client: OpaquePointer?, _ name: UnsafePointer<CChar>?) -> Int32 {
    guard let name else { return LC_ERR_INVALID_ARGUMENT }
    return call(client) { try $0.switchDevice(input: false, to: validUTF8(name, limit: 4096)) }
}

@_cdecl("lc_client_failure_reason")
public func lc_client_failure_reason(_ client: OpaquePointer?,
                                     _ httpStatus: UnsafeMutablePointer<Int32>?) -> Int32 {
    guard let handle = ClientHandle.from(client) else { return LC_ERR_INVALID_ARGUMENT }
    let failure = handle.client.failureReason
    httpStatus?.pointee = Int32(clamping: failure.httpStatus ?? 0)
    return failure.reason.rawValue
}

@_cdecl("lc_list_devices")
public func lc_list_devices(_ fn: lc_device_fn?, _ userData: UnsafeMutableRawPointer?) -> Int32 {
    guard let fn else { return LC_ERR_INVALID_ARGUMENT }
    AlsaMessages.install()
    let devices = AlsaDeviceList.list()
    for device in devices {
        device.name.withCString { name in
            device.description.withCString { description in
                fn(userData, name, description, device.isInput ? 1 : 0, device.isOutput ? 1 : 0)
            }
        }
    }
    return Int32(clamping: devices.count)
}

@_cdecl("lc_client_poll_event_sized")
public func lc_client_poll_event_sized(_ client: OpaquePointer?, _ event: UnsafeMutablePointer<lc_event>?,
                                       _ size: Int, _ timeoutMs: Int32) -> Int32 {
    // A newer app's larger struct gets this version's fields (struct_size says how many).
    guard let handle = ClientHandle.from(client), let event,
          size >= MemoryLayout<lc_event>.size else { return LC_ERR_INVALID_ARGUMENT }
    switch handle.client.events.poll(timeoutMilliseconds: Int(timeoutMs)) {
    case .timeout: return 0
    case .closed: return LC_ERR_CLOSED
    case .event(let e):
        event.pointee = handle.cEvent(e)
        event.pointee.struct_size = MemoryLayout<lc_event>.size
        return 1
    }
}

@_cdecl("lc_set_log_handler")
public func lc_set_log_handler(_ fn: lc_log_fn?, _ userData: UnsafeMutableRawPointer?,
                               _ maxLevel: Int32) -> Int32 {
    guard (0...3).contains(maxLevel) else { return LC_ERR_INVALID_ARGUMENT }
    AlsaMessages.install()
    Log.sink.withLock { sink in
        sink = fn.map { Log.Sink(function: $0, userData: userData, maxLevel: maxLevel) }
    }
    return LC_OK
}

@_cdecl("lc_client_last_error")
public func lc_client_last_error(_ client: OpaquePointer?) -> UnsafePointer<CChar> {
    guard let handle = ClientHandle.from(client) else { return ThreadLastError.pointer }
    return handle.lastErrorPointer()
}

@_cdecl("lc_client_get_stats_sized")
public func lc_client_get_stats_sized(_ client: OpaquePointer?, _ stats: UnsafeMutablePointer<lc_stats>?,
                                      _ size: Int) -> Int32 {
    guard let handle = ClientHandle.from(client), let stats,
          size >= MemoryLayout<Int>.size else { return LC_ERR_INVALID_ARGUMENT }
    let s = handle.client.snapshot()
    var out = lc_stats()
    out.struct_size = min(size, MemoryLayout<lc_stats>.size)
    out.audio_frames_sent = s.audioFramesSent
    out.audio_bytes_sent = s.audioBytesSent
    out.audio_frames_received = s.audioFramesReceived
    out.audio_bytes_received = s.audioBytesReceived
    out.messages_sent = s.messagesSent
    out.messages_received = s.messagesReceived
    out.input_samples_dropped = s.inputSamplesDropped
    out.playout_samples_dropped = s.playoutSamplesDropped
    out.played_samples = s.playedSamples
    out.underrun_samples = s.underrunSamples
    out.connect_time_us = s.connectTimeMicroseconds
    out.jitter_delay_ms = Int32(clamping: s.jitterDelayMs)
    out.jitter_target_ms = Int32(clamping: s.jitterTargetMs)
    out.concealed_ms = Int64(s.concealedMs)
    out.interruptions = Int64(s.interruptions)
    out.interruption_ms = Int64(s.interruptionMs)
    out.late_frames = UInt64(s.lateFrames)
    out.dropped_frames = UInt64(s.droppedFrames)
    out.capture_xruns = UInt64(s.captureXruns)
    out.playback_xruns = UInt64(s.playbackXruns)
    out.uplink_latency_p50_us = s.uplinkLatencyP50Us
    out.uplink_latency_p99_us = s.uplinkLatencyP99Us
    out.downlink_latency_p50_us = s.downlinkLatencyP50Us
    out.downlink_latency_p99_us = s.downlinkLatencyP99Us
    out.barge_in_latency_p50_us = s.bargeInLatencyP50Us
    out.barge_in_latency_p99_us = s.bargeInLatencyP99Us
    out.events_dropped = handle.client.events.droppedCount
    out.reconnects = s.reconnects
    out.send_queue_dropped_frames = s.sendQueueDroppedFrames
    out.outage_dropped_frames = s.outageDroppedFrames
    out.event_queue_bytes = UInt64(handle.client.events.byteCount)
    out.protocol_errors = s.protocolErrors
    let count = out.struct_size
    withUnsafeBytes(of: &out) { src in
        UnsafeMutableRawPointer(stats).copyMemory(from: src.baseAddress!, byteCount: count)
    }
    return LC_OK
}
