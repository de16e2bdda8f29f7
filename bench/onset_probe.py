#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""The capture device's share of bench/onset.py: an ALSA capture opened as the library's
AlsaPCM opens it (S16_LE, interleaved, 48 kHz mono, period PERIOD_MS, PERIODS periods, start
threshold 1, avail_min one period; blocking reads of one period), through libasound with
ctypes, on the same PulseAudio source as the player. For every read that holds a loud sample
after a quiet second it prints one JSON line: when the read returned (time.time()), where in
the read the loud sample was, and snd_pcm_delay after the read. Also prints the negotiated
period and buffer once. Runs until killed.

usage: onset_probe.py DEVICE PERIOD_MS PERIODS
"""
import array
import ctypes
import json
import sys
import time

RATE = 48000
LOUD = 1036
SND_PCM_STREAM_CAPTURE = 1
SND_PCM_ACCESS_RW_INTERLEAVED = 3
SND_PCM_FORMAT_S16_LE = 2


def main():
    device, period_ms, periods = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    asound = ctypes.CDLL("libasound.so.2")
    asound.snd_pcm_readi.restype = ctypes.c_long
    pcm = ctypes.c_void_p()
    check = lambda rc, what: rc >= 0 or sys.exit(f"onset_probe: {what}: {rc}")
    check(asound.snd_pcm_open(ctypes.byref(pcm), device.encode(), SND_PCM_STREAM_CAPTURE, 0), "open")
    hw = ctypes.c_void_p()
    check(asound.snd_pcm_hw_params_malloc(ctypes.byref(hw)), "hw malloc")
    check(asound.snd_pcm_hw_params_any(pcm, hw), "any")
    check(asound.snd_pcm_hw_params_set_rate_resample(pcm, hw, 1), "resample")
    check(asound.snd_pcm_hw_params_set_access(pcm, hw, SND_PCM_ACCESS_RW_INTERLEAVED), "access")
    check(asound.snd_pcm_hw_params_set_format(pcm, hw, SND_PCM_FORMAT_S16_LE), "format")
    check(asound.snd_pcm_hw_params_set_channels(pcm, hw, 1), "channels")
    rate = ctypes.c_uint(RATE)
    check(asound.snd_pcm_hw_params_set_rate_near(pcm, hw, ctypes.byref(rate), None), "rate")
    period = ctypes.c_ulong(RATE * period_ms // 1000)
    check(asound.snd_pcm_hw_params_set_period_size_near(pcm, hw, ctypes.byref(period), None), "period")
    buffer = ctypes.c_ulong(period.value * periods)
    check(asound.snd_pcm_hw_params_set_buffer_size_near(pcm, hw, ctypes.byref(buffer)), "buffer")
    check(asound.snd_pcm_hw_params(pcm, hw), "hw_params")
    asound.snd_pcm_hw_params_get_period_size(hw, ctypes.byref(period), None)
    asound.snd_pcm_hw_params_get_buffer_size(hw, ctypes.byref(buffer))
    sw = ctypes.c_void_p()
    check(asound.snd_pcm_sw_params_malloc(ctypes.byref(sw)), "sw malloc")
    check(asound.snd_pcm_sw_params_current(pcm, sw), "sw current")
    check(asound.snd_pcm_sw_params_set_start_threshold(pcm, sw, ctypes.c_ulong(1)), "start")
    check(asound.snd_pcm_sw_params_set_avail_min(pcm, sw, period), "avail_min")
    check(asound.snd_pcm_sw_params(pcm, sw), "sw_params")
    check(asound.snd_pcm_prepare(pcm), "prepare")
    print(json.dumps({"period_frames": period.value, "buffer_frames": buffer.value,
                      "rate": rate.value}), flush=True)

    frames = period.value
    buf = (ctypes.c_int16 * frames)()
    delay = ctypes.c_long()
    last_loud = -10 ** 9
    total = 0
    while True:
        n = asound.snd_pcm_readi(pcm, buf, ctypes.c_ulong(frames))
        now = time.time()
        if n < 0:
            asound.snd_pcm_recover(pcm, n, 1)
            continue
        block = array.array("h", bytes(buf)[:n * 2])
        if max(block, default=0) <= LOUD and min(block, default=0) >= -LOUD:
            total += n
            continue
        for k in range(n):
            if block[k] > LOUD or block[k] < -LOUD:
                if total + k - last_loud > RATE:
                    asound.snd_pcm_delay(pcm, ctypes.byref(delay))
                    print(json.dumps({"t": now, "index": k, "frames": n,
                                      "delay_frames": delay.value}), flush=True)
                last_loud = total + k
        total += n


if __name__ == "__main__":
    main()
