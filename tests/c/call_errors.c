/* SPDX-License-Identifier: Apache-2.0 */
/* Why a call failed vs why a session failed (issue 10, item 8), from C:
 *
 *  - lc_client_last_error(c) is the calling thread's own: 4 threads fail calls on one client
 *    at once, each with its own kind of failure, and each reads back exactly its own
 *    detail after every call (call_error_is_per_thread); a thread that failed nothing reads
 *    ""; a thread's failure on another client leaves "" for this one; a new client (whatever
 *    its address) starts at "" though this thread's last failure was on a freed one; the
 *    string stays as it was while other threads fail calls.
 *  - lc_client_failure_message(c, buf, size): why the session failed, after a refused
 *    connect; snprintf-style length, NULL/0 query, a short buffer, and a refused
 *    call (send_text while not connected) does not change it.
 *
 * usage: call_errors ITERATIONS [AUTHORIZE_URL_OF_A_CLOSED_PORT]
 * Prints PASS/FAIL lines and "SUMMARY <n> checks, <f> failed". */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static pthread_mutex_t check_mutex = PTHREAD_MUTEX_INITIALIZER;
#define CHECK_LOCK() pthread_mutex_lock(&check_mutex)
#define CHECK_UNLOCK() pthread_mutex_unlock(&check_mutex)
#include "check.h"

#define THREADS 4

static lc_client *shared;
static int iterations = 2000;
static int wrong[THREADS];
static char first_wrong[THREADS][512];

/* What each thread's failing call is, and the words its detail must hold. */
static int fail_call(int id) {
    switch (id) {
    case 0: return lc_client_send_text(shared, "hello");            /* not connected */
    case 1: return lc_client_send_text(shared, "bad \xff utf-8");   /* UTF-8 */
    case 2: return lc_client_send_data(shared, "[1]");              /* JSON object */
    default: return lc_client_send_text(shared, NULL);              /* text is NULL */
    }
}
static const char *const expected[THREADS] = {"not connected", "UTF-8", "JSON object",
                                              "text is NULL"};

static void *worker(void *arg) {
    int id = (int)(size_t)arg;
    for (int i = 0; i < iterations; i++) {
        int rc = fail_call(id);
        const char *detail = lc_client_last_error(shared);
        if (rc >= 0 || strstr(detail, expected[id]) == NULL) {
            if (wrong[id]++ == 0)
                snprintf(first_wrong[id], sizeof first_wrong[id], "rc %d, \"%s\"", rc, detail);
        }
    }
    return NULL;
}

static void *bystander(void *arg) {
    const char **out = arg;
    *out = lc_client_last_error(shared);  /* this thread failed nothing */
    return NULL;
}

static lc_client *new_client(const char *authorize_url) {
    lc_options o;
    lc_client *c = NULL;
    lc_options_init(&o);
    o.agent_id = "echo";
    o.authorize_url = authorize_url;
    o.audio_mode = LC_AUDIO_NONE;
    o.reconnect_max_attempts = 0;
    if (lc_client_new(&o, &c) != LC_OK) check(0, "lc_client_new: %s", lc_client_last_error(NULL));
    return c;
}

int main(int argc, char **argv) {
    const char *closed = argc > 2 ? argv[2] : "http://127.0.0.1:9/authorize";
    pthread_t threads[THREADS];
    if (argc > 1) iterations = atoi(argv[1]);

    shared = new_client(closed);
    if (!shared) return check_summary();

    /* call_error_is_per_thread */
    for (int i = 0; i < THREADS; i++)
        pthread_create(&threads[i], NULL, worker, (void *)(size_t)i);
    for (int i = 0; i < THREADS; i++) pthread_join(threads[i], NULL);
    for (int i = 0; i < THREADS; i++)
        check(wrong[i] == 0, "thread %d read its own call's detail (\"%s\") after each of %d "
              "failures while 3 other threads failed calls on the same client (%d wrong; first: %s)",
              i, expected[i], iterations, wrong[i], wrong[i] ? first_wrong[i] : "-");
    {
        const char *seen = NULL;
        pthread_t t;
        pthread_create(&t, NULL, bystander, &seen);
        pthread_join(t, NULL);
        check(seen != NULL && *seen == '\0', "a thread that failed no call reads \"\" (\"%s\")",
              seen ? seen : "(null)");
    }

    /* The returned string stays while other threads fail calls. */
    {
        const char *mine;
        char before[256];
        check(lc_client_send_text(shared, NULL) == LC_ERR_INVALID_ARGUMENT, "send_text(NULL) refused");
        mine = lc_client_last_error(shared);
        snprintf(before, sizeof before, "%s", mine);
        for (int i = 0; i < THREADS; i++)
            pthread_create(&threads[i], NULL, worker, (void *)(size_t)((i + 1) % THREADS));
        for (int i = 0; i < THREADS; i++) pthread_join(threads[i], NULL);
        check(strcmp(mine, before) == 0 && strstr(mine, "text is NULL") != NULL,
              "the string lc_client_last_error returned is unchanged by other threads' failures "
              "(\"%s\")", mine);
    }

    /* Per client: this thread's failure on another client leaves "" for this one. */
    {
        lc_client *other = new_client(closed);
        const char *detail;
        check(lc_client_send_text(other, "hi") == LC_ERR_INVALID_STATE, "other: send_text refused");
        detail = lc_client_last_error(shared);
        check(*detail == '\0', "after a failure on another client, lc_client_last_error(shared) "
              "is \"\" (\"%s\")", detail);
        detail = lc_client_last_error(other);
        check(strstr(detail, "not connected") != NULL, "lc_client_last_error(other) says why "
              "(\"%s\")", detail);
        /* A freed client's failure does not pass to the next client, at any address. */
        lc_client_free(other);
        for (int i = 0; i < 8; i++) {
            lc_client *next = new_client(closed);
            check(next && *lc_client_last_error(next) == '\0',
                  "a new client starts with \"\" (try %d)", i);
            check(lc_client_send_text(next, NULL) == LC_ERR_INVALID_ARGUMENT, "next: refused");
            lc_client_free(next);
        }
    }

    /* lc_client_failure_message: the session's failure, apart from calls. */
    {
        char buf[512], tiny[4];
        int length, n;
        struct timespec pause = {0, 20 * 1000 * 1000};
        check(lc_client_failure_message(shared, NULL, 0) == 0,
              "no session yet: lc_client_failure_message is \"\" (length 0)");
        check(lc_client_failure_message(NULL, buf, sizeof buf) == LC_ERR_INVALID_ARGUMENT,
              "lc_client_failure_message(NULL, ...) == LC_ERR_INVALID_ARGUMENT");
        n = lc_client_failure_message(shared, NULL, 8);
        check(n == LC_ERR_INVALID_ARGUMENT && strstr(lc_client_last_error(shared), "buffer") != NULL,
              "lc_client_failure_message(c, NULL, 8) == LC_ERR_INVALID_ARGUMENT, and says why");
        check(lc_client_connect(shared) == LC_OK, "connect to a closed port starts");
        for (int i = 0; i < 500 && lc_client_status(shared) != LC_STATUS_ERROR; i++)
            nanosleep(&pause, NULL);
        check(lc_client_status(shared) == LC_STATUS_ERROR, "the connect failed");
        length = lc_client_failure_message(shared, NULL, 0);
        n = lc_client_failure_message(shared, buf, sizeof buf);
        check(length > 0 && n == length && strlen(buf) == (size_t)length,
              "lc_client_failure_message says why the session failed (%d, \"%s\")", n, buf);
        memset(tiny, 'x', sizeof tiny);
        n = lc_client_failure_message(shared, tiny, sizeof tiny);
        check(n == length && tiny[3] == '\0' && strncmp(tiny, buf, 3) == 0,
              "a short buffer gets the start, NUL-terminated, and the full length (%d)", n);
        /* (The detail is read after the call: it is valid until this thread's next call.) */
        n = lc_client_send_text(shared, "hi");
        check(n == LC_ERR_INVALID_STATE && strstr(lc_client_last_error(shared), "not connected"),
              "a refused call's detail is lc_client_last_error (\"%s\")",
              lc_client_last_error(shared));
        n = lc_client_failure_message(shared, tiny, 0);
        check(n == length && lc_client_failure_message(shared, buf, sizeof buf) == length,
              "... and leaves lc_client_failure_message as it was (\"%s\")", buf);
    }
    lc_client_free(shared);
    return check_summary();
}
