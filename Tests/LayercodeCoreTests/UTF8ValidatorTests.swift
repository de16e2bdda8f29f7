// SPDX-License-Identifier: Apache-2.0
import XCTest
@testable import LayercodeCore

final class UTF8ValidatorTests: XCTestCase {
    private func valid(_ bytes: [UInt8]) -> Bool { UTF8Validator.isValid(bytes) }

    func testValidSequences() {
        XCTAssertTrue(valid([]))
        XCTAssertTrue(valid(Array("plain ASCII text, long enough for the word loop".utf8)))
        XCTAssertTrue(valid(Array("κόσμε héllo €𝄞 😀".utf8)))
        XCTAssertTrue(valid([0xC2, 0x80]))                    // U+0080
        XCTAssertTrue(valid([0xDF, 0xBF]))                    // U+07FF
        XCTAssertTrue(valid([0xE0, 0xA0, 0x80]))              // U+0800
        XCTAssertTrue(valid([0xED, 0x9F, 0xBF]))              // U+D7FF
        XCTAssertTrue(valid([0xEE, 0x80, 0x80]))              // U+E000
        XCTAssertTrue(valid([0xEF, 0xBF, 0xBF]))              // U+FFFF
        XCTAssertTrue(valid([0xF0, 0x90, 0x80, 0x80]))        // U+10000
        XCTAssertTrue(valid([0xF4, 0x8F, 0xBF, 0xBF]))        // U+10FFFF
    }

    func testInvalidSequences() {
        XCTAssertFalse(valid([0x80]))
        XCTAssertFalse(valid([0xBF]))
        XCTAssertFalse(valid([0xC0, 0x80]))                   // overlong NUL
        XCTAssertFalse(valid([0xC1, 0xBF]))
        XCTAssertFalse(valid([0xE0, 0x80, 0x80]))             // overlong
        XCTAssertFalse(valid([0xE0, 0x9F, 0xBF]))
        XCTAssertFalse(valid([0xED, 0xA0, 0x80]))             // U+D800
        XCTAssertFalse(valid([0xED, 0xBF, 0xBF]))             // U+DFFF
        XCTAssertFalse(valid([0xF0, 0x80, 0x80, 0x80]))       // overlong
        XCTAssertFalse(valid([0xF0, 0x8F, 0xBF, 0xBF]))
        XCTAssertFalse(valid([0xF4, 0x90, 0x80, 0x80]))       // U+110000
        XCTAssertFalse(valid([0xF5, 0x80, 0x80, 0x80]))
        XCTAssertFalse(valid([0xFE]))
        XCTAssertFalse(valid([0xFF]))
        XCTAssertFalse(valid([0xC2]))                         // truncated
        XCTAssertFalse(valid([0xE2, 0x82]))
        XCTAssertFalse(valid([0xC2, 0x41]))
    }

    func testStreamingBoundaryAndFailFast() {
        var v = UTF8Validator()
        XCTAssertTrue(v.isAtBoundary)
        XCTAssertTrue(v.feed([0x61, 0xF0, 0x9F]))
        XCTAssertFalse(v.isAtBoundary)
        XCTAssertTrue(v.feed([0x98]))
        XCTAssertFalse(v.isAtBoundary)
        XCTAssertTrue(v.feed([0x80, 0x62]))
        XCTAssertTrue(v.isAtBoundary)
        // ED A0 fails at the A0, before any third byte arrives.
        XCTAssertTrue(v.feed([0xED]))
        XCTAssertFalse(v.feed([0xA0]))
        XCTAssertTrue(v.hasFailed)
        XCTAssertFalse(v.feed([0x41]))            // sticky
        XCTAssertFalse(v.isAtBoundary)
        v.reset()
        XCTAssertTrue(v.feed([0x41]))
        XCTAssertTrue(v.isAtBoundary)
    }

    func testEveryTwoWaySplitAgreesWithWholeInput() {
        let samples: [[UInt8]] = [
            Array("aé€𝄞 mixed text with ASCII runs 12345678 and €€€".utf8),
            [0xCE, 0xBA, 0xE1, 0xBD, 0xB9, 0xCF, 0x83, 0xCE, 0xBC, 0xCE, 0xB5, 0xED, 0xA0, 0x80, 0x65, 0x64, 0x69, 0x74, 0x65, 0x64],
            [0x41, 0x42, 0x43, 0x44, 0x45, 0x46, 0x47, 0x48, 0x49, 0xF4, 0x90, 0x80, 0x80],
        ]
        for sample in samples {
            let whole = UTF8Validator.isValid(sample)
            XCTAssertEqual(whole, String(validating: sample, as: UTF8.self) != nil)
            for cut in 0...sample.count {
                var v = UTF8Validator()
                let a = v.feed(Array(sample[..<cut]))
                let b = a && v.feed(Array(sample[cut...]))
                XCTAssertEqual(b && v.isAtBoundary, whole, "cut \(cut)")
            }
        }
    }

    func testSequenceLength() {
        let bytes: [UInt8] = [0x41, 0xC3, 0xA9, 0xE2, 0x82, 0xAC, 0xF0, 0x9F, 0x98, 0x80, 0x80, 0xE2, 0x82]
        bytes.withUnsafeBytes { raw in
            XCTAssertEqual(UTF8Validator.sequenceLength(in: raw, at: 0), 1)
            XCTAssertEqual(UTF8Validator.sequenceLength(in: raw, at: 1), 2)
            XCTAssertEqual(UTF8Validator.sequenceLength(in: raw, at: 3), 3)
            XCTAssertEqual(UTF8Validator.sequenceLength(in: raw, at: 6), 4)
            XCTAssertEqual(UTF8Validator.sequenceLength(in: raw, at: 10), 0)
            XCTAssertEqual(UTF8Validator.sequenceLength(in: raw, at: 11), 0)
            XCTAssertEqual(UTF8Validator.sequenceLength(in: raw, at: 13), 0)
            XCTAssertEqual(UTF8Validator.sequenceLength(in: raw, at: -1), 0)
        }
    }

    func testAgreesWithStdlibOnAllTwoByteInputs() {
        var mismatches: [[UInt8]] = []
        for a in 0...255 {
            for b in 0...255 {
                let bytes = [UInt8(a), UInt8(b)]
                if UTF8Validator.isValid(bytes) != (String(validating: bytes, as: UTF8.self) != nil) { mismatches.append(bytes) }
            }
        }
        XCTAssertEqual(mismatches, [])
    }
}
