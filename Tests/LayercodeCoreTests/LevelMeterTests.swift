// SPDX-License-Identifier: Apache-2.0
import Foundation
import XCTest
@testable import LayercodeCore

// LevelMeter: RMS / 32768 over exact update intervals (sampleRate / updatesPerSecond).

final class LevelMeterTests: XCTestCase {

    private func levels(_ meter: inout LevelMeter, _ samples: [Int16]) -> Float? {
        samples.withUnsafeBufferPointer { meter.process($0) }
    }

    private func sine(amplitude: Double, frequency: Double, sampleRate: Double, count: Int) -> [Int16] {
        (0..<count).map { Int16((amplitude * sin(2 * Double.pi * frequency * Double($0) / sampleRate)).rounded()) }
    }

    func testFullScaleSquareWaveReadsOne() {
        var meter = LevelMeter(sampleRate: 8000)
        let square = (0..<400).map { $0 % 2 == 0 ? Int16.max : -Int16.max }
        let level = levels(&meter, square)
        XCTAssertNotNil(level)
        XCTAssertEqual(level ?? 0, 1.0, accuracy: 0.001)
    }

    func testNegativeFullScaleIsClampedToOne() {
        var meter = LevelMeter(sampleRate: 8000)
        XCTAssertEqual(levels(&meter, [Int16](repeating: .min, count: 400)), 1.0)
    }

    func testHalfScaleSineReadsAboutPoint354() {
        var meter = LevelMeter(sampleRate: 8000)
        // 400 Hz at 8 kHz: 20 samples a period, exactly 20 periods an interval.
        let level = levels(&meter, sine(amplitude: 16384, frequency: 400, sampleRate: 8000, count: 400))
        XCTAssertEqual(level ?? 0, 0.35355, accuracy: 0.001)
    }

    func testHalfScaleSineAt48kHzWithTenUpdatesASecond() {
        var meter = LevelMeter(sampleRate: 48_000, updatesPerSecond: 10)
        XCTAssertEqual(meter.intervalSamples, 4800)
        let level = levels(&meter, sine(amplitude: 16384, frequency: 1000, sampleRate: 48_000, count: 4800))
        XCTAssertEqual(level ?? 0, 0.35355, accuracy: 0.001)
    }

    func testSilenceReadsZero() {
        var meter = LevelMeter(sampleRate: 8000)
        XCTAssertEqual(levels(&meter, [Int16](repeating: 0, count: 400)), 0)
    }

    func testUpdateCadenceIsExactWhateverTheChunking() {
        // 8 kHz, 20 updates/s → every 400 samples; fed in 160-sample (20 ms) frames.
        var meter = LevelMeter(sampleRate: 8000, updatesPerSecond: 20)
        XCTAssertEqual(meter.intervalSamples, 400)
        let frame = [Int16](repeating: 1000, count: 160)
        var updatesAt: [Int] = []
        for k in 1...50 where levels(&meter, frame) != nil { updatesAt.append(k) }
        // An update when the running total crosses a multiple of 400: 480, 800, 1200, ...
        let expected = (1...50).filter { ($0 * 160) / 400 > (($0 - 1) * 160) / 400 }
        XCTAssertEqual(updatesAt, expected)
        XCTAssertEqual(updatesAt.count, 20, "one second of audio: exactly 20 updates")
        XCTAssertEqual(Array(updatesAt.prefix(4)), [3, 5, 8, 10])
    }

    func testPartialIntervalCarriesOverBetweenCalls() {
        var meter = LevelMeter(sampleRate: 8000)
        XCTAssertNil(levels(&meter, [Int16](repeating: 16384, count: 399)))
        XCTAssertEqual(levels(&meter, [16384]) ?? 0, 0.5, accuracy: 1e-6)
        XCTAssertNil(levels(&meter, []))
    }

    func testSeveralIntervalsInOneCallReturnTheLastCompletedOne() {
        var meter = LevelMeter(sampleRate: 8000)
        // Loud interval, then a silent one, then 200 samples of a third: the silent one wins.
        let samples = [Int16](repeating: 20000, count: 400) + [Int16](repeating: 0, count: 400)
            + [Int16](repeating: 30000, count: 200)
        XCTAssertEqual(levels(&meter, samples), 0)
        // The 200 carried samples complete the next interval with 200 more.
        XCTAssertEqual(levels(&meter, [Int16](repeating: 30000, count: 200)) ?? 0,
                       Float(30000.0 / 32768.0), accuracy: 1e-5)
    }

    func testResetDiscardsThePartialInterval() {
        var meter = LevelMeter(sampleRate: 8000)
        _ = levels(&meter, [Int16](repeating: 30000, count: 300))
        meter.reset()
        XCTAssertNil(levels(&meter, [Int16](repeating: 0, count: 399)))
        XCTAssertEqual(levels(&meter, [0]), 0)
    }

    func testDegenerateRatesStillGiveAPositiveInterval() {
        XCTAssertEqual(LevelMeter(sampleRate: 8000, updatesPerSecond: 0).intervalSamples, 8000)
        XCTAssertEqual(LevelMeter(sampleRate: 10, updatesPerSecond: 100).intervalSamples, 1)
        XCTAssertEqual(LevelMeter(sampleRate: 0).intervalSamples, 1)
    }

    func testLevelOfRMSIsClampedToZeroOne() {
        XCTAssertEqual(LevelMeter.level(rms: 0), 0)
        XCTAssertEqual(LevelMeter.level(rms: 16384), 0.5)
        XCTAssertEqual(LevelMeter.level(rms: 32768), 1)
        XCTAssertEqual(LevelMeter.level(rms: 1e9), 1)
        XCTAssertEqual(LevelMeter.level(rms: -5), 0)
        XCTAssertEqual(LevelMeter.level(rms: .nan), 0)
        XCTAssertEqual(LevelMeter.level(rms: .infinity), 1)
    }
}
