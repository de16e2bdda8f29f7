/* SPDX-License-Identifier: Apache-2.0 */
/* The echo cancellation API of include/layercode.h (issue 13; doc/echo-cancellation.md),
 * from an application's side, without a server (no client here connects):
 *
 *  - lc_options_init's defaults of the echo fields: echo_cancellation -1, echo_engine NULL,
 *    noise_suppression 0, auto_gain 0, half_duplex -1;
 *  - lc_echo_engines_built(): not 0, speexdsp always, no bit for "none" or an unknown engine;
 *  - lc_echo_engine_name() for 0..3, and "unknown" for any other value, static;
 *  - lc_client_new() refuses an unknown echo_engine naming what is built, and tri-state
 *    values other than -1, 0, 1; accepts each engine built by name (an engine known but
 *    not built: tests/python/test_echo_options.py);
 *  - lc_client_set_audio_delays(): NULL client, 0..1000 accepted, anything else refused;
 *  - a fresh client's lc_stats: echo_engine NONE and the documented "not measured" values.
 *
 * usage: echo_api
 * Prints PASS/FAIL lines and "SUMMARY <n> checks, <f> failed"; exits 1 if a check failed. */
#define _POSIX_C_SOURCE 200809L
#include "check.h"

#include <limits.h>
#include <string.h>

static const char *const engine_names[] = {"none", "webrtc-aec3", "webrtc-legacy", "speexdsp"};

/* Options for a client that is created but never connects. */
static void base_options(lc_options *o) {
    lc_options_init(o);
    o->agent_id = "echo";
    o->authorize_url = "http://127.0.0.1:9/authorize";
}

static void test_defaults(void) {
    lc_options o;
    memset(&o, 0x5A, sizeof o);
    lc_options_init(&o);
    check(o.echo_cancellation == -1, "default echo_cancellation is -1 (got %d)", o.echo_cancellation);
    check(o.echo_engine == NULL, "default echo_engine is NULL");
    check(o.noise_suppression == 0, "default noise_suppression is 0 (got %d)", o.noise_suppression);
    check(o.auto_gain == 0, "default auto_gain is 0 (got %d)", o.auto_gain);
    check(o.half_duplex == -1, "default half_duplex is -1 (got %d)", o.half_duplex);
}

static void test_engines(void) {
    unsigned built = lc_echo_engines_built();
    check(built != 0, "lc_echo_engines_built() is not 0 (0x%x)", built);
    check((built & (1u << LC_ECHO_ENGINE_SPEEX)) != 0, "speexdsp is always built (0x%x)", built);
    check((built & (1u << LC_ECHO_ENGINE_NONE)) == 0, "no bit for LC_ECHO_ENGINE_NONE (0x%x)", built);
    check((built & ~0xEu) == 0, "no bit beyond LC_ECHO_ENGINE_SPEEX (0x%x)", built);
    check(lc_echo_engines_built() == built, "lc_echo_engines_built() is the same on each call");

    for (int e = LC_ECHO_ENGINE_NONE; e <= LC_ECHO_ENGINE_SPEEX; e++) {
        const char *name = lc_echo_engine_name(e);
        check(name != NULL && strcmp(name, engine_names[e]) == 0,
              "lc_echo_engine_name(%d) is \"%s\" (got \"%s\")", e, engine_names[e], name ? name : "(null)");
        check(lc_echo_engine_name(e) == name, "lc_echo_engine_name(%d) is static (same pointer)", e);
    }
    static const int others[] = {4, 99, -1, INT_MIN, INT_MAX};
    for (size_t i = 0; i < sizeof others / sizeof *others; i++) {
        const char *name = lc_echo_engine_name(others[i]);
        check(name != NULL && strcmp(name, "unknown") == 0,
              "lc_echo_engine_name(%d) is \"unknown\" (got \"%s\")", others[i], name ? name : "(null)");
    }
}

/* lc_client_new must fail with LC_ERR_INVALID_ARGUMENT, its detail containing each of want. */
static void expect_refused(const lc_options *o, const char *what, const char *const *want, size_t n) {
    lc_client *c = NULL;
    int rc = lc_client_new(o, &c);
    const char *why = lc_client_last_error(NULL);
    int named = 1;
    for (size_t i = 0; i < n; i++)
        if (strstr(why, want[i]) == NULL) named = 0;
    check(rc == LC_ERR_INVALID_ARGUMENT && c == NULL && named,
          "%s: refused with LC_ERR_INVALID_ARGUMENT, saying why (rc %d, \"%s\")", what, rc, why);
    if (c) lc_client_free(c);
}

static void expect_accepted(const lc_options *o, const char *what) {
    lc_client *c = NULL;
    int rc = lc_client_new(o, &c);
    check(rc == LC_OK && c != NULL, "%s: accepted (rc %d, \"%s\")", what, rc,
          rc == LC_OK ? "" : lc_client_last_error(NULL));
    lc_client_free(c);
}

static void test_options(void) {
    unsigned built = lc_echo_engines_built();
    const char *built_names[4];
    size_t n_built = 0;
    lc_options o;

    for (int e = LC_ECHO_ENGINE_WEBRTC_AEC3; e <= LC_ECHO_ENGINE_SPEEX; e++)
        if (built & (1u << e)) built_names[n_built++] = engine_names[e];

    base_options(&o);
    o.audio_mode = LC_AUDIO_WAV;
    o.capture_device = "mic.wav";
    o.playback_device = "speaker.wav";
    o.echo_engine = "nope";
    {
        const char *want[5] = {"\"nope\""};
        memcpy(want + 1, built_names, n_built * sizeof *built_names);
        expect_refused(&o, "echo_engine \"nope\"", want, 1 + n_built);
    }
    for (size_t i = 0; i < n_built; i++) {
        char what[64];
        o.echo_engine = built_names[i];
        snprintf(what, sizeof what, "echo_engine \"%s\" (built)", built_names[i]);
        expect_accepted(&o, what);
    }
    o.echo_engine = NULL;

    static const int bad_tristate[] = {-2, 2, INT_MIN, INT_MAX};
    for (size_t i = 0; i < sizeof bad_tristate / sizeof *bad_tristate; i++) {
        const char *want_ec[] = {"echo_cancellation"}, *want_hd[] = {"half_duplex"};
        char what[64];
        base_options(&o);
        o.echo_cancellation = bad_tristate[i];
        snprintf(what, sizeof what, "echo_cancellation %d", bad_tristate[i]);
        expect_refused(&o, what, want_ec, 1);
        base_options(&o);
        o.half_duplex = bad_tristate[i];
        snprintf(what, sizeof what, "half_duplex %d", bad_tristate[i]);
        expect_refused(&o, what, want_hd, 1);
    }
    for (int v = -1; v <= 1; v++) {
        char what[64];
        base_options(&o);
        o.echo_cancellation = v;
        o.half_duplex = v;
        snprintf(what, sizeof what, "echo_cancellation and half_duplex %d", v);
        expect_accepted(&o, what);
    }
}

static void test_audio_delays(void) {
    static const int good[][2] = {{0, 0}, {1000, 1000}, {0, 1000}, {1000, 0}, {120, 40}};
    static const int bad[][2] = {{-1, 0}, {0, -1}, {1001, 0}, {0, 1001}, {INT_MIN, 0}, {0, INT_MAX}};
    lc_options o;
    lc_client *c = NULL;
    int rc;

    rc = lc_client_set_audio_delays(NULL, 0, 0);
    check(rc == LC_ERR_INVALID_ARGUMENT, "lc_client_set_audio_delays(NULL): LC_ERR_INVALID_ARGUMENT (got %d)", rc);

    base_options(&o);
    o.echo_cancellation = 1;
    rc = lc_client_new(&o, &c);
    check(rc == LC_OK, "external audio client with echo_cancellation 1 (rc %d)", rc);
    if (rc != LC_OK) return;
    for (size_t i = 0; i < sizeof good / sizeof *good; i++) {
        rc = lc_client_set_audio_delays(c, good[i][0], good[i][1]);
        check(rc == LC_OK, "lc_client_set_audio_delays(%d, %d): LC_OK (got %d, \"%s\")", good[i][0],
              good[i][1], rc, rc == LC_OK ? "" : lc_client_last_error(c));
    }
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        rc = lc_client_set_audio_delays(c, bad[i][0], bad[i][1]);
        const char *why = lc_client_last_error(c);
        check(rc == LC_ERR_INVALID_ARGUMENT && strstr(why, "0..1000") != NULL,
              "lc_client_set_audio_delays(%d, %d): LC_ERR_INVALID_ARGUMENT, saying the range (got %d, \"%s\")",
              bad[i][0], bad[i][1], rc, why);
    }
    check(lc_client_status(c) == LC_STATUS_DISCONNECTED, "the client stays disconnected");
    lc_client_free(c);
}

static void test_fresh_stats(void) {
    lc_options o;
    lc_client *c = NULL;
    lc_stats s;
    int rc;

    base_options(&o);
    o.audio_mode = LC_AUDIO_WAV; /* echo cancellation on by default, once a session runs */
    o.capture_device = "mic.wav";
    o.playback_device = "speaker.wav";
    rc = lc_client_new(&o, &c);
    check(rc == LC_OK, "WAV client (rc %d)", rc);
    if (rc != LC_OK) return;
    memset(&s, 0x5A, sizeof s);
    rc = lc_client_get_stats(c, &s);
    check(rc == LC_OK && s.struct_size == sizeof s, "lc_client_get_stats: LC_OK, struct_size %zu (got %d, %zu)",
          sizeof s, rc, s.struct_size);
    check(s.echo_engine == LC_ECHO_ENGINE_NONE, "fresh client: echo_engine NONE (got %d)", (int)s.echo_engine);
    check(s.echo_return_loss_enhancement_db == 0.0, "fresh client: echo_return_loss_enhancement_db 0 (got %g)",
          s.echo_return_loss_enhancement_db);
    check(s.residual_echo_level_dbfs == -120.0, "fresh client: residual_echo_level_dbfs -120 (got %g)",
          s.residual_echo_level_dbfs);
    check(s.echo_delay_ms == -1, "fresh client: echo_delay_ms -1 (got %lld)", (long long)s.echo_delay_ms);
    check(s.double_talk_frames == 0 && s.echo_frames == 0 && s.echo_reference_late_frames == 0 &&
              s.half_duplex_gated_frames == 0,
          "fresh client: no echo frames counted");
    lc_client_free(c);
}

int main(void) {
    test_defaults();
    test_engines();
    test_options();
    test_audio_delays();
    test_fresh_stats();
    return check_summary();
}
