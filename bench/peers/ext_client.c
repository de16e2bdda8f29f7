/* SPDX-License-Identifier: Apache-2.0 */
/* The side-by-side benchmark's C client (bench/peers/run.py): one session on the
 * external-audio API, paced like a sound card on an absolute timeline (clock_nanosleep,
 * TIMER_ABSTIME): every 20 ms it writes 20 ms of microphone audio at 48 kHz (a raw s16le
 * file, looped) and reads 20 ms of agent audio at 16 kHz, which it discards.
 *
 * usage: ext_client AUTHORIZE_URL WS_URL SECONDS SPEECH.raw [mute]
 * "mute" mutes the client once connected (nothing goes up): a client that does not stream,
 * which the harness must flag as not real time (tests/bench/test_peers_smoke.py).
 * The microphone is never gated (metadata vad.gate_audio false): every frame goes up, so
 * the server sees real time. SECONDS counts from the session's open. At the end it prints
 * one JSON line with the library's counters (lc_stats). */
#define _GNU_SOURCE
#include "layercode.h"
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define IN_RATE 48000
#define OUT_RATE 16000
#define FRAME_MS 20

static atomic_int connected;
static void on_connected(void *u, const char *c, const char *cfg) {
    (void)u; (void)c; (void)cfg;
    connected = 1;
}

static int16_t *load_raw(const char *path, size_t *count) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long bytes = ftell(f);
    fseek(f, 0, SEEK_SET);
    size_t n = bytes > 0 ? (size_t)bytes / 2 : 0;
    int16_t *pcm = n ? malloc(n * sizeof *pcm) : NULL;
    if (!pcm || fread(pcm, sizeof *pcm, n, f) != n) {
        free(pcm);
        fclose(f);
        return NULL;
    }
    fclose(f);
    *count = n;
    return pcm;
}

int main(int argc, char **argv) {
    if (argc != 5 && !(argc == 6 && strcmp(argv[5], "mute") == 0)) {
        fprintf(stderr, "usage: %s AUTHORIZE_URL WS_URL SECONDS SPEECH.raw [mute]\n", argv[0]);
        return 2;
    }
    double seconds = atof(argv[3]);
    size_t speech_len = 0;
    int16_t *speech = load_raw(argv[4], &speech_len);
    if (!speech || speech_len < IN_RATE * FRAME_MS / 1000) {
        fprintf(stderr, "ext_client: cannot read %s\n", argv[4]);
        return 2;
    }
    lc_options o;
    lc_options_init(&o);
    o.agent_id = "tone";
    o.authorize_url = argv[1];
    o.ws_url = argv[2];
    o.metadata_json = "{\"vad\": {\"gate_audio\": false}}";
    o.input_sample_rate = IN_RATE;
    o.output_sample_rate = OUT_RATE;
    o.on_connected = on_connected;
    lc_client *c;
    if (lc_client_new(&o, &c) != LC_OK) {
        fprintf(stderr, "%s\n", lc_client_last_error(NULL));
        return 1;
    }
    lc_client_connect(c);
    for (int i = 0; i < 1000 && !connected; i++) usleep(10000);
    if (!connected) {
        fprintf(stderr, "not connected: %s\n", lc_client_last_error(c));
        lc_client_free(c);
        return 1;
    }
    if (argc == 6) lc_client_mute(c);

    enum { IN_FRAME = IN_RATE * FRAME_MS / 1000, OUT_FRAME = OUT_RATE * FRAME_MS / 1000 };
    int16_t mic[IN_FRAME], speaker[OUT_FRAME];
    size_t pos = 0;
    struct timespec next;
    clock_gettime(CLOCK_MONOTONIC, &next);
    long frames = (long)(seconds * 1000 / FRAME_MS);
    for (long frame = 0; frame < frames; frame++) {
        int status = lc_client_status(c);
        if (status != LC_STATUS_CONNECTED && status != LC_STATUS_RECONNECTING) break;
        for (size_t i = 0; i < IN_FRAME; i++) {
            mic[i] = speech[pos];
            pos = pos + 1 == speech_len ? 0 : pos + 1;
        }
        lc_client_write_audio(c, mic, IN_FRAME);
        lc_client_read_audio(c, speaker, OUT_FRAME);
        next.tv_nsec += FRAME_MS * 1000000L;
        if (next.tv_nsec >= 1000000000L) {
            next.tv_sec++;
            next.tv_nsec -= 1000000000L;
        }
        clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL);
    }
    lc_stats s;
    lc_client_get_stats(c, &s);
    lc_client_free(c);
    free(speech);
    printf("{\"event\":\"stats\",\"final\":true,\"audio_frames_sent\":%llu,"
           "\"audio_frames_received\":%llu,\"received_samples\":%llu,"
           "\"played_samples\":%llu,\"underrun_samples\":%llu,"
           "\"input_samples_dropped\":%llu,\"late_frames\":%llu,\"dropped_frames\":%llu,"
           "\"uplink_p50_us\":%lld,\"uplink_p99_us\":%lld,"
           "\"downlink_p50_us\":%lld,\"downlink_p99_us\":%lld,"
           "\"barge_in_p50_us\":%lld,\"barge_in_p99_us\":%lld}\n",
           (unsigned long long)s.audio_frames_sent, (unsigned long long)s.audio_frames_received,
           (unsigned long long)(s.audio_bytes_received / 2), (unsigned long long)s.played_samples,
           (unsigned long long)s.underrun_samples,
           (unsigned long long)s.input_samples_dropped, (unsigned long long)s.late_frames,
           (unsigned long long)s.dropped_frames,
           (long long)s.uplink_latency_p50_us, (long long)s.uplink_latency_p99_us,
           (long long)s.downlink_latency_p50_us, (long long)s.downlink_latency_p99_us,
           (long long)s.barge_in_latency_p50_us, (long long)s.barge_in_latency_p99_us);
    return 0;
}
