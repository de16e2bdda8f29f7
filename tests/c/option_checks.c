/* SPDX-License-Identifier: Apache-2.0 */
/* What lc_client_new() refuses, and what the library says about the options it accepted.
 * Regressions of issue 9:
 *  - authorize_headers_reserved_names_and_control_characters: Host, Content-Length,
 *    Transfer-Encoding, Connection, ... (any case) and control characters were accepted,
 *    duplicating the request's framing headers;
 *  - invalid_utf8_options_are_refused: invalid UTF-8 in a string option was replaced with
 *    U+FFFD instead of refused;
 *  - metadata_json_numbers_pass_through_unchanged (the test server checks the body);
 *  - authorize_url_query_redacted_in_logs (the Python side checks the log lines);
 *  - alsa_messages_go_to_the_log_handler: "ALSA lib ..." reached stderr.
 *
 * usage: option_checks AUTHORIZE_URL METADATA_JSON HANGUP_URL
 * AUTHORIZE_URL is a server that records the request and refuses it, HANGUP_URL one that
 * hangs up without an answer, so that the URL appears in an error (test_client_limits.py).
 * Prints "PASS"/"FAIL" lines, log lines as "log LEVEL TEXT", then "SUMMARY <n> checks,
 * <f> failed"; exits 1 if a check failed. */
#define _POSIX_C_SOURCE 200809L
#include "layercode.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

/* Checks and log lines come from several threads: one lock keeps their lines whole. */
static pthread_mutex_t out_mu = PTHREAD_MUTEX_INITIALIZER;
#define CHECK_LOCK() pthread_mutex_lock(&out_mu)
#define CHECK_UNLOCK() pthread_mutex_unlock(&out_mu)
#include "check.h"

static void on_log(void *ud, int level, const char *message) {
    (void)ud;
    pthread_mutex_lock(&out_mu);
    printf("log %d %s\n", level, message);
    fflush(stdout);
    pthread_mutex_unlock(&out_mu);
}

static int disconnected;
static void on_disconnected(void *ud, int reason, const char *message) {
    (void)ud; (void)reason; (void)message;
    __atomic_store_n(&disconnected, 1, __ATOMIC_SEQ_CST);
}

static void base_options(lc_options *o, const char *authorize_url) {
    lc_options_init(o);
    o->agent_id = "echo";
    o->authorize_url = authorize_url;
    o->audio_mode = LC_AUDIO_NONE;
    o->reconnect_max_attempts = 0;
}

/* lc_client_new must fail with LC_ERR_INVALID_ARGUMENT and an explanation containing want. */
static void expect_refused(const lc_options *o, const char *what, const char *want) {
    lc_client *c = NULL;
    int rc = lc_client_new(o, &c);
    const char *why = lc_client_last_error(NULL);
    check(rc == LC_ERR_INVALID_ARGUMENT && c == NULL && strstr(why, want) != NULL,
          "%s: refused with LC_ERR_INVALID_ARGUMENT, saying \"%s\" (rc %d, \"%s\")", what, want,
          rc, why);
    if (c) lc_client_free(c);
}

static void test_headers(const char *url) {
    static const char *const reserved[] = {
        "Host: evil.example", "host: evil.example", "Content-Length: 0",
        "CONTENT-LENGTH: 5", "Transfer-Encoding: chunked", "transfer-encoding: chunked",
        "Connection: keep-alive", "Content-Type: text/plain", "User-Agent: x", "Accept: */*",
        "Upgrade: websocket", "TE: trailers", "Trailer: X", "Expect: 100-continue",
        "Keep-Alive: 5", "Proxy-Connection: keep-alive",
    };
    lc_options o;
    for (size_t i = 0; i < sizeof reserved / sizeof *reserved; i++) {
        const char *headers[] = {"X-Ok: 1", reserved[i]};
        char name[64];
        size_t n = strcspn(reserved[i], ":");
        memcpy(name, reserved[i], n);
        name[n] = 0;
        base_options(&o, url);
        o.authorize_headers = headers;
        o.authorize_header_count = 2;
        char what[128];
        snprintf(what, sizeof what, "authorize header \"%s\"", reserved[i]);
        expect_refused(&o, what, name);
    }
    static const char *const controls[] = {
        "X-Token: a\x01" "b", "X-Token: a\x7f", "X-Token: a\x1b[2J", "X-Token: a\rb",
        "X-Token: a\nX-Injected: 1", "X\x01Token: a", "X Token: a", "X\"Token: a", ": a",
    };
    for (size_t i = 0; i < sizeof controls / sizeof *controls; i++) {
        const char *headers[] = {controls[i]};
        base_options(&o, url);
        o.authorize_headers = headers;
        o.authorize_header_count = 1;
        char what[64];
        snprintf(what, sizeof what, "malformed authorize header #%zu", i);
        expect_refused(&o, what, "authorize_headers[0]");
    }
    const char *fine[] = {"Authorization: Bearer abc", "X-Device: tab\there", "X-Utf8: caf\xc3\xa9"};
    base_options(&o, url);
    o.authorize_headers = fine;
    o.authorize_header_count = 3;
    lc_client *c = NULL;
    int rc = lc_client_new(&o, &c);
    check(rc == LC_OK, "ordinary headers (a tab and UTF-8 in values) are accepted (rc %d, %s)", rc,
          lc_client_last_error(NULL));
    lc_client_free(c);
}

static void test_utf8(const char *url) {
    static const char *const bad = "caf\xc3(\xff";
    static const char *const fields[] = {
        "agent_id", "authorize_url", "metadata_json", "conversation_id", "ws_url", "ca_file",
        "ca_dir", "capture_device", "playback_device", "authorize_headers[0]",
    };
    char header[64];
    snprintf(header, sizeof header, "X-Name: %s", bad);
    const char *headers[] = {header};
    for (size_t i = 0; i < sizeof fields / sizeof *fields; i++) {
        lc_options o;
        base_options(&o, url);
        o.audio_mode = LC_AUDIO_ALSA;
        switch (i) {
        case 0: o.agent_id = bad; break;
        case 1: o.authorize_url = bad; break;
        case 2: o.metadata_json = bad; break;
        case 3: o.conversation_id = bad; break;
        case 4: o.ws_url = bad; break;
        case 5: o.ca_file = bad; break;
        case 6: o.ca_dir = bad; break;
        case 7: o.capture_device = bad; break;
        case 8: o.playback_device = bad; break;
        default: o.authorize_headers = headers; o.authorize_header_count = 1; break;
        }
        char want[64], what[64];
        snprintf(want, sizeof want, "%s is not valid UTF-8", fields[i]);
        snprintf(what, sizeof what, "invalid UTF-8 in %s", fields[i]);
        expect_refused(&o, what, want);
    }
}

static void wait_disconnected(const char *what) {
    struct timespec pause = {0, 10 * 1000 * 1000};
    for (int i = 0; i < 1000 && !__atomic_load_n(&disconnected, __ATOMIC_SEQ_CST); i++)
        nanosleep(&pause, NULL);
    check(__atomic_load_n(&disconnected, __ATOMIC_SEQ_CST), "%s: the session ended", what);
}

/* A session against the recording server: the test reads the request and the log lines. */
static void test_session(const char *url, const char *metadata) {
    lc_options o;
    base_options(&o, url);
    o.metadata_json = metadata;
    o.on_disconnected = on_disconnected;
    lc_client *c = NULL;
    int rc = lc_client_new(&o, &c);
    check(rc == LC_OK, "a client with metadata %s (rc %d, %s)", metadata, rc,
          lc_client_last_error(NULL));
    if (rc != LC_OK) return;
    __atomic_store_n(&disconnected, 0, __ATOMIC_SEQ_CST);
    check(lc_client_connect(c) == LC_OK, "lc_client_connect");
    wait_disconnected("authorize refused");
    lc_client_free(c);
}

/* An ALSA device that does not exist: ALSA's own message must reach the log handler. */
static void test_alsa_message(const char *url) {
    lc_options o;
    base_options(&o, url);
    o.audio_mode = LC_AUDIO_ALSA;
    o.capture_device = "lc_no_such_pcm";
    o.playback_device = "lc_no_such_pcm";
    o.on_disconnected = on_disconnected;
    lc_client *c = NULL;
    int rc = lc_client_new(&o, &c);
    check(rc == LC_OK, "an ALSA client with a device that does not exist (rc %d)", rc);
    if (rc != LC_OK) return;
    __atomic_store_n(&disconnected, 0, __ATOMIC_SEQ_CST);
    check(lc_client_connect(c) == LC_OK, "lc_client_connect (ALSA)");
    wait_disconnected("the device cannot open");
    lc_client_free(c);
}

int main(int argc, char **argv) {
    if (argc < 4) {
        fprintf(stderr, "usage: option_checks AUTHORIZE_URL METADATA_JSON HANGUP_URL\n");
        return 2;
    }
    lc_set_log_handler(on_log, NULL, LC_LOG_DEBUG);
    test_headers(argv[1]);
    test_utf8(argv[1]);
    test_session(argv[1], argv[2]);
    test_session(argv[3], "{}");
    test_alsa_message(argv[1]);
    lc_set_log_handler(NULL, NULL, 0);
    return check_summary();
}
