/* SPDX-License-Identifier: Apache-2.0 */
/* Resident memory per client: creates N clients and prints the VmRSS growth divided by N,
 * as JSON. usage: client_memory [N] [external|none] [AUTHORIZE_URL WS_URL]
 * Without URLs the clients stay idle (never connected); with them (a devserver started with
 * --no-greeting) every client connects first, and the figure is a connected client's.
 * `make bench` runs both (bench/run.py). */
#define _POSIX_C_SOURCE 200809L
#include "layercode.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static long vm_rss_kib(void) {
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kib = -1;
    if (!f) return -1;
    while (fgets(line, sizeof line, f))
        if (strncmp(line, "VmRSS:", 6) == 0) kib = strtol(line + 6, NULL, 10);
    fclose(f);
    return kib;
}

int main(int argc, char **argv) {
    int n = argc > 1 ? atoi(argv[1]) : 200;
    const char *mode = argc > 2 ? argv[2] : "external";
    int connect = argc > 4;
    if (n < 1) return 2;
    lc_client **clients = calloc((size_t)n + 1, sizeof *clients);
    lc_options o;
    lc_options_init(&o);
    o.agent_id = "echo";
    o.authorize_url = connect ? argv[3] : "http://127.0.0.1:9/authorize";
    o.ws_url = connect ? argv[4] : "ws://127.0.0.1:9/v1/agents/web/websocket";
    o.audio_mode = strcmp(mode, "none") == 0 ? LC_AUDIO_NONE : LC_AUDIO_EXTERNAL;
    /* One client first: it pays for the process-wide parts (event loop, runtime caches). */
    if (lc_client_new(&o, &clients[n]) != LC_OK) return 1;
    if (connect) lc_client_connect(clients[n]);
    struct timespec pause = {0, 20 * 1000 * 1000};
    nanosleep(&pause, NULL);
    long before = vm_rss_kib();
    int connected = 0;
    for (int i = 0; i < n; i++) {
        if (lc_client_new(&o, &clients[i]) != LC_OK) return 1;
        if (connect) lc_client_connect(clients[i]);
    }
    for (int t = 0; connect && t < 1000; t++) {
        connected = 0;
        for (int i = 0; i < n; i++) connected += lc_client_status(clients[i]) == LC_STATUS_CONNECTED;
        if (connected == n) break;
        nanosleep(&pause, NULL);
    }
    long after = vm_rss_kib();
    for (int i = 0; i <= n; i++) lc_client_free(clients[i]);
    free(clients);
    printf("{\"clients\": %d, \"audio_mode\": \"%s\", \"connected\": %d, "
           "\"rss_per_client_kib\": %.1f}\n", n, mode, connected,
           (double)(after - before) / n);
    return connect && connected != n ? 1 : 0;
}
