/* SPDX-License-Identifier: Apache-2.0 */
/* Talks to a Layercode agent for 5 s with a silent microphone, printing what it says.
 * cc quickstart.c $(pkg-config --cflags --libs layercode) && ./a.out AGENT_ID AUTHORIZE_URL */
#define _POSIX_C_SOURCE 200809L
#include <layercode.h>
#include <stdio.h>
#include <time.h>
static int failed;
static void on_message(void *user_data, const char *type, const char *json) {
    (void)user_data; /* transcripts, agent text, turns: every message but the audio */
    printf("%s %s\n", type, json);
}
static void on_error(void *user_data, int code, const char *message) {
    (void)user_data;
    fprintf(stderr, "error: %s: %s\n", lc_strerror(code), message);
    failed = 1;
}
int main(int argc, char **argv) {
    int16_t mic[320] = {0}, speaker[320]; /* 20 ms at 16 kHz, the default rate both ways */
    lc_options opts;
    lc_client *client;
    if (argc < 3) return fputs("usage: quickstart AGENT_ID AUTHORIZE_URL [WS_URL]\n", stderr), 2;
    lc_options_init(&opts);
    opts.agent_id = argv[1];
    opts.authorize_url = argv[2];
    opts.ws_url = argc > 3 ? argv[3] : NULL; /* NULL: Layercode's own */
    opts.on_message = on_message;
    opts.on_error = on_error;
    if (lc_client_new(&opts, &client) != LC_OK)
        return fprintf(stderr, "%s\n", lc_client_last_error(NULL)), 1; /* what was wrong */
    lc_client_connect(client); /* progress and failures arrive through the callbacks */
    for (int i = 0; i < 250; i++) { /* as your audio thread would, every 20 ms */
        lc_client_write_audio(client, mic, 320);
        lc_client_read_audio(client, speaker, 320); /* ... and play `speaker` */
        nanosleep(&(struct timespec){0, 20000000}, NULL);
    }
    lc_client_disconnect(client);
    lc_client_free(client); /* no callback runs after this returns */
    return failed;
}
