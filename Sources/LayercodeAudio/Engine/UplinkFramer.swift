// SPDX-License-Identifier: Apache-2.0
import LayercodeCore
import Synchronization

/// The event-loop half of the capture chain: drains the capture ring, resamples, cuts whole
/// wire frames and meters each one (the user level). Loop thread only.
///
/// Without an echo stage: device rate → wire rate → frames. With one (doc/echo-cancellation.md):
/// device rate → 16 kHz → `EchoStage` (10 ms frames, cleaned against the speaker's reference)
/// → wire rate (8 kHz PCM; Opus runs at 16 kHz itself) → frames, so the meter, the client VAD,
/// the gate and the socket all see the cleaned signal.
///
/// The partial frame and the meter outlive a microphone switch (`attach`): the next device's
/// audio continues the frame the last one started.
final class UplinkFramer {
    private(set) var wireRate: Int
    private(set) var frameSamples: Int
    private var capture: CaptureSide?
    let echo: EchoStage?
    /// Device rate → wire rate (no echo stage), or → 16 kHz (echo stage).
    private var fromDevice: Resampler?
    /// Echo stage (16 kHz) → wire rate; nil when the wire runs at 16 kHz.
    private var toWire: Resampler?
    private var inputScratch: [Int16]
    private var resampleScratch: [Int16]
    private var wireScratch: [Int16]
    private var frame: [Int16] = []
    private var meter: LevelMeter
    private let meterUpdatesPerSecond: Int
    /// The level of the last whole frame, 0...1.
    private(set) var level: Float = 0

    static let scratchSamples = 4096

    /// `echo` needs `toWire` when the wire is not at 16 kHz: use `make`.
    private init(wireRate: Int, frameSamples: Int, meterUpdatesPerSecond: Int, echo: EchoStage?,
                 toWire: Resampler?) {
        self.wireRate = wireRate
        self.toWire = toWire
        self.frameSamples = frameSamples
        self.echo = echo
        inputScratch = [Int16](repeating: 0, count: Self.scratchSamples)
        resampleScratch = [Int16](repeating: 0, count: Self.scratchSamples * 4 + 64)
        wireScratch = [Int16](repeating: 0, count: EchoStage.frameSamples * 4 + 64)
        meter = LevelMeter(sampleRate: wireRate, updatesPerSecond: max(1, meterUpdatesPerSecond))
        self.meterUpdatesPerSecond = max(0, meterUpdatesPerSecond)
        frame.reserveCapacity(frameSamples)
    }

    static func make(wireRate: Int, frameSamples: Int, meterUpdatesPerSecond: Int,
                     echo: EchoStage?) throws(LayercodeError) -> UplinkFramer {
        var toWire: Resampler?
        if echo != nil && wireRate != EchoAligner.sampleRate {
            toWire = try Resampler(inputRate: EchoAligner.sampleRate, outputRate: wireRate)
        }
        return UplinkFramer(wireRate: wireRate, frameSamples: frameSamples,
                            meterUpdatesPerSecond: meterUpdatesPerSecond, echo: echo, toWire: toWire)
    }

    /// The rate the device's audio is resampled to first.
    private var stageRate: Int { echo == nil ? wireRate : EchoAligner.sampleRate }

    /// Takes its audio from `capture` from now on (nil: none).
    func attach(_ capture: CaptureSide?) throws(LayercodeError) {
        var resampler: Resampler?
        if let capture {
            resampler = try Resampler(inputRate: capture.sampleRate, outputRate: stageRate)
        }
        self.capture = capture
        fromDevice = resampler
        if let capture { echo?.attachCapture(rate: capture.sampleRate) }
    }

    /// The speaker's echo tap from now on (the echo stage's reference; nil: no speaker).
    func attachReference(_ tap: StampedTap?) throws(LayercodeError) {
        try echo?.attachReference(tap)
    }

    /// Cuts `frameSamples` at `wireRate` from now on (the socket's wire profile changed);
    /// nothing changes when both are the same. The partial frame is dropped.
    func retarget(wireRate rate: Int, frameSamples samples: Int) throws(LayercodeError) {
        guard rate != wireRate || samples != frameSamples else { return }
        if echo != nil {
            // The microphone keeps going to the echo stage at 16 kHz; only its way out changes.
            toWire = rate == EchoAligner.sampleRate
                ? nil : try Resampler(inputRate: EchoAligner.sampleRate, outputRate: rate)
        } else if let capture {
            fromDevice = try Resampler(inputRate: capture.sampleRate, outputRate: rate)
        }
        wireRate = rate
        frameSamples = samples
        meter = LevelMeter(sampleRate: rate, updatesPerSecond: max(1, meterUpdatesPerSecond))
        frame.removeAll(keepingCapacity: true)
        frame.reserveCapacity(samples)
    }

    /// Forgets the partial frame (the session ended).
    func reset() {
        frame.removeAll(keepingCapacity: true)
        echo?.reset()
    }

    /// Drains the capture ring. While `wanted()` is false what is read is discarded. Each
    /// whole frame goes to `emit` with the time its newest samples arrived; `emit` returns
    /// false to stop (the client is shutting down).
    func drain(wanted: () -> Bool, emit: ([Int16], UInt64) -> Bool) {
        guard let capture, let fromDevice else { return }
        if let echo {
            echo.pullReference()
            echo.noteCaptureStamps(capture.stamps)
        }
        while true {
            let n = inputScratch.withUnsafeMutableBufferPointer { capture.ring.read(into: $0) }
            if n == 0 { return }
            guard wanted() else {
                echo?.skipCapture(deviceSamples: n)
                continue
            }
            var offset = 0
            while offset < n {
                let (consumed, produced) = inputScratch.withUnsafeBufferPointer { input in
                    resampleScratch.withUnsafeMutableBufferPointer { output in
                        fromDevice.process(UnsafeBufferPointer(rebasing: input[offset..<n]), into: output)
                    }
                }
                offset += consumed
                let done = resampleScratch.withUnsafeBufferPointer { resampled in
                    let chunk = UnsafeBufferPointer(rebasing: resampled[0..<produced])
                    if let echo {
                        return echo.process(chunk) { cleaned in toWireFrames(cleaned, capture, emit) }
                    }
                    return cut(chunk, capture, emit)
                }
                if !done { return }
                if consumed == 0 { break }
            }
        }
    }

    /// The echo stage's 16 kHz output → the wire rate → frames.
    private func toWireFrames(_ samples: UnsafeBufferPointer<Int16>, _ capture: CaptureSide,
                              _ emit: ([Int16], UInt64) -> Bool) -> Bool {
        guard let toWire else { return cut(samples, capture, emit) }
        var offset = 0
        while offset < samples.count {
            let (consumed, produced) = wireScratch.withUnsafeMutableBufferPointer { output in
                toWire.process(UnsafeBufferPointer(rebasing: samples[offset...]), into: output)
            }
            offset += consumed
            let done = wireScratch.withUnsafeBufferPointer {
                cut(UnsafeBufferPointer(rebasing: $0[0..<produced]), capture, emit)
            }
            if !done { return false }
            if consumed == 0 && produced == 0 { break }
        }
        return true
    }

    /// Wire-rate samples → whole frames, metered, to `emit`.
    private func cut(_ samples: UnsafeBufferPointer<Int16>, _ capture: CaptureSide,
                     _ emit: ([Int16], UInt64) -> Bool) -> Bool {
        var at = 0
        while at < samples.count {
            let n = min(samples.count - at, frameSamples - frame.count)
            frame.append(contentsOf: UnsafeBufferPointer(rebasing: samples[at..<(at + n)]))
            at += n
            guard frame.count == frameSamples else { break }
            if meterUpdatesPerSecond > 0, let l = frame.withUnsafeBufferPointer({ meter.process($0) }) { level = l }
            // The frame's newest sample arrived with the last delivery.
            let capturedAt = capture.lastDeliveryNanoseconds.load(ordering: .relaxed)
            // Emitted before it is cleared: a consumer that keeps no copy leaves the buffer
            // unique, so the next frame reuses it (no allocation per frame).
            let more = emit(frame, capturedAt)
            frame.removeAll(keepingCapacity: true)
            if !more { return false }
        }
        return true
    }
}
