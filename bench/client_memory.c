/* Resident memory per idle client: creates N clients (default options, no connect) and
 * prints the VmRSS growth divided by N, as JSON. usage: client_memory [N] [audio_mode]
 * (audio_mode: external (default), none). `make bench` runs it (bench/run.py). */
#define _POSIX_C_SOURCE 200809L
#include "layercode.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
    if (n < 2) return 2;
    lc_client **clients = calloc((size_t)n, sizeof *clients);
    lc_options o;
    lc_options_init(&o);
    o.agent_id = "bench";
    o.authorize_url = "http://127.0.0.1:9/authorize";
    o.ws_url = "ws://127.0.0.1:9/v1/agents/web/websocket";
    o.audio_mode = strcmp(mode, "none") == 0 ? LC_AUDIO_NONE : LC_AUDIO_EXTERNAL;
    /* The first client pays for the process-wide parts (event loop, runtime caches). */
    if (lc_client_new(&o, &clients[0]) != LC_OK) return 1;
    long before = vm_rss_kib();
    for (int i = 1; i < n; i++)
        if (lc_client_new(&o, &clients[i]) != LC_OK) return 1;
    long after = vm_rss_kib();
    for (int i = 0; i < n; i++) lc_client_free(clients[i]);
    free(clients);
    printf("{\"clients\": %d, \"audio_mode\": \"%s\", \"rss_per_client_kib\": %.1f}\n", n - 1,
           mode, (double)(after - before) / (n - 1));
    return 0;
}
