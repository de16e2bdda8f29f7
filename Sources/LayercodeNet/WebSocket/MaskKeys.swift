// SPDX-License-Identifier: Apache-2.0
import CLayercodeShims

/// The masking keys of a client's frames (RFC 6455 §5.3: a new key per frame, unpredictable,
/// from a strong source of entropy), drawn from OpenSSL's generator 256 keys at a time. One
/// RAND_bytes call per frame took the generator's lock and checked for a fork (a futex and a
/// getpid system call per 20 ms audio frame); one per 256 frames keeps every key from the
/// same generator.
struct MaskKeys {
    static let batch = 256
    private var pool = [UInt32](repeating: 0, count: MaskKeys.batch)
    private var used = MaskKeys.batch

    mutating func next() -> UInt32 {
        if used == pool.count {
            pool.withUnsafeMutableBytes {
                _ = lcshim_random_bytes($0.baseAddress!.assumingMemoryBound(to: UInt8.self), Int32($0.count))
            }
            used = 0
        }
        used += 1
        return pool[used - 1]
    }
}
