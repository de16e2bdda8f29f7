// SPDX-License-Identifier: Apache-2.0
import LayercodeAudio
import LayercodeNet

/// onDevicesChanged: ALSA's device list, compared every period, while the client uses ALSA
/// or the app listens for it. Listing reads ALSA's configuration (milliseconds), so it runs
/// off the loop; the comparison and the event happen on the loop. Loop thread only.
final class DeviceWatch {
    private let loop: EventLoop
    private let sink: EventSink
    private let period: Int
    private var known: [AlsaDeviceInfo]?
    private var timer: EventLoop.TimerHandle?
    private var stopped = false

    init(loop: EventLoop, sink: EventSink, periodMilliseconds: Int) {
        self.loop = loop
        self.sink = sink
        period = periodMilliseconds
    }

    func start() {
        guard period > 0 else { return }
        check()
    }

    /// No list is compared and no event delivered after this.
    func stop() {
        stopped = true
        loop.cancel(timer)
        timer = nil
    }

    private func check() {
        // The closures hold this watch until the listing returns (at most one in flight).
        let started = loop.runOffLoop({ AlsaDeviceList.list() }) { [self] now in
            guard !stopped else { return }
            if let known, known != now {
                Log.write(.info, "audio devices changed: \(now.count) devices")
                self.known = now
                sink.deliver(.devicesChanged)
            } else {
                known = now
            }
            timer = loop.schedule(afterMilliseconds: period) { [self] in
                guard !stopped else { return }
                check()
            }
        }
        if !started { Log.write(.warn, "cannot start the device-watch thread; watch stopped") }
    }
}
