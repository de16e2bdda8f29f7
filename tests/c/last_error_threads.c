/* SPDX-License-Identifier: Apache-2.0 */
/* Regression (last_error_use_after_free_across_threads): lc_client_last_error() used to free
 * the string it returned last time on every call, so with threads calling it on one client
 * a reader's string was freed under it (ASan: heap-use-after-free). The header says "any
 * thread": each thread now gets its own copy, valid until that thread's next call.
 *
 * usage: last_error_threads [ITERATIONS]   (no server needed: the errors are local ones)
 * 4 threads each cause errors on one shared client (two kinds, different messages) and read
 * lc_client_last_error() concurrently, copying the whole string and checking that it is one
 * of the messages the library gives. tests/c/test_c_api.py builds it with ASan + UBSan, and
 * plain. Prints "SUMMARY <reads> reads, <bad> bad"; exits 1 if any read was bad. */
#define _POSIX_C_SOURCE 200809L
#include "layercode.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define THREADS 4

static lc_client *client;
static int iterations = 20000;
static int bad_reads[THREADS];
static char first_bad[THREADS][4096];

static int plausible(const char *s) {
    /* "" (nothing failed yet on this client) or the text of one of the two errors. */
    return s[0] == 0 || strstr(s, "not connected") != NULL || strstr(s, "UTF-8") != NULL ||
           strstr(s, "JSON") != NULL || strstr(s, "state") != NULL;
}

static void *reader(void *arg) {
    int id = (int)(size_t)arg;
    char copy[4096];
    for (int i = 0; i < iterations; i++) {
        if (i % 2 == 0)
            lc_client_send_text(client, "hello");          /* LC_ERR_INVALID_STATE */
        else
            lc_client_send_text(client, "bad \xff utf-8"); /* LC_ERR_INVALID_ARGUMENT */
        const char *a = lc_client_last_error(client);
        const char *b = lc_client_last_error(client);   /* replaces a, for this thread only */
        size_t n = strlen(b);
        if (n >= sizeof copy) n = sizeof copy - 1;
        memcpy(copy, b, n);
        copy[n] = 0;
        (void)a;
        if (!plausible(copy)) {
            if (bad_reads[id]++ == 0) snprintf(first_bad[id], sizeof first_bad[id], "%s", copy);
        }
    }
    return NULL;
}

int main(int argc, char **argv) {
    if (argc > 1) iterations = atoi(argv[1]);
    lc_options o;
    lc_options_init(&o);
    o.agent_id = "echo";
    o.authorize_url = "http://127.0.0.1:9/authorize";
    o.audio_mode = LC_AUDIO_NONE;
    if (lc_client_new(&o, &client) != LC_OK) {
        printf("FAIL lc_client_new: %s\n", lc_client_last_error(NULL));
        return 1;
    }
    pthread_t threads[THREADS];
    for (int i = 0; i < THREADS; i++)
        pthread_create(&threads[i], NULL, reader, (void *)(size_t)i);
    for (int i = 0; i < THREADS; i++) pthread_join(threads[i], NULL);

    /* The copy a thread was handed survives lc_client_free(). */
    const char *kept = lc_client_last_error(client);
    lc_client_free(client);
    int kept_ok = plausible(kept);
    printf("%s the string returned before lc_client_free() stays readable after it\n",
           kept_ok ? "PASS" : "FAIL");

    int bad = 0;
    for (int i = 0; i < THREADS; i++) {
        bad += bad_reads[i];
        if (bad_reads[i]) printf("FAIL thread %d read \"%s\"\n", i, first_bad[i]);
    }
    printf("SUMMARY %d reads, %d bad\n", THREADS * iterations * 2, bad);
    return bad == 0 && kept_ok ? 0 : 1;
}
