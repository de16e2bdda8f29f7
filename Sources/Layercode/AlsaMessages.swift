// SPDX-License-Identifier: Apache-2.0
import CALSA
import LayercodeAudio

/// ALSA's own messages, which it would print on stderr ("the library never prints"), go to
/// the log callback at LC_LOG_WARN instead. One handler for the process, installed before
/// the library's first ALSA call (client creation, lc_list_devices).
enum AlsaMessages {
    private static let installed: Bool = {
        lcshim_alsa_route_messages() == 0
    }()

    static func install() { _ = installed }
}

/// Called by ALSA (through CALSA's variadic handler) on whichever thread made the ALSA call.
/// An audio thread must not log: its messages are dropped (they would have gone to stderr).
@_cdecl("lcshim_alsa_message")
func lcshim_alsa_message(_ file: UnsafePointer<CChar>?, _ line: Int32,
                         _ function: UnsafePointer<CChar>?, _ err: Int32,
                         _ text: UnsafePointer<CChar>?) {
    guard !AudioThread.isCurrentThreadAudio else { return }
    let where_ = function.map { String(cString: $0) } ?? "?"
    let message = text.map { String(cString: $0) } ?? ""
    Log.write(.warn, "ALSA lib (\(where_)) \(message)" + (err != 0 ? " (error \(err))" : ""))
}
