/* SPDX-License-Identifier: Apache-2.0 */
/* Audio latency under a scripted conversation, measured by the library itself (lc_stats).
 *
 * External audio mode, paced like a sound card: every 10 ms this program writes 10 ms of
 * microphone audio at 48 kHz and reads 10 ms of speaker audio. Every 2.5 s the "user" talks
 * for 0.6 s (a 300 Hz tone: speech energy for both VADs); the devserver's tone agent answers
 * each turn with a long tone, so the next utterance barges in on it.
 *
 * usage: latency_bench AUTHORIZE_URL WS_URL SECONDS [CODECS]
 * CODECS is lc_options.wire_codecs ("opus,pcm16" offers the Opus profile).
 * Prints one JSON object: the latency percentiles, jitter-buffer figures, the wire profile
 * and its bytes, and CPU time. */
#define _GNU_SOURCE
#include "layercode.h"
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

static atomic_int connected;
static atomic_int agent_speaking_changes;
static void on_connected(void *u, const char *c, const char *cfg) { (void)u; (void)c; (void)cfg; connected = 1; }
static void on_agent_speaking(void *u, int on) { (void)u; (void)on; agent_speaking_changes++; }

int main(int argc, char **argv) {
    if (argc < 4) { fprintf(stderr, "usage: %s AUTHORIZE_URL WS_URL SECONDS\n", argv[0]); return 2; }
    double seconds = atof(argv[3]);
    lc_options o;
    lc_options_init(&o);
    o.agent_id = "tone";
    o.authorize_url = argv[1];
    o.ws_url = argv[2];
    o.input_sample_rate = 48000;
    o.output_sample_rate = 48000;
    o.on_connected = on_connected;
    o.on_agent_speaking = on_agent_speaking;
    if (argc > 4) o.wire_codecs = argv[4];
    lc_client *c;
    if (lc_client_new(&o, &c) != LC_OK) { fprintf(stderr, "%s\n", lc_client_last_error(NULL)); return 1; }
    lc_client_connect(c);
    for (int i = 0; i < 1000 && !connected; i++) usleep(10000);
    if (!connected) { fprintf(stderr, "not connected: %s\n", lc_client_last_error(c)); return 1; }

    int16_t mic[480], speaker[480];
    double phase = 0;
    struct timespec next;
    clock_gettime(CLOCK_MONOTONIC, &next);
    long steps = (long)(seconds * 100);
    for (long step = 0; step < steps; step++) {
        double t = (step % 250) / 100.0; /* position in the 2.5 s cycle */
        int talking = step >= 150 && t >= 1.0 && t < 1.6;
        for (int i = 0; i < 480; i++) {
            mic[i] = talking ? (int16_t)(9000 * sin(phase)) : 0;
            phase += 2 * M_PI * 300 / 48000.0;
        }
        lc_client_write_audio(c, mic, 480);
        lc_client_read_audio(c, speaker, 480);
        next.tv_nsec += 10 * 1000 * 1000;
        if (next.tv_nsec >= 1000000000L) { next.tv_sec++; next.tv_nsec -= 1000000000L; }
        clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL);
    }
    lc_stats s;
    lc_client_get_stats(c, &s);
    lc_client_disconnect(c);
    usleep(200000);
    lc_client_free(c);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    double cpu = ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
    printf("{\"bench\":\"latency\",\"seconds\":%.0f,"
           "\"uplink_p50_us\":%lld,\"uplink_p99_us\":%lld,"
           "\"downlink_p50_us\":%lld,\"downlink_p99_us\":%lld,"
           "\"barge_in_p50_us\":%lld,\"barge_in_p99_us\":%lld,"
           "\"jitter_target_ms\":%d,\"concealed_ms\":%lld,\"interruptions\":%lld,"
           "\"frames_sent\":%llu,\"frames_received\":%llu,\"agent_speaking_changes\":%d,"
           "\"wire_codec\":\"%s\",\"wire_bytes_sent\":%llu,\"wire_bytes_received\":%llu,"
           "\"fec_recovered_frames\":%llu,\"cpu_seconds\":%.3f}\n",
           seconds, (long long)s.uplink_latency_p50_us, (long long)s.uplink_latency_p99_us,
           (long long)s.downlink_latency_p50_us, (long long)s.downlink_latency_p99_us,
           (long long)s.barge_in_latency_p50_us, (long long)s.barge_in_latency_p99_us,
           s.jitter_target_ms, (long long)s.concealed_ms, (long long)s.interruptions,
           (unsigned long long)s.audio_frames_sent, (unsigned long long)s.audio_frames_received,
           (int)agent_speaking_changes, s.wire_codec == LC_CODEC_OPUS ? "opus" : "pcm16",
           (unsigned long long)s.wire_bytes_sent, (unsigned long long)s.wire_bytes_received,
           (unsigned long long)s.fec_recovered_frames, cpu);
    return 0;
}
