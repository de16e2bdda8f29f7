/* SPDX-License-Identifier: Apache-2.0 */
/* N sessions in one process (issue 14, item 2; bench/scale/scale.py runs it).
 *
 * N clients in external-audio mode, 48 kHz in and out by default (--rate: what a 48 kHz
 * device would give, as the C client does), spread round-robin over the servers
 * given. ONE pacing thread, on an absolute 20 ms timeline (clock_nanosleep TIMER_ABSTIME),
 * writes 20 ms of audio into every session and reads 20 ms out of every session; a tick
 * that starts more than one period late is counted late (and the loop catches up without
 * sleeping; more than 50 periods behind, it skips ahead and counts the skipped ticks).
 *
 * stdout, one JSON line each: {"event":"connected",...} once every client is connected (or
 * the connect timeout passed); {"event":"window_start"} after the warm-up and
 * {"event":"window_end"} after the window (the harness samples the servers at these two
 * lines), then {"event":"result",...}: CPU of this process over the window (getrusage), PSS
 * (smaps_rollup), threads, late ticks, and the window's deltas of lc_stats summed over the
 * sessions (plus the least a session received).
 *
 * usage: scale -n N [--rate HZ] [--warmup S] [--window S] [--wav FILE] [--muted K]
 *              [--connect-timeout S] [--rt] AUTHORIZE_URL WS_URL [AUTHORIZE_URL WS_URL ...]
 * --wav: 16-bit mono PCM at --rate, looped (each session starts at its own offset); without
 * it a 300 Hz tone with a 3 Hz syllable envelope. --muted K: the first K sessions start muted
 * (they connect but never send audio: the smoke test's "not real time"). --rt: the pacing
 * thread runs SCHED_FIFO (priority 10) as an audio app's thread would, where allowed; the
 * library's own threads keep their scheduling. */
#define _GNU_SOURCE
#include "layercode.h"

#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#define PERIOD_NS 20000000LL
#define MAX_BEHIND_PERIODS 50

static lc_client **clients;
static int n_clients;
static int16_t *audio;          /* the looped input */
static size_t audio_len;
static int frame;               /* samples per 20 ms */
static atomic_int running = 1;
static atomic_int in_window;
static atomic_ullong ticks, late_ticks, skipped_ticks, work_ns_total, work_ns_max;

static int64_t mono_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static struct timespec ts_of(int64_t ns) {
    struct timespec ts = {(time_t)(ns / 1000000000LL), (long)(ns % 1000000000LL)};
    return ts;
}

static void *pacing(void *arg) {
    (void)arg;
    int16_t *out = malloc(sizeof(int16_t) * (size_t)frame);
    size_t *pos = malloc(sizeof(size_t) * (size_t)n_clients);
    if (!out || !pos) return NULL;
    for (int i = 0; i < n_clients; i++) pos[i] = ((size_t)i * 7919u * (size_t)frame) % audio_len;
    int64_t next = mono_ns();
    while (atomic_load(&running)) {
        struct timespec at = ts_of(next);
        while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &at, NULL) != 0) {}
        int64_t start = mono_ns();
        int counting = atomic_load(&in_window);
        if (start - next > PERIOD_NS && counting) atomic_fetch_add(&late_ticks, 1);
        for (int i = 0; i < n_clients; i++) {
            if (pos[i] + (size_t)frame > audio_len) pos[i] = 0;
            lc_client_write_audio(clients[i], audio + pos[i], (size_t)frame);
            pos[i] += (size_t)frame;
            lc_client_read_audio(clients[i], out, (size_t)frame);
        }
        int64_t work = mono_ns() - start;
        if (counting) {
            atomic_fetch_add(&ticks, 1);
            atomic_fetch_add(&work_ns_total, (unsigned long long)work);
            if ((unsigned long long)work > atomic_load(&work_ns_max))
                atomic_store(&work_ns_max, (unsigned long long)work);
        }
        next += PERIOD_NS;
        int64_t behind = mono_ns() - next;
        if (behind > MAX_BEHIND_PERIODS * PERIOD_NS) {
            int64_t skip = behind / PERIOD_NS;
            if (counting) atomic_fetch_add(&skipped_ticks, (unsigned long long)skip);
            next += skip * PERIOD_NS;
        }
    }
    free(out);
    free(pos);
    return NULL;
}

static long proc_field_kib(const char *path, const char *field) {
    FILE *f = fopen(path, "r");
    char line[256];
    long v = -1;
    size_t n = strlen(field);
    if (!f) return -1;
    while (fgets(line, sizeof line, f))
        if (strncmp(line, field, n) == 0) { v = strtol(line + n, NULL, 10); break; }
    fclose(f);
    return v;
}

static double cpu_seconds(double *user, double *sys) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    *user = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6;
    *sys = (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
    return *user + *sys;
}

/* The counters the result sums, read together from every session. */
typedef struct totals {
    uint64_t frames_sent, frames_received, played, underrun, late, dropped, input_dropped,
        playout_dropped, send_queue_dropped, concealed_ms, interruptions, reconnects, protocol_errors;
    uint64_t min_received, min_sent;
} totals;

static void read_totals(totals *t, uint64_t *per_received, uint64_t *per_sent) {
    memset(t, 0, sizeof *t);
    for (int i = 0; i < n_clients; i++) {
        lc_stats s;
        memset(&s, 0, sizeof s);
        lc_client_get_stats(clients[i], &s);
        t->frames_sent += s.audio_frames_sent;
        t->frames_received += s.audio_frames_received;
        t->played += s.played_samples;
        t->underrun += s.underrun_samples;
        t->late += s.late_frames;
        t->dropped += s.dropped_frames;
        t->input_dropped += s.input_samples_dropped;
        t->playout_dropped += s.playout_samples_dropped;
        t->send_queue_dropped += s.send_queue_dropped_frames + s.outage_dropped_frames;
        t->concealed_ms += (uint64_t)s.concealed_ms;
        t->interruptions += (uint64_t)s.interruptions;
        t->reconnects += s.reconnects;
        t->protocol_errors += s.protocol_errors;
        per_received[i] = s.audio_frames_received;
        per_sent[i] = s.audio_frames_sent;
    }
}

static int load_wav(const char *path, int rate) {
    FILE *f = fopen(path, "rb");
    unsigned char h[12], ch[8];
    int ok_fmt = 0;
    if (!f || fread(h, 1, 12, f) != 12 || memcmp(h, "RIFF", 4) || memcmp(h + 8, "WAVE", 4)) goto bad;
    while (fread(ch, 1, 8, f) == 8) {
        uint32_t len = ch[4] | ch[5] << 8 | ch[6] << 16 | (uint32_t)ch[7] << 24;
        if (memcmp(ch, "fmt ", 4) == 0) {
            unsigned char fmt[16];
            if (len < 16 || fread(fmt, 1, 16, f) != 16) goto bad;
            int format = fmt[0] | fmt[1] << 8, channels = fmt[2] | fmt[3] << 8;
            int srate = (int)(fmt[4] | fmt[5] << 8 | fmt[6] << 16 | (uint32_t)fmt[7] << 24);
            int bits = fmt[14] | fmt[15] << 8;
            if (format != 1 || channels != 1 || bits != 16 || srate != rate) {
                fprintf(stderr, "scale: %s: need 16-bit mono PCM at %d Hz\n", path, rate);
                goto bad;
            }
            ok_fmt = 1;
            fseek(f, (long)(len - 16 + (len & 1)), SEEK_CUR);
        } else if (memcmp(ch, "data", 4) == 0 && ok_fmt) {
            audio_len = len / 2;
            audio = malloc(audio_len * 2 + 2);
            if (!audio || fread(audio, 2, audio_len, f) != audio_len) goto bad;
            fclose(f);
            return audio_len >= (size_t)frame ? 0 : -1;
        } else {
            fseek(f, (long)(len + (len & 1)), SEEK_CUR);
        }
    }
bad:
    if (f) fclose(f);
    fprintf(stderr, "scale: cannot read %s\n", path);
    return -1;
}

static void make_tone(int rate) {
    audio_len = (size_t)rate * 2;
    audio = malloc(audio_len * sizeof *audio);
    for (size_t i = 0; i < audio_len; i++) {
        double t = (double)i / rate;
        double env = 0.5 - 0.5 * cos(2.0 * M_PI * 3.0 * t);     /* three "syllables" a second */
        audio[i] = (int16_t)lrint(9000.0 * env * sin(2.0 * M_PI * 300.0 * t));
    }
}

static void sleep_s(double s) {
    struct timespec ts = ts_of((int64_t)(s * 1e9));
    while (nanosleep(&ts, &ts) != 0) {}
}

int main(int argc, char **argv) {
    int n = 1, rate = 48000, muted = 0, rt = 0;
    double warmup = 5, window = 20, connect_timeout = 60;
    const char *wav = NULL;
    const char *servers[64];
    int n_urls = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int has = i + 1 < argc;
        if (strcmp(a, "-n") == 0 && has) n = atoi(argv[++i]);
        else if (strcmp(a, "--rate") == 0 && has) rate = atoi(argv[++i]);
        else if (strcmp(a, "--warmup") == 0 && has) warmup = atof(argv[++i]);
        else if (strcmp(a, "--window") == 0 && has) window = atof(argv[++i]);
        else if (strcmp(a, "--wav") == 0 && has) wav = argv[++i];
        else if (strcmp(a, "--muted") == 0 && has) muted = atoi(argv[++i]);
        else if (strcmp(a, "--connect-timeout") == 0 && has) connect_timeout = atof(argv[++i]);
        else if (strcmp(a, "--rt") == 0) rt = 1;
        else if (a[0] != '-' && n_urls < 64) servers[n_urls++] = a;
        else { fprintf(stderr, "scale: bad argument %s\n", a); return 2; }
    }
    if (n < 1 || n_urls < 2 || n_urls % 2 || rate < 8000 || rate > 48000 || window <= 0) {
        fprintf(stderr, "usage: scale -n N [--rate HZ] [--warmup S] [--window S] [--wav FILE] "
                        "[--muted K] AUTHORIZE_URL WS_URL [...]\n");
        return 2;
    }
    frame = rate / 50;
    if (wav ? load_wav(wav, rate) != 0 : (make_tone(rate), 0)) return 1;
    n_clients = n;
    clients = calloc((size_t)n, sizeof *clients);
    int n_servers = n_urls / 2;
    for (int i = 0; i < n; i++) {
        lc_options o;
        lc_options_init(&o);
        o.agent_id = "tone";
        o.authorize_url = servers[2 * (i % n_servers)];
        o.ws_url = servers[2 * (i % n_servers) + 1];
        /* For the devserver: stream every frame (the load server's config says so itself). */
        o.metadata_json = "{\"vad\": {\"gate_audio\": false}}";
        o.audio_mode = LC_AUDIO_EXTERNAL;
        o.input_sample_rate = rate;
        o.output_sample_rate = rate;
        o.start_muted = i < muted;
        if (lc_client_new(&o, &clients[i]) != LC_OK) {
            fprintf(stderr, "scale: lc_client_new: %s\n", lc_client_last_error(NULL));
            return 1;
        }
    }
    /* Connects in steps of 25 so that the servers' accept queues never overflow. */
    int64_t t0 = mono_ns();
    for (int i = 0; i < n; i++) {
        lc_client_connect(clients[i]);
        if (i % 25 == 24) sleep_s(0.05);
    }
    int connected = 0;
    while ((double)(mono_ns() - t0) / 1e9 < connect_timeout) {
        connected = 0;
        for (int i = 0; i < n; i++) connected += lc_client_status(clients[i]) == LC_STATUS_CONNECTED;
        if (connected == n) break;
        sleep_s(0.05);
    }
    printf("{\"event\": \"connected\", \"n\": %d, \"connected\": %d, \"seconds\": %.2f}\n", n, connected,
           (double)(mono_ns() - t0) / 1e9);
    fflush(stdout);

    pthread_t th;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    if (rt) {
        /* As an audio app's own thread would run: SCHED_FIFO, if the system allows it. */
        struct sched_param sp = {.sched_priority = 10};
        pthread_attr_setinheritsched(&attr, PTHREAD_EXPLICIT_SCHED);
        pthread_attr_setschedpolicy(&attr, SCHED_FIFO);
        pthread_attr_setschedparam(&attr, &sp);
    }
    if (pthread_create(&th, &attr, pacing, NULL) != 0) {
        if (!rt || (pthread_attr_setinheritsched(&attr, PTHREAD_INHERIT_SCHED),
                    pthread_create(&th, &attr, pacing, NULL) != 0)) return 1;
        fprintf(stderr, "scale: --rt: SCHED_FIFO not allowed, pacing at normal priority\n");
        rt = 0;
    }
    pthread_attr_destroy(&attr);
    sleep_s(warmup);

    uint64_t *rec0 = calloc((size_t)n, 8), *rec1 = calloc((size_t)n, 8);
    uint64_t *sent0 = calloc((size_t)n, 8), *sent1 = calloc((size_t)n, 8);
    totals a, b;
    double u0, s0, u1, s1;
    read_totals(&a, rec0, sent0);
    cpu_seconds(&u0, &s0);
    int64_t w0 = mono_ns();
    atomic_store(&in_window, 1);
    printf("{\"event\": \"window_start\"}\n");
    fflush(stdout);
    sleep_s(window);
    atomic_store(&in_window, 0);
    int64_t w1 = mono_ns();
    cpu_seconds(&u1, &s1);
    read_totals(&b, rec1, sent1);
    printf("{\"event\": \"window_end\"}\n");
    fflush(stdout);
    long pss = proc_field_kib("/proc/self/smaps_rollup", "Pss:");
    long rss = proc_field_kib("/proc/self/status", "VmRSS:");
    long threads = proc_field_kib("/proc/self/status", "Threads:");
    connected = 0;
    for (int i = 0; i < n; i++) connected += lc_client_status(clients[i]) == LC_STATUS_CONNECTED;

    uint64_t min_rec = UINT64_MAX, min_sent = UINT64_MAX;
    for (int i = 0; i < n; i++) {
        if (rec1[i] - rec0[i] < min_rec) min_rec = rec1[i] - rec0[i];
        if (i >= muted && sent1[i] - sent0[i] < min_sent) min_sent = sent1[i] - sent0[i];
    }
    if (min_sent == UINT64_MAX) min_sent = 0;
    double secs = (double)(w1 - w0) / 1e9;
    unsigned long long nt = atomic_load(&ticks);
    printf("{\"event\": \"result\", \"n\": %d, \"rate\": %d, \"rt\": %d, \"connected\": %d, \"muted\": %d, "
           "\"window_s\": %.3f, \"cpu_pct\": %.3f, \"cpu_user_pct\": %.3f, \"cpu_sys_pct\": %.3f, "
           "\"pss_kib\": %ld, \"rss_kib\": %ld, \"threads\": %ld, "
           "\"ticks\": %llu, \"late_ticks\": %llu, \"skipped_ticks\": %llu, "
           "\"tick_work_us_mean\": %.1f, \"tick_work_us_max\": %.1f, "
           "\"frames_sent\": %llu, \"frames_received\": %llu, \"min_frames_sent\": %llu, "
           "\"min_frames_received\": %llu, \"played_samples\": %llu, \"underrun_samples\": %llu, "
           "\"late_frames\": %llu, \"dropped_frames\": %llu, \"input_samples_dropped\": %llu, "
           "\"playout_samples_dropped\": %llu, \"send_dropped_frames\": %llu, \"concealed_ms\": %llu, "
           "\"interruptions\": %llu, \"reconnects\": %llu, \"protocol_errors\": %llu}\n",
           n, rate, rt, connected, muted, secs, 100.0 * ((u1 + s1) - (u0 + s0)) / secs,
           100.0 * (u1 - u0) / secs, 100.0 * (s1 - s0) / secs, pss, rss, threads, nt,
           (unsigned long long)atomic_load(&late_ticks), (unsigned long long)atomic_load(&skipped_ticks),
           nt ? (double)atomic_load(&work_ns_total) / (double)nt / 1e3 : 0.0,
           (double)atomic_load(&work_ns_max) / 1e3,
           (unsigned long long)(b.frames_sent - a.frames_sent),
           (unsigned long long)(b.frames_received - a.frames_received), (unsigned long long)min_sent,
           (unsigned long long)min_rec, (unsigned long long)(b.played - a.played),
           (unsigned long long)(b.underrun - a.underrun), (unsigned long long)(b.late - a.late),
           (unsigned long long)(b.dropped - a.dropped),
           (unsigned long long)(b.input_dropped - a.input_dropped),
           (unsigned long long)(b.playout_dropped - a.playout_dropped),
           (unsigned long long)(b.send_queue_dropped - a.send_queue_dropped),
           (unsigned long long)(b.concealed_ms - a.concealed_ms),
           (unsigned long long)(b.interruptions - a.interruptions),
           (unsigned long long)(b.reconnects - a.reconnects),
           (unsigned long long)(b.protocol_errors - a.protocol_errors));
    fflush(stdout);

    atomic_store(&running, 0);
    pthread_join(th, NULL);
    for (int i = 0; i < n; i++) lc_client_free(clients[i]);
    free(clients);
    free(audio);
    free(rec0); free(rec1); free(sent0); free(sent1);
    return 0;
}
