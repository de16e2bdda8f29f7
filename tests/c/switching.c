/* SPDX-License-Identifier: Apache-2.0 */
/* The JS SDK's switching calls from C, in a real WAV-mode session against the devserver:
 * lc_client_set_input_device / set_output_device, set_audio_input / set_audio_output, their
 * callbacks (on_device_switched, on_audio_input_changed, on_audio_output_changed), and
 * lc_client_failure_reason after a refused authorize.
 * usage: switching AUTHORIZE_URL WS_URL MIC_A.wav MIC_B.wav OUT_A.wav OUT_B.wav ALSA_CONF
 * ALSA_CONF is the file ALSA_CONFIG_PATH names: a device added to it must raise
 * on_devices_changed (what a hot-plugged card looks like to ALSA's name hints).
 * Prints "ok ..." lines; exits 0 when every check held. */
#define _POSIX_C_SOURCE 200809L
#include "layercode.h"
#include "check.h"
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static int connected, input_changes[2], output_changes[2], switches_in, switches_out;
static char last_switch[512];
static int failures;
static int devices_changed;

#define CHECK(cond, ...) do { if (cond) { printf("ok "); printf(__VA_ARGS__); printf("\n"); } \
    else { failures++; printf("FAIL "); printf(__VA_ARGS__); printf("\n"); } } while (0)

static void on_connected(void *ud, const char *conversation, const char *config) {
    (void)ud; (void)conversation; (void)config;
    pthread_mutex_lock(&mu); connected++; pthread_mutex_unlock(&mu);
}
static void on_input(void *ud, int on) {
    (void)ud;
    pthread_mutex_lock(&mu); input_changes[on ? 1 : 0]++; pthread_mutex_unlock(&mu);
}
static void on_output(void *ud, int on) {
    (void)ud;
    pthread_mutex_lock(&mu); output_changes[on ? 1 : 0]++; pthread_mutex_unlock(&mu);
}
static void on_switched(void *ud, int is_input, const char *name) {
    (void)ud;
    pthread_mutex_lock(&mu);
    if (is_input) switches_in++; else switches_out++;
    snprintf(last_switch, sizeof last_switch, "%s", name);
    pthread_mutex_unlock(&mu);
}

static void on_devices(void *ud) {
    (void)ud;
    pthread_mutex_lock(&mu); devices_changed++; pthread_mutex_unlock(&mu);
}

static void sleep_ms(int ms) {
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static int locked_get(const int *p) {
    pthread_mutex_lock(&mu);
    int v = *p;
    pthread_mutex_unlock(&mu);
    return v;
}

static int wait_until(const int *counter, int at_least) {
    for (int i = 0; i < 1000; i++) {
        if (locked_get(counter) >= at_least) return 1;
        sleep_ms(20);
    }
    return 0;
}

static unsigned long long frames_sent(lc_client *c) {
    lc_stats s;
    lc_client_get_stats(c, &s);
    return (unsigned long long)s.audio_frames_sent;
}

int main(int argc, char **argv) {
    if (argc < 8) return 2;
    lc_options o;
    session_options(&o, "agent", argv[1], argv[2]);
    o.audio_mode = LC_AUDIO_WAV;
    o.capture_device = argv[3];
    o.playback_device = argv[5];
    o.on_connected = on_connected;
    o.on_audio_input_changed = on_input;
    o.on_audio_output_changed = on_output;
    o.on_device_switched = on_switched;
    o.on_devices_changed = on_devices;
    o.device_watch_ms = 100;
    lc_client *c;
    if (lc_client_new(&o, &c) != LC_OK) return 3;
    CHECK(lc_client_failure_reason(c, NULL) == LC_FAILURE_NONE, "no failure before a session");
    CHECK(lc_client_connect(c) == LC_OK, "connect");
    CHECK(wait_until(&connected, 1), "connected");

    unsigned long long before = frames_sent(c);
    CHECK(lc_client_set_input_device(c, argv[4]) == LC_OK, "set_input_device(B)");
    CHECK(locked_get(&switches_in) == 1, "on_device_switched(input) ran before the call returned");
    pthread_mutex_lock(&mu);
    int same = strcmp(last_switch, argv[4]) == 0;
    pthread_mutex_unlock(&mu);
    CHECK(same, "on_device_switched names the new device");
    sleep_ms(600);
    CHECK(frames_sent(c) > before + 15, "audio keeps flowing from the new microphone");
    CHECK(lc_client_set_input_device(c, "/nonexistent/mic.wav") == LC_ERR_AUDIO,
          "a device that cannot open: LC_ERR_AUDIO (%s)", lc_client_last_error(c));
    CHECK(locked_get(&switches_in) == 1, "no switch reported for the refused device");

    CHECK(lc_client_set_output_device(c, argv[6]) == LC_OK, "set_output_device(B)");
    CHECK(locked_get(&switches_out) == 1, "on_device_switched(output)");

    CHECK(lc_client_set_audio_input(c, 0) == LC_OK, "set_audio_input(0)");
    CHECK(lc_client_set_audio_input(c, 0) == LC_OK, "set_audio_input(0) again");
    CHECK(locked_get(&input_changes[0]) == 1, "on_audio_input_changed(0) once");
    sleep_ms(200);
    before = frames_sent(c);
    sleep_ms(500);
    CHECK(frames_sent(c) == before, "no microphone audio while input is off");
    CHECK(lc_client_set_audio_input(c, 1) == LC_OK, "set_audio_input(1)");
    CHECK(locked_get(&input_changes[1]) == 1, "on_audio_input_changed(1)");
    sleep_ms(500);
    CHECK(frames_sent(c) > before + 10, "microphone audio again");

    CHECK(lc_client_set_audio_output(c, 0) == LC_OK && lc_client_set_audio_output(c, 1) == LC_OK,
          "set_audio_output(0) then (1)");
    CHECK(locked_get(&output_changes[0]) == 1 && locked_get(&output_changes[1]) == 1,
          "on_audio_output_changed(0) and (1)");
    sleep_ms(300);
    CHECK(locked_get(&devices_changed) == 0, "no on_devices_changed while nothing changes");
    {
        FILE *conf = fopen(argv[7], "a");
        if (!conf) return 5;
        fputs("pcm.plugged { type null hint { show on description \"Plugged in\" } }\n", conf);
        fclose(conf);
    }
    CHECK(wait_until(&devices_changed, 1), "on_devices_changed after ALSA gained a device");
    lc_client_disconnect(c);
    lc_client_free(c);

    /* A refused authorize: the reason and its HTTP status. */
    o.agent_id = "insufficient-balance";
    o.audio_mode = LC_AUDIO_NONE;
    if (lc_client_new(&o, &c) != LC_OK) return 4;
    lc_client_connect(c);
    for (int i = 0; i < 500 && lc_client_status(c) != LC_STATUS_ERROR; i++) sleep_ms(20);
    int status = -1;
    CHECK(lc_client_failure_reason(c, &status) == LC_FAILURE_AUTHORIZE && status == 402,
          "failure reason LC_FAILURE_AUTHORIZE with HTTP 402 (status %d)", status);
    lc_client_free(c);
    printf("result failures=%d\n", failures);
    return failures == 0 ? 0 : 1;
}
