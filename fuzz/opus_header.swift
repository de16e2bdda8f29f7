// SPDX-License-Identifier: Apache-2.0
// libFuzzer target: the Opus wire profile's binary message (doc/opus-profile.md §3):
// OpusPacketHeader.decode, WireProfile.opus.decode(binary:), and the uplink's
// OpusPacketClock.
//
// Input: the whole input is one binary message from the server.
// Checked on every input:
//  1. decode succeeds exactly when the message has 11...1285 bytes and byte 0 is 1
//     (decided here from the bytes, independently); otherwise it throws .protocolViolation.
//  2. On success the fields are the big-endian words at 2 and 6, the packet is bytes 10...,
//     and encoding the header over the packet gives the message back byte for byte.
//  3. WireProfile.opus takes it as agent audio exactly when the header decodes and the packet
//     has at most 640 bytes: an .opus payload of those bytes, numbered by the sequence.
//  4. The uplink clock fed the input's bytes as capture-index steps numbers 0, 1, 2, ... and
//     moves its timestamp on by at least one frame per packet (modulo 2^32).

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOpusHeader(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let input = fuzzBytes(data, size)
    let shouldDecode = input.count >= 11 && input.count <= 10 + 1275 && input[0] == 1

    var decoded: (header: OpusPacketHeader, packet: Range<Int>)?
    do {
        decoded = try OpusPacketHeader.decode(input)
    } catch let error as LayercodeError {
        fuzzCheck(error.code == .protocolViolation, "wrong error code \(error.code)")
    } catch {
        fuzzFail("decode threw a non-LayercodeError")
    }
    fuzzCheck((decoded != nil) == shouldDecode, "decode \(decoded != nil) for \(input.count) bytes")
    if let (header, range) = decoded {
        func u32(_ at: Int) -> UInt32 {
            input[at..<at + 4].reduce(0) { $0 << 8 | UInt32($1) }
        }
        fuzzCheck(header.version == 1 && header.flags == input[1], "version/flags")
        fuzzCheck(header.sequence == u32(2) && header.timestamp == u32(6), "sequence/timestamp")
        fuzzCheck(range == 10..<input.count, "packet range \(range)")
        let again = input[range].withUnsafeBytes { header.encode(packet: $0) }
        fuzzCheck(again == input, "encode(decode(m)) != m")
    }

    var audio: AgentAudio?
    do {
        if case .audio(let a) = try WireProfile.opus.decode(binary: input) { audio = a } else {
            fuzzFail("a binary message on an Opus socket is audio or an error")
        }
    } catch let error as LayercodeError {
        fuzzCheck(error.code == .protocolViolation, "wrong error code \(error.code)")
    } catch {
        fuzzFail("WireProfile.decode threw a non-LayercodeError")
    }
    let shouldPlay = shouldDecode && input.count - 10 <= WireProfile.maxAgentOpusPacketBytes
    fuzzCheck((audio != nil) == shouldPlay, "audio \(audio != nil) for \(input.count) bytes")
    if let audio, let (header, range) = decoded {
        fuzzCheck(audio.payload == .opus(Array(input[range])), "payload")
        fuzzCheck(audio.sequence == UInt64(header.sequence), "sequence")
        fuzzCheck(audio.turnID == nil && audio.deltaID == nil, "ids come from the session")
    }

    var clock = OpusPacketClock()
    var index: UInt64 = 0
    var last: OpusPacketHeader?
    for (n, step) in input.prefix(256).enumerated() {
        index &+= UInt64(step)
        let h = clock.next(frameIndex: index)
        fuzzCheck(h.sequence == UInt32(n), "sequence \(h.sequence) for packet \(n)")
        if let last {
            fuzzCheck(Int32(bitPattern: h.timestamp &- last.timestamp) >= 320, "timestamp went back or stood")
        } else {
            fuzzCheck(h.timestamp == 0, "the first timestamp is 0")
        }
        last = h
    }
    return 0
}
