// SPDX-License-Identifier: Apache-2.0
/// Extends a wire's 32-bit packet sequence numbers (doc/opus-profile.md §3: modulo 2^32) to
/// 64 bits, so that a stream that wraps keeps counting up: each number is taken as the one
/// nearest the last (within ±2^31), as RTP receivers do. One per socket (the numbering
/// starts over on each).
public struct WireSequenceUnwrapper: Sendable, Equatable {
    private var last: UInt64?

    public init() {}

    /// `sequence` as a 64-bit number. The first is placed at 2^32 + sequence, so that
    /// reordered packets from before it stay positive.
    public mutating func unwrap(_ sequence: UInt32) -> UInt64 {
        guard let last else {
            let first = (UInt64(1) << 32) | UInt64(sequence)
            self.last = first
            return first
        }
        let delta = Int64(Int32(bitPattern: sequence &- UInt32(truncatingIfNeeded: last)))
        let value = last &+ UInt64(bitPattern: delta)
        if delta > 0 { self.last = value }
        return value
    }
}
