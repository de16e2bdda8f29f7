/* SPDX-License-Identifier: Apache-2.0 */
/* Regressions (poll_queue_fills_for_callback_apps, poll_queue_bounded_by_bytes): the
 * lc_client_poll_event queue was bounded by count (1024 events, of any size) and filled even
 * for an app that only uses callbacks (300 messages of 1 MiB: 325 MB). Now it is bounded by
 * LC_EVENT_QUEUE_MAX_BYTES and holds events only for an app that polls.
 *
 * usage: event_queue AUTHORIZE_URL WS_URL MODE
 *   callbacks: on_message/on_data set, never polls. 40 echoes of 60 KiB arrive; the queue
 *              must hold 0 bytes and drop nothing, and the heap must not keep them.
 *   polling:   no callback set, polls only after the 40 echoes arrived: the queue holds at
 *              most LC_EVENT_QUEUE_MAX_BYTES, counts its drops, and the newest events are
 *              the ones kept.
 *   both:      callbacks set, and one lc_client_poll_event(c, e, 0) before connecting: every
 *              event arrives both ways.
 * Prints PASS/FAIL lines and "SUMMARY <n> checks, <f> failed"; exits 1 on a failure. */
#define _GNU_SOURCE
#include "layercode.h"
#include "check.h"

#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define ECHOES 40
#define PAYLOAD (60 * 1024)


static void sleep_ms(int ms) {
    struct timespec t = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&t, NULL);
}

static int data_seen, status_seen;
static void on_data(void *ud, const char *content, const char *turn_id) {
    (void)ud; (void)content; (void)turn_id;
    __atomic_add_fetch(&data_seen, 1, __ATOMIC_SEQ_CST);
}
static void on_message(void *ud, const char *type, const char *json) {
    (void)ud; (void)type; (void)json;
}
static void on_status(void *ud, int status) {
    (void)ud; (void)status;
    __atomic_add_fetch(&status_seen, 1, __ATOMIC_SEQ_CST);
}

static lc_stats stats(lc_client *c) {
    lc_stats s;
    lc_client_get_stats(c, &s);
    return s;
}

/* Waits (up to 20 s) until the client has received `count` messages. */
static int wait_received(lc_client *c, uint64_t count) {
    for (int i = 0; i < 2000; i++) {
        if (stats(c).messages_received >= count) return 1;
        sleep_ms(10);
    }
    return 0;
}

int main(int argc, char **argv) {
    if (argc < 4) return 2;
    const char *mode = argv[3];
    int callbacks = strcmp(mode, "polling") != 0;
    lc_options o;
    session_options(&o, "echo", argv[1], argv[2]);
    o.audio_mode = LC_AUDIO_NONE;
    if (callbacks) {
        o.on_data = on_data;
        o.on_message = on_message;
        o.on_status = on_status;
    }
    lc_client *c;
    if (lc_client_new(&o, &c) != LC_OK) return 3;
    lc_event ev;
    if (strcmp(mode, "both") == 0) check(lc_client_poll_event(c, &ev, 0) == 0, "first poll: nothing yet");
    if (lc_client_connect(c) != LC_OK) return 4;
    for (int i = 0; i < 1000 && lc_client_status(c) != LC_STATUS_CONNECTED; i++) sleep_ms(10);
    check(lc_client_status(c) == LC_STATUS_CONNECTED, "connected");
    /* Let the greeting's messages arrive before measuring. */
    sleep_ms(300);
    if (strcmp(mode, "both") == 0) {
        int polled_status = 0;
        while (lc_client_poll_event(c, &ev, 0) == 1)
            if (ev.type == LC_EVENT_STATUS) polled_status++;
        check(polled_status == __atomic_load_n(&status_seen, __ATOMIC_SEQ_CST) && polled_status >= 2,
              "every status event arrived both ways (%d polled, %d called back)", polled_status,
              __atomic_load_n(&status_seen, __ATOMIC_SEQ_CST));
    }

    char *payload = malloc(PAYLOAD + 64);
    struct mallinfo2 before = mallinfo2();
    for (int i = 0; i < ECHOES; i++) {
        uint64_t received = stats(c).messages_received;
        int n = snprintf(payload, 64, "{\"n\":%d,\"pad\":\"", i);
        memset(payload + n, 'x', PAYLOAD - n - 2);
        memcpy(payload + PAYLOAD - 2, "\"}", 3);
        int rc = lc_client_send_data(c, payload);
        if (rc != LC_OK || !wait_received(c, received + 1)) {
            check(0, "echo %d (rc %d)", i, rc);
            break;
        }
    }
    free(payload);
    /* messages_received counts an echo before its callback runs: wait for the callbacks. */
    for (int i = 0; callbacks && i < 2000 && __atomic_load_n(&data_seen, __ATOMIC_SEQ_CST) < ECHOES; i++)
        sleep_ms(10);
    lc_stats s = stats(c);
    struct mallinfo2 after = mallinfo2();
    long long held = (long long)(after.uordblks + after.hblkhd) - (long long)(before.uordblks + before.hblkhd);

    if (strcmp(mode, "callbacks") == 0) {
        check(__atomic_load_n(&data_seen, __ATOMIC_SEQ_CST) == ECHOES, "on_data ran %d times (want %d)",
              __atomic_load_n(&data_seen, __ATOMIC_SEQ_CST), ECHOES);
        check(s.event_queue_bytes == 0, "a callback app's poll queue holds 0 bytes (%llu)",
              (unsigned long long)s.event_queue_bytes);
        check(s.events_dropped == 0, "and drops nothing (%llu)", (unsigned long long)s.events_dropped);
        check(held < 1024 * 1024, "the heap does not keep the %d messages (%lld bytes more)", ECHOES, held);
    } else if (strcmp(mode, "polling") == 0) {
        check(s.event_queue_bytes > 0 && s.event_queue_bytes <= LC_EVENT_QUEUE_MAX_BYTES,
              "a polling app's queue holds at most LC_EVENT_QUEUE_MAX_BYTES (%llu)",
              (unsigned long long)s.event_queue_bytes);
        check(s.events_dropped > 0, "the oldest events were dropped and counted (%llu)",
              (unsigned long long)s.events_dropped);
        check(held < 2 * LC_EVENT_QUEUE_MAX_BYTES, "the heap holds about the bound (%lld bytes more)", held);
        int polled = 0, last_n = -1;
        while (lc_client_poll_event(c, &ev, 0) == 1) {
            polled++;
            const char *n = ev.type == LC_EVENT_DATA && ev.json ? strstr(ev.json, "\"n\":") : NULL;
            if (n) last_n = atoi(n + 4);
        }
        check(polled > 0 && last_n == ECHOES - 1, "the newest events are kept: %d polled, last echo %d",
              polled, last_n);
        check(stats(c).event_queue_bytes == 0, "polling empties it (%llu bytes)",
              (unsigned long long)stats(c).event_queue_bytes);
    } else {
        int polled_data = 0;
        while (lc_client_poll_event(c, &ev, 0) == 1)
            if (ev.type == LC_EVENT_DATA) polled_data++;
        check(polled_data + (int)s.events_dropped >= ECHOES && __atomic_load_n(&data_seen, __ATOMIC_SEQ_CST) == ECHOES,
              "every data event went to on_data, and to the queue (%d polled, %llu dropped)",
              polled_data, (unsigned long long)s.events_dropped);
    }
    lc_client_disconnect(c);
    lc_client_free(c);
    return check_summary();
}
