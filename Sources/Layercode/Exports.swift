// SPDX-License-Identifier: Apache-2.0
import CLayercodeABI
import CPosix
import LayercodeAudio
import LayercodeCore
import LayercodeNet

// The C ABI (include/layercode.h). This file and C/ declare the `lc_` symbols (options in
// C/OptionsABI.swift, stats in C/StatsABI.swift); the linker version script exports exactly
// these. Bad input returns an error, never traps. A call on a client that fails records why
// for lc_client_last_error on the calling thread (ThreadCallError).

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

private func fail(_ error: LayercodeError) -> Int32 {
    error.code.rawValue
}

/// Resolves the handle and runs `body`; a thrown LayercodeError becomes its code.
private func call(_ client: OpaquePointer?, _ body: (LayercodeClient) throws(LayercodeError) -> Void) -> Int32 {
    guard let handle = ClientHandle.from(client) else { return LC_ERR_INVALID_ARGUMENT }
    do {
        try body(handle.client)
    } catch {
        handle.noteFailure(error)
        return fail(error)
    }
    return LC_OK
}

/// A refused argument: the call fails with LC_ERR_INVALID_ARGUMENT, saying which (for
/// lc_client_last_error, when there is a client to say it about).
private func refuse(_ client: OpaquePointer?, _ message: String) -> Int32 {
    ClientHandle.from(client)?.noteFailure(LayercodeError(.invalidArgument, message))
    return LC_ERR_INVALID_ARGUMENT
}

/// The same for the audio calls, which must not allocate: a static detail.
private func refuseAudio(_ handle: ClientHandle, _ message: StaticString) -> Int32 {
    ThreadCallError.setStatic(handle.id, UnsafeRawPointer(message.utf8Start)
        .assumingMemoryBound(to: CChar.self))
    return LC_ERR_INVALID_ARGUMENT
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
        let full = try OptionsABI.read(opts)
        let options = try OptionsABI.clientOptions(full)
        let client = try LayercodeClient(options: options,
                                         callbacks: ClientHandle.callbacks(from: full))
        let handle = ClientHandle(client: client)
        out.pointee = OpaquePointer(Unmanaged.passRetained(handle).toOpaque())
        ThreadLastError.set("")
        return LC_OK
    } catch {
        ThreadLastError.set(error.message)
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
    call(client) { (c) throws(LayercodeError) in try c.connect() }
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
    guard let handle = ClientHandle.from(client) else { return LC_ERR_INVALID_ARGUMENT }
    guard count >= 0, count <= Int(Int32.max) else {
        return refuseAudio(handle, "lc_client_write_audio: count over INT32_MAX\0")
    }
    if count == 0 { return 0 }
    guard let samples else { return refuseAudio(handle, "lc_client_write_audio: samples is NULL\0") }
    return Int32(handle.client.writeAudio(UnsafeBufferPointer(start: samples, count: count)))
}

@_cdecl("lc_client_read_audio")
public func lc_client_read_audio(_ client: OpaquePointer?, _ out: UnsafeMutablePointer<Int16>?,
                                 _ count: Int) -> Int32 {
    guard let handle = ClientHandle.from(client) else { return LC_ERR_INVALID_ARGUMENT }
    guard count >= 0, count <= Int(Int32.max) else {
        return refuseAudio(handle, "lc_client_read_audio: count over INT32_MAX\0")
    }
    if count == 0 { return 0 }
    guard let out else { return refuseAudio(handle, "lc_client_read_audio: out is NULL\0") }
    return Int32(handle.client.readAudio(into: UnsafeMutableBufferPointer(start: out, count: count)))
}

/// A C string as Swift text, refusing invalid UTF-8.
private func validUTF8(_ p: UnsafePointer<CChar>, limit: Int) throws(LayercodeError) -> String {
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
    guard let text else { return refuse(client, "lc_client_send_text: text is NULL") }
    return call(client) { (c) throws(LayercodeError) in try c.sendText(validUTF8(text, limit: 64 << 10)) }
}

@_cdecl("lc_client_send_data")
public func lc_client_send_data(_ client: OpaquePointer?, _ json: UnsafePointer<CChar>?) -> Int32 {
    guard let json else { return refuse(client, "lc_client_send_data: json is NULL") }
    return call(client) { (c) throws(LayercodeError) in try c.sendData(json: validUTF8(json, limit: 64 << 10)) }
}

@_cdecl("lc_client_turn_start")
public func lc_client_turn_start(_ client: OpaquePointer?) -> Int32 {
    call(client) { (c) throws(LayercodeError) in try c.turnStart() }
}

@_cdecl("lc_client_turn_end")
public func lc_client_turn_end(_ client: OpaquePointer?) -> Int32 {
    call(client) { (c) throws(LayercodeError) in try c.turnEnd() }
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
    call(client) { (c) throws(LayercodeError) in try c.setAudioInput(enabled != 0) }
}

@_cdecl("lc_client_set_audio_output")
public func lc_client_set_audio_output(_ client: OpaquePointer?, _ enabled: Int32) -> Int32 {
    call(client) { (c) throws(LayercodeError) in try c.setAudioOutput(enabled != 0) }
}

@_cdecl("lc_client_set_input_device")
public func lc_client_set_input_device(_ client: OpaquePointer?, _ name: UnsafePointer<CChar>?) -> Int32 {
    guard let name else { return refuse(client, "lc_client_set_input_device: name is NULL") }
    return call(client) { (c) throws(LayercodeError) in try c.switchDevice(input: true, to: validUTF8(name, limit: 4096)) }
}

@_cdecl("lc_client_set_output_device")
public func lc_client_set_output_device(_ client: OpaquePointer?, _ name: UnsafePointer<CChar>?) -> Int32 {
    guard let name else { return refuse(client, "lc_client_set_output_device: name is NULL") }
    return call(client) { (c) throws(LayercodeError) in try c.switchDevice(input: false, to: validUTF8(name, limit: 4096)) }
}

@_cdecl("lc_client_set_audio_delays")
public func lc_client_set_audio_delays(_ client: OpaquePointer?, _ playbackMs: Int32, _ captureMs: Int32) -> Int32 {
    call(client) { (c) throws(LayercodeError) in
        try c.setAudioDelays(playbackMilliseconds: Int(playbackMs), captureMilliseconds: Int(captureMs))
    }
}

@_cdecl("lc_echo_engines_built")
public func lc_echo_engines_built() -> UInt32 {
    EchoEngine.built.reduce(0) { $0 | (1 << UInt32($1.rawValue)) }
}

@_cdecl("lc_echo_engine_name")
public func lc_echo_engine_name(_ engine: Int32) -> UnsafePointer<CChar> {
    EchoEngine.staticName(engine)
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
    guard let handle = ClientHandle.from(client) else { return LC_ERR_INVALID_ARGUMENT }
    guard let event else { return refuse(client, "lc_client_poll_event: event is NULL") }
    // An output struct: struct_size says how many of its bytes were written (doc/abi.md).
    let bytes: Int
    do { bytes = try SizedStruct.event.outputBytes(size) } catch {
        handle.noteFailure(error)
        return LC_ERR_INVALID_ARGUMENT
    }
    switch handle.client.events.poll(timeoutMilliseconds: Int(timeoutMs)) {
    case .timeout: return 0
    case .closed: return LC_ERR_CLOSED
    case .event(let e):
        var out = handle.cEvent(e)
        out.struct_size = bytes
        SizedStruct.writePrefix(out, to: UnsafeMutableRawPointer(event), count: out.struct_size)
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
    return ThreadCallError.pointer(handle.id)
}

@_cdecl("lc_client_failure_message")
public func lc_client_failure_message(_ client: OpaquePointer?, _ buffer: UnsafeMutablePointer<CChar>?,
                                      _ size: Int) -> Int32 {
    guard let handle = ClientHandle.from(client) else { return LC_ERR_INVALID_ARGUMENT }
    guard size >= 0, size == 0 || buffer != nil else {
        return refuse(client, "lc_client_failure_message: buffer is NULL (or size over SIZE_MAX/2)")
    }
    let message = handle.client.lastError
    let length = message.utf8.count
    if let buffer, size > 0 {
        // Cut at a UTF-8 character boundary, never inside a character.
        var count = min(length, size - 1)
        let bytes = Array(message.utf8)
        while count > 0, count < length, bytes[count] & 0xC0 == 0x80 { count -= 1 }
        bytes.withUnsafeBufferPointer { source in
            UnsafeMutableRawPointer(buffer).copyMemory(from: source.baseAddress!, byteCount: count)
        }
        buffer[count] = 0
    }
    return Int32(clamping: length)
}
