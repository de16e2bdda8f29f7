// SPDX-License-Identifier: Apache-2.0
import CLayercodeABI
import LayercodeCore

/// The growth policy of the structs that cross the ABI (doc/abi.md): a struct_size from the
/// first published size of the struct up to this library's sizeof is accepted; smaller is a
/// bug (no header ever had it), larger is an application built against a newer header. An
/// input struct's size must be one a header had (first published, or this one's): a size
/// in between that no header had is a bug too.
struct SizedStruct {
    let name: String
    /// The first published size (doc/abi.md) and this library's sizeof.
    let first: Int
    let current: Int

    static let options = SizedStruct(name: "lc_options", first: lc_abi_options_size_v0_1(),
                                     current: MemoryLayout<lc_options>.size)
    static let stats = SizedStruct(name: "lc_stats", first: lc_abi_stats_size_v0_1(),
                                   current: MemoryLayout<lc_stats>.size)
    static let event = SizedStruct(name: "lc_event", first: lc_abi_event_size_v0_1(),
                                   current: MemoryLayout<lc_event>.size)

    /// An input struct the library reads: refuses a size below `first` or above `current`.
    func check(_ size: Int) throws(LayercodeError) {
        try check(size, largerIsFine: false)
    }

    /// An output struct the library fills: a newer app's larger one gets this version's
    /// fields. Refuses a size below `first`; returns how many bytes to write (struct_size).
    func outputBytes(_ size: Int) throws(LayercodeError) -> Int {
        try check(size, largerIsFine: true)
        return min(size, current)
    }

    private func check(_ size: Int, largerIsFine: Bool) throws(LayercodeError) {
        // Input: a size between two headers' sizes cannot be read field by field. (A release
        // that grows a struct again must keep accepting the size it replaces: list it here.)
        if !largerIsFine && size > first && size < current {
            throw LayercodeError(.invalidArgument,
                                 "\(name).struct_size is \(size) bytes, which no liblayercode "
                                 + "header had (\(first) or \(current)): pass sizeof(\(name))")
        }
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
