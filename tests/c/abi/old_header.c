/* SPDX-License-Identifier: Apache-2.0 */
/* An application built against the first published header (liblayercode 0.1.0, frozen in
 * tests/c/abi/layercode_v0_1.h), run against this library (issue 10, item 7; doc/abi.md):
 *
 *  - lc_options_init with the old sizeof: LC_OK, the defaults, nothing written past it;
 *  - lc_client_new with it: LC_OK (the fields the old struct lacks take their defaults);
 *  - lc_client_get_stats and lc_client_poll_event with the old sizes: the old fields,
 *    struct_size the old size, nothing written past it (guard bytes);
 *  - a larger lc_options (an application built against a newer header) is refused by
 *    lc_options_init_sized and lc_client_new with LC_ERR_INVALID_ARGUMENT and "built against
 *    a newer header?"; one smaller than the first published too; larger lc_stats and lc_event
 *    get this library's fields, struct_size saying how many, nothing past them.
 *
 * usage: old_header   (no server: the client never connects)
 * Prints PASS/FAIL lines and "SUMMARY <n> checks, <f> failed". */
#define _POSIX_C_SOURCE 200809L
#include "layercode_v0_1.h" /* first: its include guard keeps check.h's layercode.h out */
#include "../check.h"

#include <stdint.h>
#include <string.h>

/* Bytes past the old struct: more than any later header adds, so a library that writes its
 * whole (larger) struct still leaves guard bytes to check. */
#define GUARD 1024
#define PATTERN 0xA5

static int all_bytes(const unsigned char *p, size_t n, unsigned char value) {
    for (size_t i = 0; i < n; i++)
        if (p[i] != value) return 0;
    return 1;
}

int main(void) {
    union {
        lc_options o;
        unsigned char bytes[sizeof(lc_options) + GUARD];
    } opts;
    union {
        lc_stats s;
        unsigned char bytes[sizeof(lc_stats) + GUARD];
    } stats;
    union {
        lc_event e;
        unsigned char bytes[sizeof(lc_event) + GUARD];
    } event;
    lc_client *c = NULL;
    int rc;

    printf("# the 0.1.0 header: sizeof lc_options %zu, lc_stats %zu, lc_event %zu\n",
           sizeof(lc_options), sizeof(lc_stats), sizeof(lc_event));

    /* lc_options_init: the defaults the 0.1.0 header documents. */
    memset(opts.bytes, PATTERN, sizeof opts.bytes);
    rc = lc_options_init(&opts.o);
    check(rc == LC_OK && opts.o.struct_size == sizeof(lc_options),
          "lc_options_init(old lc_options): LC_OK, struct_size %zu (got %d, %zu)",
          sizeof(lc_options), rc, opts.o.struct_size);
    check(all_bytes(opts.bytes + sizeof(lc_options), GUARD, PATTERN),
          "lc_options_init wrote nothing past the old lc_options");
    check(opts.o.agent_id == NULL && opts.o.ws_url == NULL && opts.o.on_status == NULL &&
              opts.o.connect_timeout_ms == 10000 && opts.o.audio_mode == LC_AUDIO_EXTERNAL &&
              opts.o.input_sample_rate == 16000 && opts.o.output_sample_rate == 16000 &&
              opts.o.device_sample_rate == 48000 && opts.o.period_ms == 10 &&
              opts.o.jitter_min_ms == 40 && opts.o.jitter_max_ms == 500 &&
              opts.o.audio_input_enabled == 1 && opts.o.audio_output_enabled == 1 &&
              opts.o.start_muted == 0 && opts.o.amplitude_rate_hz == 20 &&
              opts.o.reconnect_max_attempts == 5 && opts.o.reconnect_base_ms == 500 &&
              opts.o.reconnect_max_delay_ms == 7000 && opts.o.keepalive_interval_ms == 20000 &&
              opts.o.keepalive_timeout_ms == 10000 && opts.o.dns_timeout_ms == 0 &&
              opts.o.send_queue_max_bytes == 262144 && opts.o.outage_buffer_ms == 2000 &&
              opts.o.max_message_bytes == 16u << 20 && opts.o.max_http_response_bytes == 1u << 20 &&
              opts.o.device_watch_ms == 2000,
          "lc_options_init(old lc_options): the defaults the 0.1.0 header names");

    /* A larger (newer) lc_options is refused, with the reason, and nothing is written. */
    memset(opts.bytes, PATTERN, sizeof opts.bytes);
    rc = lc_options_init_sized(&opts.o, sizeof(lc_options) + GUARD);
    check(rc == LC_ERR_INVALID_ARGUMENT && all_bytes(opts.bytes, sizeof opts.bytes, PATTERN) &&
              strstr(lc_client_last_error(NULL), "built against a newer header?") != NULL,
          "lc_options_init_sized(sizeof + GUARD): refused, nothing written, and why (%d, \"%s\")",
          rc, lc_client_last_error(NULL));
    rc = lc_options_init_sized(&opts.o, sizeof(size_t) * 2);
    check(rc == LC_ERR_INVALID_ARGUMENT && strstr(lc_client_last_error(NULL), "smallest") != NULL,
          "lc_options_init_sized(16): smaller than the first published, refused (%d, \"%s\")",
          rc, lc_client_last_error(NULL));

    lc_options_init(&opts.o);
    opts.o.agent_id = "echo";
    opts.o.authorize_url = "http://127.0.0.1:9/authorize";
    opts.o.struct_size = sizeof(lc_options) + GUARD;
    rc = lc_client_new(&opts.o, &c);
    check(rc == LC_ERR_INVALID_ARGUMENT && c == NULL &&
              strstr(lc_client_last_error(NULL), "built against a newer header?") != NULL,
          "lc_client_new(struct_size sizeof + GUARD): refused, and why (%d, \"%s\")", rc,
          lc_client_last_error(NULL));

    /* lc_client_new with the old struct: the guard bytes past it are not options. */
    memset(opts.bytes, PATTERN, sizeof opts.bytes);
    lc_options_init(&opts.o);
    opts.o.agent_id = "echo";
    opts.o.authorize_url = "http://127.0.0.1:9/authorize";
    rc = lc_client_new(&opts.o, &c);
    check(rc == LC_OK && c != NULL, "lc_client_new(old lc_options): LC_OK (%d, \"%s\")", rc,
          lc_client_last_error(NULL));
    if (!c) return check_summary();

    /* lc_client_get_stats: the old fields, nothing past them. */
    memset(stats.bytes, PATTERN, sizeof stats.bytes);
    rc = lc_client_get_stats(c, &stats.s);
    check(rc == LC_OK && stats.s.struct_size == sizeof(lc_stats) &&
              stats.s.connect_time_us == -1 && stats.s.protocol_errors == 0 &&
              stats.s.uplink_latency_p50_us == -1,
          "lc_client_get_stats(old lc_stats): LC_OK, struct_size %zu, the old fields (%d, %zu)",
          sizeof(lc_stats), rc, stats.s.struct_size);
    check(all_bytes(stats.bytes + sizeof(lc_stats), GUARD, PATTERN),
          "lc_client_get_stats wrote nothing past the old lc_stats");
    /* A larger one (an application built against a newer header): this library's fields. */
    memset(stats.bytes, PATTERN, sizeof stats.bytes);
    rc = lc_client_get_stats_sized(c, &stats.s, sizeof stats.bytes);
    check(rc == LC_OK && stats.s.struct_size >= sizeof(lc_stats) &&
              stats.s.struct_size < sizeof stats.bytes &&
              all_bytes(stats.bytes + stats.s.struct_size, sizeof stats.bytes - stats.s.struct_size,
                        PATTERN),
          "lc_client_get_stats_sized(sizeof + %d): LC_OK, struct_size says what was written "
          "(%zu), nothing past it (%d)", GUARD, stats.s.struct_size, rc);
    rc = lc_client_get_stats_sized(c, &stats.s, sizeof(size_t));
    check(rc == LC_ERR_INVALID_ARGUMENT && strstr(lc_client_last_error(c), "struct_size") != NULL,
          "lc_client_get_stats_sized(8): refused, and why (%d, \"%s\")", rc, lc_client_last_error(c));

    /* lc_client_poll_event: no callback is set, so events queue; mute makes one. */
    lc_client_mute(c);
    memset(event.bytes, PATTERN, sizeof event.bytes);
    rc = lc_client_poll_event(c, &event.e, 5000);
    check(rc == 1 && event.e.type == LC_EVENT_MUTE && event.e.code == 1 &&
              event.e.struct_size == sizeof(lc_event),
          "lc_client_poll_event(old lc_event): the mute event, struct_size %zu (%d, type %d)",
          sizeof(lc_event), rc, rc == 1 ? event.e.type : -1);
    check(all_bytes(event.bytes + sizeof(lc_event), GUARD, PATTERN),
          "lc_client_poll_event wrote nothing past the old lc_event");
    lc_client_unmute(c);
    memset(event.bytes, PATTERN, sizeof event.bytes);
    rc = lc_client_poll_event_sized(c, &event.e, sizeof event.bytes, 5000);
    check(rc == 1 && event.e.type == LC_EVENT_MUTE && event.e.code == 0 &&
              event.e.struct_size >= sizeof(lc_event) && event.e.struct_size < sizeof event.bytes &&
              all_bytes(event.bytes + event.e.struct_size, sizeof event.bytes - event.e.struct_size,
                        PATTERN),
          "lc_client_poll_event_sized(sizeof + %d): the unmute event, struct_size says what was "
          "written (%zu), nothing past it (%d)", GUARD, event.e.struct_size, rc);
    rc = lc_client_poll_event_sized(c, &event.e, sizeof(size_t), 0);
    check(rc == LC_ERR_INVALID_ARGUMENT && strstr(lc_client_last_error(c), "struct_size") != NULL,
          "lc_client_poll_event_sized(8): refused, and why (%d, \"%s\")", rc,
          lc_client_last_error(c));

    lc_client_free(c);
    return check_summary();
}
