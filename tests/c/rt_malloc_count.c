/* SPDX-License-Identifier: Apache-2.0 */
/* Counts the heap allocations made on real-time audio threads while a session runs.
 *
 * Defining malloc & co. in the executable interposes them for the whole process, the
 * library and its Swift runtime included. Each call asks the kernel for the calling
 * thread's name (prctl, no allocation) and counts it if the thread is an audio thread:
 * the library's "lc-capture"/"lc-playback" (ALSA mode), "lc-wav" (WAV mode), or this
 * program's "app-audio",
 * which calls lc_client_write_audio/lc_client_read_audio every 10 ms (external mode).
 *
 * usage: rt_malloc_count AUTHORIZE_URL WS_URL external|alsa|wav WARMUP_S MEASURE_S
 * (alsa and wav take their devices from LC_TEST_CAPTURE / LC_TEST_PLAYBACK; LC_TEST_CODECS,
 * when set, is lc_options.wire_codecs: "opus,pcm16" for an Opus session)
 * Prints one JSON object: the allocations counted after the warm-up, and the stats that
 * prove audio flowed both ways.
 *
 * The client starts muted and is unmuted once agent audio has started playing: the mic
 * (a constant tone, speech to the server) would otherwise barge in on the greeting before
 * any of it played, on a fast server, and the test would see no playout at all. */
#define _GNU_SOURCE
#include "layercode.h"
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);
extern void __libc_free(void *);

static atomic_int counting;
static atomic_long audio_allocs;
/* The library's event-loop thread ("lc-loop"): counted apart, for the bench's figure of
 * allocations per frame there (not held to zero). */
static atomic_long loop_allocs;

static void note(void) {
    if (!atomic_load_explicit(&counting, memory_order_relaxed)) return;
    char name[16] = {0};
    prctl(PR_GET_NAME, name, 0, 0, 0);
    if (strncmp(name, "lc-capture", 10) == 0 || strncmp(name, "lc-playback", 11) == 0 ||
        strncmp(name, "app-audio", 9) == 0 || strncmp(name, "lc-wav", 6) == 0)
        atomic_fetch_add_explicit(&audio_allocs, 1, memory_order_relaxed);
    else if (strncmp(name, "lc-loop", 7) == 0)
        atomic_fetch_add_explicit(&loop_allocs, 1, memory_order_relaxed);
}

void *malloc(size_t n) { note(); return __libc_malloc(n); }
void *calloc(size_t a, size_t b) { note(); return __libc_calloc(a, b); }
void *realloc(void *p, size_t n) { note(); return __libc_realloc(p, n); }
void free(void *p) { __libc_free(p); }
void *aligned_alloc(size_t al, size_t n) { note(); return __libc_memalign(al, n); }
void *memalign(size_t al, size_t n) { note(); return __libc_memalign(al, n); }
int posix_memalign(void **out, size_t al, size_t n) {
    note();
    void *p = __libc_memalign(al, n);
    if (!p) return 12; /* ENOMEM */
    *out = p;
    return 0;
}

static lc_client *client;
static atomic_int stop_app_audio;
static atomic_int connected;
static atomic_int agent_played;     /* on_agent_speaking(1) seen: playout has begun */

static void on_connected(void *u, const char *c, const char *cfg) {
    (void)u; (void)c; (void)cfg;
    atomic_store(&connected, 1);
}

static void on_agent_speaking(void *u, int on) {
    (void)u;
    if (on) atomic_store(&agent_played, 1);
}

static void *app_audio(void *arg) {
    (void)arg;
    prctl(PR_SET_NAME, "app-audio", 0, 0, 0);
    int16_t mic[480], speaker[480];
    double phase = 0;
    struct timespec next;
    clock_gettime(CLOCK_MONOTONIC, &next);
    while (!atomic_load(&stop_app_audio)) {
        for (int i = 0; i < 480; i++) { /* a 300 Hz tone: speech-like energy for the VAD */
            mic[i] = (int16_t)(8000 * __builtin_sin(phase));
            phase += 2 * 3.14159265358979 * 300 / 48000.0;
        }
        lc_client_write_audio(client, mic, 480);
        lc_client_read_audio(client, speaker, 480);
        next.tv_nsec += 10 * 1000 * 1000;
        if (next.tv_nsec >= 1000000000L) { next.tv_sec++; next.tv_nsec -= 1000000000L; }
        clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL);
    }
    return NULL;
}

int main(int argc, char **argv) {
    if (argc < 6) {
        fprintf(stderr, "usage: %s AUTHORIZE_URL WS_URL external|alsa WARMUP_S MEASURE_S\n", argv[0]);
        return 2;
    }
    int alsa = strcmp(argv[3], "alsa") == 0, wav = strcmp(argv[3], "wav") == 0;
    int device = alsa || wav;
    lc_options o;
    lc_options_init(&o);
    o.agent_id = "tone";
    o.authorize_url = argv[1];
    o.ws_url = argv[2];
    o.audio_mode = alsa ? LC_AUDIO_ALSA : wav ? LC_AUDIO_WAV : LC_AUDIO_EXTERNAL;
    o.capture_device = getenv("LC_TEST_CAPTURE");
    o.playback_device = getenv("LC_TEST_PLAYBACK");
    o.wire_codecs = getenv("LC_TEST_CODECS");
    o.input_sample_rate = 48000;
    o.output_sample_rate = 48000;
    o.on_connected = on_connected;
    o.on_agent_speaking = on_agent_speaking;
    o.start_muted = 1;
    if (lc_client_new(&o, &client) != LC_OK) {
        fprintf(stderr, "lc_client_new: %s\n", lc_client_last_error(NULL));
        return 1;
    }
    pthread_t t;
    if (!device) pthread_create(&t, NULL, app_audio, NULL);
    lc_client_connect(client);
    for (int i = 0; i < 1000 && !atomic_load(&connected); i++) usleep(10000);
    if (!atomic_load(&connected)) {
        fprintf(stderr, "not connected: %s\n", lc_client_last_error(client));
        return 1;
    }
    for (int i = 0; i < 2000 && !atomic_load(&agent_played); i++) usleep(10000);
    if (!atomic_load(&agent_played)) {
        fprintf(stderr, "no agent audio played within 20 s\n");
        return 1;
    }
    lc_client_unmute(client);
    usleep((useconds_t)(atof(argv[4]) * 1e6));
    lc_stats s0;
    lc_client_get_stats(client, &s0);
    atomic_store(&counting, 1);
    usleep((useconds_t)(atof(argv[5]) * 1e6));
    atomic_store(&counting, 0);
    long allocs = atomic_load(&audio_allocs);
    lc_stats s;
    lc_client_get_stats(client, &s);
    if (!device) { atomic_store(&stop_app_audio, 1); pthread_join(t, NULL); }
    lc_client_disconnect(client);
    usleep(200000);
    lc_client_free(client);
    printf("{\"mode\":\"%s\",\"audio_thread_allocations\":%ld,\"audio_frames_sent\":%llu,"
           "\"played_samples\":%llu,\"wire_codec\":%d,\"fec_recovered_frames\":%llu,"
           "\"concealed_ms\":%lld,\"loop_thread_allocations\":%ld,\"window_frames_sent\":%llu,"
           "\"window_messages_received\":%llu,\"seconds\":%s}\n", argv[3], allocs,
           (unsigned long long)s.audio_frames_sent, (unsigned long long)s.played_samples,
           (int)s.wire_codec, (unsigned long long)s.fec_recovered_frames,
           (long long)s.concealed_ms, atomic_load(&loop_allocs),
           (unsigned long long)(s.audio_frames_sent - s0.audio_frames_sent),
           (unsigned long long)(s.messages_received - s0.messages_received), argv[5]);
    return 0;
}
