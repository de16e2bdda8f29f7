/* SPDX-License-Identifier: Apache-2.0 */
/* Misuse of the C ABI: every mistake an application can make with include/layercode.h must
 * give the documented error code (and, for lc_client_new, an explanation), never a crash, a
 * hang or a callback after lc_client_free().
 *
 * usage: api_misuse AUTHORIZE_URL WS_URL      (a running tools/devserver; default agent echo)
 *
 * Prints one line per check ("PASS ..." / "FAIL ..."), then "SUMMARY <checks> checks,
 * <failures> failed"; exits 1 if any check failed, 2 on a usage error. A watchdog ends the
 * run with exit 3 if it hangs (a deadlock in the library).
 *
 * Plain C99 plus POSIX threads; the atomics are GCC/Clang __atomic builtins (C99 has no
 * <stdatomic.h>), so the header is also checked to compile as strict C99. tests/c/
 * test_c_api.py builds it plain and with -fsanitize=address,undefined. */
#define _POSIX_C_SOURCE 200809L
#include "layercode.h"
#include "check.h"

#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define LIMIT_BYTES (64 * 1024) /* send_text / send_data: "LC_ERR_TOO_LARGE over 64 KiB" */
#define WAIT_MS 10000           /* how long an event the devserver causes may take */
#define SETTLE_MS 600           /* how long to watch for callbacks that must not come */

static const char *authorize_url;
static const char *ws_url;
static pthread_t main_thread;

/* ---- checks ---------------------------------------------------------------------------- */


static void section(const char *name) {
    printf("# %s\n", name);
    fflush(stdout);
}

static const char *code_name(int code) {
    switch (code) {
    case LC_OK: return "LC_OK";
    case LC_ERR_INVALID_ARGUMENT: return "LC_ERR_INVALID_ARGUMENT";
    case LC_ERR_INVALID_STATE: return "LC_ERR_INVALID_STATE";
    case LC_ERR_NO_MEMORY: return "LC_ERR_NO_MEMORY";
    case LC_ERR_AUTHORIZE: return "LC_ERR_AUTHORIZE";
    case LC_ERR_NETWORK: return "LC_ERR_NETWORK";
    case LC_ERR_TLS: return "LC_ERR_TLS";
    case LC_ERR_PROTOCOL: return "LC_ERR_PROTOCOL";
    case LC_ERR_TIMEOUT: return "LC_ERR_TIMEOUT";
    case LC_ERR_CLOSED: return "LC_ERR_CLOSED";
    case LC_ERR_AUDIO: return "LC_ERR_AUDIO";
    case LC_ERR_TOO_LARGE: return "LC_ERR_TOO_LARGE";
    case LC_ERR_INTERNAL: return "LC_ERR_INTERNAL";
    default: return "(other)";
    }
}

static void check_rc(const char *what, int got, int want) {
    if (got == want)
        check(1, "%s == %s", what, code_name(want));
    else
        check(0, "%s == %s (got %d %s)", what, code_name(want), got, code_name(got));
}
#define CHECK_RC(expr, want) check_rc(#expr, (expr), (want))

/* ---- time, atomics ----------------------------------------------------------------------- */

static void sleep_ms(int ms) {
    struct timespec ts;
    ts.tv_sec = ms / 1000;
    ts.tv_nsec = (long)(ms % 1000) * 1000000L;
    while (nanosleep(&ts, &ts) != 0) {}
}

static int load(const int *p) { return __atomic_load_n(p, __ATOMIC_SEQ_CST); }
static void store(int *p, int v) { __atomic_store_n(p, v, __ATOMIC_SEQ_CST); }
static int bump(int *p) { return __atomic_add_fetch(p, 1, __ATOMIC_SEQ_CST); }

/* Waits until *p >= value; 1 if it got there within ms. */
static int wait_for(const int *p, int value, int ms) {
    int waited;
    for (waited = 0; waited < ms; waited += 2) {
        if (load(p) >= value) return 1;
        sleep_ms(2);
    }
    return load(p) >= value;
}

/* A hang is a failure too: the watchdog reports it and ends the run. */
static void on_watchdog(int sig) {
    static const char text[] = "FAIL watchdog: the run hung (deadlock in the library?)\n";
    (void)sig;
    if (write(STDOUT_FILENO, text, sizeof text - 1) < 0) {}
    _exit(3);
}

/* ---- a client's callbacks, recorded ---------------------------------------------------- */

#define PROBE_MAGIC 0x1c0de

enum free_point {
    FREE_NOWHERE,
    FREE_IN_STATUS_CONNECTING,
    FREE_IN_STATUS_CONNECTED,
    FREE_IN_CONNECTED,
    FREE_IN_MESSAGE,
    FREE_IN_ERROR,
    FREE_IN_DISCONNECTED,
    FREE_IN_AMPLITUDE,
    FREE_OTHER_IN_CONNECTED /* on_connected frees probe.other, another client */
};

typedef struct probe {
    int magic;
    lc_client *client;     /* written before connect; read by the freeing callback */
    enum free_point free_point;
    struct probe *other;   /* FREE_OTHER_IN_CONNECTED */

    /* all below: __atomic */
    int callbacks;         /* every callback entered */
    int statuses;
    int status_seq[16];    /* the statuses in order (the first 16) */
    int connected;
    int disconnected;
    int disconnect_reason;
    int errors;
    int error_code;
    int messages;
    int greetings;         /* response.text messages */
    int data;
    int order_error;       /* order of the error, status ERROR and disconnected callbacks */
    int order_status_error;
    int order_disconnected;
    int order;
    int bad_user_data;     /* a callback got someone else's user_data */
    int on_wrong_thread;   /* a callback ran on the application's main thread */
    int free_called;       /* the freeing callback called lc_client_free */
    int free_returned;     /* ... and that callback returned */
    int status_after_free; /* lc_client_status() inside the callback, after lc_client_free() */
    int freed;             /* no callback may start once this is set */
    int after_free;        /* callbacks that started anyway */
    int bad_args;          /* a callback got a NULL string where the header promises one */
} probe;

static void probe_init(probe *p, enum free_point where) {
    memset(p, 0, sizeof *p);
    p->magic = PROBE_MAGIC;
    p->free_point = where;
    p->disconnect_reason = 1; /* no LC_* code */
    p->error_code = 1;
}

static probe *enter(void *user_data) {
    probe *p = user_data;
    if (p == NULL || p->magic != PROBE_MAGIC) {
        /* Nothing to record into; the missing events fail the test that waits for them. */
        printf("FAIL a callback got user_data %p, not a probe\n", user_data);
        fflush(stdout);
        return NULL;
    }
    bump(&p->callbacks);
    if (load(&p->freed)) bump(&p->after_free);
    if (pthread_equal(pthread_self(), main_thread)) bump(&p->on_wrong_thread);
    return p;
}

/* The callback that frees its own client: lc_client_free returns at once, the handle stays
 * usable until the callback returns, and nothing for this client runs afterwards. */
static void free_here(probe *p, enum free_point where) {
    if (p->free_point != where || load(&p->free_called)) return;
    store(&p->free_called, 1);
    if (where == FREE_OTHER_IN_CONNECTED) {
        lc_client_free(p->other->client); /* blocks until the other client is released */
        store(&p->other->freed, 1);
        store(&p->free_returned, 1);
        return;
    }
    lc_client_free(p->client);
    store(&p->status_after_free, lc_client_status(p->client) + 100);
    store(&p->free_returned, 1);
}

/* Last statement of every callback: the freeing callback has returned. */
static void leave(probe *p) {
    if (load(&p->free_returned) && p->free_point != FREE_OTHER_IN_CONNECTED) store(&p->freed, 1);
}

static void on_status(void *user_data, int status) {
    probe *p = enter(user_data);
    int n;
    if (!p) return;
    n = bump(&p->statuses);
    if (n <= 16) store(&p->status_seq[n - 1], status);
    if (status == LC_STATUS_ERROR) store(&p->order_status_error, bump(&p->order));
    if (status == LC_STATUS_CONNECTING) free_here(p, FREE_IN_STATUS_CONNECTING);
    if (status == LC_STATUS_CONNECTED) free_here(p, FREE_IN_STATUS_CONNECTED);
    leave(p);
}

static void on_connected(void *user_data, const char *conversation_id, const char *config_json) {
    probe *p = enter(user_data);
    if (!p) return;
    if (!conversation_id || !*conversation_id || !config_json || config_json[0] != '{')
        bump(&p->bad_args);
    bump(&p->connected);
    free_here(p, FREE_IN_CONNECTED);
    free_here(p, FREE_OTHER_IN_CONNECTED);
    leave(p);
}

static void on_disconnected(void *user_data, int reason, const char *message) {
    probe *p = enter(user_data);
    if (!p) return;
    if (!message) bump(&p->bad_args);
    store(&p->disconnect_reason, reason);
    store(&p->order_disconnected, bump(&p->order));
    bump(&p->disconnected);
    free_here(p, FREE_IN_DISCONNECTED);
    leave(p);
}

static void on_error(void *user_data, int code, const char *message) {
    probe *p = enter(user_data);
    if (!p) return;
    if (!message || !*message) bump(&p->bad_args);
    store(&p->error_code, code);
    store(&p->order_error, bump(&p->order));
    bump(&p->errors);
    free_here(p, FREE_IN_ERROR);
    leave(p);
}

static void on_message(void *user_data, const char *type, const char *json) {
    probe *p = enter(user_data);
    if (!p) return;
    if (!type || !json || json[0] != '{') bump(&p->bad_args);
    bump(&p->messages);
    if (type && strcmp(type, "response.text") == 0) bump(&p->greetings);
    free_here(p, FREE_IN_MESSAGE);
    leave(p);
}

static void on_data(void *user_data, const char *content_json, const char *turn_id) {
    probe *p = enter(user_data);
    (void)turn_id;
    if (!p) return;
    if (!content_json) bump(&p->bad_args);
    bump(&p->data);
    leave(p);
}

static void on_amplitude(void *user_data, float level) {
    probe *p = enter(user_data);
    if (!p) return;
    if (!(level >= 0.0f && level <= 1.0f)) bump(&p->bad_args);
    free_here(p, FREE_IN_AMPLITUDE);
    leave(p);
}

static void on_flag(void *user_data, int on) {
    probe *p = enter(user_data);
    if (!p) return;
    if (on != 0 && on != 1) bump(&p->bad_args);
    leave(p);
}

/* Options for the devserver with every callback set. */
static void probe_options(lc_options *o, probe *p) {
    session_options(o, "echo", authorize_url, ws_url);
    o->user_data = p;
    o->on_status = on_status;
    o->on_connected = on_connected;
    o->on_disconnected = on_disconnected;
    o->on_error = on_error;
    o->on_message = on_message;
    o->on_data = on_data;
    o->amplitude_rate_hz = 50;
    o->on_user_amplitude = on_amplitude;
    o->on_agent_amplitude = on_amplitude;
    o->on_user_speaking = on_flag;
    o->on_agent_speaking = on_flag;
    o->on_mute = on_flag;
}

static lc_client *probe_client(probe *p, const lc_options *o, const char *what) {
    lc_client *c = NULL;
    int rc = lc_client_new(o, &c);
    check(rc == LC_OK && c != NULL, "%s: lc_client_new == LC_OK (got %d: %s)", what, rc,
          rc == LC_OK ? "" : lc_client_last_error(NULL));
    p->client = c;
    return c;
}

/* The callbacks every client must get right, whatever else a test does. */
static void check_probe_sanity(const probe *p, const char *what) {
    check(load(&p->on_wrong_thread) == 0, "%s: no callback ran on the application's thread",
          what);
    check(load(&p->bad_args) == 0, "%s: callbacks got well-formed arguments (%d bad)", what,
          load(&p->bad_args));
}

/* ---- no client needed --------------------------------------------------------------------- */

static void test_version_and_strerror(void) {
    static const int codes[] = {LC_OK,
                                LC_ERR_INVALID_ARGUMENT,
                                LC_ERR_INVALID_STATE,
                                LC_ERR_NO_MEMORY,
                                LC_ERR_AUTHORIZE,
                                LC_ERR_NETWORK,
                                LC_ERR_TLS,
                                LC_ERR_PROTOCOL,
                                LC_ERR_TIMEOUT,
                                LC_ERR_CLOSED,
                                LC_ERR_AUDIO,
                                LC_ERR_TOO_LARGE,
                                LC_ERR_INTERNAL};
    static const int unknown[] = {1, 2, 100, -13, -100, -1000, INT_MAX, INT_MIN, INT_MIN + 1};
    const size_t ncodes = sizeof codes / sizeof codes[0];
    const char *unknown_text;
    size_t i, j;

    section("version and lc_strerror");
    check(lc_version() != NULL && strcmp(lc_version(), LC_VERSION_STRING) == 0,
          "lc_version() == LC_VERSION_STRING \"%s\" (got \"%s\")", LC_VERSION_STRING,
          lc_version() ? lc_version() : "(null)");
    check(lc_version_number() == LC_VERSION_NUMBER, "lc_version_number() == %d (got %d)",
          LC_VERSION_NUMBER, lc_version_number());

    unknown_text = lc_strerror(-9999);
    check(unknown_text != NULL && strcmp(unknown_text, "unknown error") == 0,
          "lc_strerror(-9999) == \"unknown error\"");
    for (i = 0; i < ncodes; i++) {
        const char *t = lc_strerror(codes[i]);
        int distinct = 1;
        for (j = 0; j < i && t; j++) {
            const char *u = lc_strerror(codes[j]);
            if (u && strcmp(t, u) == 0) distinct = 0;
        }
        check(t != NULL && *t && strcmp(t, "unknown error") != 0 && distinct &&
                  t == lc_strerror(codes[i]),
              "lc_strerror(%s) is its own static text (\"%s\")", code_name(codes[i]),
              t ? t : "(null)");
    }
    for (i = 0; i < sizeof unknown / sizeof unknown[0]; i++) {
        const char *t = lc_strerror(unknown[i]);
        check(t != NULL && strcmp(t, "unknown error") == 0,
              "lc_strerror(%d) == \"unknown error\" (got \"%s\")", unknown[i], t ? t : "(null)");
    }
}

static int all_bytes(const unsigned char *p, size_t n, unsigned char value) {
    size_t i;
    for (i = 0; i < n; i++)
        if (p[i] != value) return 0;
    return 1;
}

static void test_options_init(void) {
    /* Room for a "newer" struct, to see that nothing is written for a size it rejects. */
    union {
        lc_options o;
        unsigned char bytes[sizeof(lc_options) + 256];
    } buf;
    static const size_t bad_sizes[] = {0, 1, sizeof(size_t), sizeof(lc_options) - 1,
                                       sizeof(lc_options) + 1, sizeof(lc_options) + 256,
                                       SIZE_MAX};
    lc_options o;
    size_t i;

    section("lc_options_init");
    CHECK_RC(lc_options_init_sized(NULL, sizeof(lc_options)), LC_ERR_INVALID_ARGUMENT);
    CHECK_RC(lc_options_init_sized(NULL, 0), LC_ERR_INVALID_ARGUMENT);
    for (i = 0; i < sizeof bad_sizes / sizeof bad_sizes[0]; i++) {
        size_t size = bad_sizes[i];
        int rc;
        memset(buf.bytes, 0xA5, sizeof buf.bytes);
        rc = lc_options_init_sized(&buf.o, size);
        check(rc == LC_ERR_INVALID_ARGUMENT,
              "lc_options_init_sized(&opts, %zu) == LC_ERR_INVALID_ARGUMENT (got %d)", size, rc);
        check(all_bytes(buf.bytes, sizeof buf.bytes, 0xA5),
              "lc_options_init_sized(&opts, %zu) wrote nothing", size);
    }

    memset(&o, 0xA5, sizeof o);
    CHECK_RC(lc_options_init(&o), LC_OK);
    check(o.struct_size == sizeof o, "lc_options_init: struct_size == sizeof(lc_options)");
    check(o.agent_id == NULL && o.authorize_url == NULL && o.authorize_headers == NULL &&
              o.authorize_header_count == 0 && o.metadata_json == NULL &&
              o.conversation_id == NULL && o.ws_url == NULL && o.ca_file == NULL &&
              o.ca_dir == NULL && o.capture_device == NULL && o.playback_device == NULL,
          "lc_options_init: every string NULL");
    check(o.user_data == NULL && o.on_status == NULL && o.on_connected == NULL &&
              o.on_disconnected == NULL && o.on_error == NULL && o.on_message == NULL &&
              o.on_data == NULL && o.on_user_amplitude == NULL && o.on_agent_amplitude == NULL &&
              o.on_user_speaking == NULL && o.on_agent_speaking == NULL && o.on_mute == NULL,
          "lc_options_init: user_data and every callback NULL");
    check(o.connect_timeout_ms == 10000 && o.audio_mode == LC_AUDIO_EXTERNAL &&
              o.input_sample_rate == 16000 && o.output_sample_rate == 16000 &&
              (o.device_sample_rate == 0 || o.device_sample_rate == 48000) &&
              o.period_ms == 10 && o.jitter_min_ms == 40 && o.jitter_max_ms == 500 &&
              o.audio_input_enabled == 1 && o.audio_output_enabled == 1 && o.start_muted == 0 &&
              o.amplitude_rate_hz == 20,
          "lc_options_init: the documented defaults");
}

/* lc_client_new must refuse these options, leave *out NULL and say why on this thread. */
typedef void (*options_edit)(lc_options *o);

static const char *const header_no_colon[] = {"NoColon"};
static const char *const header_crlf[] = {"X-Token: abc\r\nX-Injected: 1"};
static const char *const header_lf[] = {"X-Token: abc\nX-Injected: 1"};
static const char *const header_cr[] = {"X-Token: abc\rdef"};
static const char *const header_empty_name[] = {": value"};
static const char *const header_space_name[] = {"X Token: value"};
static const char *const header_null_entry[] = {"X-Ok: 1", NULL};
static const char *const header_second_bad[] = {"X-Ok: 1", "NoColon"};

static void no_agent(lc_options *o) { o->agent_id = NULL; }
static void empty_agent(lc_options *o) { o->agent_id = ""; }
static void no_authorize(lc_options *o) { o->authorize_url = NULL; }
static void empty_authorize(lc_options *o) { o->authorize_url = ""; }
static void ftp_authorize(lc_options *o) { o->authorize_url = "ftp://127.0.0.1/authorize"; }
static void ws_authorize(lc_options *o) { o->authorize_url = "ws://127.0.0.1/authorize"; }
static void word_authorize(lc_options *o) { o->authorize_url = "not a url"; }
static void hostless_authorize(lc_options *o) { o->authorize_url = "http://"; }
static void bad_port_authorize(lc_options *o) { o->authorize_url = "http://127.0.0.1:99999/a"; }
static void http_ws(lc_options *o) { o->ws_url = "http://127.0.0.1/v1/agents/web/websocket"; }
static void word_ws(lc_options *o) { o->ws_url = "websocket"; }
static void empty_ws(lc_options *o) { o->ws_url = ""; }
static void hostless_ws(lc_options *o) { o->ws_url = "ws://"; }
static void input_rate_0(lc_options *o) { o->input_sample_rate = 0; }
static void input_rate_low(lc_options *o) { o->input_sample_rate = 7999; }
static void input_rate_high(lc_options *o) { o->input_sample_rate = 48001; }
static void input_rate_negative(lc_options *o) { o->input_sample_rate = -16000; }
static void output_rate_0(lc_options *o) { o->output_sample_rate = 0; }
static void output_rate_low(lc_options *o) { o->output_sample_rate = 7999; }
static void output_rate_high(lc_options *o) { o->output_sample_rate = 96000; }
static void output_rate_max(lc_options *o) { o->output_sample_rate = INT_MAX; }
static void timeout_negative(lc_options *o) { o->connect_timeout_ms = -1; }
static void timeout_min(lc_options *o) { o->connect_timeout_ms = INT_MIN; }
static void audio_mode_bad(lc_options *o) { o->audio_mode = 99; }
static void audio_mode_negative(lc_options *o) { o->audio_mode = -1; }
static void metadata_array(lc_options *o) { o->metadata_json = "[1,2]"; }
static void metadata_number(lc_options *o) { o->metadata_json = "42"; }
static void metadata_string(lc_options *o) { o->metadata_json = "\"text\""; }
static void metadata_null(lc_options *o) { o->metadata_json = "null"; }
static void metadata_broken(lc_options *o) { o->metadata_json = "{\"a\":"; }
static void metadata_empty(lc_options *o) { o->metadata_json = ""; }
static void metadata_trailing(lc_options *o) { o->metadata_json = "{} {}"; }
static void conversation_empty(lc_options *o) { o->conversation_id = ""; }
static void headers_no_colon(lc_options *o) {
    o->authorize_headers = header_no_colon;
    o->authorize_header_count = 1;
}
static void headers_crlf(lc_options *o) {
    o->authorize_headers = header_crlf;
    o->authorize_header_count = 1;
}
static void headers_lf(lc_options *o) {
    o->authorize_headers = header_lf;
    o->authorize_header_count = 1;
}
static void headers_cr(lc_options *o) {
    o->authorize_headers = header_cr;
    o->authorize_header_count = 1;
}
static void headers_empty_name(lc_options *o) {
    o->authorize_headers = header_empty_name;
    o->authorize_header_count = 1;
}
static void headers_space_name(lc_options *o) {
    o->authorize_headers = header_space_name;
    o->authorize_header_count = 1;
}
static void headers_null_entry(lc_options *o) {
    o->authorize_headers = header_null_entry;
    o->authorize_header_count = 2;
}
static void headers_second_bad(lc_options *o) {
    o->authorize_headers = header_second_bad;
    o->authorize_header_count = 2;
}
static void headers_null_array(lc_options *o) {
    o->authorize_headers = NULL;
    o->authorize_header_count = 3;
}
static void headers_over_limit(lc_options *o) {
    o->authorize_headers = header_null_entry;
    o->authorize_header_count = 100000;
}
static void headers_huge_count(lc_options *o) {
    /* Only "X-Ok: 1" is readable: a library that walks the count would crash. */
    o->authorize_headers = header_null_entry;
    o->authorize_header_count = SIZE_MAX;
}
static void size_zero(lc_options *o) { o->struct_size = 0; }
static void size_small(lc_options *o) { o->struct_size = sizeof(lc_options) - 1; }
static void size_large(lc_options *o) { o->struct_size = sizeof(lc_options) + 8; }
static void jitter_inverted(lc_options *o) {
    o->jitter_min_ms = 300;
    o->jitter_max_ms = 100;
}
static void jitter_negative(lc_options *o) { o->jitter_min_ms = -1; }
static void amplitude_negative(lc_options *o) { o->amplitude_rate_hz = -1; }
static void device_rate_low(lc_options *o) { o->device_sample_rate = 7999; }
static void period_negative(lc_options *o) { o->period_ms = -10; }
static void reconnect_negative(lc_options *o) { o->reconnect_max_attempts = -1; }
static void backoff_inverted(lc_options *o) {
    o->reconnect_base_ms = 5000;
    o->reconnect_max_delay_ms = 1000;
}
static void backoff_zero(lc_options *o) { o->reconnect_base_ms = 0; }
static void keepalive_negative(lc_options *o) { o->keepalive_interval_ms = -1; }
static void keepalive_timeout_zero(lc_options *o) { o->keepalive_timeout_ms = 0; }
static void dns_timeout_negative(lc_options *o) { o->dns_timeout_ms = INT_MIN; }
static void send_queue_tiny(lc_options *o) { o->send_queue_max_bytes = 100; }
static void send_queue_huge(lc_options *o) { o->send_queue_max_bytes = SIZE_MAX; }
static void outage_negative(lc_options *o) { o->outage_buffer_ms = -1; }
static void message_limit_tiny(lc_options *o) { o->max_message_bytes = 10; }
static void http_limit_huge(lc_options *o) { o->max_http_response_bytes = SIZE_MAX; }
static void device_watch_negative(lc_options *o) { o->device_watch_ms = -5; }

struct bad_option {
    const char *what;
    options_edit edit;
    const char *explained_by; /* a word lc_client_last_error(NULL) should contain */
};

static const struct bad_option bad_options[] = {
    {"agent_id NULL", no_agent, "agent_id"},
    {"agent_id \"\"", empty_agent, "agent_id"},
    {"authorize_url NULL", no_authorize, "authorize_url"},
    {"authorize_url \"\"", empty_authorize, "authorize_url"},
    {"authorize_url ftp://", ftp_authorize, "authorize_url"},
    {"authorize_url ws://", ws_authorize, "authorize_url"},
    {"authorize_url \"not a url\"", word_authorize, "authorize_url"},
    {"authorize_url \"http://\"", hostless_authorize, "authorize_url"},
    {"authorize_url port 99999", bad_port_authorize, "authorize_url"},
    {"ws_url http://", http_ws, "ws_url"},
    {"ws_url \"websocket\"", word_ws, "ws_url"},
    {"ws_url \"\"", empty_ws, "ws_url"},
    {"ws_url \"ws://\"", hostless_ws, "ws_url"},
    {"input_sample_rate 0", input_rate_0, "input_sample_rate"},
    {"input_sample_rate 7999", input_rate_low, "input_sample_rate"},
    {"input_sample_rate 48001", input_rate_high, "input_sample_rate"},
    {"input_sample_rate -16000", input_rate_negative, "input_sample_rate"},
    {"output_sample_rate 0", output_rate_0, "output_sample_rate"},
    {"output_sample_rate 7999", output_rate_low, "output_sample_rate"},
    {"output_sample_rate 96000", output_rate_high, "output_sample_rate"},
    {"output_sample_rate INT_MAX", output_rate_max, "output_sample_rate"},
    {"connect_timeout_ms -1", timeout_negative, "connect_timeout_ms"},
    {"connect_timeout_ms INT_MIN", timeout_min, "connect_timeout_ms"},
    {"audio_mode 99", audio_mode_bad, "audio_mode"},
    {"audio_mode -1", audio_mode_negative, "audio_mode"},
    {"metadata_json [1,2]", metadata_array, "metadata"},
    {"metadata_json 42", metadata_number, "metadata"},
    {"metadata_json \"text\"", metadata_string, "metadata"},
    {"metadata_json null", metadata_null, "metadata"},
    {"metadata_json {\"a\":", metadata_broken, "metadata"},
    {"metadata_json \"\"", metadata_empty, "metadata"},
    {"metadata_json \"{} {}\"", metadata_trailing, "metadata"},
    {"conversation_id \"\"", conversation_empty, "conversation_id"},
    {"header \"NoColon\"", headers_no_colon, "header"},
    {"header value with CR LF", headers_crlf, "header"},
    {"header value with LF", headers_lf, "header"},
    {"header value with CR", headers_cr, "header"},
    {"header \": value\" (empty name)", headers_empty_name, "header"},
    {"header \"X Token: value\" (space in name)", headers_space_name, "header"},
    {"headers with a NULL entry", headers_null_entry, "header"},
    {"headers, the second bad", headers_second_bad, "header"},
    {"authorize_headers NULL, count 3", headers_null_array, "header"},
    {"authorize_header_count 100000", headers_over_limit, "header"},
    {"authorize_header_count SIZE_MAX", headers_huge_count, "header"},
    {"struct_size 0", size_zero, "struct_size"},
    {"struct_size sizeof - 1", size_small, "struct_size"},
    {"struct_size sizeof + 8", size_large, "struct_size"},
    {"jitter_min_ms 300 > jitter_max_ms 100", jitter_inverted, "jitter"},
    {"jitter_min_ms -1", jitter_negative, "jitter"},
    {"amplitude_rate_hz -1", amplitude_negative, "amplitude_rate_hz"},
    {"device_sample_rate 7999", device_rate_low, "device_sample_rate"},
    {"period_ms -10", period_negative, "period_ms"},
    {"reconnect_max_attempts -1", reconnect_negative, "reconnect_max_attempts"},
    {"reconnect_base_ms 5000 > reconnect_max_delay_ms 1000", backoff_inverted, "reconnect_max_delay_ms"},
    {"reconnect_base_ms 0", backoff_zero, "reconnect_base_ms"},
    {"keepalive_interval_ms -1", keepalive_negative, "keepalive_interval_ms"},
    {"keepalive_timeout_ms 0", keepalive_timeout_zero, "keepalive_timeout_ms"},
    {"dns_timeout_ms INT_MIN", dns_timeout_negative, "dns_timeout_ms"},
    {"send_queue_max_bytes 100", send_queue_tiny, "send_queue_max_bytes"},
    {"send_queue_max_bytes SIZE_MAX", send_queue_huge, "send_queue_max_bytes"},
    {"outage_buffer_ms -1", outage_negative, "outage_buffer_ms"},
    {"max_message_bytes 10", message_limit_tiny, "max_message_bytes"},
    {"max_http_response_bytes SIZE_MAX", http_limit_huge, "max_http_response_bytes"},
    {"device_watch_ms -5", device_watch_negative, "device_watch_ms"},
};

static void valid_options(lc_options *o) {
    session_options(o, "echo", authorize_url, ws_url);
}

/* Regressions: a constructor that fails frees what it made. Run under LeakSanitizer
 * (test_api_misuse_under_asan_and_ubsan), where a leak fails the run at exit.
 * - refused_client_new_frees_its_instance: Embedded Swift's runtime does not free an
 *   instance whose designated initializer throws; every lc_client_new refused by validation
 *   leaked its client (432 bytes) until validation moved before the allocation.
 * - unopenable_wav_frees_its_files: the same in the WAV reader (20 blocks per failed open).
 * - bad_ca_file_frees_its_tls_context: the same shape in TLSContext (it did not leak, as its
 *   initializer threw only once whole; kept so that it stays so). */
static void test_failed_constructors_free_what_they_made(void) {
    lc_options o;
    lc_client *c = NULL;
    int rc, i;

    section("regression: failed constructors free what they made");
    for (i = 0; i < 3; i++) {
        valid_options(&o);
        o.agent_id = NULL;
        c = NULL;
        rc = lc_client_new(&o, &c);
        check(rc == LC_ERR_INVALID_ARGUMENT && c == NULL,
              "refused_client_new_frees_its_instance: lc_client_new refused (got %d)", rc);

        valid_options(&o);
        o.authorize_url = "https://127.0.0.1:1/authorize";
        o.ca_file = "/nonexistent/liblayercode-test-ca.pem";
        c = NULL;
        rc = lc_client_new(&o, &c);
        check(rc == LC_ERR_TLS && c == NULL,
              "bad_ca_file_frees_its_tls_context: lc_client_new == LC_ERR_TLS (got %d: %s)", rc,
              lc_client_last_error(NULL));

        valid_options(&o);
        o.audio_mode = LC_AUDIO_WAV;
        o.capture_device = "/nonexistent/liblayercode-test-input.wav";
        o.playback_device = NULL;
        c = NULL;
        rc = lc_client_new(&o, &c);
        check(rc == LC_OK && c != NULL, "unopenable_wav_frees_its_files: lc_client_new (got %d)", rc);
        if (c) {
            rc = lc_client_connect(c);
            check(rc == LC_OK || rc == LC_ERR_AUDIO,
                  "unopenable_wav_frees_its_files: connect is refused or fails later (got %d)", rc);
            lc_client_free(c);
        }
    }
}

static void *fail_new_on_other_thread(void *arg) {
    lc_options o;
    lc_client *c = NULL;
    (void)arg;
    valid_options(&o);
    o.agent_id = NULL;
    lc_client_new(&o, &c);
    return NULL;
}

static void test_client_new(void) {
    lc_options o;
    lc_client *c;
    const char *err;
    size_t i;
    pthread_t thread;

    section("lc_client_new: NULL arguments");
    valid_options(&o);
    CHECK_RC(lc_client_new(&o, NULL), LC_ERR_INVALID_ARGUMENT);
    err = lc_client_last_error(NULL);
    check(err != NULL && *err, "lc_client_new(&opts, NULL): lc_client_last_error(NULL) says why "
          "(\"%s\")", err ? err : "(null)");
    c = (lc_client *)&o; /* not NULL: must be reset */
    CHECK_RC(lc_client_new(NULL, &c), LC_ERR_INVALID_ARGUMENT);
    check(c == NULL, "lc_client_new(NULL, &c) sets c = NULL");
    err = lc_client_last_error(NULL);
    check(err != NULL && *err, "lc_client_new(NULL, &c): lc_client_last_error(NULL) says why "
          "(\"%s\")", err ? err : "(null)");
    CHECK_RC(lc_client_new(NULL, NULL), LC_ERR_INVALID_ARGUMENT);

    section("lc_client_new: bad options");
    for (i = 0; i < sizeof bad_options / sizeof bad_options[0]; i++) {
        const struct bad_option *b = &bad_options[i];
        int rc;
        valid_options(&o);
        b->edit(&o);
        c = (lc_client *)&o;
        rc = lc_client_new(&o, &c);
        err = lc_client_last_error(NULL);
        check(rc == LC_ERR_INVALID_ARGUMENT && c == NULL,
              "lc_client_new(%s) == LC_ERR_INVALID_ARGUMENT, *out NULL (got %d %s, out %p)",
              b->what, rc, code_name(rc), (void *)c);
        check(err != NULL && strstr(err, b->explained_by) != NULL,
              "lc_client_new(%s): lc_client_last_error(NULL) names %s (\"%s\")", b->what,
              b->explained_by, err ? err : "(null)");
        if (rc == LC_OK && c != NULL && c != (lc_client *)&o) lc_client_free(c);
    }

    section("lc_client_new: the error is per thread");
    valid_options(&o);
    o.input_sample_rate = 1;
    lc_client_new(&o, &c);
    pthread_create(&thread, NULL, fail_new_on_other_thread, NULL);
    pthread_join(thread, NULL);
    err = lc_client_last_error(NULL);
    check(err != NULL && strstr(err, "input_sample_rate") != NULL,
          "a failure on another thread leaves this thread's lc_client_last_error(NULL) (\"%s\")",
          err ? err : "(null)");

    section("lc_client_new: good options");
    valid_options(&o);
    c = NULL;
    CHECK_RC(lc_client_new(&o, &c), LC_OK);
    check(c != NULL, "lc_client_new with good options gives a handle");
    lc_client_free(c);
    {
        /* Invalid UTF-8 in an option string: refused or accepted, but never a crash. */
        int rc;
        valid_options(&o);
        o.agent_id = "ag\xff\xfe";
        o.conversation_id = "conv\xc3";
        c = NULL;
        rc = lc_client_new(&o, &c);
        check((rc == LC_OK && c != NULL) || (rc == LC_ERR_INVALID_ARGUMENT && c == NULL),
              "lc_client_new with invalid UTF-8 in agent_id/conversation_id: OK or "
              "LC_ERR_INVALID_ARGUMENT (got %d)", rc);
        lc_client_free(c);
    }
    {
        /* ALSA mode with empty device names. */
        int rc;
        valid_options(&o);
        o.audio_mode = LC_AUDIO_ALSA;
        o.capture_device = "";
        c = (lc_client *)&o;
        rc = lc_client_new(&o, &c);
        check(rc == LC_ERR_INVALID_ARGUMENT && c == NULL,
              "lc_client_new(LC_AUDIO_ALSA, capture_device \"\") == LC_ERR_INVALID_ARGUMENT "
              "(got %d)", rc);
    }
}

static void test_null_client(void) {
    int16_t pcm[64] = {0};
    lc_stats stats;
    lc_event event;
    const char *err;
    int status = 0;

    section("NULL client");
    lc_client_free(NULL);
    check(1, "lc_client_free(NULL) is a no-op");
    CHECK_RC(lc_client_connect(NULL), LC_ERR_INVALID_ARGUMENT);
    CHECK_RC(lc_client_disconnect(NULL), LC_ERR_INVALID_ARGUMENT);
    CHECK_RC(lc_client_status(NULL), LC_ERR_INVALID_ARGUMENT);
    CHECK_RC(lc_client_write_audio(NULL, pcm, 64), LC_ERR_INVALID_ARGUMENT);
    CHECK_RC(lc_client_write_audio(NULL, NULL, 64), LC_ERR_INVALID_ARGUMENT);
    CHECK_RC(lc_client_read_audio(NULL, pcm, 64), LC_ERR_INVALID_ARGUMENT);
    CHECK_RC(lc_client_read_audio(NULL, NULL, 64), LC_ERR_INVALID_ARGUMENT);
    CHECK_RC(lc_client_send_text(NULL, "hello"), LC_ERR_INVALID_ARGUMENT);
    CHECK_RC(lc_client_send_text(NULL, NULL), LC_ERR_INVALID_ARGUMENT);
    CHECK_RC(lc_client_send_data(NULL, "{}"), LC_ERR_INVALID_ARGUMENT);
    CHECK_RC(lc_client_send_data(NULL, NULL), LC_ERR_INVALID_ARGUMENT);
    CHECK_RC(lc_client_turn_start(NULL), LC_ERR_INVALID_ARGUMENT);
    CHECK_RC(lc_client_turn_end(NULL), LC_ERR_INVALID_ARGUMENT);
    CHECK_RC(lc_client_mute(NULL), LC_ERR_INVALID_ARGUMENT);
    CHECK_RC(lc_client_unmute(NULL), LC_ERR_INVALID_ARGUMENT);
    CHECK_RC(lc_client_is_muted(NULL), LC_ERR_INVALID_ARGUMENT);
    CHECK_RC(lc_client_set_audio_input(NULL, 1), LC_ERR_INVALID_ARGUMENT);
    CHECK_RC(lc_client_set_audio_output(NULL, 0), LC_ERR_INVALID_ARGUMENT);
    CHECK_RC(lc_client_set_input_device(NULL, "default"), LC_ERR_INVALID_ARGUMENT);
    CHECK_RC(lc_client_set_input_device(NULL, NULL), LC_ERR_INVALID_ARGUMENT);
    CHECK_RC(lc_client_set_output_device(NULL, "default"), LC_ERR_INVALID_ARGUMENT);
    CHECK_RC(lc_client_failure_reason(NULL, NULL), LC_ERR_INVALID_ARGUMENT);
    CHECK_RC(lc_client_failure_reason(NULL, &status), LC_ERR_INVALID_ARGUMENT);
    CHECK_RC(lc_client_get_stats(NULL, &stats), LC_ERR_INVALID_ARGUMENT);
    CHECK_RC(lc_client_get_stats_sized(NULL, NULL, sizeof stats), LC_ERR_INVALID_ARGUMENT);
    CHECK_RC(lc_client_poll_event(NULL, &event, 0), LC_ERR_INVALID_ARGUMENT);
    CHECK_RC(lc_client_poll_event(NULL, &event, 100), LC_ERR_INVALID_ARGUMENT);
    CHECK_RC(lc_client_poll_event_sized(NULL, NULL, sizeof event, -1), LC_ERR_INVALID_ARGUMENT);
    err = lc_client_last_error(NULL);
    check(err != NULL, "lc_client_last_error(NULL) is never NULL");
    CHECK_RC(lc_list_devices(NULL, NULL), LC_ERR_INVALID_ARGUMENT);
    CHECK_RC(lc_list_devices(NULL, pcm), LC_ERR_INVALID_ARGUMENT);
    CHECK_RC(lc_set_log_handler(NULL, NULL, LC_LOG_DEBUG), LC_OK); /* logging off */
    CHECK_RC(lc_set_log_handler(NULL, pcm, LC_LOG_ERROR), LC_OK);
}

static int devices_seen;
static void on_device(void *user_data, const char *name, const char *description, int in,
                      int out) {
    int *bad = user_data;
    devices_seen++;
    if (!name || !*name || !description || (in != 0 && in != 1) || (out != 0 && out != 1))
        (*bad)++;
}

static void test_list_devices(void) {
    int bad = 0, n;
    section("lc_list_devices");
    n = lc_list_devices(on_device, &bad);
    check(n < 0 || n == devices_seen,
          "lc_list_devices returns the number of devices it reported (%d, %d calls)", n,
          devices_seen);
    check(bad == 0, "lc_list_devices: every device has a name, a description and 0/1 flags");
}

/* ---- a client that is not connected ------------------------------------------------------ */

static void test_idle_client(void) {
    probe p;
    lc_options o;
    lc_client *c;
    int16_t pcm[480];
    union {
        lc_stats s;
        unsigned char bytes[sizeof(lc_stats) + 64];
    } stats;
    const char *err;
    size_t i;
    int rc;

    section("a client that never connected");
    probe_init(&p, FREE_NOWHERE);
    probe_options(&o, &p);
    c = probe_client(&p, &o, "idle client");
    if (!c) return;

    CHECK_RC(lc_client_status(c), LC_STATUS_DISCONNECTED);
    err = lc_client_last_error(c);
    check(err != NULL && *err == '\0', "lc_client_last_error(new client) == \"\"");
    CHECK_RC(lc_client_send_text(c, "hello"), LC_ERR_INVALID_STATE);
    CHECK_RC(lc_client_send_data(c, "{\"a\":1}"), LC_ERR_INVALID_STATE);
    CHECK_RC(lc_client_turn_start(c), LC_ERR_INVALID_STATE);
    CHECK_RC(lc_client_turn_end(c), LC_ERR_INVALID_STATE);
    CHECK_RC(lc_client_send_text(c, NULL), LC_ERR_INVALID_ARGUMENT);
    CHECK_RC(lc_client_send_data(c, NULL), LC_ERR_INVALID_ARGUMENT);
    CHECK_RC(lc_client_disconnect(c), LC_OK);
    CHECK_RC(lc_client_disconnect(c), LC_OK);

    section("switching on a client that is not connected (external audio)");
    CHECK_RC(lc_client_failure_reason(c, NULL), LC_FAILURE_NONE);
    CHECK_RC(lc_client_set_input_device(c, "default"), LC_ERR_INVALID_STATE);
    CHECK_RC(lc_client_set_output_device(c, "default"), LC_ERR_INVALID_STATE);
    CHECK_RC(lc_client_set_input_device(c, NULL), LC_ERR_INVALID_ARGUMENT);
    CHECK_RC(lc_client_set_input_device(c, "\xff\xfe"), LC_ERR_INVALID_ARGUMENT);
    CHECK_RC(lc_client_set_audio_input(c, 0), LC_OK);
    CHECK_RC(lc_client_set_audio_input(c, 0), LC_OK);
    CHECK_RC(lc_client_set_audio_input(c, 42), LC_OK);
    CHECK_RC(lc_client_set_audio_output(c, 0), LC_OK);
    CHECK_RC(lc_client_set_audio_output(c, -7), LC_OK);

    section("audio on a client that is not connected");
    for (i = 0; i < 480; i++) pcm[i] = (int16_t)(i * 37);
    CHECK_RC(lc_client_write_audio(c, pcm, 0), 0);
    CHECK_RC(lc_client_write_audio(c, NULL, 0), 0);
    CHECK_RC(lc_client_write_audio(c, NULL, 480), LC_ERR_INVALID_ARGUMENT);
    CHECK_RC(lc_client_write_audio(c, pcm, 480), 480); /* discarded, reported as accepted */
    rc = lc_client_write_audio(c, pcm, SIZE_MAX);
    check(rc < 0, "lc_client_write_audio(c, pcm, SIZE_MAX) fails without reading (got %d)", rc);
    rc = lc_client_write_audio(c, pcm, (size_t)INT_MAX + 1);
    check(rc < 0, "lc_client_write_audio(c, pcm, INT_MAX + 1) fails: the count does not fit "
          "the int result (got %d)", rc);
    CHECK_RC(lc_client_read_audio(c, pcm, 0), 0);
    CHECK_RC(lc_client_read_audio(c, NULL, 0), 0);
    CHECK_RC(lc_client_read_audio(c, NULL, 480), LC_ERR_INVALID_ARGUMENT);
    rc = lc_client_read_audio(c, pcm, SIZE_MAX);
    check(rc < 0, "lc_client_read_audio(c, out, SIZE_MAX) fails without writing (got %d)", rc);
    rc = lc_client_read_audio(c, pcm, (size_t)INT_MAX + 1);
    check(rc < 0, "lc_client_read_audio(c, out, INT_MAX + 1) fails (got %d)", rc);
    for (i = 0; i < 480; i++) pcm[i] = 0x7777;
    rc = lc_client_read_audio(c, pcm, 480);
    check(rc == 0 && all_bytes((const unsigned char *)pcm, sizeof pcm, 0),
          "lc_client_read_audio(c, out, 480) == 0 and fills out with silence (got %d)", rc);

    section("mute on a client that is not connected");
    {
        /* This client has callbacks: its events are queued for polling only from its first
         * poll on (layercode.h, lc_client_poll_event), so poll once before the mute. */
        lc_event first;
        CHECK_RC(lc_client_poll_event(c, &first, 0), 0);
    }
    CHECK_RC(lc_client_is_muted(c), 0);
    CHECK_RC(lc_client_mute(c), LC_OK);
    CHECK_RC(lc_client_is_muted(c), 1);
    CHECK_RC(lc_client_mute(c), LC_OK);
    CHECK_RC(lc_client_unmute(c), LC_OK);
    CHECK_RC(lc_client_is_muted(c), 0);

    section("lc_client_poll_event on a client that is not connected");
    {
        lc_event event;
        union {
            lc_event e;
            unsigned char bytes[sizeof(lc_event) + 64];
        } big;
        CHECK_RC(lc_client_poll_event_sized(c, NULL, sizeof(lc_event), 0), LC_ERR_INVALID_ARGUMENT);
        CHECK_RC(lc_client_poll_event_sized(c, &event, 0, 0), LC_ERR_INVALID_ARGUMENT);
        /* The mute/unmute above queued on_mute events: they come out in order. */
        while ((rc = lc_client_poll_event(c, &event, 1000)) == 1 && event.type != LC_EVENT_MUTE) {}
        check(rc == 1 && event.type == LC_EVENT_MUTE && event.code == 1,
              "lc_client_poll_event: the first LC_EVENT_MUTE says muted (rc %d, code %d)", rc,
              rc == 1 ? event.code : -1);
        /* Regression (poll_event_big_struct_race): this larger-struct poll used to run first,
         * with timeout 0, and popped the mute event whenever the loop had already queued it. */
        memset(big.bytes, 0xA5, sizeof big.bytes);
        rc = lc_client_poll_event_sized(c, &big.e, sizeof(lc_event) + 64, 1000);
        check(rc == 1 && big.e.type == LC_EVENT_MUTE && big.e.code == 0 &&
                  all_bytes(big.bytes + sizeof(lc_event), 64, 0xA5),
              "lc_client_poll_event_sized(c, e, sizeof + 64): the unmute event, and no write "
              "past what the library knows (got %d)", rc);
        while ((rc = lc_client_poll_event(c, &event, 300)) == 1) {}
        check(rc == 0, "lc_client_poll_event(c, e, 300) on an empty queue: 0, a timeout "
              "(got %d)", rc);
        rc = lc_client_poll_event(c, &event, 0);
        check(rc == 0, "lc_client_poll_event(c, e, 0) on an empty queue: 0 at once (got %d)", rc);
    }

    section("lc_client_get_stats");
    CHECK_RC(lc_client_get_stats(c, (lc_stats *)NULL), LC_ERR_INVALID_ARGUMENT);
    CHECK_RC(lc_client_get_stats_sized(c, &stats.s, 0), LC_ERR_INVALID_ARGUMENT);
    memset(stats.bytes, 0xA5, sizeof stats.bytes);
    CHECK_RC(lc_client_get_stats(c, &stats.s), LC_OK);
    check(stats.s.struct_size == sizeof(lc_stats) && stats.s.connect_time_us == -1 &&
              stats.s.messages_sent == 0,
          "lc_client_get_stats: struct_size set, no session yet (struct_size %zu, "
          "connect_time_us %lld, messages_sent %llu)", stats.s.struct_size,
          (long long)stats.s.connect_time_us, (unsigned long long)stats.s.messages_sent);
    check(all_bytes(stats.bytes + sizeof(lc_stats), 64, 0xA5),
          "lc_client_get_stats writes nothing past sizeof(lc_stats)");
    {
        /* An application compiled against an older, shorter lc_stats: the first published
         * one (0.1.0, which ended with protocol_errors; tests/c/abi checks every struct with
         * that header). Smaller than that no header ever was: refused (doc/abi.md). */
        const size_t old_size = offsetof(lc_stats, protocol_errors) + sizeof(uint64_t);
        const size_t too_small = offsetof(lc_stats, audio_bytes_sent);
        memset(stats.bytes, 0xA5, sizeof stats.bytes);
        rc = lc_client_get_stats_sized(c, &stats.s, old_size);
        check(rc == LC_OK && stats.s.struct_size == old_size &&
                  all_bytes(stats.bytes + old_size, sizeof stats.bytes - old_size, 0xA5),
              "lc_client_get_stats_sized(c, s, %zu): LC_OK and nothing written past it (got %d)",
              old_size, rc);
        memset(stats.bytes, 0xA5, sizeof stats.bytes);
        rc = lc_client_get_stats_sized(c, &stats.s, too_small);
        check(rc == LC_ERR_INVALID_ARGUMENT && all_bytes(stats.bytes, sizeof stats.bytes, 0xA5) &&
                  strstr(lc_client_last_error(c), "struct_size") != NULL,
              "lc_client_get_stats_sized(c, s, %zu): smaller than any published lc_stats, "
              "refused, nothing written, lc_client_last_error says why (got %d, \"%s\")",
              too_small, rc, lc_client_last_error(c));
    }
    sleep_ms(SETTLE_MS);
    check(load(&p.disconnected) == 0 && load(&p.statuses) == 0,
          "disconnect on a disconnected client did nothing (%d status, %d disconnected "
          "callbacks)", load(&p.statuses), load(&p.disconnected));
    lc_client_free(c);
    check_probe_sanity(&p, "idle client");
}

/* lc_client_free wakes a thread waiting in lc_client_poll_event, which returns LC_ERR_CLOSED. */
struct poller {
    lc_client *client;
    int started, done, rc;
};

static void *poll_forever(void *arg) {
    struct poller *p = arg;
    lc_event event;
    int rc;
    store(&p->started, 1);
    while ((rc = lc_client_poll_event(p->client, &event, -1)) == 1) {}
    store(&p->rc, rc);
    store(&p->done, 1);
    return NULL;
}

static void test_free_wakes_poll(void) {
    struct poller poller;
    lc_options o;
    lc_client *c = NULL;
    pthread_t thread;

    section("lc_client_free wakes a waiting lc_client_poll_event");
    valid_options(&o);
    if (lc_client_new(&o, &c) != LC_OK) {
        check(0, "lc_client_new: %s", lc_client_last_error(NULL));
        return;
    }
    memset(&poller, 0, sizeof poller);
    poller.client = c;
    pthread_create(&thread, NULL, poll_forever, &poller);
    wait_for(&poller.started, 1, WAIT_MS);
    sleep_ms(100);
    check(!load(&poller.done), "lc_client_poll_event(c, e, -1) waits while nothing happens");
    lc_client_free(c);
    check(wait_for(&poller.done, 1, WAIT_MS), "lc_client_free woke the waiting poll");
    if (!load(&poller.done)) return; /* the thread is stuck: leave it */
    pthread_join(thread, NULL);
    check(load(&poller.rc) == LC_ERR_CLOSED, "the woken poll returned LC_ERR_CLOSED (got %d)",
          load(&poller.rc));
}

/* ---- a client that connects ----------------------------------------------------------- */

static char *repeat(char c, size_t n, const char *prefix, const char *suffix) {
    size_t a = strlen(prefix), b = strlen(suffix);
    char *s = malloc(a + n + b + 1);
    if (!s) abort();
    memcpy(s, prefix, a);
    memset(s + a, c, n);
    memcpy(s + a + n, suffix, b + 1);
    return s;
}

/* s as a C string literal, for the report (the caller prints it before the next call). */
static const char *quoted(const char *s) {
    static char buf[128];
    size_t n = 0;
    buf[n++] = '"';
    for (; *s && n < sizeof buf - 8; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\') {
            buf[n++] = '\\';
            buf[n++] = (char)ch;
        } else if (ch < 0x20 || ch >= 0x7f) {
            n += (size_t)sprintf(buf + n, "\\x%02x", ch);
        } else {
            buf[n++] = (char)ch;
        }
    }
    buf[n++] = '"';
    buf[n] = '\0';
    return buf;
}

static void test_connected_client(void) {
    probe p;
    lc_options o;
    lc_client *c;
    char *agent, *url, *text;
    lc_stats before, after;
    int16_t *big;
    const size_t big_count = 2000000; /* 125 s at 16 kHz: more than any ring holds */
    int rc, data_before;
    size_t i;
    static const char *const bad_utf8[] = {
        "\xff",             /* never valid */
        "abc\xc3",          /* truncated 2-byte sequence */
        "\xc0\xaf",         /* overlong '/' */
        "\xed\xa0\x80",     /* UTF-16 surrogate */
        "\xf4\x90\x80\x80", /* above U+10FFFF */
        "\xe2\x82",         /* truncated 3-byte sequence */
        "ok \x80 ok",       /* lone continuation byte */
    };
    static const char *const not_objects[] = {
        "[]", "[1,2,3]", "42", "-1.5", "\"text\"", "true", "null", "", "   ",
        "{", "{\"a\":}", "{\"a\" 1}", "{a:1}", "{'a':1}", "{\"a\":1,}", "{} {}", "{}x",
        "{\"a\":NaN}", "{\"a\":Infinity}", "{\"a\":01}", "{\"a\":\"\x01\"}",
    };

    section("connect: strings are copied by lc_client_new");
    probe_init(&p, FREE_NOWHERE);
    agent = malloc(16);
    url = malloc(strlen(authorize_url) + 1);
    if (!agent || !url) abort();
    strcpy(agent, "echo");
    strcpy(url, authorize_url);
    probe_options(&o, &p);
    o.agent_id = agent;
    o.authorize_url = url;
    c = probe_client(&p, &o, "connecting client");
    memset(agent, 'x', 15);
    agent[15] = '\0';
    memset(url, 'x', strlen(url));
    free(agent);
    free(url);
    if (!c) return;

    section("connect");
    CHECK_RC(lc_client_connect(c), LC_OK);
    check(wait_for(&p.connected, 1, WAIT_MS), "on_connected within %d ms", WAIT_MS);
    CHECK_RC(lc_client_status(c), LC_STATUS_CONNECTED);
    CHECK_RC(lc_client_connect(c), LC_ERR_INVALID_STATE);
    check(wait_for(&p.greetings, 1, WAIT_MS), "the greeting (response.text) arrived");

    section("connected: text");
    CHECK_RC(lc_client_send_text(c, "hello"), LC_OK);
    CHECK_RC(lc_client_send_text(c, ""), LC_OK);
    CHECK_RC(lc_client_send_text(c, " \t\r\n "), LC_OK);
    CHECK_RC(lc_client_send_text(c, "h\xc3\xa9llo \xe2\x9c\x93 \xf0\x9f\x8e\xa4"), LC_OK);
    CHECK_RC(lc_client_send_text(c, NULL), LC_ERR_INVALID_ARGUMENT);
    for (i = 0; i < sizeof bad_utf8 / sizeof bad_utf8[0]; i++) {
        rc = lc_client_send_text(c, bad_utf8[i]);
        check(rc == LC_ERR_INVALID_ARGUMENT,
              "lc_client_send_text(invalid UTF-8 #%zu) == LC_ERR_INVALID_ARGUMENT (got %d %s)",
              i, rc, code_name(rc));
    }
    text = repeat(' ', LIMIT_BYTES, "", "");
    CHECK_RC(lc_client_send_text(c, text), LC_OK); /* exactly 64 KiB (of whitespace) */
    free(text);
    text = repeat('a', LIMIT_BYTES + 1, "", "");
    CHECK_RC(lc_client_send_text(c, text), LC_ERR_TOO_LARGE);
    free(text);
    text = repeat('a', 4 * 1024 * 1024, "", "");
    CHECK_RC(lc_client_send_text(c, text), LC_ERR_TOO_LARGE);
    free(text);
    text = repeat('a', LIMIT_BYTES + 10, "", "\xff");
    rc = lc_client_send_text(c, text);
    check(rc == LC_ERR_TOO_LARGE || rc == LC_ERR_INVALID_ARGUMENT,
          "lc_client_send_text(over 64 KiB and invalid UTF-8) fails (got %d %s)", rc,
          code_name(rc));
    free(text);

    section("connected: data");
    data_before = load(&p.data);
    CHECK_RC(lc_client_send_data(c, "{}"), LC_OK);
    CHECK_RC(lc_client_send_data(c, " {\"a\": [1, {\"b\": null}], \"c\": \"\\u00e9\"} "), LC_OK);
    check(wait_for(&p.data, data_before + 2, WAIT_MS), "both data messages came back "
          "(on_data)");
    CHECK_RC(lc_client_send_data(c, NULL), LC_ERR_INVALID_ARGUMENT);
    for (i = 0; i < sizeof not_objects / sizeof not_objects[0]; i++) {
        rc = lc_client_send_data(c, not_objects[i]);
        check(rc == LC_ERR_INVALID_ARGUMENT,
              "lc_client_send_data(%s) == LC_ERR_INVALID_ARGUMENT (got %d %s)",
              quoted(not_objects[i]), rc, code_name(rc));
    }
    if (lc_client_send_data(c, "[1]") == LC_ERR_INVALID_ARGUMENT) {
        const char *err = lc_client_last_error(c);
        check(err != NULL && *err,
              "after lc_client_send_data(\"[1]\") failed, lc_client_last_error(c) says why "
              "(\"%s\")", err ? err : "(null)");
    }
    for (i = 0; i < sizeof bad_utf8 / sizeof bad_utf8[0]; i++) {
        char json[64];
        snprintf(json, sizeof json, "{\"k\":\"%s\"}", bad_utf8[i]);
        rc = lc_client_send_data(c, json);
        check(rc == LC_ERR_INVALID_ARGUMENT,
              "lc_client_send_data({\"k\": invalid UTF-8 #%zu}) == LC_ERR_INVALID_ARGUMENT "
              "(got %d %s)", i, rc, code_name(rc));
    }
    /* {"k":"aaa..."} of exactly 64 KiB, then one byte more. */
    text = repeat('a', LIMIT_BYTES - 8, "{\"k\":\"", "\"}");
    check(strlen(text) == LIMIT_BYTES, "(a JSON object of exactly 64 KiB)");
    CHECK_RC(lc_client_send_data(c, text), LC_OK);
    free(text);
    text = repeat('a', LIMIT_BYTES - 7, "{\"k\":\"", "\"}");
    CHECK_RC(lc_client_send_data(c, text), LC_ERR_TOO_LARGE);
    free(text);
    text = repeat(' ', 8 * 1024 * 1024, "{", "}");
    CHECK_RC(lc_client_send_data(c, text), LC_ERR_TOO_LARGE);
    free(text);

    section("connected: push-to-talk, mute, audio");
    CHECK_RC(lc_client_turn_start(c), LC_OK);
    CHECK_RC(lc_client_turn_end(c), LC_OK);
    CHECK_RC(lc_client_turn_end(c), LC_OK); /* an end without a turn: the server logs it */
    CHECK_RC(lc_client_mute(c), LC_OK);
    CHECK_RC(lc_client_is_muted(c), 1);
    CHECK_RC(lc_client_unmute(c), LC_OK);
    CHECK_RC(lc_client_is_muted(c), 0);
    big = calloc(big_count, sizeof *big);
    if (!big) abort();
    lc_client_get_stats(c, &before);
    rc = lc_client_write_audio(c, big, big_count);
    lc_client_get_stats(c, &after);
    check(rc >= 0 && (size_t)rc <= big_count &&
              ((size_t)rc == big_count ||
               after.input_samples_dropped - before.input_samples_dropped >= big_count - (size_t)rc),
          "lc_client_write_audio(%zu samples): accepts what fits and counts the rest as dropped "
          "(accepted %d, dropped %llu)", big_count, rc,
          (unsigned long long)(after.input_samples_dropped - before.input_samples_dropped));
    rc = lc_client_read_audio(c, big, big_count);
    check(rc >= 0 && (size_t)rc <= big_count,
          "lc_client_read_audio(%zu samples) returns 0..count (got %d)", big_count, rc);
    free(big);

    section("disconnect, twice");
    CHECK_RC(lc_client_disconnect(c), LC_OK);
    CHECK_RC(lc_client_disconnect(c), LC_OK);
    check(wait_for(&p.disconnected, 1, WAIT_MS), "on_disconnected within %d ms", WAIT_MS);
    sleep_ms(SETTLE_MS);
    check(load(&p.disconnected) == 1, "on_disconnected ran once (%d)", load(&p.disconnected));
    check(load(&p.disconnect_reason) == LC_OK, "on_disconnected reason LC_OK (got %d)",
          load(&p.disconnect_reason));
    CHECK_RC(lc_client_status(c), LC_STATUS_DISCONNECTED);
    CHECK_RC(lc_client_disconnect(c), LC_OK);
    CHECK_RC(lc_client_send_text(c, "hello"), LC_ERR_INVALID_STATE);
    CHECK_RC(lc_client_send_data(c, "{}"), LC_ERR_INVALID_STATE);
    CHECK_RC(lc_client_turn_start(c), LC_ERR_INVALID_STATE);
    CHECK_RC(lc_client_turn_end(c), LC_ERR_INVALID_STATE);

    section("reconnect the same client, then abandon a connect in progress");
    CHECK_RC(lc_client_connect(c), LC_OK);
    check(wait_for(&p.connected, 2, WAIT_MS), "on_connected again");
    CHECK_RC(lc_client_disconnect(c), LC_OK);
    check(wait_for(&p.disconnected, 2, WAIT_MS), "on_disconnected again");
    CHECK_RC(lc_client_connect(c), LC_OK);
    CHECK_RC(lc_client_disconnect(c), LC_OK);
    check(wait_for(&p.disconnected, 3, WAIT_MS), "an abandoned connect ends with on_disconnected");
    sleep_ms(SETTLE_MS);
    check(load(&p.disconnected) == 3, "one on_disconnected per connect (3 connects, %d)",
          load(&p.disconnected));
    CHECK_RC(lc_client_status(c), LC_STATUS_DISCONNECTED);
    check(load(&p.errors) == 0, "no on_error in all that (%d, last code %d)", load(&p.errors),
          load(&p.error_code));
    lc_client_free(c);
    check_probe_sanity(&p, "connecting client");
}

/* Two lc_client_connect calls in a row: the second finds the session starting. A second
 * LC_OK would also owe an on_disconnected of its own ("exactly once for every
 * lc_client_connect() that returned LC_OK"). Fresh clients, so the loop thread has not yet
 * taken the first connect when the second comes. */
static void test_connect_twice_at_once(void) {
    const int rounds = 20;
    int round, second_ok = 0, connects_ok = 0, disconnects = 0;

    section("connect twice in a row, on fresh clients");
    for (round = 0; round < rounds; round++) {
        probe p;
        lc_options o;
        lc_client *c;
        int first, second;
        probe_init(&p, FREE_NOWHERE);
        probe_options(&o, &p);
        c = probe_client(&p, &o, "connect twice");
        if (!c) return;
        first = lc_client_connect(c);
        second = lc_client_connect(c);
        connects_ok += (first == LC_OK) + (second == LC_OK);
        second_ok += second == LC_OK;
        wait_for(&p.connected, 1, WAIT_MS);
        lc_client_disconnect(c);
        wait_for(&p.disconnected, 1, WAIT_MS);
        sleep_ms(100);
        disconnects += load(&p.disconnected);
        lc_client_free(c);
    }
    check(second_ok == 0, "a second lc_client_connect right after the first == "
          "LC_ERR_INVALID_STATE (it returned LC_OK %d of %d times)", second_ok, rounds);
    check(disconnects == connects_ok, "one on_disconnected per lc_client_connect that returned "
          "LC_OK (%d connects, %d on_disconnected)", connects_ok, disconnects);
}

/* A connect that fails: on_error, then status LC_STATUS_ERROR, then on_disconnected. */
static void test_failed_connect(const char *what, const char *agent, const char *url,
                                int want_code) {
    probe p;
    lc_options o;
    lc_client *c;
    const char *err;

    section(what);
    probe_init(&p, FREE_NOWHERE);
    probe_options(&o, &p);
    o.agent_id = agent;
    o.authorize_url = url;
    c = probe_client(&p, &o, what);
    if (!c) return;
    CHECK_RC(lc_client_connect(c), LC_OK);
    check(wait_for(&p.disconnected, 1, WAIT_MS), "%s: on_disconnected", what);
    sleep_ms(SETTLE_MS / 2);
    check(load(&p.errors) == 1 && load(&p.error_code) == want_code,
          "%s: one on_error, code %s (%d errors, code %d)", what, code_name(want_code),
          load(&p.errors), load(&p.error_code));
    check(load(&p.order_error) == 1 && load(&p.order_status_error) == 2 &&
              load(&p.order_disconnected) == 3,
          "%s: on_error, status LC_STATUS_ERROR, on_disconnected, in that order (%d %d %d)", what,
          load(&p.order_error), load(&p.order_status_error), load(&p.order_disconnected));
    check(load(&p.disconnected) == 1 && load(&p.disconnect_reason) == want_code,
          "%s: on_disconnected once with reason %s (%d, reason %d)", what, code_name(want_code),
          load(&p.disconnected), load(&p.disconnect_reason));
    CHECK_RC(lc_client_status(c), LC_STATUS_ERROR);
    /* Why the session failed is the client's (lc_client_failure_message); lc_client_last_error
     * is why a call of this thread failed, and none has (issue 10, item 8). */
    {
        char why[512];
        int length = lc_client_failure_message(c, why, sizeof why);
        check(length > 0 && (size_t)length == strlen(why),
              "%s: lc_client_failure_message(c) says why (\"%s\")", what, length > 0 ? why : "");
    }
    err = lc_client_last_error(c);
    check(err != NULL && *err == '\0',
          "%s: lc_client_last_error(c) holds no session error (\"%s\")", what, err ? err : "(null)");
    CHECK_RC(lc_client_send_text(c, "hello"), LC_ERR_INVALID_STATE);
    err = lc_client_last_error(c);
    check(err != NULL && strstr(err, "connected") != NULL,
          "%s: after a refused send_text, lc_client_last_error(c) says why that call failed "
          "(\"%s\")", what, err ? err : "(null)");
    CHECK_RC(lc_client_disconnect(c), LC_OK);
    /* A client in LC_STATUS_ERROR may connect again. */
    CHECK_RC(lc_client_connect(c), LC_OK);
    check(wait_for(&p.disconnected, 2, WAIT_MS), "%s: a second attempt ends too", what);
    lc_client_free(c);
    check_probe_sanity(&p, what);
}

/* ---- lc_client_free from inside a callback ------------------------------------------------ */

static const char *free_point_name(enum free_point where) {
    switch (where) {
    case FREE_IN_STATUS_CONNECTING: return "on_status(CONNECTING)";
    case FREE_IN_STATUS_CONNECTED: return "on_status(CONNECTED)";
    case FREE_IN_CONNECTED: return "on_connected";
    case FREE_IN_MESSAGE: return "on_message";
    case FREE_IN_ERROR: return "on_error";
    case FREE_IN_DISCONNECTED: return "on_disconnected";
    case FREE_IN_AMPLITUDE: return "on_user_amplitude/on_agent_amplitude";
    case FREE_OTHER_IN_CONNECTED: return "on_connected, freeing another client";
    default: return "nowhere";
    }
}

static void test_free_in_callback(enum free_point where) {
    probe p, other;
    lc_options o;
    lc_client *c;
    char what[96];
    int i;

    snprintf(what, sizeof what, "lc_client_free in %s", free_point_name(where));
    section(what);
    probe_init(&p, where);
    probe_options(&o, &p);
    if (where == FREE_IN_ERROR) o.authorize_url = "http://127.0.0.1:1/authorize";
    c = probe_client(&p, &o, what);
    if (!c) return;
    if (where == FREE_OTHER_IN_CONNECTED) {
        lc_options oo;
        probe_init(&other, FREE_NOWHERE);
        probe_options(&oo, &other);
        p.other = &other;
        if (!probe_client(&other, &oo, "the other client")) return;
        CHECK_RC(lc_client_connect(other.client), LC_OK);
        check(wait_for(&other.connected, 1, WAIT_MS), "the other client connected");
    }

    CHECK_RC(lc_client_connect(c), LC_OK);
    if (where == FREE_IN_DISCONNECTED) {
        if (wait_for(&p.connected, 1, WAIT_MS)) lc_client_disconnect(c);
    }
    if (!wait_for(&p.free_returned, 1, WAIT_MS)) {
        if (!load(&p.free_called)) {
            check(0, "%s: the callback never came", what);
            lc_client_free(c);
        } else {
            /* The loop thread is stuck inside lc_client_free: nothing else can run. */
            check(0, "%s: lc_client_free did not return (deadlock)", what);
            check_summary();
            fflush(stdout);
            _exit(1);
        }
        return;
    }
    check(1, "%s returned at once", what);
    if (where == FREE_OTHER_IN_CONNECTED) {
        /* This client lives on and works; the other one is gone. */
        CHECK_RC(lc_client_send_data(c, "{\"still\":\"here\"}"), LC_OK);
        for (i = 0; i < SETTLE_MS; i += 100) sleep_ms(100);
        check(load(&other.after_free) == 0, "%s: no callback for the freed client after its "
              "lc_client_free returned (%d)", what, load(&other.after_free));
        lc_client_free(c);
        check_probe_sanity(&other, what);
    } else {
        check(load(&p.status_after_free) >= 100 + LC_STATUS_DISCONNECTED &&
                  load(&p.status_after_free) <= 100 + LC_STATUS_ERROR,
              "%s: the handle still works until the callback returns (lc_client_status %d)",
              what, load(&p.status_after_free) - 100);
        for (i = 0; i < SETTLE_MS * 2; i += 100) sleep_ms(100);
        check(load(&p.freed) == 1 && load(&p.after_free) == 0,
              "%s: no callback after the freeing callback returned (%d)", what,
              load(&p.after_free));
    }
    check_probe_sanity(&p, what);
}

/* ---- main ------------------------------------------------------------------------------ */

int main(int argc, char **argv) {
    static const enum free_point free_points[] = {
        FREE_IN_STATUS_CONNECTING, FREE_IN_STATUS_CONNECTED, FREE_IN_CONNECTED, FREE_IN_MESSAGE,
        FREE_IN_ERROR, FREE_IN_DISCONNECTED, FREE_IN_AMPLITUDE, FREE_OTHER_IN_CONNECTED};
    size_t i;

    if (argc != 3) {
        fprintf(stderr, "usage: %s AUTHORIZE_URL WS_URL\n", argv[0]);
        return 2;
    }
    authorize_url = argv[1];
    ws_url = argv[2];
    main_thread = pthread_self();
    signal(SIGALRM, on_watchdog);
    alarm(240);

    test_version_and_strerror();
    test_options_init();
    test_client_new();
    test_failed_constructors_free_what_they_made();
    test_null_client();
    test_list_devices();
    test_idle_client();
    test_free_wakes_poll();
    test_connected_client();
    test_connect_twice_at_once();
    test_failed_connect("failed connect: nothing listens", "echo",
                        "http://127.0.0.1:1/authorize", LC_ERR_NETWORK);
    test_failed_connect("failed connect: authorize refused (402)", "insufficient-balance",
                        authorize_url, LC_ERR_AUTHORIZE);
    for (i = 0; i < sizeof free_points / sizeof free_points[0]; i++)
        test_free_in_callback(free_points[i]);

    return check_summary();
}
