// SPDX-License-Identifier: Apache-2.0
// The echo canceller engines behind include/lc_echo.h. Built with -fno-exceptions
// -fno-rtti; nothing here logs, and every allocation is made at create time (the engines'
// own included), so a frame call never allocates.
//
// LCECHO_WEBRTC picks the WebRTC engine at build time (Package.swift and
// tools/build-embedded.sh set it from pkg-config):
//   0  none: speexdsp only;
//   1  APM 1.x (`webrtc-audio-processing-1`): AEC3;
//   3  APM 0.3 (`webrtc-audio-processing`, Debian 12): the legacy AEC with the extended
//      filter and delay-agnostic mode (the configuration PulseAudio's module-echo-cancel
//      and PipeWire's aec-webrtc use with 0.3).
// speexdsp's MDF canceller with its residual echo suppressor is always built.
#include "lc_echo.h"

#include <new>
#include <stdio.h>
#include <string.h>

#include <speex/speex_echo.h>
#include <speex/speex_preprocess.h>

#ifndef LCECHO_WEBRTC
#define LCECHO_WEBRTC 0
#endif

#if LCECHO_WEBRTC == 1
#include <modules/audio_processing/include/audio_processing.h>
#elif LCECHO_WEBRTC == 3
#include <webrtc/modules/audio_processing/include/audio_processing.h>
#include <webrtc/modules/interface/module_common_types.h>
#elif LCECHO_WEBRTC != 0
#error "LCECHO_WEBRTC must be 0 (none), 1 (APM 1.x) or 3 (APM 0.3)"
#endif

namespace {

const int kFrame = LCECHO_FRAME;
const int kRate = LCECHO_RATE;

#if LCECHO_WEBRTC == 1
const int kWebRTCEngine = LCECHO_ENGINE_WEBRTC_AEC3;
#elif LCECHO_WEBRTC == 3
const int kWebRTCEngine = LCECHO_ENGINE_WEBRTC_LEGACY;
#else
const int kWebRTCEngine = LCECHO_ENGINE_NONE;
#endif

// The legacy AEC's suppression level, by measurement on the unit-test room (speech-like far
// signal through a 60 ms response, Tests/LayercodeAudioTests/EchoScene.swift): from the
// second second on, moderate and high cancel the same (36.6 / 40.4 / 39.6 dB per second; with
// a softly clipping speaker 41.9 / 45.5 against 41.9 / 47.1, residual p95 -57 dBFS either
// way); high only wins in the first second (18.6 against 12.9 dB), while in double-talk it
// costs the user 2.3 dB more (-7.1 against -4.8 dB). Moderate, then.
#if LCECHO_WEBRTC == 3
const webrtc::EchoCancellation::SuppressionLevel kLegacySuppression =
    webrtc::EchoCancellation::kModerateSuppression;
#endif

void set_error(char *err, size_t errlen, const char *what, const char *detail = nullptr) {
    if (err == nullptr || errlen == 0) return;
    if (detail != nullptr)
        snprintf(err, errlen, "%s%s", what, detail);
    else
        snprintf(err, errlen, "%s", what);
}

}  // namespace

struct lcecho {
    lcecho_config config;

    // speexdsp
    SpeexEchoState *echo = nullptr;
    SpeexPreprocessState *preprocess = nullptr;
    int16_t far[kFrame];     // the far frame fed last: paired with the next near frame
    int16_t cleaned[kFrame]; // speex_echo_cancellation's output (it cannot work in place)

#if LCECHO_WEBRTC == 1
    webrtc::AudioProcessing *apm = nullptr;  // one reference held (AddRef at create)
    webrtc::StreamConfig stream{kRate, 1};
    int16_t far_out[kFrame];                 // ProcessReverseStream's (unused) output
    int16_t near_out[kFrame];                // copied back only on success
#elif LCECHO_WEBRTC == 3
    webrtc::AudioProcessing *apm = nullptr;
    webrtc::AudioFrame far_frame;            // ~7.7 kB each: allocated once with the instance
    webrtc::AudioFrame near_frame;
#endif

    lcecho() {
        memset(far, 0, sizeof far);
        memset(cleaned, 0, sizeof cleaned);
    }
};

namespace {

bool is_webrtc(int engine) {
    return engine != LCECHO_ENGINE_NONE && engine == kWebRTCEngine;
}

// ---- speexdsp ---------------------------------------------------------------------------

bool speex_create(lcecho *e, char *err, size_t errlen) {
    const lcecho_config &c = e->config;
    spx_int32_t rate = kRate;
    if (c.aec) {
        int tail_ms = c.speex_tail_ms == 0 ? 200 : c.speex_tail_ms;
        e->echo = speex_echo_state_init(kFrame, tail_ms * (kRate / 1000));
        if (e->echo == nullptr) {
            set_error(err, errlen, "speexdsp: speex_echo_state_init failed");
            return false;
        }
        speex_echo_ctl(e->echo, SPEEX_ECHO_SET_SAMPLING_RATE, &rate);
    }
    e->preprocess = speex_preprocess_state_init(kFrame, kRate);
    if (e->preprocess == nullptr) {
        set_error(err, errlen, "speexdsp: speex_preprocess_state_init failed");
        return false;
    }
    // The residual echo suppressor runs inside the denoiser (with the denoiser off the
    // preprocessor applies no gain at all), so with aec and without ns the denoiser stays on
    // with a noise attenuation of 0 dB: echo is suppressed, noise passes.
    spx_int32_t denoise = (c.ns || c.aec) ? 1 : 0;
    spx_int32_t noise_suppress_db = c.ns ? -15 : 0;  // -15: speexdsp's default
    spx_int32_t agc = c.agc ? 1 : 0;
    spx_int32_t off = 0;
    speex_preprocess_ctl(e->preprocess, SPEEX_PREPROCESS_SET_DENOISE, &denoise);
    speex_preprocess_ctl(e->preprocess, SPEEX_PREPROCESS_SET_NOISE_SUPPRESS, &noise_suppress_db);
    speex_preprocess_ctl(e->preprocess, SPEEX_PREPROCESS_SET_AGC, &agc);
    speex_preprocess_ctl(e->preprocess, SPEEX_PREPROCESS_SET_DEREVERB, &off);
    if (c.agc) {
        float level = 8000.0f;  // about -12 dBFS RMS
        speex_preprocess_ctl(e->preprocess, SPEEX_PREPROCESS_SET_AGC_LEVEL, &level);
    }
    if (e->echo != nullptr)
        speex_preprocess_ctl(e->preprocess, SPEEX_PREPROCESS_SET_ECHO_STATE, e->echo);
    return true;
}

void speex_destroy(lcecho *e) {
    if (e->preprocess != nullptr) speex_preprocess_state_destroy(e->preprocess);
    if (e->echo != nullptr) speex_echo_state_destroy(e->echo);
}

int speex_near(lcecho *e, int16_t *near) {
    if (e->echo != nullptr) {
        speex_echo_cancellation(e->echo, near, e->far, e->cleaned);
        memcpy(near, e->cleaned, sizeof e->cleaned);
        // A near frame with no far frame fed before it pairs with silence, not with a
        // reference that was already used.
        memset(e->far, 0, sizeof e->far);
    }
    speex_preprocess_run(e->preprocess, near);
    return 0;
}

// ---- WebRTC APM ---------------------------------------------------------------------------

#if LCECHO_WEBRTC == 1

bool webrtc_create(lcecho *e, char *err, size_t errlen) {
    const lcecho_config &c = e->config;
    webrtc::AudioProcessing *apm = webrtc::AudioProcessingBuilder().Create();
    if (apm == nullptr) {
        set_error(err, errlen, "webrtc-aec3: AudioProcessingBuilder().Create() failed");
        return false;
    }
    apm->AddRef();
    e->apm = apm;
    webrtc::AudioProcessing::Config config;
    config.high_pass_filter.enabled = true;
    config.echo_canceller.enabled = c.aec != 0;
    config.echo_canceller.mobile_mode = false;
    config.noise_suppression.enabled = c.ns != 0;
    config.noise_suppression.level = webrtc::AudioProcessing::Config::NoiseSuppression::kModerate;
    config.gain_controller2.enabled = c.agc != 0;
    config.gain_controller2.adaptive_digital.enabled = c.agc != 0;
    apm->ApplyConfig(config);
    webrtc::ProcessingConfig processing = {{e->stream, e->stream, e->stream, e->stream}};
    int rc = apm->Initialize(processing);
    if (rc != webrtc::AudioProcessing::kNoError) {
        char detail[32];
        snprintf(detail, sizeof detail, "%d", rc);
        set_error(err, errlen, "webrtc-aec3: Initialize failed: error ", detail);
        return false;
    }
    return true;
}

void webrtc_destroy(lcecho *e) {
    if (e->apm != nullptr) e->apm->Release();
}

void webrtc_far(lcecho *e, const int16_t *far) {
    if (e->config.aec) e->apm->ProcessReverseStream(far, e->stream, e->stream, e->far_out);
}

int webrtc_near(lcecho *e, int16_t *near, int delay_ms) {
    if (e->config.aec) e->apm->set_stream_delay_ms(delay_ms < 0 ? 0 : delay_ms);
    int rc = e->apm->ProcessStream(near, e->stream, e->stream, e->near_out);
    if (rc != webrtc::AudioProcessing::kNoError
        && rc != webrtc::AudioProcessing::kBadStreamParameterWarning)
        return -1;
    memcpy(near, e->near_out, sizeof e->near_out);
    return 0;
}

void webrtc_metrics(lcecho *e, lcecho_metrics *out) {
    if (!e->config.aec) return;
    webrtc::AudioProcessingStats stats = e->apm->GetStatistics(true);
    if (stats.delay_ms) out->delay_ms = *stats.delay_ms;
    if (stats.echo_return_loss_enhancement) out->erle_db = *stats.echo_return_loss_enhancement;
}

#elif LCECHO_WEBRTC == 3

void fill_frame(webrtc::AudioFrame &frame, const int16_t *samples) {
    frame.sample_rate_hz_ = kRate;
    frame.num_channels_ = 1;
    frame.samples_per_channel_ = kFrame;
    memcpy(frame.data_, samples, kFrame * sizeof(int16_t));
}

bool webrtc_create(lcecho *e, char *err, size_t errlen) {
    const lcecho_config &c = e->config;
    // webrtc::Config owns (and deletes) what it is given.
    webrtc::ExtendedFilter *extended = new (std::nothrow) webrtc::ExtendedFilter(true);
    webrtc::DelayAgnostic *agnostic = new (std::nothrow) webrtc::DelayAgnostic(true);
    if (extended == nullptr || agnostic == nullptr) {
        delete extended;
        delete agnostic;
        set_error(err, errlen, "webrtc-legacy: out of memory");
        return false;
    }
    webrtc::Config config;
    config.Set<webrtc::ExtendedFilter>(extended);
    config.Set<webrtc::DelayAgnostic>(agnostic);
    e->apm = webrtc::AudioProcessing::Create(config);
    if (e->apm == nullptr) {
        set_error(err, errlen, "webrtc-legacy: AudioProcessing::Create failed");
        return false;
    }
    webrtc::ProcessingConfig processing = {{webrtc::StreamConfig(kRate, 1),
                                            webrtc::StreamConfig(kRate, 1),
                                            webrtc::StreamConfig(kRate, 1),
                                            webrtc::StreamConfig(kRate, 1)}};
    int rc = e->apm->Initialize(processing);
    const char *step = "Initialize";
    if (rc == 0) { step = "high_pass_filter"; rc = e->apm->high_pass_filter()->Enable(true); }
    if (rc == 0 && c.aec) {
        webrtc::EchoCancellation *aec = e->apm->echo_cancellation();
        step = "echo_cancellation";
        rc = aec->enable_drift_compensation(false);
        if (rc == 0) rc = aec->set_suppression_level(kLegacySuppression);
        if (rc == 0) rc = aec->enable_metrics(true);
        if (rc == 0) rc = aec->enable_delay_logging(true);
        if (rc == 0) rc = aec->Enable(true);
    }
    if (rc == 0 && c.ns) {
        step = "noise_suppression";
        rc = e->apm->noise_suppression()->set_level(webrtc::NoiseSuppression::kModerate);
        if (rc == 0) rc = e->apm->noise_suppression()->Enable(true);
    }
    if (rc == 0 && c.agc) {
        step = "gain_control";
        rc = e->apm->gain_control()->set_mode(webrtc::GainControl::kAdaptiveDigital);
        if (rc == 0) rc = e->apm->gain_control()->Enable(true);
    }
    if (rc != 0) {
        char detail[64];
        snprintf(detail, sizeof detail, "%s failed: error %d", step, rc);
        set_error(err, errlen, "webrtc-legacy: ", detail);
        return false;
    }
    return true;
}

void webrtc_destroy(lcecho *e) {
    delete e->apm;
}

void webrtc_far(lcecho *e, const int16_t *far) {
    if (!e->config.aec) return;
    fill_frame(e->far_frame, far);
    e->apm->ProcessReverseStream(&e->far_frame);
}

int webrtc_near(lcecho *e, int16_t *near, int delay_ms) {
    fill_frame(e->near_frame, near);
    // Out of [0, 500] ms the APM clamps and warns; delay-agnostic mode finds the delay itself.
    if (e->config.aec) e->apm->set_stream_delay_ms(delay_ms < 0 ? 0 : delay_ms);
    int rc = e->apm->ProcessStream(&e->near_frame);
    if (rc != webrtc::AudioProcessing::kNoError
        && rc != webrtc::AudioProcessing::kBadStreamParameterWarning)
        return -1;
    memcpy(near, e->near_frame.data_, kFrame * sizeof(int16_t));
    return 0;
}

void webrtc_metrics(lcecho *e, lcecho_metrics *out) {
    if (!e->config.aec) return;
    webrtc::EchoCancellation *aec = e->apm->echo_cancellation();
    // The legacy AEC reports -100 dB (its offset level) until it has a figure.
    webrtc::EchoCancellation::Metrics m;
    if (aec->GetMetrics(&m) == 0 && m.echo_return_loss_enhancement.instant > -100)
        out->erle_db = m.echo_return_loss_enhancement.instant;
    int median = -1, std_dev = -1;
    float poor = 0;
    if (aec->GetDelayMetrics(&median, &std_dev, &poor) == 0 && median >= 0)
        out->delay_ms = median;
    out->stream_has_echo = aec->stream_has_echo() ? 1 : 0;
}

#endif

}  // namespace

extern "C" {

unsigned lcecho_engines_built(void) {
    unsigned built = 1u << LCECHO_ENGINE_SPEEX;
    if (kWebRTCEngine != LCECHO_ENGINE_NONE) built |= 1u << kWebRTCEngine;
    return built;
}

int lcecho_default_engine(void) {
    return kWebRTCEngine != LCECHO_ENGINE_NONE ? kWebRTCEngine : LCECHO_ENGINE_SPEEX;
}

const char *lcecho_engine_name(int engine) {
    switch (engine) {
    case LCECHO_ENGINE_WEBRTC_AEC3: return "webrtc-aec3";
    case LCECHO_ENGINE_WEBRTC_LEGACY: return "webrtc-legacy";
    case LCECHO_ENGINE_SPEEX: return "speexdsp";
    default: return "none";
    }
}

lcecho *lcecho_create(const lcecho_config *config, char *err, size_t errlen) {
    if (err != nullptr && errlen > 0) err[0] = '\0';
    if (config == nullptr) {
        set_error(err, errlen, "no config");
        return nullptr;
    }
    const int engine = config->engine;
    if (engine < LCECHO_ENGINE_WEBRTC_AEC3 || engine > LCECHO_ENGINE_SPEEX) {
        char detail[24];
        snprintf(detail, sizeof detail, "%d", engine);
        set_error(err, errlen, "unknown echo engine ", detail);
        return nullptr;
    }
    if ((lcecho_engines_built() & (1u << engine)) == 0) {
        set_error(err, errlen, lcecho_engine_name(engine), ": echo engine not built in");
        return nullptr;
    }
    if (config->aec < 0 || config->aec > 1 || config->ns < 0 || config->ns > 1
        || config->agc < 0 || config->agc > 1) {
        set_error(err, errlen, "aec, ns and agc must each be 0 or 1");
        return nullptr;
    }
    if (engine == LCECHO_ENGINE_SPEEX && config->speex_tail_ms != 0
        && (config->speex_tail_ms < 10 || config->speex_tail_ms > 2000)) {
        set_error(err, errlen, "speex_tail_ms must be 0 (200 ms) or 10 to 2000 ms");
        return nullptr;
    }
    lcecho *e = new (std::nothrow) lcecho();
    if (e == nullptr) {
        set_error(err, errlen, "out of memory");
        return nullptr;
    }
    e->config = *config;
    bool ok = is_webrtc(engine) ?
#if LCECHO_WEBRTC != 0
        webrtc_create(e, err, errlen)
#else
        false
#endif
        : speex_create(e, err, errlen);
    if (!ok) {
        lcecho_destroy(e);
        return nullptr;
    }
    return e;
}

void lcecho_destroy(lcecho *e) {
    if (e == nullptr) return;
#if LCECHO_WEBRTC != 0
    webrtc_destroy(e);
#endif
    speex_destroy(e);
    delete e;
}

void lcecho_process_far(lcecho *e, const int16_t *far160) {
    if (e == nullptr || far160 == nullptr) return;
#if LCECHO_WEBRTC != 0
    if (is_webrtc(e->config.engine)) {
        webrtc_far(e, far160);
        return;
    }
#endif
    memcpy(e->far, far160, sizeof e->far);
}

int lcecho_process_near(lcecho *e, int16_t *near160, int delay_ms) {
    if (e == nullptr || near160 == nullptr) return -1;
#if LCECHO_WEBRTC != 0
    if (is_webrtc(e->config.engine)) return webrtc_near(e, near160, delay_ms);
#endif
    (void)delay_ms;
    return speex_near(e, near160);
}

void lcecho_get_metrics(lcecho *e, lcecho_metrics *out) {
    if (out == nullptr) return;
    out->delay_ms = -1;
    out->erle_db = -1000;
    out->stream_has_echo = -1;
    if (e == nullptr) return;
#if LCECHO_WEBRTC != 0
    if (is_webrtc(e->config.engine)) webrtc_metrics(e, out);
#endif
}

}  // extern "C"
