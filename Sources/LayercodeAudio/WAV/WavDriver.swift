// SPDX-License-Identifier: Apache-2.0
import CPosix
import LayercodeCore
import Synchronization

/// The WAV-file driver of the audio engine: a microphone that is a WAV file feeding the
/// engine's CaptureSide, and a speaker that is a WAV file fed by its PlaybackSide, for
/// tests, demos and benchmarks that need the real engine without a sound card.
///
/// One AudioThread runs both directions in real time. Each period it reads the next period
/// of the input file into the CaptureSide, renders the next period of the PlaybackSide
/// (agent audio or silence, everything a speaker would get) into the output file, then
/// sleeps with clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME) until the next absolute
/// deadline, so the files run at wall-clock speed without drift. Periods of fractional
/// length (10 ms at 11025 Hz) alternate between 110 and 111 frames for the same reason.
/// The loop allocates, locks and logs nothing; its syscalls are the file read and write and
/// the sleep (it is a file device).
///
/// After the input file ends the microphone keeps delivering silence, as a real one keeps
/// going, and `inputFinished` turns true; with `loopInput` it starts over instead. A thread
/// that falls more than half a second behind (stopped in a debugger, starved) drops the lost
/// time, like an xrun, rather than racing through it; `lateResets` counts those. An output
/// file that cannot be written (disk full) ends the thread and raises the engine's
/// FailureLatch, as a failed ALSA device does.
///
/// Thread safety: like AlsaDriver, `start` and `stop` belong to one thread (the event loop);
/// `inputFinished` and the counters may be read from any thread.
public final class WavDriver: AudioDriver, @unchecked Sendable {
    public let periodMilliseconds: Int
    /// Frames delivered to the capture side (file audio and the silence after it) and
    /// rendered into the output file. Device thread stores, anyone loads; relaxed.
    public let capturedFrames = Atomic<UInt64>(0)
    public let renderedFrames = Atomic<UInt64>(0)
    /// Times the thread fell too far behind and skipped ahead. Relaxed.
    public let lateResets = Atomic<Int>(0)

    private let reader: WavReader?
    private let writer: WavWriter?
    private let outputRate: Int
    private let loopInput: Bool
    private var thread: AudioThread?
    private var stopped = false
    private var failures: FailureLatch?
    private let inputBuffer: UnsafeMutablePointer<Int16>
    private let outputBuffer: UnsafeMutablePointer<Int16>
    private let inputCapacity: Int
    private let outputCapacity: Int
    private let finished = Atomic<Bool>(false)

    private static let maxLagNanoseconds: UInt64 = 500_000_000

    /// Opens the files (nil skips that direction). The microphone runs at the input file's
    /// rate; the output file is 16-bit mono at `outputSampleRate`.
    /// Throws LayercodeError(.audio, "<path>: ...") when a file cannot be opened, read as
    /// WAV or created, and LayercodeError(.invalidArgument) for a period outside 1...1000 ms
    /// or an output rate outside 8000...192000 Hz (checked before the file is created).
    public convenience init(inputPath: String?, outputPath: String?, outputSampleRate: Int = 16_000,
                periodMilliseconds: Int = 10, loopInput: Bool = false) throws(LayercodeError) {
        guard (1...1000).contains(periodMilliseconds) else {
            throw LayercodeError(.invalidArgument,
                                 "WAV device: period 1...1000 ms expected (got \(periodMilliseconds) ms)")
        }
        guard outputPath == nil || (8000...192_000).contains(outputSampleRate) else {
            throw LayercodeError(.invalidArgument,
                                 "sample rates must be 8000..192000 Hz (got \(outputSampleRate))")
        }
        let reader = try inputPath.map { (path) throws(LayercodeError) in try WavReader(path: path) }
        let writer = try outputPath.map { (path) throws(LayercodeError) in
            try WavWriter(path: path, sampleRate: outputSampleRate, channels: 1)
        }
        // Everything that can fail ran before the object exists (Embedded Swift does not free
        // an instance whose designated initializer throws).
        self.init(reader: reader, writer: writer, outputSampleRate: outputSampleRate,
                  periodMilliseconds: periodMilliseconds, loopInput: loopInput)
    }

    private init(reader: WavReader?, writer: WavWriter?, outputSampleRate: Int,
                 periodMilliseconds: Int, loopInput: Bool) {
        self.reader = reader
        self.writer = writer
        self.periodMilliseconds = periodMilliseconds
        self.loopInput = loopInput
        outputRate = outputSampleRate
        inputCapacity = Self.maxPeriodFrames(rate: reader?.sampleRate ?? 0, ms: periodMilliseconds)
        outputCapacity = Self.maxPeriodFrames(rate: writer == nil ? 0 : outputSampleRate, ms: periodMilliseconds)
        inputBuffer = .allocate(capacity: inputCapacity)
        inputBuffer.initialize(repeating: 0, count: inputCapacity)
        outputBuffer = .allocate(capacity: outputCapacity)
        outputBuffer.initialize(repeating: 0, count: outputCapacity)
    }

    deinit {
        stop()
        inputBuffer.deallocate()
        outputBuffer.deallocate()
    }

    public var inputFormat: DeviceFormat? {
        reader.map { DeviceFormat(sampleRate: $0.sampleRate, channels: 1) }
    }
    public var outputFormat: DeviceFormat? {
        writer == nil ? nil : DeviceFormat(sampleRate: outputRate, channels: 1)
    }
    public var captureXruns: Int { 0 }
    public var playbackXruns: Int { 0 }

    /// True once the input file has ended and the microphone delivers silence (never with
    /// `loopInput`, unless the file cannot be rewound or holds no audio).
    public var inputFinished: Bool { finished.load(ordering: .acquiring) }

    /// Whether the thread runs under SCHED_FIFO.
    public var isRealtime: Bool { thread?.isRealtime ?? false }

    /// Starts the device thread. A no-op when running, after `stop()`, or with no files.
    public func start(capture: CaptureSide?, playback: PlaybackSide?, failures: FailureLatch) {
        guard thread == nil, !stopped else { return }
        self.failures = failures
        let input = reader.flatMap { r in capture.map { (r, $0) } }
        let output = writer.flatMap { w in playback.map { (w, $0) } }
        guard input != nil || output != nil else { return }
        // Unretained: the thread never outlives the driver, because stop() (also run by
        // deinit) joins it; a strong capture would keep the driver alive until then.
        let driver = Unmanaged.passUnretained(self)
        let audioThread = AudioThread(name: "lc-wav") { me in
            driver.takeUnretainedValue().run(me, input: input, output: output, failures: failures)
        }
        thread = audioThread
        do { try audioThread.start() } catch { failures.raise(error) }
    }

    /// Stops and joins the thread (within about one period), then fixes the output file's
    /// header and closes both files. Idempotent.
    public func stop() {
        thread?.requestStop()
        thread?.join()
        thread = nil
        guard !stopped else { return }
        stopped = true
        reader?.close()
        do { try writer?.close() } catch { failures?.raise(error) }
    }

    // MARK: Device thread

    private func run(_ me: AudioThread, input: (WavReader, CaptureSide)?,
                     output: (WavWriter, PlaybackSide)?, failures: FailureLatch) {
        let periodNanoseconds = UInt64(periodMilliseconds) * 1_000_000
        let inputRate = input?.0.sampleRate ?? 0
        var base = Self.now()
        var period: UInt64 = 0
        var inputDone = false
        while !me.isStopRequested {
            if let input {
                let (reader, capture) = input
                let n = Self.framesIn(period: period, rate: inputRate, ms: periodMilliseconds)
                let got = fillInput(reader, frames: n, done: &inputDone)
                if got < n { (inputBuffer + got).update(repeating: 0, count: n - got) }
                capture.deliver(inputBuffer, frames: n, channels: 1)
                capturedFrames.add(UInt64(n), ordering: .relaxed)
            }
            if let output {
                let (writer, playback) = output
                let n = Self.framesIn(period: period, rate: outputRate, ms: periodMilliseconds)
                playback.render(into: outputBuffer, frames: n)
                do {
                    try writer.write(outputBuffer, frames: n)
                } catch {
                    failures.raise(error)
                    return
                }
                renderedFrames.add(UInt64(n), ordering: .relaxed)
            }
            period += 1
            let deadline = base + period * periodNanoseconds
            let now = Self.now()
            if now > deadline + Self.maxLagNanoseconds {
                base = now - period * periodNanoseconds
                lateResets.add(1, ordering: .relaxed)
            } else {
                Self.sleep(until: deadline)
            }
        }
    }

    /// Reads `frames` frames of the input, starting over at its end when looping. Returns
    /// how many it got; fewer once the input has ended for good.
    private func fillInput(_ reader: WavReader, frames: Int, done: inout Bool) -> Int {
        guard !done else { return 0 }
        var got = reader.read(into: inputBuffer, frames: frames)
        while got < frames {
            guard loopInput, reader.rewind() else {
                done = true
                break
            }
            let more = reader.read(into: inputBuffer + got, frames: frames - got)
            if more == 0 {  // nothing to loop over
                done = true
                break
            }
            got += more
        }
        // Pairs with the acquiring load in `inputFinished`.
        if done { finished.store(true, ordering: .releasing) }
        return got
    }

    /// Frames of period `k`: the difference of the whole-frame positions of its two ends,
    /// so fractional periods add up to the exact rate.
    @inline(__always)
    private static func framesIn(period k: UInt64, rate: Int, ms: Int) -> Int {
        let perSecondUnits = UInt64(rate) * UInt64(ms)
        return Int(((k + 1) * perSecondUnits) / 1000 - (k * perSecondUnits) / 1000)
    }

    private static func maxPeriodFrames(rate: Int, ms: Int) -> Int {
        max(1, (rate * ms + 999) / 1000)
    }

    @inline(__always)
    private static func now() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
    }

    @inline(__always)
    private static func sleep(until deadline: UInt64) {
        var ts = timespec(tv_sec: Int(deadline / 1_000_000_000), tv_nsec: Int(deadline % 1_000_000_000))
        while clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, nil) == EINTR {}
    }
}
