// SPDX-License-Identifier: Apache-2.0
/* Integer-ratio polyphase FIR resampling (lcfir.h). */
#include "lcfir.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Input samples the history holds beyond the filter's span. */
#define LCFIR_BLOCK 2048
/* Stop-band attenuation (dB) and transition width (fraction of the lower rate). */
#define LCFIR_ATTENUATION 75.0
#define LCFIR_TRANSITION 0.15
#define LCFIR_PI 3.14159265358979323846

struct lcfir {
    int down;        /* decimation factor M (1 when interpolating) */
    int up;          /* interpolation factor L (1 when decimating) */
    int span;        /* taps per output sample (N when decimating, N / L when interpolating) */
    int16_t *coefficients; /* up phases of span taps each, Q15, in input order */
    int16_t *history;      /* span - 1 + LCFIR_BLOCK input samples */
    int capacity;
    int fill;        /* valid samples in history */
    int position;    /* where the next output's window starts in history */
    int phase;       /* interpolation: the next output's phase (0..up-1) at position */
};

static double bessel_i0(double x) {
    double sum = 1.0, term = 1.0;
    for (int k = 1; k < 50; k++) {
        term *= (x / (2.0 * k)) * (x / (2.0 * k));
        sum += term;
        if (term < sum * 1e-12) break;
    }
    return sum;
}

static int16_t saturate(int32_t v) {
    return v > 32767 ? 32767 : v < -32768 ? -32768 : (int16_t)v;
}

/* The dot product the converter spends its time in: a plain loop the compiler vectorises
 * (pmaddwd on x86_64, NEON on ARM). */
static inline int32_t dot(const int16_t *x, const int16_t *h, int n) {
    int32_t acc = 1 << 14;  /* rounds the Q15 result */
    for (int k = 0; k < n; k++) acc += (int32_t)x[k] * (int32_t)h[k];
    return acc >> 15;
}

/* Every output the history allows, while out has room; returns how many. Built twice on
 * x86_64, once for AVX2 (chosen once, at load, where the CPU has it). */
#if defined(__x86_64__) && defined(__GNUC__)
__attribute__((target_clones("avx2", "default")))
#endif
static size_t convert(lcfir *fir, int16_t *out, size_t capacity) {
    size_t produced = 0;
    const int span = fir->span;
    while (fir->position + span <= fir->fill && produced < capacity) {
        const int16_t *window = fir->history + fir->position;
        if (fir->up == 1) {
            out[produced++] = saturate(dot(window, fir->coefficients, span));
            fir->position += fir->down;
        } else {
            out[produced++] = saturate(dot(window, fir->coefficients + fir->phase * span, span));
            if (++fir->phase == fir->up) { fir->phase = 0; fir->position += 1; }
        }
    }
    return produced;
}

lcfir *lcfir_new(int in_rate, int out_rate) {
    if (in_rate <= 0 || out_rate <= 0 || in_rate == out_rate) return NULL;
    int down = 1, up = 1;
    if (in_rate > out_rate) {
        if (in_rate % out_rate) return NULL;
        down = in_rate / out_rate;
    } else {
        if (out_rate % in_rate) return NULL;
        up = out_rate / in_rate;
    }
    if (down > 12 || up > 12) return NULL;
    int high = in_rate > out_rate ? in_rate : out_rate;
    int low = in_rate > out_rate ? out_rate : in_rate;
    /* Kaiser's estimates: taps for the attenuation over the transition, and beta. */
    double width = 2.0 * LCFIR_PI * LCFIR_TRANSITION * low / high;
    int taps = (int)ceil((LCFIR_ATTENUATION - 8.0) / (2.285 * width)) + 1;
    /* Odd, so that the delay is a whole number of samples; when decimating, a whole number
     * of output samples too: (taps - 1) / 2 a multiple of the factor. */
    int half = (taps - 1 + 1) / 2;
    if (down > 1) half = (half + down - 1) / down * down;
    taps = 2 * half + 1;
    /* Taps per phase, rounded up to whole vectors (8 samples): the padding is zeros at the
     * oldest end of each window, so the vector loop has no scalar remainder. */
    int span = ((taps + up - 1) / up + 7) / 8 * 8;
    double beta = 0.1102 * (LCFIR_ATTENUATION - 8.7);
    double cutoff = 0.5 * low / high;  /* of the high rate; the lower rate's Nyquist */

    lcfir *fir = calloc(1, sizeof *fir);
    if (!fir) return NULL;
    fir->down = down;
    fir->up = up;
    fir->span = span;
    fir->capacity = span - 1 + LCFIR_BLOCK;
    fir->coefficients = calloc((size_t)up * (size_t)span, sizeof(int16_t));
    fir->history = calloc((size_t)fir->capacity, sizeof(int16_t));
    if (!fir->coefficients || !fir->history) { lcfir_free(fir); return NULL; }
    double center = (taps - 1) / 2.0, norm = bessel_i0(beta);
    for (int i = 0; i < taps; i++) {
        double t = i - center;
        double sinc = t == 0 ? 2.0 * cutoff : sin(2.0 * LCFIR_PI * cutoff * t) / (LCFIR_PI * t);
        double r = t / center;
        double window = fabs(r) <= 1.0 ? bessel_i0(beta * sqrt(1.0 - r * r)) / norm : 0.0;
        double h = sinc * window * up;  /* interpolation: each phase carries unit gain */
        /* Output n * up + p is the sum over j of h[p + j * up] * x[n - j]: phase p, tap
         * span - 1 - j, so that the window over history (oldest first) meets it in order. */
        int p = i % up, j = span - 1 - i / up;
        fir->coefficients[p * span + j] = saturate((int32_t)lrint(h * 32768.0));
    }
    lcfir_reset(fir);
    return fir;
}

void lcfir_free(lcfir *fir) {
    if (!fir) return;
    free(fir->coefficients);
    free(fir->history);
    free(fir);
}

void lcfir_reset(lcfir *fir) {
    /* A full window of zeros: each output comes as soon as its newest input is in, so that
     * every call yields exactly its share (a 20 ms frame in, a 20 ms frame out). Aligning
     * the first output on the first input instead would hold the last few outputs of every
     * call back until the next one: the frame they complete would wait a whole period. The
     * price is the filter's own delay, (taps - 1) / 2 at the higher rate: 1 to 2 ms. */
    memset(fir->history, 0, (size_t)fir->capacity * sizeof(int16_t));
    fir->fill = fir->span - 1;
    fir->position = 0;
    fir->phase = 0;
}

int lcfir_taps(const lcfir *fir) { return fir->span * fir->up; }

size_t lcfir_process(lcfir *fir, const int16_t *in, size_t in_count, int16_t *out,
                      size_t out_capacity, size_t *consumed) {
    size_t taken = 0, produced = 0;
    const int span = fir->span;
    for (;;) {
        produced += convert(fir, out + produced, out_capacity - produced);
        if (produced == out_capacity || taken == in_count) break;
        if (fir->fill == fir->capacity || fir->position > LCFIR_BLOCK / 2) {
            int keep = fir->fill - fir->position;
            memmove(fir->history, fir->history + fir->position, (size_t)keep * sizeof(int16_t));
            fir->fill = keep;
            fir->position = 0;
        }
        /* Enough input for the outputs there is room for, and no more. */
        size_t room = (size_t)(fir->capacity - fir->fill);
        size_t outputs = out_capacity - produced;
        size_t wanted = fir->up == 1
            ? (size_t)(fir->position + span - fir->fill) + (outputs - 1) * (size_t)fir->down
            : (size_t)(fir->position + span - fir->fill) + ((size_t)fir->phase + outputs - 1) / (size_t)fir->up;
        size_t take = in_count - taken;
        if (take > room) take = room;
        if (take > wanted) take = wanted;
        if (take == 0) break;
        memcpy(fir->history + fir->fill, in + taken, take * sizeof(int16_t));
        fir->fill += (int)take;
        taken += take;
    }
    *consumed = taken;
    return produced;
}
