// SPDX-License-Identifier: Apache-2.0
import LayercodeCore

/// Everything the app hears about, one case per callback. The client delivers each event to
/// its callback and to the poll queue.
public enum ClientEvent: Sendable, Equatable {
    case status(SessionStatus)
    case connected(conversationID: String, configJSON: String)
    case disconnected(code: ErrorCode?, message: String)
    case error(LayercodeError)
    case message(type: String, json: String)
    case data(contentJSON: String, turnID: String?)
    case userAmplitude(Float)
    case agentAmplitude(Float)
    case userSpeaking(Bool)
    case agentSpeaking(Bool)
    case mute(Bool)
    case audioInputChanged(Bool)
    case audioOutputChanged(Bool)
    case deviceSwitched(input: Bool, name: String)
    case devicesChanged

    /// Calls the matching callback, if the app set one.
    func dispatch(to cb: ClientCallbacks) {
        switch self {
        case .status(let s): cb.onStatus?(s)
        case .connected(let conversation, let config): cb.onConnected?(conversation, config)
        case .disconnected(let code, let message): cb.onDisconnected?(code, message)
        case .error(let error): cb.onError?(error)
        case .message(let type, let json): cb.onMessage?(type, json)
        case .data(let content, let turnID): cb.onData?(content, turnID)
        case .userAmplitude(let level): cb.onUserAmplitude?(level)
        case .agentAmplitude(let level): cb.onAgentAmplitude?(level)
        case .userSpeaking(let on): cb.onUserSpeaking?(on)
        case .agentSpeaking(let on): cb.onAgentSpeaking?(on)
        case .mute(let on): cb.onMute?(on)
        case .audioInputChanged(let on): cb.onAudioInputChanged?(on)
        case .audioOutputChanged(let on): cb.onAudioOutputChanged?(on)
        case .deviceSwitched(let input, let name): cb.onDeviceSwitched?(input, name)
        case .devicesChanged: cb.onDevicesChanged?()
        }
    }
}

extension ClientCallbacks {
    /// No callback set: the app can only be polling (lc_client_poll_event).
    var isEmpty: Bool {
        onStatus == nil && onConnected == nil && onDisconnected == nil && onError == nil
            && onMessage == nil && onData == nil && onUserAmplitude == nil
            && onAgentAmplitude == nil && onUserSpeaking == nil && onAgentSpeaking == nil
            && onMute == nil && onAudioInputChanged == nil && onAudioOutputChanged == nil
            && onDeviceSwitched == nil && onDevicesChanged == nil
    }
}
