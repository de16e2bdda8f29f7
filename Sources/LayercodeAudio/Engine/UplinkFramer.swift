// SPDX-License-Identifier: Apache-2.0
import LayercodeCore
import Synchronization

/// The event-loop half of the capture chain: drains the capture ring, resamples to the wire
/// rate, cuts whole wire frames and meters each one (the user level). Later the echo
/// canceller sits between the resampler and the framer. Loop thread only.
///
/// The partial frame and the meter outlive a microphone switch (`attach`): the next device's
/// audio continues the frame the last one started.
final class UplinkFramer {
    private(set) var wireRate: Int
    private(set) var frameSamples: Int
    private var capture: CaptureSide?
    /// Device rate → wire rate (speexdsp).
    private var toWireRate: Resampler?
    private var inputScratch: [Int16]
    private var resampleScratch: [Int16]
    private var frame: [Int16] = []
    private var meter: LevelMeter
    private let meterUpdatesPerSecond: Int
    /// The level of the last whole frame, 0...1.
    private(set) var level: Float = 0

    static let scratchSamples = 4096

    init(wireRate: Int, frameSamples: Int, meterUpdatesPerSecond: Int) {
        self.wireRate = wireRate
        self.frameSamples = frameSamples
        inputScratch = [Int16](repeating: 0, count: Self.scratchSamples)
        resampleScratch = [Int16](repeating: 0, count: Self.scratchSamples + 64)
        meter = LevelMeter(sampleRate: wireRate, updatesPerSecond: max(1, meterUpdatesPerSecond))
        self.meterUpdatesPerSecond = max(1, meterUpdatesPerSecond)
        frame.reserveCapacity(frameSamples)
    }

    /// Takes its audio from `capture` from now on (nil: none).
    func attach(_ capture: CaptureSide?) throws(LayercodeError) {
        var resampler: Resampler?
        if let capture {
            resampler = try Resampler(inputRate: capture.sampleRate, outputRate: wireRate)
        }
        self.capture = capture
        toWireRate = resampler
    }

    /// Cuts `frameSamples` at `wireRate` from now on (the socket's wire profile changed);
    /// nothing changes when both are the same. The partial frame is dropped.
    func retarget(wireRate rate: Int, frameSamples samples: Int) throws(LayercodeError) {
        guard rate != wireRate || samples != frameSamples else { return }
        var resampler: Resampler?
        if let capture { resampler = try Resampler(inputRate: capture.sampleRate, outputRate: rate) }
        wireRate = rate
        frameSamples = samples
        toWireRate = resampler
        meter = LevelMeter(sampleRate: rate, updatesPerSecond: meterUpdatesPerSecond)
        frame.removeAll(keepingCapacity: true)
        frame.reserveCapacity(samples)
    }

    /// Forgets the partial frame (the session ended).
    func reset() {
        frame.removeAll(keepingCapacity: true)
    }

    /// Drains the capture ring. While `wanted()` is false what is read is discarded. Each
    /// whole frame goes to `emit` with the time its newest samples arrived; `emit` returns
    /// false to stop (the client is shutting down).
    func drain(wanted: () -> Bool, emit: ([Int16], UInt64) -> Bool) {
        guard let capture, let toWireRate else { return }
        while true {
            let n = inputScratch.withUnsafeMutableBufferPointer { capture.ring.read(into: $0) }
            if n == 0 { return }
            guard wanted() else { continue }
            var offset = 0
            while offset < n {
                let (consumed, produced) = inputScratch.withUnsafeBufferPointer { input in
                    resampleScratch.withUnsafeMutableBufferPointer { output in
                        toWireRate.process(UnsafeBufferPointer(rebasing: input[offset..<n]), into: output)
                    }
                }
                offset += consumed
                for i in 0..<produced {
                    frame.append(resampleScratch[i])
                    if frame.count == frameSamples {
                        let full = frame
                        frame.removeAll(keepingCapacity: true)
                        if let l = full.withUnsafeBufferPointer({ meter.process($0) }) { level = l }
                        // The frame's newest sample arrived with the last delivery.
                        let capturedAt = capture.lastDeliveryNanoseconds.load(ordering: .relaxed)
                        if !emit(full, capturedAt) { return }
                    }
                }
                if consumed == 0 { break }
            }
        }
    }
}
