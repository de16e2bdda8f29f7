/* SPDX-License-Identifier: Apache-2.0 */
/* Regression (idle_client_holds_megabytes): every client allocated its audio buffers at
 * creation (a 60 s jitter buffer and a 60 s frame ring: about 4 MB), so 1000 idle clients
 * held 4 GB. External mode now builds its audio pipeline at the first connect.
 *
 * usage: idle_client_memory CLIENTS [AUTHORIZE_URL WS_URL]
 * Creates CLIENTS clients of each audio mode (never connected) and measures what the heap
 * holds for them with mallinfo2() (allocated bytes, resident or not: not an RSS figure).
 * With a devserver (run it with --no-greeting), also connects CLIENTS external-audio
 * clients and bounds what a connected client allocates: its audio buffers are sized for the
 * jitter buffer's backlog once, not twice (the loop → render ring holds 10 s, not 60 s).
 * Prints "PASS"/"FAIL" lines and "SUMMARY ..."; exits 1 if a mode is over the bound. */
#define _GNU_SOURCE
#include "layercode.h"
#include "check.h"

#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Generous: the Swift objects of a client take a few KiB; the audio buffers took 4 MB. */
#define BOUND_BYTES (256 * 1024)
/* A connected external client: the 60 s jitter buffer (1.9 MB) and the rest; was 4.1 MB. */
#define CONNECTED_BOUND_BYTES (3 * 1024 * 1024)

static long long heap_bytes(void) {
    struct mallinfo2 m = mallinfo2();
    return (long long)(m.uordblks + m.hblkhd);
}

int main(int argc, char **argv) {
    int n = argc > 1 ? atoi(argv[1]) : 50;
    if (n < 1) return 2;
    lc_client **clients = calloc((size_t)n + 1, sizeof *clients);
    int failures = 0;
    static const struct { int mode; const char *name; } modes[] = {
        {LC_AUDIO_EXTERNAL, "external"}, {LC_AUDIO_NONE, "none"},
        {LC_AUDIO_ALSA, "alsa"}, {LC_AUDIO_WAV, "wav"},
    };
    for (size_t m = 0; m < sizeof modes / sizeof *modes; m++) {
        lc_options o;
        session_options(&o, "echo", "http://127.0.0.1:9/authorize",
                        "ws://127.0.0.1:9/v1/agents/web/websocket");
        o.audio_mode = modes[m].mode;
        o.device_watch_ms = 0;
        /* One client first: it pays for what the process creates once (the event loop). */
        if (lc_client_new(&o, &clients[n]) != LC_OK) return 3;
        long long before = heap_bytes();
        for (int i = 0; i < n; i++)
            if (lc_client_new(&o, &clients[i]) != LC_OK) return 3;
        long long per_client = (heap_bytes() - before) / n;
        for (int i = 0; i <= n; i++) lc_client_free(clients[i]);
        int ok = per_client < BOUND_BYTES;
        failures += !ok;
        printf("%s %s: an idle client allocates %lld bytes (bound %d)\n", ok ? "PASS" : "FAIL",
               modes[m].name, per_client, BOUND_BYTES);
    }
    if (argc > 3) {
        lc_options o;
        session_options(&o, "echo", argv[2], argv[3]);
        o.audio_mode = LC_AUDIO_EXTERNAL;
        o.device_watch_ms = 0;
        if (lc_client_new(&o, &clients[n]) != LC_OK) return 3;
        long long before = heap_bytes();
        for (int i = 0; i < n; i++)
            if (lc_client_new(&o, &clients[i]) != LC_OK || lc_client_connect(clients[i]) != LC_OK) return 4;
        int connected = 0;
        struct timespec pause = {0, 10 * 1000 * 1000};
        for (int t = 0; t < 1000 && connected < n; t++) {
            connected = 0;
            for (int i = 0; i < n; i++) connected += lc_client_status(clients[i]) == LC_STATUS_CONNECTED;
            if (connected < n) nanosleep(&pause, NULL);
        }
        long long per_client = (heap_bytes() - before) / n;
        for (int i = 0; i <= n; i++) lc_client_free(clients[i]);
        int ok = connected == n && per_client < CONNECTED_BOUND_BYTES;
        failures += !ok;
        printf("%s connected external: %d/%d connected, each allocates %lld bytes (bound %d)\n",
               ok ? "PASS" : "FAIL", connected, n, per_client, CONNECTED_BOUND_BYTES);
    }
    free(clients);
    printf("SUMMARY %d clients per mode, %d failed\n", n, failures);
    return failures == 0 ? 0 : 1;
}
