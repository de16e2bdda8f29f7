// SPDX-License-Identifier: Apache-2.0
import Foundation
import XCTest
@testable import LayercodeCore

// JitterBuffer, driven by scenario scripts in the manner of pjmedia's jbuf tests.
//
// The script language, one command a line (`#` starts a comment; times take an optional
// "ms"; a range is `A..B` or a single `A`):
//
//   config min=40 max=500 initial=80 capacity=60000 threshold=150 history=100
//                                 before anything else; sets JitterBufferConfig fields
//   put A..B [at T] [every I | rate Rx] [start] [end] [short=N] [empty] [marker=M]
//   burst ...                     the same as put (reads better for a burst)
//                                 schedules frames A..B to arrive from T (default: now),
//                                 I ms apart (rate Rx: 20/R ms apart; default: together);
//                                 `start` flags the first turnStart, `end` the last turnEnd,
//                                 `short=N` gives the last N samples, `empty` gives it none.
//                                 Frame k carries samples equal to k.
//   lose A..B                     those scheduled frames never arrive
//   stall D                       a network stall from now: what was due within D arrives
//                                 together at now + D
//   get N | get until T           N frame periods: deliver what has arrived, get(), check
//                                 the output, advance the clock 20 ms
//   flush | flush before S        flush(before: nil) / flush(before: S)
//   resetstats
//   expect key<op>value ...       op is = <= >= < >; keys: delay target concealed
//                                 interruptions interruptionms late dup dropped flushed
//                                 played lost buffered (numbers, ms where durations);
//                                 outcome (of the last get: audio|concealed|prefetching|idle),
//                                 trace (outcomes of the last get command, run-length
//                                 coded: a=audio c=concealed p=prefetching i=idle, e.g.
//                                 p3a10i2), seq (every sequence played so far, as ranges,
//                                 e.g. 1..4,6..10), playing (yes|no), missing (the
//                                 sequences the concealed periods of the last get command
//                                 named, runs written v*n, e.g. 5,11*35)
//
// Every get checks the samples: an audio frame k must hold k for its sampleCount samples
// then zeros, anything else all zeros, nothing past one frame is written, and played
// sequences strictly increase.

private let clockOrigin: UInt64 = 1_000_000_000_000

private func sampleValue(_ sequence: UInt64) -> Int16 { Int16(truncatingIfNeeded: sequence) }

private final class ScenarioRunner {
    private struct Arrival {
        var header: AudioFrameHeader
        var order: Int
    }

    private var config = JitterBufferConfig()
    private var jitter: JitterBuffer?
    private var now: Int64 = 0  // ns since the clock origin
    private var pending: [Arrival] = []
    private var scheduled = 0
    private var played: [UInt64] = []
    private var trace: [Character] = []
    private var missingTrace: [UInt64] = []
    private var lastOutcome: JitterOutcome?
    private(set) var failures: [String] = []
    private var lineNumber = 0
    private var lineText = ""

    private var frameNs: Int64 { Int64(config.frameSamples) * 1_000_000_000 / Int64(config.sampleRate) }

    var buffer: JitterBuffer {
        if let j = jitter { return j }
        let j = JitterBuffer(config: config)
        jitter = j
        return j
    }

    func run(_ script: String) {
        for (i, raw) in script.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            lineNumber = i + 1
            let text = raw.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false)
                .first.map(String.init) ?? ""
            lineText = text.trimmingCharacters(in: .whitespaces)
            let words = lineText.split(separator: " ").map(String.init)
            guard let command = words.first else { continue }
            let args = Array(words.dropFirst())
            switch command {
            case "config": configure(args)
            case "put", "burst": schedule(args)
            case "lose": lose(args)
            case "stall": stall(args)
            case "get": get(args)
            case "flush": flush(args)
            case "resetstats": buffer.resetStats()
            case "expect": expect(args)
            default: fail("unknown command \(command)")
            }
        }
    }

    private func fail(_ message: String) {
        failures.append("line \(lineNumber) `\(lineText)`: \(message)")
    }

    // MARK: Parsing

    private func milliseconds(_ word: String) -> Int64? {
        let digits = word.hasSuffix("ms") ? String(word.dropLast(2)) : word
        guard let value = Double(digits) else { fail("bad time \(word)"); return nil }
        return Int64((value * 1_000_000).rounded())
    }

    private func range(_ word: String) -> ClosedRange<UInt64>? {
        let parts = word.components(separatedBy: "..")
        guard let low = UInt64(parts[0]), let high = UInt64(parts.count == 2 ? parts[1] : parts[0]),
              parts.count <= 2, low <= high else { fail("bad range \(word)"); return nil }
        return low...high
    }

    private func keyValue(_ word: String) -> (String, String)? {
        let parts = word.split(separator: "=", maxSplits: 1).map(String.init)
        guard parts.count == 2 else { return nil }
        return (parts[0], parts[1])
    }

    // MARK: Commands

    private func configure(_ args: [String]) {
        guard jitter == nil else { fail("config after the buffer was created"); return }
        for arg in args {
            guard let (key, text) = keyValue(arg), let value = Int(text) else { fail("bad \(arg)"); continue }
            switch key {
            case "min": config.minDelayMs = value
            case "max": config.maxDelayMs = value
            case "initial": config.initialDelayMs = value
            case "capacity": config.capacityMs = value
            case "threshold": config.interruptionThresholdMs = value
            case "history": config.delayHistoryFrames = value
            default: fail("unknown config key \(key)")
            }
        }
    }

    private func schedule(_ args: [String]) {
        guard let first = args.first, let frames = range(first) else { fail("put needs a range"); return }
        var at = now
        var spacing: Int64 = 0
        var start = false, end = false, empty = false
        var short: Int?
        var marker: UInt32 = 0
        var i = 1
        while i < args.count {
            let word = args[i]
            switch word {
            case "at", "every", "rate":
                guard i + 1 < args.count else { fail("\(word) needs a value"); return }
                let value = args[i + 1]
                i += 1
                if word == "at" {
                    guard let t = milliseconds(value) else { return }
                    at = t
                } else if word == "every" {
                    guard let t = milliseconds(value) else { return }
                    spacing = t
                } else {
                    guard value.hasSuffix("x"), let r = Double(value.dropLast()), r > 0 else {
                        fail("bad rate \(value)"); return
                    }
                    spacing = Int64((Double(frameNs) / r).rounded())
                }
            case "start": start = true
            case "end": end = true
            case "empty": empty = true
            default:
                if let (key, text) = keyValue(word), let value = Int(text) {
                    if key == "short" { short = value } else if key == "marker" {
                        marker = UInt32(value)
                    } else { fail("unknown option \(word)") }
                } else {
                    fail("unknown option \(word)")
                }
            }
            i += 1
        }
        for (k, sequence) in frames.enumerated() {
            var flags: AudioFrameFlags = []
            var count = config.frameSamples
            if start && sequence == frames.lowerBound { flags.insert(.turnStart) }
            if sequence == frames.upperBound {
                if end { flags.insert(.turnEnd) }
                if let s = short { count = s }
                if empty { count = 0 }
            }
            let arrival = at + Int64(k) * spacing
            let header = AudioFrameHeader(sequence: sequence,
                                          arrivalNanoseconds: clockOrigin + UInt64(arrival),
                                          marker: marker, sampleCount: UInt16(count), flags: flags)
            pending.append(Arrival(header: header, order: scheduled))
            scheduled += 1
        }
    }

    private func lose(_ args: [String]) {
        guard args.count == 1, let frames = range(args[0]) else { fail("lose needs a range"); return }
        let before = pending.count
        pending.removeAll { frames.contains($0.header.sequence) }
        if pending.count == before { fail("nothing scheduled to lose") }
    }

    private func stall(_ args: [String]) {
        guard args.count == 1, let duration = milliseconds(args[0]) else { fail("stall needs a duration"); return }
        let end = now + duration
        for i in pending.indices {
            let arrival = Int64(pending[i].header.arrivalNanoseconds - clockOrigin)
            if arrival >= now && arrival < end {
                pending[i].header.arrivalNanoseconds = clockOrigin + UInt64(end)
            }
        }
    }

    private func deliver() {
        let due = pending.filter { Int64($0.header.arrivalNanoseconds - clockOrigin) <= now }
            .sorted { ($0.header.arrivalNanoseconds, $0.order) < ($1.header.arrivalNanoseconds, $1.order) }
        pending.removeAll { Int64($0.header.arrivalNanoseconds - clockOrigin) <= now }
        for arrival in due {
            let samples = [Int16](repeating: sampleValue(arrival.header.sequence),
                                  count: Int(arrival.header.sampleCount))
            samples.withUnsafeBufferPointer { buffer.put(arrival.header, samples: $0) }
        }
    }

    private func get(_ args: [String]) {
        var periods = 0
        if args.count == 1, let n = Int(args[0]) {
            periods = n
        } else if args.count == 2, args[0] == "until", let t = milliseconds(args[1]) {
            periods = t > now ? Int((t - now + frameNs - 1) / frameNs) : 0
        } else {
            fail("get N | get until T"); return
        }
        trace = []
        missingTrace = []
        let frame = config.frameSamples
        let guardSamples = 4
        var out = [Int16](repeating: 0, count: frame + guardSamples)
        for _ in 0..<periods {
            deliver()
            for i in out.indices { out[i] = 0x5A5A }
            let outcome = out.withUnsafeMutableBufferPointer {
                buffer.get(into: $0, nowNanoseconds: clockOrigin + UInt64(now))
            }
            lastOutcome = outcome
            let at = "at \(now / 1_000_000)ms"
            if out[frame...].contains(where: { $0 != 0x5A5A }) { fail("\(at): wrote past one frame") }
            switch outcome {
            case .audio(let h):
                trace.append("a")
                let count = Int(h.sampleCount)
                if out[0..<count].contains(where: { $0 != sampleValue(h.sequence) }) {
                    fail("\(at): frame \(h.sequence) played other samples: \(Array(out[0..<min(count, 4)]))")
                }
                if out[count..<frame].contains(where: { $0 != 0 }) { fail("\(at): no zeros after a short frame") }
                if let last = played.last, h.sequence <= last { fail("\(at): played \(h.sequence) after \(last)") }
                played.append(h.sequence)
            case .concealed, .prefetching, .idle:
                switch outcome {
                case .concealed(let missing):
                    trace.append("c")
                    missingTrace.append(missing)
                case .prefetching: trace.append("p")
                default: trace.append("i")
                }
                if out[0..<frame].contains(where: { $0 != 0 }) { fail("\(at): \(outcome) is not silence") }
            }
            now += frameNs
        }
    }

    private func flush(_ args: [String]) {
        if args.isEmpty {
            buffer.flush(before: nil)
        } else if args.count == 2, args[0] == "before", let s = UInt64(args[1]) {
            buffer.flush(before: s)
        } else {
            fail("flush | flush before S")
        }
    }

    // MARK: Expectations

    private static func runLength(_ trace: [Character]) -> String {
        var result = ""
        var i = 0
        while i < trace.count {
            var j = i
            while j < trace.count && trace[j] == trace[i] { j += 1 }
            result += "\(trace[i])\(j - i)"
            i = j
        }
        return result
    }

    private static func runs(_ values: [UInt64]) -> String {
        var parts: [String] = []
        var i = 0
        while i < values.count {
            var j = i
            while j < values.count && values[j] == values[i] { j += 1 }
            parts.append(j - i == 1 ? "\(values[i])" : "\(values[i])*\(j - i)")
            i = j
        }
        return parts.joined(separator: ",")
    }

    private static func ranges(_ sequences: [UInt64]) -> String {
        var parts: [String] = []
        var i = 0
        while i < sequences.count {
            var j = i
            while j + 1 < sequences.count && sequences[j + 1] == sequences[j] + 1 { j += 1 }
            parts.append(i == j ? "\(sequences[i])" : "\(sequences[i])..\(sequences[j])")
            i = j + 1
        }
        return parts.joined(separator: ",")
    }

    private func expect(_ args: [String]) {
        let stats = buffer.stats
        for arg in args {
            guard let opRange = arg.range(of: "<=") ?? arg.range(of: ">=") ?? arg.range(of: "=")
                    ?? arg.range(of: "<") ?? arg.range(of: ">") else { fail("bad expectation \(arg)"); continue }
            let key = String(arg[..<opRange.lowerBound])
            let op = String(arg[opRange])
            var wanted = String(arg[opRange.upperBound...])
            if wanted.hasSuffix("ms") { wanted.removeLast(2) }

            let numbers: [String: Int] = [
                "delay": stats.currentDelayMs, "target": stats.targetDelayMs,
                "concealed": stats.concealedMs, "interruptions": stats.interruptions,
                "interruptionms": stats.interruptionMs, "late": stats.lateFrames,
                "dup": stats.duplicateFrames, "dropped": stats.overflowDroppedFrames,
                "flushed": stats.flushedFrames, "played": stats.playedFrames,
                "lost": stats.lostFrames, "buffered": buffer.bufferedFrames,
            ]
            if let actual = numbers[key] {
                guard let value = Int(wanted) else { fail("bad number in \(arg)"); continue }
                let ok: Bool
                switch op {
                case "=": ok = actual == value
                case "<=": ok = actual <= value
                case ">=": ok = actual >= value
                case "<": ok = actual < value
                default: ok = actual > value
                }
                if !ok { fail("expected \(key)\(op)\(value), got \(actual) (\(stats))") }
                continue
            }
            let actual: String
            switch key {
            case "outcome":
                switch lastOutcome {
                case .audio?: actual = "audio"
                case .concealed?: actual = "concealed"
                case .prefetching?: actual = "prefetching"
                case .idle?: actual = "idle"
                case nil: actual = "none"
                }
            case "trace": actual = Self.runLength(trace)
            case "seq": actual = Self.ranges(played)
            case "missing": actual = Self.runs(missingTrace)
            case "playing": actual = buffer.isPlayingTurn ? "yes" : "no"
            default: fail("unknown key \(key)"); continue
            }
            if op != "=" { fail("\(key) only compares with =") }
            if actual != wanted { fail("expected \(key)=\(wanted), got \(actual)") }
        }
    }
}

final class JitterBufferTests: XCTestCase {
    private func scenario(_ script: String, file: StaticString = #filePath, line: UInt = #line) {
        let runner = ScenarioRunner()
        runner.run(script)
        for failure in runner.failures { XCTFail(failure, file: file, line: line) }
    }

    // MARK: Scenarios

    func testSteadyRealTimeArrivalPlaysEverythingWithoutConcealment() {
        scenario("""
        put 1..200 at 0ms every 20ms start end
        get 3
        expect trace=p3 playing=no          # initial target 80 ms: four frames
        get 100
        expect trace=a100 playing=yes delay<=80 concealed=0
        get 110
        expect trace=a100i10 outcome=idle playing=no
        expect seq=1..200 played=200 concealed=0 interruptions=0 late=0 lost=0 dup=0
        expect target=40 delay=0 buffered=0
        """)
    }

    func testFiveTimesRealTimeTTSBurstNeverUnderrunsAndKeepsTheTargetLow() {
        scenario("""
        burst 1..250 at 0ms rate 5x start end   # 5 s of audio arriving over 1 s
        get 1
        expect trace=p1
        get 60
        expect trace=a60 target=40 delay>=3000 concealed=0
        get 200
        expect trace=a190i10 seq=1..250 played=250 concealed=0 interruptions=0 target=40
        """)
    }

    func testNetworkStallMidTurnCountsOneInterruptionRaisesTheTargetThenItDecays() {
        scenario("""
        put 1..400 at 0ms every 20ms start end
        get 100                      # plays 1..97 by 1980 ms; 98..100 buffered
        expect target=40 concealed=0
        stall 400ms                  # frames due 2000..2380 (101..120) arrive at 2400
        get 20
        expect trace=a3c17 playing=yes interruptions=1 concealed=340 interruptionms=340
        get 10
        expect trace=a10 target>=300 target<=360 lost=0 late=0
        get 300
        expect trace=a290i10 target=40 seq=1..400 played=400 lost=0 late=0
        expect interruptions=1 concealed=340
        """)
    }

    func testReorderedFramesWithinTheWindowPlayInOrder() {
        scenario("""
        put 1..4 at 0ms every 20ms start
        put 6 at 80ms
        put 5 at 90ms
        put 8 at 120ms
        put 7 at 130ms
        put 11 at 180ms
        put 10 at 185ms
        put 9 at 190ms
        put 12..20 at 220ms every 20ms end
        get 40
        expect seq=1..20 played=20 concealed=0 late=0 dup=0 lost=0
        """)
    }

    func testReorderingAtTheStartOfATurnPlaysFromTheLowestSequence() {
        scenario("""
        put 3 at 0ms start
        put 1..2 at 10ms
        put 4..10 at 20ms end
        get 12
        expect trace=p1a10i1 seq=1..10 late=0 dropped=0
        """)
    }

    func testDuplicatesAreDroppedAndCounted() {
        scenario("""
        put 1..10 at 0ms start end
        put 3 at 0ms
        put 3..4 at 10ms
        put 10 at 10ms
        get 12
        expect trace=a10i2 dup=4 seq=1..10 played=10 late=0
        """)
    }

    func testLateFramesAreCountedAndNeverPlayed() {
        scenario("""
        put 1..20 at 0ms every 20ms start end
        lose 5
        get 6                        # p3, then 1..3
        put 5 at 150ms               # its play time was 140 ms
        put 2 at 150ms               # played long ago
        get 30
        expect trace=a1c1a15i13 seq=1..4,6..20 late=2 lost=1 concealed=20 interruptions=0
        expect played=19
        """)
    }

    func testMissingFrameIsConcealedThenSkippedWhenLaterFramesAreBuffered() {
        scenario("""
        put 1..40 at 0ms start end
        lose 5
        get 5
        expect trace=a4c1 outcome=concealed lost=1 concealed=20
        get 40
        expect trace=a35i5 seq=1..4,6..40 lost=1 concealed=20 interruptions=0
        """)
    }

    func testMissingFrameAfterAnUnderrunIsSkippedWhenPlayoutResumes() {
        scenario("""
        put 1..10 at 0ms every 20ms start
        # 11 never arrives
        put 12..30 at 600ms every 20ms end
        get 13                       # p3, then 1..10 (the last at 240 ms)
        expect trace=p3a10 playing=yes
        get 35                       # 260..940: dry, re-buffering until the turnEnd is in
        expect trace=c35 concealed=700 interruptions=1 interruptionms=700 lost=0
        get 20
        expect trace=a19i1 seq=1..10,12..30 lost=1
        put 11 at 1350ms
        get 1
        expect late=1 seq=1..10,12..30 concealed=700 interruptions=1
        """)
    }

    func testConcealmentShorterThanTheThresholdIsNoInterruption() {
        scenario("""
        put 1..40 at 0ms start end
        lose 5..11                   # 7 frames: 140 ms
        get 45
        expect concealed=140 interruptions=0 interruptionms=0 lost=7 seq=1..4,12..40
        """)
        scenario("""
        put 1..40 at 0ms start end
        lose 5..12                   # 8 frames: 160 ms
        get 45
        expect concealed=160 interruptions=1 interruptionms=160 lost=8 seq=1..4,13..40
        """)
    }

    func testOverflowDropsTheOldestFrames() {
        scenario("""
        config capacity=200          # 10 frames
        put 1..30 at 0ms start end
        get 12
        expect trace=a10i2 dropped=20 seq=21..30 buffered=0 late=0
        """)
    }

    func testOverflowWhilePlayingKeepsTheNewestAudio() {
        scenario("""
        config capacity=200
        put 1..5 at 0ms start
        get 2
        expect seq=1..2
        put 6..30 at 40ms end        # 25 more; room for 10 in the window
        get 12
        expect dropped=18 seq=1..2,21..30 trace=a10i2
        put 10 at 250ms
        get 1
        expect late=1
        """)
    }

    func testFrameOlderThanTheWindowBeforePlayoutIsDroppedAsTheOldest() {
        scenario("""
        config capacity=200
        put 20..27 at 0ms start
        put 5 at 0ms                 # 22 below the newest: does not fit, and it is the oldest
        put 19 at 0ms                # fits: extends the window down
        put 28 at 0ms end
        get 13
        expect dropped=1 seq=19..28 trace=a10i3
        """)
    }

    func testFlushMidTurnThenANewTurnPrefetches() {
        scenario("""
        put 1..100 at 0ms every 20ms start       # turn A, still streaming
        get 30                                   # plays 1..27; 28..30 buffered
        expect playing=yes seq=1..27
        flush before 101                         # barge-in; 31..100 still in flight
        expect flushed=3 playing=no buffered=0 delay=0
        get 5
        expect trace=i5 flushed=8                # 31..35 arrived and were dropped
        put 101..150 at 700ms every 20ms start end
        get 2
        expect trace=p1a1 playing=yes            # the target is down to 40 ms by now
        get 100
        expect seq=1..27,101..150 flushed=73 late=0 concealed=0 played=77
        """)
    }

    func testFlushKeepsFramesAtOrAfterItsSequenceForTheNextTurn() {
        scenario("""
        put 1..20 at 0ms start
        put 21..25 at 0ms start end              # the next turn, already here
        get 3
        expect seq=1..3 playing=yes
        flush before 21
        expect flushed=17 buffered=5 playing=no
        get 7
        expect trace=a5i2 seq=1..3,21..25        # its turnEnd is buffered: it plays at once
        """)
    }

    func testFlushOfEverythingEndsTheTurn() {
        scenario("""
        put 1..20 at 0ms start
        get 3
        flush
        expect flushed=17 buffered=0 playing=no
        get 2
        expect trace=i2 concealed=0
        put 15 at 40ms                           # an old frame of the flushed turn
        get 1
        expect flushed=18 trace=i1
        put 21..24 at 120ms start end
        get 5
        expect trace=a4i1 seq=1..3,21..24
        """)
    }

    func testShortAnswerWithItsTurnEndBufferedPlaysWithoutWaiting() {
        scenario("""
        put 1..3 at 0ms start
        put 4 at 0ms end short=100
        get 6
        expect trace=a4i2 seq=1..4 played=4 concealed=0 delay=0
        """)
    }

    func testFlagsOnlyTurnEndPlaysAsAudioThenIdles() {
        scenario("""
        put 1..3 at 0ms start
        put 4 at 0ms end empty
        get 6
        expect trace=a4i2 seq=1..4 concealed=0
        """)
    }

    func testTurnEndArrivingAfterTheAudioMeansConcealmentUntilItComes() {
        scenario("""
        put 1..5 at 0ms start
        put 6 at 200ms end empty
        get 3
        expect trace=a3                          # 100 ms buffered >= 80 ms
        get 7
        expect trace=a2c5 concealed=100 playing=yes
        get 3
        expect trace=a1i2 concealed=100 seq=1..6 playing=no
        """)
    }

    func testPrefetchGivesUpWaitingAfterMaxDelay() {
        scenario("""
        put 1..2 at 0ms start                    # 40 ms: under the 80 ms target, no end
        get 30
        expect trace=p25a2c3 concealed=60 seq=1..2
        """)
    }

    func testIdleSilenceIsNotConcealment() {
        scenario("""
        get 10
        expect trace=i10 outcome=idle concealed=0 playing=no
        put 1..3 at 200ms start end
        get 10
        expect trace=a3i7 concealed=0 interruptions=0
        """)
    }

    func testNextTurnBufferedDuringPlayoutStartsAfterTheTurnEnd() {
        scenario("""
        put 1..10 at 0ms start end
        put 11..30 at 20ms every 20ms start end
        get 40
        expect seq=1..30 concealed=0
        """)
    }

    func testTargetIsClampedToMaxDelay() {
        scenario("""
        config max=200
        put 1..30 at 0ms every 20ms start
        get 35
        put 31..60 at 2600ms every 20ms end
        get 140
        expect target=200 seq=1..60 interruptions=1
        """)
    }

    func testResetStatsZeroesTheCounters() {
        scenario("""
        put 1..10 at 0ms start end
        put 3 at 0ms
        lose 5
        get 12
        expect dup=1 lost=1 concealed=20 played=9
        resetstats
        expect dup=0 lost=0 concealed=0 played=0 target=80
        """)
    }

    func testConcealedPeriodsNameTheMissingSequence() {
        // A lost frame: its own sequence, once.
        scenario("""
        put 1..40 at 0ms start end
        lose 5
        get 5
        expect trace=a4c1 missing=5
        get 40
        expect missing= seq=1..4,6..40
        """)
        // An underrun: each re-buffering period names the next sequence expected.
        scenario("""
        put 1..10 at 0ms every 20ms start
        put 12..30 at 600ms every 20ms end
        get 13
        get 35
        expect trace=c35 missing=11*35
        """)
    }

    // MARK: Direct checks

    /// The buffer never looks inside a payload: the bytes come back as they went in, and
    /// only they are written (a period that is not audio writes nothing at all).
    func testPayloadBytesComeBackByteForByteAndNothingElseIsWritten() {
        var config = JitterBufferConfig()
        config.maxPayloadBytes = 50
        config.minDelayMs = 0
        config.initialDelayMs = 0
        let jitter = JitterBuffer(config: config)
        XCTAssertEqual(jitter.maxPayloadBytes, 50)
        let payload = (0..<37).map { UInt8(truncatingIfNeeded: $0 &* 29 &+ 3) }
        var out = [UInt8](repeating: 0xEE, count: 50)
        let idle = out.withUnsafeMutableBytes { jitter.get(payloadInto: $0, nowNanoseconds: 0) }
        XCTAssertEqual(idle, .idle)
        XCTAssertEqual(out, [UInt8](repeating: 0xEE, count: 50))
        let header = AudioFrameHeader(sequence: 1, arrivalNanoseconds: 0, marker: 4, kind: .pcm16,
                                      byteCount: payload.count, sampleCount: 320, flags: [.turnStart, .turnEnd])
        payload.withUnsafeBytes { jitter.put(header, payload: $0) }
        let played = out.withUnsafeMutableBytes { jitter.get(payloadInto: $0, nowNanoseconds: 0) }
        XCTAssertEqual(played, .audio(header))
        XCTAssertEqual(Array(out[0..<37]), payload)
        XCTAssertEqual(Array(out[37...]), [UInt8](repeating: 0xEE, count: 13))
    }

    /// Delay and prefetch count decoded duration (`sampleCount`), never payload bytes: a
    /// compressed frame of a few bytes is still 20 ms of audio.
    func testBufferedDelayCountsDecodedSamplesNotPayloadBytes() {
        var config = JitterBufferConfig()
        config.maxPayloadBytes = 100
        let jitter = JitterBuffer(config: config)
        let payload = [UInt8](repeating: 1, count: 10)
        for s: UInt64 in 1...3 {
            let header = AudioFrameHeader(sequence: s, arrivalNanoseconds: 0, kind: .pcm16,
                                          byteCount: 10, sampleCount: 320, flags: s == 1 ? .turnStart : [])
            payload.withUnsafeBytes { jitter.put(header, payload: $0) }
        }
        XCTAssertEqual(jitter.stats.currentDelayMs, 60)
    }

    func testStatsStartAtTheInitialTarget() {
        var config = JitterBufferConfig()
        config.initialDelayMs = 1_000
        let jitter = JitterBuffer(config: config)
        XCTAssertEqual(jitter.stats, JitterStats(targetDelayMs: 500))
        XCTAssertEqual(jitter.capacityFrames, 3_000)
        XCTAssertFalse(jitter.isPlayingTurn)
    }

    func testHugeSequenceJumpDropsEverythingBufferedInOnePass() {
        let jitter = JitterBuffer(config: JitterBufferConfig())
        let samples = [Int16](repeating: 1, count: 320)
        samples.withUnsafeBufferPointer { buffer in
            for s: UInt64 in 1...10 {
                jitter.put(AudioFrameHeader(sequence: s, arrivalNanoseconds: 0, sampleCount: 320),
                           samples: buffer)
            }
            jitter.put(AudioFrameHeader(sequence: 1 << 40, arrivalNanoseconds: 0, sampleCount: 320,
                                        flags: .turnEnd), samples: buffer)
        }
        XCTAssertEqual(jitter.stats.overflowDroppedFrames, 10)
        XCTAssertEqual(jitter.bufferedFrames, 1)
        var out = [Int16](repeating: 0, count: 320)
        let outcome = out.withUnsafeMutableBufferPointer { jitter.get(into: $0, nowNanoseconds: 0) }
        guard case .audio(let h) = outcome else { return XCTFail("expected audio, got \(outcome)") }
        XCTAssertEqual(h.sequence, 1 << 40)
    }

    /// Random arrivals (in order, reordered, duplicated, late, sequence jumps, turn flags,
    /// short and flags-only frames), gets and flushes against a small buffer: every frame
    /// put is accounted for exactly once, played frames keep order and content, and the
    /// buffer stays within its capacity.
    func testRandomizedOperationsAccountForEveryFrame() {
        var config = JitterBufferConfig()
        config.capacityMs = 400  // 20 frames, so overflow happens
        let jitter = JitterBuffer(config: config)
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        func random(_ n: UInt64) -> UInt64 {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return (state >> 33) % n
        }
        var samples = [Int16](repeating: 0, count: 320)
        var out = [Int16](repeating: 0, count: 320)
        var next: UInt64 = 1
        var now: UInt64 = 1_000_000_000
        var puts = 0
        var lastPlayed: UInt64 = 0
        for step in 0..<100_000 {
            let choice = random(100)
            if choice < 48 {
                var sequence = next
                switch random(40) {
                case 0: sequence = next > 30 ? next - random(30) : next  // late or duplicate
                case 1: sequence = next + random(4)                     // ahead: a gap for now
                default: next += 1
                }
                if random(400) == 0 { next += 100 }                     // a jump past the window
                var flags: AudioFrameFlags = []
                if random(60) == 0 { flags.insert(.turnEnd) }
                if random(60) == 0 { flags.insert(.turnStart) }
                let count = random(10) == 0 ? Int(random(321)) : 320
                for i in 0..<count { samples[i] = sampleValue(sequence) }
                let header = AudioFrameHeader(sequence: sequence,
                                              arrivalNanoseconds: now + random(30) * 1_000_000,
                                              sampleCount: UInt16(count), flags: flags)
                samples.withUnsafeBufferPointer { jitter.put(header, samples: $0) }
                puts += 1
            } else if choice < 98 {
                let outcome = out.withUnsafeMutableBufferPointer { jitter.get(into: $0, nowNanoseconds: now) }
                now += 20_000_000
                if case .audio(let h) = outcome {
                    XCTAssertGreaterThan(h.sequence, lastPlayed, "step \(step)")
                    lastPlayed = h.sequence
                    let count = Int(h.sampleCount)
                    XCTAssertFalse(out[0..<count].contains { $0 != sampleValue(h.sequence) }, "step \(step)")
                    XCTAssertFalse(out[count...].contains { $0 != 0 }, "step \(step)")
                } else {
                    XCTAssertFalse(out.contains { $0 != 0 }, "step \(step): \(outcome)")
                }
            } else {
                jitter.flush(before: random(2) == 0 ? nil : next - random(5))
            }
            XCTAssertLessThanOrEqual(jitter.bufferedFrames, jitter.capacityFrames)
            let s = jitter.stats
            XCTAssertLessThanOrEqual(s.currentDelayMs, config.capacityMs)
            XCTAssertEqual(puts, s.lateFrames + s.flushedFrames + s.duplicateFrames
                           + s.overflowDroppedFrames + s.playedFrames + jitter.bufferedFrames,
                           "step \(step): \(s)")
            XCTAssertTrue((config.minDelayMs...config.maxDelayMs).contains(s.targetDelayMs))
            if puts != s.lateFrames + s.flushedFrames + s.duplicateFrames
                + s.overflowDroppedFrames + s.playedFrames + jitter.bufferedFrames { return }
        }
        let s = jitter.stats
        // The mix really exercised every path.
        for (name, value) in [("late", s.lateFrames), ("flushed", s.flushedFrames),
                              ("dup", s.duplicateFrames), ("overflow", s.overflowDroppedFrames),
                              ("played", s.playedFrames), ("lost", s.lostFrames),
                              ("interruptions", s.interruptions)] {
            XCTAssertGreaterThan(value, 0, name)
        }
    }

    func testPutFromFrameRingMovesEveryWaitingFrame() {
        let ring = FrameRing(capacityFrames: 8)
        let jitter = JitterBuffer(config: JitterBufferConfig())
        var frame = [Int16](repeating: 0, count: 320)
        for s: UInt64 in 1...5 {
            for i in frame.indices { frame[i] = sampleValue(s) }
            let h = AudioFrameHeader(sequence: s, arrivalNanoseconds: 0, marker: UInt32(s),
                                     sampleCount: s == 5 ? 10 : 320, flags: s == 5 ? .turnEnd : [])
            XCTAssertTrue(frame.withUnsafeBufferPointer { ring.push(h, samples: $0) })
        }
        XCTAssertEqual(jitter.put(from: ring, maxFrames: 2), 2)
        XCTAssertEqual(jitter.put(from: ring), 3)
        XCTAssertEqual(ring.readableFrames, 0)
        XCTAssertEqual(jitter.bufferedFrames, 5)
        XCTAssertEqual(jitter.stats.currentDelayMs, 80)  // 4 full frames and 10 samples
        var out = [Int16](repeating: 0x5A5A, count: 320)
        for s: UInt64 in 1...5 {
            let outcome = out.withUnsafeMutableBufferPointer { jitter.get(into: $0, nowNanoseconds: 0) }
            XCTAssertEqual(outcome, .audio(AudioFrameHeader(sequence: s, arrivalNanoseconds: 0,
                                                            marker: UInt32(s), sampleCount: s == 5 ? 10 : 320,
                                                            flags: s == 5 ? .turnEnd : [])))
            let count = s == 5 ? 10 : 320
            XCTAssertEqual(Array(out[0..<count]), [Int16](repeating: sampleValue(s), count: count))
            XCTAssertEqual(Array(out[count...]), [Int16](repeating: 0, count: 320 - count))
        }
        XCTAssertFalse(jitter.isPlayingTurn)
        XCTAssertEqual(out.withUnsafeMutableBufferPointer { jitter.get(into: $0, nowNanoseconds: 0) }, .idle)
    }
}
