// SPDX-License-Identifier: Apache-2.0
import CLayercodeABI
import LayercodeCore

/// The growth policy of the structs that cross the ABI (doc/abi.md): a struct_size from the
/// first published size of the struct up to this library's sizeof is accepted; smaller is a
/// bug (no header ever had it), larger is an application built against a newer header.
enum SizedStruct {
    /// lc_options, lc_stats and lc_event: their first published and current sizes.
    static let options = (first: lc_abi_options_size_v0_1(), current: MemoryLayout<lc_options>.size)
    static let stats = (first: lc_abi_stats_size_v0_1(), current: MemoryLayout<lc_stats>.size)
    static let event = (first: lc_abi_event_size_v0_1(), current: MemoryLayout<lc_event>.size)

    /// Refuses a size below `first`, and above `current` unless `largerIsFine` (an output
    /// struct: the library fills its own fields and says how many in struct_size).
    static func check(_ name: String, _ size: Int, first: Int, current: Int,
                      largerIsFine: Bool = false) throws(LayercodeError) {
        // size_t arrives as Int: 2^63 and more read as negative, and are refused here.
        guard size >= first else {
            throw LayercodeError(.invalidArgument,
                                 "\(name).struct_size is \(size) bytes; the smallest this "
                                 + "liblayercode (\(LayercodeClient.sdkVersion)) knows is "
                                 + "\(first): pass sizeof(\(name))")
        }
        guard largerIsFine || size <= current else {
            throw LayercodeError(.invalidArgument,
                                 "\(name).struct_size is \(size) bytes; this liblayercode "
                                 + "(\(LayercodeClient.sdkVersion)) knows up to \(current): "
                                 + "built against a newer header?")
        }
    }

    /// Copies the first `count` bytes of `value` to `destination`.
    static func writePrefix<T>(_ value: T, to destination: UnsafeMutableRawPointer, count: Int) {
        var value = value
        withUnsafeBytes(of: &value) { source in
            destination.copyMemory(from: source.baseAddress!, byteCount: min(count, source.count))
        }
    }
}
