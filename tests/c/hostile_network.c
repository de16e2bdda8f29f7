/* SPDX-License-Identifier: Apache-2.0 */
/* The library against servers that misbehave at the transport, from a C host that does
 * what most C hosts do about SIGPIPE: nothing (the default action kills the process).
 *
 *   hostile_network reset AUTHORIZE_URL WS_URL CA_FILE
 *       over TLS: three sessions reset (TCP RST) by the server while the app writes
 *       microphone audio, each followed by a reconnect (issue 9 item 1: SIGPIPE).
 *   hostile_network authorize-reset AUTHORIZE_URL WS_URL CA_FILE
 *       an https authorize the server resets: LC_ERR_NETWORK, and the process lives.
 *   hostile_network flood AUTHORIZE_URL WS_URL [CA_FILE]
 *       a server that sends response.data as fast as it can: lc_client_disconnect() must
 *       take effect while the flood goes on, and lc_client_free() must return (item 3).
 *
 * A watchdog thread exits with 3 if a scenario hangs (a generous guard, not a timing check).
 * Prints "result ..." and exits 0 on success. */
#define _POSIX_C_SOURCE 200809L
#include "layercode.h"
#include "check.h"
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static int connects, reconnectings, disconnected, errors, last_error_code, status_now;
static unsigned long data_messages;
static const char *phase = "start";

static void on_status(void *ud, int status) {
    (void)ud;
    pthread_mutex_lock(&mu);
    status_now = status;
    if (status == LC_STATUS_RECONNECTING) reconnectings++;
    if (status == LC_STATUS_DISCONNECTED) disconnected++;
    pthread_cond_broadcast(&cv);
    pthread_mutex_unlock(&mu);
}

static void on_connected(void *ud, const char *conversation_id, const char *config_json) {
    (void)ud; (void)conversation_id; (void)config_json;
    pthread_mutex_lock(&mu);
    connects++;
    pthread_cond_broadcast(&cv);
    pthread_mutex_unlock(&mu);
}

static void on_error(void *ud, int code, const char *message) {
    (void)ud;
    pthread_mutex_lock(&mu);
    errors++;
    last_error_code = code;
    printf("error %d %s\n", code, message ? message : "");
    pthread_cond_broadcast(&cv);
    pthread_mutex_unlock(&mu);
}

static void on_data(void *ud, const char *content_json, const char *turn_id) {
    (void)ud; (void)content_json; (void)turn_id;
    pthread_mutex_lock(&mu);
    data_messages++;
    pthread_cond_broadcast(&cv);
    pthread_mutex_unlock(&mu);
}

static void *watchdog(void *arg) {
    unsigned seconds = (unsigned)(uintptr_t)arg;
    sleep(seconds);
    pthread_mutex_lock(&mu);
    printf("HANG in phase %s after %u s (connects=%d reconnectings=%d status=%d data=%lu)\n",
           phase, seconds, connects, reconnectings, status_now, data_messages);
    pthread_mutex_unlock(&mu);
    fflush(stdout);
    _exit(3);
    return NULL;
}

static void set_phase(const char *name) {
    pthread_mutex_lock(&mu);
    phase = name;
    pthread_mutex_unlock(&mu);
    printf("phase %s\n", name);
    fflush(stdout);
}

static void sleep_ms(long ms) {
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static void base_options(lc_options *o, const char *authorize_url, const char *ws_url) {
    session_options(o, "echo", authorize_url, ws_url);
    o->on_status = on_status;
    o->on_connected = on_connected;
    o->on_error = on_error;
    o->on_data = on_data;
    o->reconnect_base_ms = 100;
    o->reconnect_max_delay_ms = 400;
}

/* Three resets while the microphone streams (SSL_write and the teardown both write after
 * the RST), then an https authorize the server resets. */
static int scenario_reset(const char *authorize_url, const char *ws_url, const char *ca_file) {
    lc_options o;
    base_options(&o, authorize_url, ws_url);
    o.ca_file = ca_file;
    o.audio_mode = LC_AUDIO_EXTERNAL;
    o.input_sample_rate = 16000;
    o.output_sample_rate = 16000;
    o.metadata_json = "{\"devserver_fault\": {\"fault\": \"reset_tcp_mid_turn\", \"times\": 3,"
                      " \"at\": \"ready\"},"
                      " \"vad\": {\"gate_audio\": false}}";
    lc_client *c;
    if (lc_client_new(&o, &c) != LC_OK) return 10;
    set_phase("tls-session-resets");
    if (lc_client_connect(c) != LC_OK) return 11;
    int16_t mic[320];
    for (int i = 0; i < 320; i++) mic[i] = (int16_t)((i % 40) * 400 - 8000);
    int16_t speaker[320];
    int done = 0;
    while (!done) {
        lc_client_write_audio(c, mic, 320);      /* 20 ms at 16 kHz */
        lc_client_read_audio(c, speaker, 320);
        sleep_ms(5);                             /* ~4x real time: plenty to write */
        pthread_mutex_lock(&mu);
        done = (connects >= 4 && reconnectings >= 3) || status_now == LC_STATUS_ERROR;
        pthread_mutex_unlock(&mu);
    }
    int session_ok = connects >= 4 && reconnectings >= 3;
    printf("session connects=%d reconnectings=%d errors=%d\n", connects, reconnectings, errors);
    lc_client_free(c);
    printf("result session_ok=%d\n", session_ok);
    return session_ok ? 0 : 1;
}

/* An https authorize the server resets instead of answering. */
static int scenario_authorize_reset(const char *authorize_url, const char *ws_url,
                                    const char *ca_file) {
    lc_options o;
    lc_client *c;
    set_phase("https-authorize-reset");
    base_options(&o, authorize_url, ws_url);
    o.ca_file = ca_file;
    o.audio_mode = LC_AUDIO_NONE;
    o.metadata_json = "{\"devserver_fault\": \"authorize_reset\"}";
    if (lc_client_new(&o, &c) != LC_OK) return 12;
    if (lc_client_connect(c) != LC_OK) return 13;
    pthread_mutex_lock(&mu);
    while (status_now != LC_STATUS_ERROR && status_now != LC_STATUS_CONNECTED)
        pthread_cond_wait(&cv, &mu);
    int authorize_ok = status_now == LC_STATUS_ERROR && last_error_code == LC_ERR_NETWORK;
    pthread_mutex_unlock(&mu);
    lc_client_free(c);
    printf("result authorize_ok=%d\n", authorize_ok);
    return authorize_ok ? 0 : 1;
}

/* A flood from the server: lc_client_disconnect() must take effect within a bounded slice
 * of reading, not when the flood pauses. The first 20000 messages make sure the flood has
 * filled the socket; then the messages delivered between the disconnect call and status
 * DISCONNECTED are counted: a slice is 64 KiB (about 64 of these 1 KiB messages). */
static int scenario_flood(const char *authorize_url, const char *ws_url, const char *ca_file) {
    lc_options o;
    base_options(&o, authorize_url, ws_url);
    o.ca_file = ca_file;
    o.audio_mode = LC_AUDIO_NONE;
    o.metadata_json = "{\"greeting\": false, \"devserver_fault\": {\"fault\": \"flood\"}}";
    lc_client *c;
    if (lc_client_new(&o, &c) != LC_OK) return 20;
    set_phase("flood-connect");
    if (lc_client_connect(c) != LC_OK) return 21;
    pthread_mutex_lock(&mu);
    while (data_messages < 20000 && status_now != LC_STATUS_ERROR) pthread_cond_wait(&cv, &mu);
    unsigned long before = data_messages;
    pthread_mutex_unlock(&mu);
    if (before < 20000) return 22;
    set_phase("flood-disconnect");
    if (lc_client_disconnect(c) != LC_OK) return 23;
    pthread_mutex_lock(&mu);
    while (disconnected == 0 && status_now != LC_STATUS_ERROR) pthread_cond_wait(&cv, &mu);
    int ended = disconnected > 0;
    unsigned long during = data_messages - before;
    pthread_mutex_unlock(&mu);
    set_phase("flood-free");
    lc_client_free(c);
    printf("result ended=%d delivered_while_disconnecting=%lu\n", ended, during);
    return ended && during < 2000 ? 0 : 1;
}

int main(int argc, char **argv) {
    /* Deliberately nothing about SIGPIPE: the default action stays (the test checks it). */
    struct sigaction current;
    sigaction(SIGPIPE, NULL, &current);
    if (current.sa_handler != SIG_DFL) {
        printf("SIGPIPE is not at its default action: the test would prove nothing\n");
        return 4;
    }
    pthread_t dog;
    unsigned guard_seconds = argc > 1 && strcmp(argv[1], "flood") == 0 ? 60 : 120;
    pthread_create(&dog, NULL, watchdog, (void *)(uintptr_t)guard_seconds);
    pthread_detach(dog);
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc == 5 && strcmp(argv[1], "reset") == 0) return scenario_reset(argv[2], argv[3], argv[4]);
    if (argc == 5 && strcmp(argv[1], "authorize-reset") == 0)
        return scenario_authorize_reset(argv[2], argv[3], argv[4]);
    if ((argc == 4 || argc == 5) && strcmp(argv[1], "flood") == 0)
        return scenario_flood(argv[2], argv[3], argc == 5 ? argv[4] : NULL);
    fprintf(stderr, "usage: hostile_network reset|authorize-reset AUTH WS CA | flood AUTH WS [CA]\n");
    return 2;
}
