/* SPDX-License-Identifier: Apache-2.0 */
/* "No callback runs after lc_client_free() returns" (include/layercode.h), under stress.
 *
 * usage: no_callback_after_free AUTHORIZE_URL WS_URL [ITERATIONS [THREADS [SEED]]]
 *        (defaults 200, 4, from the clock; a running tools/devserver, agent echo)
 *
 * THREADS application threads share ITERATIONS iterations of: create a client with every
 * callback set, connect it to the devserver, and free it at a random point (never
 * connected, right after lc_client_connect, during the connect, as soon as it is
 * connected, while it is connected and talking, right after lc_client_disconnect, after
 * on_disconnected), from the thread that created it or from a freshly started one. Never
 * from a callback: the callbacks run on the library's event-loop thread.
 *
 * Every callback checks its client's "freed" flag, set the moment lc_client_free returned;
 * a callback that starts after that, or one still running then, is a failure. The probes
 * stay allocated until the end, so a late callback is recorded, not a use-after-free.
 *
 * Prints one line per iteration and a SUMMARY line; exits 0 only if every iteration was
 * clean. Plain C99 + POSIX threads, atomics as __atomic builtins (ThreadSanitizer models
 * them); tests/c/test_c_api.py builds it plain and with -fsanitize=thread. */
#define _POSIX_C_SOURCE 200809L
#include "layercode.h"

#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define WAIT_MS 15000 /* for the devserver to connect or disconnect a client */

static int load(const int *p) { return __atomic_load_n(p, __ATOMIC_SEQ_CST); }
static void store(int *p, int v) { __atomic_store_n(p, v, __ATOMIC_SEQ_CST); }
static int add(int *p, int v) { return __atomic_add_fetch(p, v, __ATOMIC_SEQ_CST); }

static void sleep_ms(int ms) {
    struct timespec ts;
    ts.tv_sec = ms / 1000;
    ts.tv_nsec = (long)(ms % 1000) * 1000000L;
    while (nanosleep(&ts, &ts) != 0) {}
}

static int wait_for(const int *p, int value, int ms) {
    int waited;
    for (waited = 0; waited < ms; waited += 2) {
        if (load(p) >= value) return 1;
        sleep_ms(2);
    }
    return load(p) >= value;
}

static void on_watchdog(int sig) {
    static const char text[] = "FAIL watchdog: the run hung (lc_client_free deadlocked?)\n";
    (void)sig;
    if (write(STDOUT_FILENO, text, sizeof text - 1) < 0) {}
    _exit(3);
}

/* ---- where to free -------------------------------------------------------------------- */

enum free_point {
    NEVER_CONNECTED,
    RIGHT_AFTER_CONNECT,
    DURING_CONNECT,
    ON_CONNECTED,
    WHILE_TALKING,
    RIGHT_AFTER_DISCONNECT,
    AFTER_DISCONNECTED,
    FREE_POINTS
};

static const char *const point_names[FREE_POINTS] = {
    "never-connected", "right-after-connect", "during-connect", "on-connected",
    "while-talking", "right-after-disconnect", "after-disconnected"};

enum callback_kind {
    CB_STATUS, CB_CONNECTED, CB_DISCONNECTED, CB_ERROR, CB_MESSAGE, CB_DATA, CB_AMPLITUDE,
    CB_FLAG, CB_KINDS
};

static const char *const callback_names[CB_KINDS] = {
    "on_status", "on_connected", "on_disconnected", "on_error", "on_message", "on_data",
    "on_*_amplitude", "on_*_speaking/on_mute"};

/* ---- one client's record ----------------------------------------------------------------- */

#define PROBE_MAGIC 0xfeed5eed

typedef struct probe {
    unsigned magic;
    /* all int fields: __atomic */
    int callbacks;
    int connected;
    int disconnected;
    int errors;
    int freed;             /* lc_client_free has returned */
    int active;            /* callbacks running now */
    int late;              /* callbacks that started after freed */
    int late_kind;         /* the first late one's callback_kind + 1 */
    int running_at_free;   /* callbacks still running when lc_client_free returned */
    /* Plain, on purpose: written by callbacks and read by the app after lc_client_free
     * returned. Under ThreadSanitizer that is the library boundary's happens-before edge
     * (lc_client_free waits on a semaphore the loop posts): a callback not ordered before
     * the return is reported as a race on them. */
    int plain_callbacks;
    int tag;
    int bad_tag;
    /* The other direction, the app's writes before lc_client_new/connect to the callbacks,
     * goes through the library's command queue: a Swift Mutex (futex), which TSan cannot
     * see. It is real, but TSan sees it only when the loop thread happens to read the
     * wake-up eventfd after the app wrote it; with several application threads the loop
     * often takes the work before that, and TSan reports a (false) race on whatever the app
     * initialised. So the app publishes the probe itself (release here, acquire in every
     * callback). See test_c_api.py for the TSan options. */
    int published;
} probe;

static int stray_callbacks; /* callbacks whose user_data is not a probe */
static probe *probes;       /* one per iteration, alive to the end */

static probe *enter(void *user_data, enum callback_kind kind) {
    probe *p = user_data;
    if (!p || !__atomic_load_n(&p->published, __ATOMIC_ACQUIRE) || p->magic != PROBE_MAGIC) {
        add(&stray_callbacks, 1);
        return NULL;
    }
    add(&p->active, 1);
    add(&p->callbacks, 1);
    p->plain_callbacks++; /* callbacks of one client run one at a time */
    if (p->tag != (int)(p - probes)) p->bad_tag++;
    if (load(&p->freed) && add(&p->late, 1) == 1) store(&p->late_kind, (int)kind + 1);
    return p;
}

static void leave(probe *p) { add(&p->active, -1); }

static void on_status(void *u, int status) {
    probe *p = enter(u, CB_STATUS);
    (void)status;
    if (p) leave(p);
}

static void on_connected(void *u, const char *conversation_id, const char *config_json) {
    probe *p = enter(u, CB_CONNECTED);
    (void)conversation_id;
    (void)config_json;
    if (!p) return;
    add(&p->connected, 1);
    leave(p);
}

static void on_disconnected(void *u, int reason, const char *message) {
    probe *p = enter(u, CB_DISCONNECTED);
    (void)reason;
    (void)message;
    if (!p) return;
    add(&p->disconnected, 1);
    leave(p);
}

static void on_error(void *u, int code, const char *message) {
    probe *p = enter(u, CB_ERROR);
    (void)code;
    (void)message;
    if (!p) return;
    add(&p->errors, 1);
    leave(p);
}

static void on_message(void *u, const char *type, const char *json) {
    probe *p = enter(u, CB_MESSAGE);
    (void)type;
    (void)json;
    if (p) leave(p);
}

static void on_data(void *u, const char *content_json, const char *turn_id) {
    probe *p = enter(u, CB_DATA);
    (void)content_json;
    (void)turn_id;
    if (p) leave(p);
}

static void on_amplitude(void *u, float level) {
    probe *p = enter(u, CB_AMPLITUDE);
    (void)level;
    if (p) leave(p);
}

static void on_flag(void *u, int on) {
    probe *p = enter(u, CB_FLAG);
    (void)on;
    if (p) leave(p);
}

/* ---- the run ------------------------------------------------------------------------------ */

static const char *authorize_url, *ws_url;
static int iterations = 200, threads = 4;
static unsigned seed;
static int next_iteration;      /* __atomic */
static int failed_iterations;   /* __atomic */
static int point_counts[FREE_POINTS];

struct freer {
    lc_client *client;
    probe *p;
};

/* The free itself, and what must hold the moment it returns. */
static void free_and_mark(lc_client *client, probe *p) {
    lc_client_free(client);
    store(&p->freed, 1);
    store(&p->running_at_free, load(&p->active));
}

static void *free_on_this_thread(void *arg) {
    struct freer *f = arg;
    free_and_mark(f->client, f->p);
    return NULL;
}

static int random_below(unsigned *state, int n) { return (int)(rand_r(state) % (unsigned)n); }

/* Talks for a while (the caller is the only audio writer/reader of this client). */
static void talk(lc_client *c, unsigned *rng, int ms) {
    int16_t pcm[320], out[320];
    int t, i;
    if (random_below(rng, 2)) lc_client_send_text(c, "hello there");
    if (random_below(rng, 2)) lc_client_send_data(c, "{\"n\":1}");
    for (t = 0; t < ms; t += 20) {
        for (i = 0; i < 320; i++) pcm[i] = (int16_t)(random_below(rng, 2000) - 1000);
        lc_client_write_audio(c, pcm, 320);
        lc_client_read_audio(c, out, 320);
        sleep_ms(20);
    }
}

/* One iteration; returns a problem, or NULL. */
static const char *iterate(int n, unsigned *rng, enum free_point point, int other_thread) {
    probe *p = &probes[n];
    lc_options o;
    lc_client *c = NULL;
    const char *problem = NULL;

    p->magic = PROBE_MAGIC;
    p->tag = n;
    __atomic_store_n(&p->published, 1, __ATOMIC_RELEASE);
    lc_options_init(&o);
    o.agent_id = "echo";
    o.authorize_url = authorize_url;
    o.ws_url = ws_url;
    o.connect_timeout_ms = 5000;
    o.amplitude_rate_hz = 100; /* as many callbacks around the free as the library allows */
    o.user_data = p;
    o.on_status = on_status;
    o.on_connected = on_connected;
    o.on_disconnected = on_disconnected;
    o.on_error = on_error;
    o.on_message = on_message;
    o.on_data = on_data;
    o.on_user_amplitude = on_amplitude;
    o.on_agent_amplitude = on_amplitude;
    o.on_user_speaking = on_flag;
    o.on_agent_speaking = on_flag;
    o.on_mute = on_flag;
    if (lc_client_new(&o, &c) != LC_OK) return lc_client_last_error(NULL);

    switch (point) {
    case NEVER_CONNECTED:
        lc_client_mute(c); /* an on_mute on its way */
        break;
    case RIGHT_AFTER_CONNECT:
        if (lc_client_connect(c) != LC_OK) problem = "lc_client_connect failed";
        break;
    case DURING_CONNECT:
        if (lc_client_connect(c) != LC_OK) problem = "lc_client_connect failed";
        sleep_ms(random_below(rng, 30));
        break;
    case ON_CONNECTED:
    case WHILE_TALKING:
    case RIGHT_AFTER_DISCONNECT:
    case AFTER_DISCONNECTED:
        if (lc_client_connect(c) != LC_OK) {
            problem = "lc_client_connect failed";
            break;
        }
        if (!wait_for(&p->connected, 1, WAIT_MS)) {
            problem = "no on_connected";
            break;
        }
        if (point == ON_CONNECTED) break;
        talk(c, rng, point == WHILE_TALKING ? 20 * random_below(rng, 40) : 40);
        if (point == WHILE_TALKING) break;
        lc_client_disconnect(c);
        if (point == AFTER_DISCONNECTED && !wait_for(&p->disconnected, 1, WAIT_MS))
            problem = "no on_disconnected";
        break;
    case FREE_POINTS:
        break;
    }

    if (other_thread) {
        struct freer f;
        pthread_t t;
        f.client = c;
        f.p = p;
        if (pthread_create(&t, NULL, free_on_this_thread, &f) != 0) {
            free_and_mark(c, p);
        } else {
            pthread_join(t, NULL);
        }
    } else {
        free_and_mark(c, p);
    }
    if (!problem && load(&p->running_at_free))
        problem = "a callback was still running when lc_client_free returned";
    if (!problem && load(&p->late)) problem = "a callback ran after lc_client_free returned";
    if (!problem && p->plain_callbacks != load(&p->callbacks))
        problem = "the callbacks' plain writes are not all visible after lc_client_free";
    if (!problem && p->bad_tag) problem = "a callback saw a stale user_data";
    return problem;
}

static void *worker(void *arg) {
    unsigned rng = seed ^ (unsigned)(uintptr_t)arg * 2654435761u;
    int n;
    while ((n = add(&next_iteration, 1) - 1) < iterations) {
        enum free_point point = (enum free_point)random_below(&rng, FREE_POINTS);
        int other_thread = random_below(&rng, 2);
        const char *problem;
        add(&point_counts[point], 1);
        problem = iterate(n, &rng, point, other_thread);
        if (problem) add(&failed_iterations, 1);
        printf("%s iteration %d: thread %d, free %s from the %s thread: %d callbacks%s%s\n",
               problem ? "FAIL" : "PASS", n, (int)(uintptr_t)arg, point_names[point],
               other_thread ? "another" : "creating", load(&probes[n].callbacks),
               problem ? ": " : "", problem ? problem : "");
        fflush(stdout);
    }
    return NULL;
}

int main(int argc, char **argv) {
    pthread_t *workers;
    int i, late_total = 0;

    if (argc < 3 || argc > 6) {
        fprintf(stderr, "usage: %s AUTHORIZE_URL WS_URL [ITERATIONS [THREADS [SEED]]]\n",
                argv[0]);
        return 2;
    }
    authorize_url = argv[1];
    ws_url = argv[2];
    if (argc > 3) iterations = atoi(argv[3]);
    if (argc > 4) threads = atoi(argv[4]);
    seed = argc > 5 ? (unsigned)strtoul(argv[5], NULL, 10) : (unsigned)time(NULL);
    if (iterations < 1 || threads < 1) {
        fprintf(stderr, "ITERATIONS and THREADS must be positive\n");
        return 2;
    }
    printf("# %d iterations on %d threads, seed %u\n", iterations, threads, seed);
    signal(SIGALRM, on_watchdog);
    alarm((unsigned)(60 + iterations * 2));

    probes = calloc((size_t)iterations, sizeof *probes);
    workers = calloc((size_t)threads, sizeof *workers);
    if (!probes || !workers) return 1;
    for (i = 0; i < threads; i++)
        pthread_create(&workers[i], NULL, worker, (void *)(uintptr_t)i);
    for (i = 0; i < threads; i++) pthread_join(workers[i], NULL);
    free(workers);

    /* Anything still queued for a freed client would have run by now. */
    sleep_ms(1000);
    for (i = 0; i < iterations; i++) {
        int late = load(&probes[i].late);
        if (late) {
            printf("FAIL iteration %d: %d callback(s) after lc_client_free returned, the first "
                   "%s\n", i, late, callback_names[load(&probes[i].late_kind) - 1]);
            late_total += late;
        }
    }
    printf("# free points:");
    for (i = 0; i < FREE_POINTS; i++) printf(" %s %d", point_names[i], point_counts[i]);
    printf("\n");
    if (load(&stray_callbacks))
        printf("FAIL %d callback(s) with a user_data that is not a probe\n",
               load(&stray_callbacks));
    printf("SUMMARY %d iterations, %d failed, %d late callbacks, seed %u\n", iterations,
           load(&failed_iterations), late_total, seed);
    free(probes); /* every client is long gone */
    return load(&failed_iterations) || late_total || load(&stray_callbacks) ? 1 : 0;
}
