// SPDX-License-Identifier: Apache-2.0
/* Integer-ratio sample-rate conversion for 16-bit mono audio: a Kaiser-windowed sinc
 * low-pass in Q15, polyphase, with 32-bit sums the compiler vectorises (SSE2 pmaddwd on
 * x86_64, NEON on ARM). For the library's common conversions (48 kHz microphone to the
 * 8 kHz wire, to 16 kHz for the echo stage, the 16 kHz agent to a 48 kHz speaker) it does
 * about a tenth of speexdsp's work for the same speech-band SNR (doc/performance.md);
 * other ratios stay with speexdsp.
 *
 * Real-time safe after lcfir_new: process and reset neither allocate nor lock. */
#ifndef LCFIR_H
#define LCFIR_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct lcfir lcfir;

/* A converter from in_rate to out_rate, when one is a whole multiple (2..12) of the other;
 * NULL otherwise, or when memory runs out. The pass band is flat to 85 % of the lower rate's
 * Nyquist frequency; stop-band attenuation about 75 dB. */
lcfir *lcfir_new(int in_rate, int out_rate);
void lcfir_free(lcfir *fir);

/* Forgets the history (as after a flush). */
void lcfir_reset(lcfir *fir);

/* Converts up to in_count samples into out (capacity out_capacity). Returns the samples
 * written; *consumed gets the input samples taken. Input is taken only as far as the
 * output has room for what it yields: feed the rest again. */
size_t lcfir_process(lcfir *fir, const int16_t *in, size_t in_count, int16_t *out,
                      size_t out_capacity, size_t *consumed);

/* The filter's taps at the higher rate. Outputs come as soon as their newest input is in
 * (every call yields its exact share), delayed by the filter: (taps - 1) / 2 samples at the
 * higher rate. */
int lcfir_taps(const lcfir *fir);

#ifdef __cplusplus
}
#endif
#endif
