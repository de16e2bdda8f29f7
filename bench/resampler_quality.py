#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""The resampler the library uses, measured (issue 14: "the cheapest resampler quality that
keeps the measured quality"). For each conversion the library makes (48 kHz microphone to
the 8 kHz wire and to the echo stage's 16 kHz, the 16 kHz agent to a 48 kHz speaker):
speech (espeak-ng) through the library's polyphase FIR and through speexdsp at qualities
0..10 (bench/resampler_quality.c), each output's SNR against sox's very-high-quality
conversion of the same speech, over the speech band (to 85 % of the lower rate's Nyquist
frequency; the best alignment within -8..64 samples: the FIR's delay), and the CPU per 20 ms of input.
One JSON line per converter and conversion: {"bench": "resampler_quality", ...}."""
import json
import os
import subprocess
import sys
import tempfile

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONVERSIONS = ((48000, 8000), (48000, 16000), (16000, 48000))
TEXT = ("The quick brown fox jumps over the lazy dog. A native client for voice agents "
        "should cost little on the wire, little in memory and little in power.")


def band_snr(reference, output, rate, top_hz):
    """SNR over the band, at the best alignment within -8..64 samples (the FIR's delay):
    found in the time domain first, then the spectra compared at it and its neighbours."""
    n = min(len(reference), len(output)) - 160
    r = reference[80:80 + n].astype(float)

    def shifted(lag):
        return output[80 + lag:80 + lag + n].astype(float)

    lags = [lag for lag in range(-8, 65) if 80 + lag + n <= len(output)]
    best_lag = max(lags, key=lambda lag: float(np.dot(r, shifted(lag))))
    band = np.fft.rfftfreq(n, 1 / rate) <= top_hz
    spectrum_r = np.fft.rfft(r)[band]
    best = -1e9
    for lag in (best_lag - 1, best_lag, best_lag + 1):
        if lag not in lags:
            continue
        noise = np.sum(np.abs(spectrum_r - np.fft.rfft(shifted(lag))[band]) ** 2)
        best = max(best, 10 * np.log10(np.sum(np.abs(spectrum_r) ** 2) / max(noise, 1e-9)))
    return best


def raw(path, rate, src):
    subprocess.run(["sox", src, "-t", "raw", "-e", "signed", "-b", "16", "-c", "1", path, "rate", "-v", str(rate)],
                   check=True)
    return np.fromfile(path, dtype=np.int16)


def main():
    work = tempfile.mkdtemp(prefix="layercode-resampler-")
    binary = os.path.join(work, "resampler_quality")
    subprocess.run(["cc", "-std=c11", "-O2", "-I", os.path.join(ROOT, "Sources/CResample/include"),
                    os.path.join(ROOT, "bench/resampler_quality.c"), "-x", "c", "-O3",
                    os.path.join(ROOT, "Sources/CResample/fir.c"), "-lspeexdsp", "-lm", "-o", binary], check=True)
    speech = os.path.join(work, "speech.wav")
    subprocess.run(["espeak-ng", "-w", speech, TEXT], check=True)
    looped = os.path.join(work, "speech48.wav")
    subprocess.run(["sox", speech, "-r", "48000", looped, "repeat", "3"], check=True)
    for in_rate, out_rate in CONVERSIONS:
        source = os.path.join(work, f"in{in_rate}.raw")
        raw(source, in_rate, looped)
        reference = raw(os.path.join(work, f"ref{out_rate}-{in_rate}.raw"), out_rate, looped)
        out_dir = os.path.join(work, f"{in_rate}-{out_rate}")
        os.mkdir(out_dir)
        lines = subprocess.run([binary, str(in_rate), str(out_rate), source, out_dir], check=True,
                               capture_output=True, text=True).stdout.splitlines()
        top = 0.85 * min(in_rate, out_rate) / 2
        for line in lines:
            r = json.loads(line)
            name = "fir.raw" if r["converter"] == "fir" else f"speex-{r['quality']}.raw"
            output = np.fromfile(os.path.join(out_dir, name), dtype=np.int16)
            r.update({"bench": "resampler_quality", "in_rate": in_rate, "out_rate": out_rate,
                      "band_hz": round(top), "snr_db": round(band_snr(reference, output, out_rate, top), 1)})
            print(json.dumps(r))
    subprocess.run(["rm", "-rf", work])


if __name__ == "__main__":
    sys.exit(main())
