/* SPDX-License-Identifier: Apache-2.0 */
/* lc_client_poll_event and lc_set_log_handler, with no callbacks set: a whole session driven
 * by polling from the main thread. usage: poll_events AUTHORIZE_URL WS_URL
 * Prints one line per event ("event TYPE CODE TEXT") and log lines ("log LEVEL TEXT"). */
#include "layercode.h"
#include "check.h"
#include <pthread.h>
#include <stdio.h>
#include <string.h>

static pthread_mutex_t log_mu = PTHREAD_MUTEX_INITIALIZER;
static int log_lines;

static void on_log(void *ud, int level, const char *message) {
    (void)ud;
    pthread_mutex_lock(&log_mu);
    log_lines++;
    printf("log %d %s\n", level, message);
    pthread_mutex_unlock(&log_mu);
}

int main(int argc, char **argv) {
    if (argc < 3) return 2;
    if (lc_set_log_handler(on_log, NULL, 9) != LC_ERR_INVALID_ARGUMENT) return 10;
    if (lc_set_log_handler(on_log, NULL, LC_LOG_INFO) != LC_OK) return 11;
    lc_options o;
    session_options(&o, "echo", argv[1], argv[2]);
    o.audio_mode = LC_AUDIO_NONE;
    lc_client *c;
    if (lc_client_new(&o, &c) != LC_OK) return 12;
    lc_event ev;
    if (lc_client_poll_event(c, &ev, 0) != 0) return 13;           /* nothing yet */
    lc_client_connect(c);
    int connected = 0, said = 0, disconnected = 0, sent_text = 0;
    for (int i = 0; i < 2000 && !disconnected; i++) {
        int rc = lc_client_poll_event(c, &ev, 100);
        if (rc < 0) return 14;
        if (rc == 0) continue;
        printf("event %d %d %s\n", ev.type, ev.code, ev.text ? ev.text : "");
        if (ev.type == LC_EVENT_CONNECTED) {
            connected = 1;
            if (!ev.json || !strstr(ev.json, "transcription")) return 15;
            lc_client_send_text(c, "polling works");
            sent_text = 1;
        }
        if (ev.type == LC_EVENT_MESSAGE && ev.json && strstr(ev.json, "You said: polling works")) {
            said = 1;
            lc_client_disconnect(c);
        }
        if (ev.type == LC_EVENT_DISCONNECTED) disconnected = 1;
    }
    lc_stats s;
    lc_client_get_stats(c, &s);
    lc_client_free(c);
    lc_set_log_handler(NULL, NULL, 0);
    printf("result connected=%d sent=%d said=%d disconnected=%d log_lines=%d dropped=%llu\n",
           connected, sent_text, said, disconnected, log_lines, (unsigned long long)s.events_dropped);
    return connected && said && disconnected && log_lines >= 2 ? 0 : 1;
}
