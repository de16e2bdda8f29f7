// SPDX-License-Identifier: Apache-2.0
import CLayercodeABI
import CPosix
import LayercodeCore
import Synchronization

/// Handle ids: 1, 2, 3, ... for the process's life (0 is no client).
private let nextHandleID = Atomic<UInt>(1)

/// What an `lc_client *` points to: the Swift client plus C-side state (the app's C
/// callbacks, and the strings of the last polled event).
final class ClientHandle: @unchecked Sendable {
    let client: LayercodeClient
    /// Never reused: names this client in the threads' ThreadCallError.
    let id: UInt

    init(client: LayercodeClient) {
        self.client = client
        id = nextHandleID.add(1, ordering: .relaxed).oldValue
    }

    /// The strings of the event most recently polled, owned until the next poll.
    private var polledStrings: [UnsafeMutablePointer<CChar>] = []

    deinit {
        polledStrings.forEach { free($0) }
    }

    /// An lc_event for `event`; its strings stay valid until the next poll (one poller).
    func cEvent(_ event: ClientEvent) -> lc_event {
        polledStrings.forEach { free($0) }
        polledStrings.removeAll()
        func keep(_ s: String?) -> UnsafePointer<CChar>? {
            guard let s, let copy = strdup(s) else { return nil }
            polledStrings.append(copy)
            return UnsafePointer(copy)
        }
        var e = lc_event()
        switch event {
        case .status(let s): e.type = LC_EVENT_STATUS; e.code = s.rawValue
        case .connected(let conversation, let config):
            e.type = LC_EVENT_CONNECTED; e.text = keep(conversation); e.json = keep(config)
        case .disconnected(let code, let message):
            e.type = LC_EVENT_DISCONNECTED; e.code = code?.rawValue ?? LC_OK; e.text = keep(message)
        case .error(let error):
            e.type = LC_EVENT_ERROR; e.code = error.code.rawValue; e.text = keep(error.message)
        case .message(let type, let json):
            e.type = LC_EVENT_MESSAGE; e.text = keep(type); e.json = keep(json)
        case .data(let content, let turnID):
            e.type = LC_EVENT_DATA; e.json = keep(content); e.turn_id = keep(turnID)
        case .userAmplitude(let level): e.type = LC_EVENT_USER_AMPLITUDE; e.level = level
        case .agentAmplitude(let level): e.type = LC_EVENT_AGENT_AMPLITUDE; e.level = level
        case .userSpeaking(let on): e.type = LC_EVENT_USER_SPEAKING; e.code = on ? 1 : 0
        case .agentSpeaking(let on): e.type = LC_EVENT_AGENT_SPEAKING; e.code = on ? 1 : 0
        case .mute(let on): e.type = LC_EVENT_MUTE; e.code = on ? 1 : 0
        case .audioInputChanged(let on): e.type = LC_EVENT_AUDIO_INPUT_CHANGED; e.code = on ? 1 : 0
        case .audioOutputChanged(let on): e.type = LC_EVENT_AUDIO_OUTPUT_CHANGED; e.code = on ? 1 : 0
        case .deviceSwitched(let input, let name):
            e.type = LC_EVENT_DEVICE_SWITCHED; e.code = input ? 1 : 0; e.text = keep(name)
        case .devicesChanged: e.type = LC_EVENT_DEVICES_CHANGED
        }
        return e
    }

    /// Records a failing call's detail for lc_client_last_error on the calling thread.
    func noteFailure(_ error: LayercodeError) {
        ThreadCallError.set(id, error.message)
    }

    static func from(_ pointer: OpaquePointer?) -> ClientHandle? {
        guard let pointer else { return nil }
        return Unmanaged<ClientHandle>.fromOpaque(UnsafeRawPointer(pointer)).takeUnretainedValue()
    }

    /// Wraps the C callbacks of `opts` as Swift closures.
    static func callbacks(from opts: lc_options) -> ClientCallbacks {
        let userData = UserData(pointer: opts.user_data)
        var cb = ClientCallbacks()
        if let f = opts.on_status {
            cb.onStatus = { f(userData.pointer, $0.rawValue) }
        }
        if let f = opts.on_connected {
            cb.onConnected = { conversation, config in
                conversation.withCString { c in config.withCString { f(userData.pointer, c, $0) } }
            }
        }
        if let f = opts.on_disconnected {
            cb.onDisconnected = { code, message in
                message.withCString { f(userData.pointer, code?.rawValue ?? 0, $0) }
            }
        }
        if let f = opts.on_error {
            cb.onError = { error in error.message.withCString { f(userData.pointer, error.code.rawValue, $0) } }
        }
        if let f = opts.on_message {
            cb.onMessage = { type, json in
                type.withCString { t in json.withCString { f(userData.pointer, t, $0) } }
            }
        }
        if let f = opts.on_data {
            cb.onData = { content, turnID in
                content.withCString { c in
                    if let turnID {
                        turnID.withCString { f(userData.pointer, c, $0) }
                    } else {
                        f(userData.pointer, c, nil)
                    }
                }
            }
        }
        if let f = opts.on_user_amplitude { cb.onUserAmplitude = { f(userData.pointer, $0) } }
        if let f = opts.on_agent_amplitude { cb.onAgentAmplitude = { f(userData.pointer, $0) } }
        if let f = opts.on_user_speaking { cb.onUserSpeaking = { f(userData.pointer, $0 ? 1 : 0) } }
        if let f = opts.on_agent_speaking { cb.onAgentSpeaking = { f(userData.pointer, $0 ? 1 : 0) } }
        if let f = opts.on_mute { cb.onMute = { f(userData.pointer, $0 ? 1 : 0) } }
        if let f = opts.on_audio_input_changed {
            cb.onAudioInputChanged = { f(userData.pointer, $0 ? 1 : 0) }
        }
        if let f = opts.on_audio_output_changed {
            cb.onAudioOutputChanged = { f(userData.pointer, $0 ? 1 : 0) }
        }
        if let f = opts.on_device_switched {
            cb.onDeviceSwitched = { input, name in name.withCString { f(userData.pointer, input ? 1 : 0, $0) } }
        }
        if let f = opts.on_devices_changed { cb.onDevicesChanged = { f(userData.pointer) } }
        return cb
    }

    /// The app's opaque pointer; we never dereference it.
    struct UserData: @unchecked Sendable {
        let pointer: UnsafeMutableRawPointer?
    }
}
