// SPDX-License-Identifier: Apache-2.0
// Shared helpers for the libFuzzer targets in fuzz/. Compiled into every target together
// with Sources/LayercodeCore (tools/fuzz.sh). Foundation-free, like the code under test.

/// Stops the run with a message: libFuzzer reports the trap as a crash and saves the input.
func fuzzFail(_ message: @autoclosure () -> String, file: StaticString = #file, line: UInt = #line) -> Never {
    fatalError("fuzz invariant violated: \(message())", file: file, line: line)
}

@inline(__always)
func fuzzCheck(_ condition: @autoclosure () -> Bool, _ message: @autoclosure () -> String,
               file: StaticString = #file, line: UInt = #line) {
    if !condition() { fuzzFail(message(), file: file, line: line) }
}

/// The input as an array (nil pointer for an empty input).
func fuzzBytes(_ data: UnsafePointer<UInt8>?, _ size: Int) -> [UInt8] {
    guard let data, size > 0 else { return [] }
    return Array(UnsafeBufferPointer(start: data, count: size))
}

/// Deterministic chunk boundaries for feeding `count` bytes in several reads.
/// seed 0: one read; 1: one byte per read; 2: two bytes; otherwise pseudo-random sizes
/// from 1 to a maximum that the seed also picks (so small and large splits both occur).
func fuzzChunks(count: Int, seed: UInt8) -> [Range<Int>] {
    if count == 0 { return [] }
    switch seed {
    case 0: return [0..<count]
    case 1, 2:
        let step = Int(seed)
        return stride(from: 0, to: count, by: step).map { $0..<min(count, $0 + step) }
    default:
        var state = UInt64(seed) &* 0x9E37_79B9_7F4A_7C15 | 1
        let maxChunk = [3, 7, 16, 64, 300][Int(seed) % 5]
        var out: [Range<Int>] = []
        var start = 0
        while start < count {
            state ^= state << 13
            state ^= state >> 7
            state ^= state << 17
            let size = 1 + Int(state % UInt64(maxChunk))
            let end = min(count, start + size)
            out.append(start..<end)
            start = end
        }
        return out
    }
}

/// The standard library's own UTF-8 validation: an oracle independent of UTF8Validator.
func stdlibIsValidUTF8<C: Collection>(_ bytes: C) -> Bool where C.Element == UInt8 {
    String(validating: bytes, as: UTF8.self) != nil
}

/// True when `bytes` is valid UTF-8 or valid UTF-8 followed by the start of one more
/// well-formed sequence (what a streaming validator must accept before the rest arrives).
/// Decided with the standard library only: a trailing partial sequence is completed with
/// every possible second byte and 0x80 continuation bytes after it.
func stdlibIsValidUTF8Prefix(_ bytes: ArraySlice<UInt8>) -> Bool {
    if stdlibIsValidUTF8(bytes) { return true }
    let n = bytes.count
    for k in 1...3 where k <= n {
        let leadIndex = bytes.endIndex - k
        let lead = bytes[leadIndex]
        let length: Int
        switch lead {
        case 0xC0...0xDF: length = 2
        case 0xE0...0xEF: length = 3
        case 0xF0...0xF7: length = 4
        default: continue
        }
        guard length > k else { continue }
        guard stdlibIsValidUTF8(bytes[..<leadIndex]) else { return false }
        let tail = Array(bytes[leadIndex...])
        let missing = length - k
        if k >= 2 {
            if stdlibIsValidUTF8(tail + [UInt8](repeating: 0x80, count: missing)) { return true }
        } else {
            for second in UInt8(0x80)...0xBF {
                let completion = [second] + [UInt8](repeating: 0x80, count: missing - 1)
                if stdlibIsValidUTF8(tail + completion) { return true }
            }
        }
        return false
    }
    return false
}

/// Copies of `bytes` fed through `body` as raw buffers, one per chunk.
func withChunks(_ bytes: [UInt8], _ chunks: [Range<Int>], _ body: (UnsafeRawBufferPointer) -> Bool) {
    bytes.withUnsafeBytes { raw in
        for range in chunks {
            // A fresh allocation per read, so ASan sees any read past the chunk's end.
            let copy = Array(raw[range])
            let keepGoing = copy.withUnsafeBytes { body($0) }
            if !keepGoing { return }
        }
    }
}

/// What the serializer's output means: non-finite numbers become null.
func finiteJSON(_ v: JSONValue) -> JSONValue {
    switch v {
    case .number(let d) where !d.isFinite: return .null
    case .array(let a): return .array(a.map(finiteJSON))
    case .object(let o): return .object(JSONObject(o.map { ($0.key, finiteJSON($0.value)) }))
    default: return v
    }
}
