// SPDX-License-Identifier: Apache-2.0
@testable import LayercodeCore

// Session tests speak in wire text: these helpers put a server's text (or binary) frame
// through the PCM JSON wire profile, as the driver does, and turn the session's send actions
// back into the exact text the socket would carry.

extension SessionInput {
    /// A server text frame as the driver hands it over: decoded by `.pcmJSON`, or refused.
    static func socketText(_ text: String, maxDepth: Int = 64) -> SessionInput {
        do {
            return .received(try WireProfile.pcmJSON.decode(text: text, maxDepth: maxDepth))
        } catch {
            return .refused(error)
        }
    }

    /// A server binary frame as the driver hands it over.
    static func socketBinary(_ bytes: [UInt8]) -> SessionInput {
        do {
            return .received(try WireProfile.pcmJSON.decode(binary: bytes))
        } catch {
            return .refused(error)
        }
    }

    /// A mic frame without a capture time.
    static func micFrame(_ samples: [Int16]) -> SessionInput {
        .micFrame(UplinkFrame(samples: samples))
    }
}

extension SessionAction {
    /// The text the socket would carry for a send action (PCM JSON), else nil.
    var wireText: String? {
        let message: OutgoingMessage
        switch self {
        case .send(let m): message = WireProfile.pcmJSON.encode(m)
        case .sendAudio(let frame): message = WireProfile.pcmJSON.encode(frame)!
        default: return nil
        }
        guard case .text(let text) = message.wire else { return nil }
        return text
    }

    /// The PCM16 samples of a `.play` action, with its ids.
    var played: (samples: [Int16], turnID: String?, deltaID: String?)? {
        guard case .play(let audio) = self, case .pcm16(let samples) = audio.payload else { return nil }
        return (samples, audio.turnID, audio.deltaID)
    }
}
