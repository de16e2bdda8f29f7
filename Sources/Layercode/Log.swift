// SPDX-License-Identifier: Apache-2.0
import CLayercodeABI
import LayercodeNet

/// The process-wide log sink (lc_set_log_handler). Off by default: the library never prints.
/// Only the event-loop thread logs; audio threads never do.
enum Log {
    enum Level: Int32 { case error = 0, warn = 1, info = 2, debug = 3 }

    struct Sink: @unchecked Sendable {
        var function: lc_log_fn
        var userData: UnsafeMutableRawPointer?
        var maxLevel: Int32
    }

    static let sink = Locked<Sink?>(nil)

    static func write(_ level: Level, _ message: @autoclosure () -> String) {
        guard let current = sink.withLock({ $0 }), level.rawValue <= current.maxLevel else { return }
        message().withCString { current.function(current.userData, level.rawValue, $0) }
    }
}
