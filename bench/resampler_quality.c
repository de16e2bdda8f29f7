// SPDX-License-Identifier: Apache-2.0
/* Which speexdsp resampler quality the library uses, measured: for each quality 0..10, the
 * speech SNR of each conversion the library makes (48 kHz microphone to the 8 kHz wire,
 * 48 kHz to 16 kHz for the echo stage, the 16 kHz agent to a 48 kHz speaker) against sox's
 * very-high-quality conversion of the same speech, and the instructions' proxy: ns per 20 ms
 * frame. Usage: resampler_quality IN_RATE OUT_RATE input.raw reference.raw
 * (16-bit mono raw; reference = sox -v of input to OUT_RATE). One JSON line per quality. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <speex/speex_resampler.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static int16_t *load(const char *path, long *count) {
    FILE *f = fopen(path, "rb");
    if (!f) { perror(path); exit(2); }
    fseek(f, 0, SEEK_END);
    long bytes = ftell(f);
    fseek(f, 0, SEEK_SET);
    int16_t *data = malloc((size_t)bytes);
    if (!data || fread(data, 1, (size_t)bytes, f) != (size_t)bytes) { perror(path); exit(2); }
    fclose(f);
    *count = bytes / 2;
    return data;
}

static double now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e9 + t.tv_nsec;
}

int main(int argc, char **argv) {
    if (argc != 5) { fprintf(stderr, "usage: resampler_quality IN_RATE OUT_RATE in.raw ref.raw\n"); return 2; }
    int in_rate = atoi(argv[1]), out_rate = atoi(argv[2]);
    long n_in, n_ref;
    int16_t *in = load(argv[3], &n_in);
    int16_t *ref = load(argv[4], &n_ref);
    long cap = n_in * out_rate / in_rate + 64;
    int16_t *out = malloc((size_t)cap * 2);
    int frame = in_rate / 50;  /* 20 ms, as the library feeds it */
    for (int q = 0; q <= 10; q++) {
        int err = 0;
        SpeexResamplerState *st = speex_resampler_init(1, (spx_uint32_t)in_rate, (spx_uint32_t)out_rate, q, &err);
        if (!st) { fprintf(stderr, "init failed\n"); return 1; }
        speex_resampler_skip_zeros(st);
        long produced = 0;
        double t0 = now_ns();
        for (long at = 0; at + frame <= n_in; at += frame) {
            spx_uint32_t il = (spx_uint32_t)frame, ol = (spx_uint32_t)(cap - produced);
            speex_resampler_process_int(st, 0, in + at, &il, out + produced, &ol);
            produced += ol;
        }
        double t1 = now_ns();
        speex_resampler_destroy(st);
        /* Best alignment within +-8 samples (filters differ in delay), then SNR. */
        double best = -1e9;
        int best_lag = 0;
        long n = produced < n_ref ? produced : n_ref;
        for (int lag = -8; lag <= 8; lag++) {
            double sig = 0, noise = 0;
            for (long i = 16; i < n - 16; i++) {
                double r = ref[i], o = out[i + lag];
                sig += r * r;
                noise += (r - o) * (r - o);
            }
            double snr = noise > 0 ? 10 * log10(sig / noise) : 200;
            if (snr > best) { best = snr; best_lag = lag; }
        }
        double frames = (double)(n_in / frame);
        printf("{\"bench\":\"resampler_quality\",\"in_rate\":%d,\"out_rate\":%d,\"quality\":%d,"
               "\"snr_db\":%.1f,\"lag\":%d,\"ns_per_20ms\":%.0f}\n",
               in_rate, out_rate, q, best, best_lag, (t1 - t0) / frames);
    }
    free(in); free(ref); free(out);
    return 0;
}
