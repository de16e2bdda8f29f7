/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The echo canceller engines behind one small C interface (the only thing Swift sees).
 * Implemented in C++ (echo.cpp) over the system's engines, never vendored code:
 *   - WebRTC's audio processing module 1.x (AEC3), when `pkg-config
 *     webrtc-audio-processing-1` exists at build time (Debian 13, Raspberry Pi OS trixie);
 *   - else WebRTC's APM 0.3 (Debian 12's libwebrtc-audio-processing-dev): the legacy AEC
 *     with the extended filter and delay-agnostic mode;
 *   - speexdsp's MDF canceller with its residual-echo suppressor (always built: speexdsp is
 *     already a dependency), selectable at run time.
 * Audio is mono 16-bit at 16 kHz in 10 ms frames (160 samples), the common processing rate.
 * One instance is used by one thread at a time (the caller serialises); no call blocks or
 * logs. Every function is prefixed lcecho_ (the library exports only lc_*; check-abi).
 */
#ifndef LC_ECHO_H
#define LC_ECHO_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define LCECHO_RATE 16000
#define LCECHO_FRAME 160 /* 10 ms at 16 kHz */

/* Engines. The values are ABI (they reach lc_stats.echo_engine and Python). */
enum {
    LCECHO_ENGINE_NONE = 0,
    LCECHO_ENGINE_WEBRTC_AEC3 = 1,   /* APM 1.x */
    LCECHO_ENGINE_WEBRTC_LEGACY = 2, /* APM 0.3: AEC with extended filter + delay-agnostic */
    LCECHO_ENGINE_SPEEX = 3          /* speexdsp MDF + residual echo suppressor */
};

/* Bit (1 << engine) for each engine this build contains. */
unsigned lcecho_engines_built(void);

/* The best engine built in (AEC3, else legacy, else speex). */
int lcecho_default_engine(void);

/* A static name: "webrtc-aec3", "webrtc-legacy", "speexdsp", "none". */
const char *lcecho_engine_name(int engine);

typedef struct lcecho_config {
    int engine;        /* LCECHO_ENGINE_*; not NONE */
    int aec;           /* 1: cancel echo (the far end must be fed); 0: only ns/agc */
    int ns;            /* 1: noise suppression (WebRTC engines: moderate level; speex: its
                          preprocessor's denoiser) */
    int agc;           /* 1: automatic gain (WebRTC: adaptive digital; speex: its AGC) */
    int speex_tail_ms; /* speex: the filter length in ms (0: 200) */
} lcecho_config;

typedef struct lcecho lcecho;

/* A new instance, or NULL with a reason in err (NUL-terminated, errlen bytes at most):
 * an engine not built in, a bad config, an allocation the engine refused. */
lcecho *lcecho_create(const lcecho_config *config, char *err, size_t errlen);
void lcecho_destroy(lcecho *e);

/* The far end: 160 samples of what the speaker plays. Call once per near-end frame, before
 * lcecho_process_near, with the reference frame the caller has aligned to it. */
void lcecho_process_far(lcecho *e, const int16_t *far160);

/* The near end in place: 160 microphone samples become the cleaned signal. delay_ms is the
 * delay the caller believes lies between the far frame fed last and its echo in this near
 * frame (WebRTC's stream delay; speex ignores it). Returns 0, or -1 if the engine failed
 * (the frame is then left as it was). */
int lcecho_process_near(lcecho *e, int16_t *near160, int delay_ms);

typedef struct lcecho_metrics {
    /* The engine's own figures; -1 (or -1000 for dB) where the engine has none. */
    int delay_ms;          /* the echo delay the engine estimates (median), ms */
    double erle_db;        /* the engine's echo return loss enhancement, dB */
    int stream_has_echo;   /* 1: the engine hears echo in the last frame; 0 no; -1 unknown */
} lcecho_metrics;

void lcecho_get_metrics(lcecho *e, lcecho_metrics *out);

#ifdef __cplusplus
}
#endif
#endif
