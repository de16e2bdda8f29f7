// SPDX-License-Identifier: Apache-2.0
// libFuzzer target: the Ogg reader side of the session recorder's file format: OggPage.parse,
// OggReader (pages -> packets, every RFC 3533 structural check), OpusHead.parse and
// OpusTags.parse, and, on what they accept, the writer (OggPage.encoded, OggOpusWriter).
//
// Input: byte 0 the split pattern (fuzzChunks), byte 1: bit 0 set = patch the CRC of every
// page-shaped run of bytes first (so mutations get past the checksum into the structural
// checks), bits 1-2 pick the reader's packet limit; the rest is the stream.
// Checked on every input:
//  1. One push and many pushes (split by byte 0) give the same error (or none), page count
//     and last granule, and without an error the same packets; after an error every push
//     fails again with it (sticky).
//  2. Every page OggPage.parse accepts re-encodes byte for byte (OggPage.encoded), and its
//     stored CRC is a bitwise CRC-32 (written here) of the page with the field zeroed; a page cut short is "need more"
//     (nil), never an error, unless its first bytes already broke the capture pattern,
//     version or flags.
//  3. No packet exceeds the reader's limit; packets of a page share its granule; granules
//     of pages that end packets never go back.
//  4. OpusHead/OpusTags never crash; accepted tags rebuilt by OggOpusWriter.opusTags parse
//     back equal; a stream the reader accepts whole, whose first packets are OpusHead and
//     OpusTags, rewritten by OggOpusWriter (same head fields, tags and packets) reads back
//     to the same packets.

private let packetLimits = [1 << 16, 1, 300, 4096]

/// RFC 3533's CRC bit by bit (no table): an oracle independent of OggCRC.
private func bitwiseCRC(_ bytes: [UInt8]) -> UInt32 {
    var crc: UInt32 = 0
    for b in bytes {
        crc ^= UInt32(b) << 24
        for _ in 0..<8 { crc = crc & 0x8000_0000 != 0 ? (crc << 1) ^ 0x04C1_1DB7 : crc << 1 }
    }
    return crc
}

private struct Outcome: Equatable {
    var packets: [OggReader.Packet] = []
    var error: String?
    var pages = 0
    var granule: UInt64 = 0
}

private func readAll(_ stream: [UInt8], chunks: [Range<Int>], limit: Int) -> Outcome {
    var reader = OggReader(maxPacketBytes: limit)
    var out = Outcome()
    for range in chunks {
        do {
            out.packets += try stream[range].withUnsafeBytes { try reader.push($0) }
        } catch let error as LayercodeError {
            out.error = error.message
            // Sticky: the next push fails with the same error.
            do {
                _ = try [UInt8(0x4F)].withUnsafeBytes { try reader.push($0) }
                fuzzFail("a push after an error succeeded")
            } catch let again as LayercodeError {
                fuzzCheck(again == error, "a later error differs: \(again.message) vs \(error.message)")
            } catch { fuzzFail("non-LayercodeError \(error)") }
            break
        } catch { fuzzFail("non-LayercodeError \(error)") }
    }
    if out.error == nil {
        do { try reader.finish() } catch let error as LayercodeError { out.error = error.message } catch {
            fuzzFail("non-LayercodeError \(error)")
        }
    }
    out.pages = reader.pageCount
    out.granule = reader.lastGranule
    return out
}

/// Patches the CRC field of every page-shaped run ("OggS" with its whole header, lacing and
/// body inside the input).
private func patchCRCs(_ bytes: inout [UInt8]) {
    var i = 0
    while i + OggPage.headerBytes <= bytes.count {
        guard bytes[i] == 0x4F, bytes[i + 1] == 0x67, bytes[i + 2] == 0x67, bytes[i + 3] == 0x53 else {
            i += 1
            continue
        }
        let segments = Int(bytes[i + 26])
        guard i + OggPage.headerBytes + segments <= bytes.count else { return }
        var total = OggPage.headerBytes + segments
        for k in 0..<segments { total += Int(bytes[i + OggPage.headerBytes + k]) }
        guard i + total <= bytes.count else { return }
        for k in 22..<26 { bytes[i + k] = 0 }
        let crc = OggCRC.checksum(Array(bytes[i..<i + total]))
        for k in 0..<4 { bytes[i + 22 + k] = UInt8(truncatingIfNeeded: crc >> (8 * UInt32(k))) }
        i += total
    }
}

private func checkPages(_ stream: [UInt8]) {
    var at = 0
    while at < stream.count {
        let rest = Array(stream[at...])
        let parsed: (page: OggPage, count: Int)?
        do { parsed = try rest.withUnsafeBytes { try OggPage.parse($0) } } catch { return }
        guard let parsed else {
            // Every prefix of an incomplete page is incomplete too (no error from more bytes
            // missing).
            for cut in [0, 1, 4, 5, 6, 26, 27, rest.count - 1] where cut >= 0 && cut < rest.count {
                let prefix = Array(rest[0..<cut])
                do {
                    let p = try prefix.withUnsafeBytes { try OggPage.parse($0) }
                    fuzzCheck(p == nil, "a prefix of an incomplete page parsed")
                } catch { fuzzFail("a prefix of an incomplete page threw \(error)") }
            }
            return
        }
        let bytes = Array(rest[0..<parsed.count])
        fuzzCheck(parsed.page.encoded() == bytes, "an accepted page does not re-encode byte for byte")
        var zeroed = bytes
        for k in 22..<26 { zeroed[k] = 0 }
        let stored = UInt32(bytes[22]) | UInt32(bytes[23]) << 8 | UInt32(bytes[24]) << 16 | UInt32(bytes[25]) << 24
        fuzzCheck(bitwiseCRC(zeroed) == stored, "CRC")
        fuzzCheck(parsed.page.body.count == parsed.page.lacing.reduce(0) { $0 + Int($1) }, "lacing sum")
        at += parsed.count
    }
}

private func checkPackets(_ out: Outcome, limit: Int) {
    var lastGranule: UInt64 = 0
    for (i, p) in out.packets.enumerated() {
        fuzzCheck(p.bytes.count <= limit, "packet over the limit")
        if p.lastOnPage {
            fuzzCheck(p.granulePosition >= lastGranule, "granule went back")
            lastGranule = p.granulePosition
        } else {
            fuzzCheck(i + 1 < out.packets.count && out.packets[i + 1].granulePosition == p.granulePosition,
                      "packets of one page with different granules")
        }
        if let tags = try? OpusTags.parse(p.bytes) {
            let rebuilt = OggOpusWriter.opusTags(vendor: tags.vendor, comments: tags.comments)
            fuzzCheck((try? OpusTags.parse(rebuilt)) == tags, "OpusTags rebuilt differ")
        }
        _ = try? OpusHead.parse(p.bytes)
    }
}

/// A stream of OpusHead, OpusTags and audio packets, rewritten by OggOpusWriter, reads back
/// to the same packets.
private func checkRewrite(_ out: Outcome) {
    guard out.error == nil, out.packets.count >= 2,
          let head = try? OpusHead.parse(out.packets[0].bytes), head.mappingFamily == 0,
          let tags = try? OpusTags.parse(out.packets[1].bytes),
          (try? OpusTags.parse(OggOpusWriter.opusTags(vendor: tags.vendor, comments: tags.comments))) == tags
    else { return }
    let audio = out.packets.dropFirst(2).map(\.bytes)
    guard audio.allSatisfy({ $0.count <= OggOpusWriter.maxPacketBytes }) else { return }
    var writer = OggOpusWriter(serial: 7, channels: head.channels, preSkip: head.preSkip, packetsPerPage: 3)
    var file = writer.headers(inputSampleRate: head.inputSampleRate, vendor: tags.vendor, comments: tags.comments)
    for p in audio.dropLast() {
        file += p.withUnsafeBytes { writer.append(packet: $0, samples48k: 960) }
    }
    file += writer.finish(packets: audio.last.map { [$0] } ?? [], samples48k: 960,
                          endSamples48k: max(0, audio.count * 960 - 100))
    let again = readAll(file, chunks: [0..<file.count], limit: 1 << 16)
    fuzzCheck(again.error == nil, "the writer's stream was refused: \(again.error ?? "")")
    fuzzCheck(again.packets.dropFirst(2).map(\.bytes) == Array(audio), "rewritten packets differ")
    fuzzCheck((try? OpusHead.parse(again.packets[0].bytes))?.preSkip == head.preSkip, "pre-skip")
    fuzzCheck((try? OpusTags.parse(again.packets[1].bytes)) == tags, "tags")
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOgg(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let input = fuzzBytes(data, size)
    guard input.count >= 2 else { return 0 }
    let limit = packetLimits[Int(input[1] >> 1) % packetLimits.count]
    var stream = Array(input[2...])
    if input[1] & 1 != 0 { patchCRCs(&stream) }

    let whole = readAll(stream, chunks: stream.isEmpty ? [] : [0..<stream.count], limit: limit)
    let split = readAll(stream, chunks: fuzzChunks(count: stream.count, seed: input[0]), limit: limit)
    fuzzCheck(whole.error == split.error && whole.pages == split.pages && whole.granule == split.granule
              && (whole.error != nil || whole.packets == split.packets),
              "one read and split reads differ: \(whole.error ?? "ok") vs \(split.error ?? "ok")")
    checkPages(stream)
    checkPackets(whole, limit: limit)
    checkRewrite(whole)
    return 0
}
