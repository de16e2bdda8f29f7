/* SPDX-License-Identifier: Apache-2.0 */
/* Connect latency: lc_client_connect() to on_connected (authorize POST + WebSocket open),
 * repeated N times against the devserver on loopback. Prints p50/p90/max in microseconds.
 * usage: connect_bench AUTHORIZE_URL WS_URL [CA_FILE] [N] */
#define _POSIX_C_SOURCE 200809L
#include "layercode.h"
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static int state; /* 0 waiting, 1 connected, 2 disconnected, -1 failed */

static void on_connected(void *u, const char *c, const char *cfg) {
    (void)u; (void)c; (void)cfg;
    pthread_mutex_lock(&mu); state = 1; pthread_cond_signal(&cv); pthread_mutex_unlock(&mu);
}
static void on_disconnected(void *u, int reason, const char *m) {
    (void)u; (void)m;
    pthread_mutex_lock(&mu); state = reason == 0 ? 2 : -1; pthread_cond_signal(&cv);
    pthread_mutex_unlock(&mu);
}
static int wait_for(int want) {
    struct timespec t; clock_gettime(CLOCK_REALTIME, &t); t.tv_sec += 10;
    pthread_mutex_lock(&mu);
    while (state != want && state != -1)
        if (pthread_cond_timedwait(&cv, &mu, &t) != 0) break;
    int ok = state == want;
    pthread_mutex_unlock(&mu);
    return ok;
}
static int cmp(const void *a, const void *b) {
    long x = *(const long *)a, y = *(const long *)b; return (x > y) - (x < y);
}

int main(int argc, char **argv) {
    if (argc < 3) { fprintf(stderr, "usage: %s AUTHORIZE_URL WS_URL [CA_FILE] [N]\n", argv[0]); return 2; }
    int n = argc > 4 ? atoi(argv[4]) : 50;
    long *us = calloc((size_t)n, sizeof *us);
    lc_options o; lc_options_init(&o);
    o.agent_id = "echo"; o.authorize_url = argv[1]; o.ws_url = argv[2];
    o.ca_file = argc > 3 && argv[3][0] ? argv[3] : NULL;
    o.audio_mode = LC_AUDIO_NONE;
    o.on_connected = on_connected; o.on_disconnected = on_disconnected;
    lc_client *c;
    if (lc_client_new(&o, &c) != LC_OK) { fprintf(stderr, "%s\n", lc_client_last_error(NULL)); return 1; }
    for (int i = 0; i < n; i++) {
        state = 0;
        lc_client_connect(c);
        if (!wait_for(1)) { fprintf(stderr, "connect %d failed: %s\n", i, lc_client_last_error(c)); return 1; }
        lc_stats s; lc_client_get_stats(c, &s);
        us[i] = (long)s.connect_time_us;
        lc_client_disconnect(c);
        if (!wait_for(2)) { fprintf(stderr, "disconnect %d failed\n", i); return 1; }
    }
    lc_client_free(c);
    qsort(us, (size_t)n, sizeof *us, cmp);
    printf("{\"bench\":\"connect\",\"tls\":%s,\"n\":%d,\"p50_us\":%ld,\"p90_us\":%ld,\"max_us\":%ld}\n",
           o.ca_file ? "true" : "false", n, us[n / 2], us[n * 9 / 10], us[n - 1]);
    free(us);
    return 0;
}
