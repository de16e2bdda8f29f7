// SPDX-License-Identifier: Apache-2.0

/// One channel of the recording on the session's timeline (16 kHz sample positions from
/// the session start): audio is placed where its timestamp says, silence fills what nothing
/// covered, and the encoder takes whole frames off the front. The recorder thread only.
///
/// Alignment: a chunk whose start (its end timestamp minus its length) is within `maxLag`
/// after the cursor, or within `maxLead` before it, continues at the cursor, so a steady
/// stream stays gapless whatever the jitter of its timestamps; past those bounds it jumps
/// to where its timestamp puts it (silence before it, or overwriting what ran ahead). So
/// every chunk lands within max(maxLag, maxLead) of its true place. Audio for a part
/// already encoded goes at the front instead (late, never lost).
struct RecorderTrack {
    /// Absolute position of the first sample not yet encoded.
    private(set) var base: Int = 0
    /// Absolute position after the last placed sample (≥ base).
    private(set) var cursor: Int = 0
    let maxLag: Int
    let maxLead: Int
    private var ring: [Int16]
    /// Samples that did not fit (more than the ring ahead of the encoder).
    private(set) var overflowSamples = 0

    init(capacity: Int, maxLag: Int, maxLead: Int) {
        ring = [Int16](repeating: 0, count: capacity)
        self.maxLag = maxLag
        self.maxLead = maxLead
    }

    /// Places `samples`, whose last one belongs at absolute position `end` (exclusive).
    mutating func place(_ samples: UnsafeBufferPointer<Int16>, endingAt end: Int) {
        let n = samples.count
        guard n > 0 else { return }
        let target = end - n
        var at = cursor
        if target > cursor + maxLag || target < cursor - maxLead { at = target }
        at = max(at, base)
        if at > cursor { zero(from: cursor, to: at) }
        let room = base + ring.count - at
        let count = min(n, max(0, room))
        overflowSamples += n - count
        ring.withUnsafeMutableBufferPointer { r in
            for i in 0..<count { r[(at + i) % r.count] = samples[i] }
        }
        cursor = at + count
    }

    /// The next frame [base, base + out.count) into `out` (silence past the cursor), and
    /// moves the front on. The slots read are zeroed: a position the ring comes round to
    /// again holds silence until audio is placed there (a jump past the ring's end places
    /// nothing, so its slots must not still hold what was taken a ring ago).
    mutating func take(into out: UnsafeMutableBufferPointer<Int16>, stride: Int = 1, offset: Int = 0) {
        let frame = out.count / stride
        ring.withUnsafeMutableBufferPointer { r in
            for i in 0..<frame {
                let p = base + i
                out[i * stride + offset] = p < cursor ? r[p % r.count] : 0
                r[p % r.count] = 0
            }
        }
        base += frame
        if cursor < base { cursor = base }
    }

    private mutating func zero(from: Int, to: Int) {
        let end = min(to, base + ring.count)
        guard end > from else { return }
        ring.withUnsafeMutableBufferPointer { r in
            for p in from..<end { r[p % r.count] = 0 }
        }
    }
}
