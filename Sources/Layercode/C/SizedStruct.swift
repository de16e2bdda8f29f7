// SPDX-License-Identifier: Apache-2.0
import CLayercodeABI
import LayercodeCore

/// The growth policy of the structs that cross the ABI (doc/abi.md): a struct_size from the
/// first published size of the struct up to this library's sizeof is accepted; smaller is a
/// bug (no header ever had it), larger is an application built against a newer header.
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

    /// An input struct the library reads: refuses a size below `first` or above `current`,
    /// and one in between that no header had (it would end inside a field: a pointer read
    /// from half of one). The sizes headers had: the first published and this one.
    func check(_ size: Int) throws(LayercodeError) {
        try check(size, largerIsFine: false)
        guard size == first || size == current else {
            throw LayercodeError(.invalidArgument,
                                 "\(name).struct_size is \(size) bytes, the size of no \(name) this "
                                 + "liblayercode (\(LayercodeClient.sdkVersion)) knows (\(first) or "
                                 + "\(current)): pass sizeof(\(name))")
        }
    }

    /// An output struct the library fills: a newer app's larger one gets this version's
    /// fields. Refuses a size below `first`; returns how many bytes to write (struct_size).
    func outputBytes(_ size: Int) throws(LayercodeError) -> Int {
        try check(size, largerIsFine: true)
        return min(size, current)
    }

    private func check(_ size: Int, largerIsFine: Bool) throws(LayercodeError) {
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
