// SPDX-License-Identifier: Apache-2.0
/* The library's resamplers side by side (bench/resampler_quality.py drives it): the
 * polyphase FIR it uses for whole-number ratios (Sources/CResample) and speexdsp at every
 * quality 0..10, over the same speech, fed in 20 ms chunks as the library feeds them.
 * Usage: resampler_quality IN_RATE OUT_RATE input.raw OUT_DIR
 * (16-bit mono raw). Writes OUT_DIR/fir.raw and OUT_DIR/speex-Q.raw, prints one JSON line
 * per converter: ns per 20 ms of input (best of 5 passes). */
#define _POSIX_C_SOURCE 200809L
#include "lcfir.h"
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

/* One pass over the input; quality < 0 is the FIR. Returns samples produced. */
static long run(int quality, int in_rate, int out_rate, const int16_t *in, long n_in, int16_t *out, long cap) {
    int frame = in_rate / 50, err = 0;
    long produced = 0;
    lcfir *fir = NULL;
    SpeexResamplerState *st = NULL;
    if (quality < 0) fir = lcfir_new(in_rate, out_rate);
    else {
        st = speex_resampler_init(1, (spx_uint32_t)in_rate, (spx_uint32_t)out_rate, quality, &err);
        if (st) speex_resampler_skip_zeros(st);
    }
    if (!fir && !st) { fprintf(stderr, "no converter %d -> %d\n", in_rate, out_rate); exit(1); }
    for (long at = 0; at + frame <= n_in; at += frame) {
        if (fir) {
            size_t consumed = 0;
            produced += (long)lcfir_process(fir, in + at, (size_t)frame, out + produced, (size_t)(cap - produced), &consumed);
        } else {
            spx_uint32_t il = (spx_uint32_t)frame, ol = (spx_uint32_t)(cap - produced);
            speex_resampler_process_int(st, 0, in + at, &il, out + produced, &ol);
            produced += ol;
        }
    }
    if (fir) lcfir_free(fir);
    if (st) speex_resampler_destroy(st);
    return produced;
}

int main(int argc, char **argv) {
    if (argc != 5) { fprintf(stderr, "usage: resampler_quality IN_RATE OUT_RATE in.raw OUT_DIR\n"); return 2; }
    int in_rate = atoi(argv[1]), out_rate = atoi(argv[2]);
    long n_in;
    int16_t *in = load(argv[3], &n_in);
    long cap = n_in * out_rate / in_rate + 64;
    int16_t *out = malloc((size_t)cap * 2);
    double frames = (double)(n_in / (in_rate / 50));
    for (int q = -1; q <= 10; q++) {
        double best = 1e18;
        long produced = 0;
        for (int pass = 0; pass < 5; pass++) {
            double t0 = now_ns();
            produced = run(q, in_rate, out_rate, in, n_in, out, cap);
            double t = now_ns() - t0;
            if (t < best) best = t;
        }
        char path[4096];
        if (q < 0) snprintf(path, sizeof path, "%s/fir.raw", argv[4]);
        else snprintf(path, sizeof path, "%s/speex-%d.raw", argv[4], q);
        FILE *f = fopen(path, "wb");
        if (!f || fwrite(out, 2, (size_t)produced, f) != (size_t)produced) { perror(path); return 1; }
        fclose(f);
        printf("{\"converter\":\"%s\",\"quality\":%d,\"ns_per_20ms\":%.0f}\n",
               q < 0 ? "fir" : "speexdsp", q < 0 ? -1 : q, best / frames);
    }
    free(in);
    free(out);
    return 0;
}
