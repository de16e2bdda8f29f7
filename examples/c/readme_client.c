/* SPDX-License-Identifier: Apache-2.0 */
/* README.md, "Embed it from C": the snippet shown there is this file from its first
 * #define on (tests/docs/test_readme_snippets.py compiles it and runs it against the
 * devserver, and checks that the README still shows exactly this text). */
#define _POSIX_C_SOURCE 200809L                 /* nanosleep */
#include <layercode.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static void on_message(void *ud, const char *type, const char *json) {
    (void)ud;                                   /* transcripts, agent text, ... */
    printf("%s: %s\n", type, json);
    fflush(stdout);
}

static void on_error(void *ud, int code, const char *message) {
    (void)ud;                                   /* a wrong URL, a refused authorize, ... */
    fprintf(stderr, "error: %s: %s\n", lc_strerror(code), message);
}

int main(void) {
    int16_t mic[320] = {0}, speaker[320];       /* 20 ms at 16 kHz: your capture, playback */
    lc_options o;
    lc_client *c;
    int status;

    lc_options_init(&o);                        /* defaults; struct_size set for you */
    o.agent_id = getenv("AGENT_ID");            /* "ag-123" */
    o.authorize_url = getenv("AUTHORIZE_URL");  /* your backend, which calls Layercode */
    o.ws_url = getenv("WS_URL");                /* NULL: Layercode's */
    o.input_sample_rate = 16000;                /* whatever your audio runs at, 8-48 kHz */
    o.output_sample_rate = 16000;
    o.on_message = on_message;
    o.on_error = on_error;

    if (lc_client_new(&o, &c) != LC_OK) {       /* bad options: the detail says which */
        fprintf(stderr, "%s\n", lc_client_last_error(NULL));
        return 1;
    }
    lc_client_connect(c);                       /* non-blocking: progress via callbacks */
    while ((status = lc_client_status(c)) == LC_STATUS_CONNECTING ||
           status == LC_STATUS_CONNECTED || status == LC_STATUS_RECONNECTING) {
        lc_client_write_audio(c, mic, 320);     /* wait-free: call it from your audio thread */
        lc_client_read_audio(c, speaker, 320);  /* agent audio, silence-padded: play it */
        nanosleep(&(struct timespec){0, 20000000}, NULL);   /* every 20 ms */
    }
    lc_client_free(c);                          /* no callback runs after this returns */
    return status == LC_STATUS_ERROR;           /* 0: the session ended cleanly */
}
