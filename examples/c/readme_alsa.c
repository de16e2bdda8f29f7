/* SPDX-License-Identifier: Apache-2.0 */
/* README.md, "Embed it from C", with a sound card: the README shows the lines from
 * `o.audio_mode` to `o.on_agent_speaking` (tests/docs/test_readme_snippets.py compiles this
 * program and runs it against the devserver on real-time-paced PulseAudio devices). */
#define _POSIX_C_SOURCE 200809L
#include <layercode.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static void show_mic_level(void *ud, float level) {
    (void)ud;
    (void)level;                                /* draw a meter */
}

static void show_agent_speaking(void *ud, int speaking) {
    (void)ud;
    printf("agent speaking: %s\n", speaking ? "yes" : "no");
    fflush(stdout);
}

static void on_error(void *ud, int code, const char *message) {
    (void)ud;
    fprintf(stderr, "error: %s: %s\n", lc_strerror(code), message);
}

int main(void) {
    lc_options o;
    lc_client *c;
    int status;

    lc_options_init(&o);
    o.agent_id = getenv("AGENT_ID");
    o.authorize_url = getenv("AUTHORIZE_URL");
    o.ws_url = getenv("WS_URL");
    o.on_error = on_error;
    o.audio_mode = LC_AUDIO_ALSA;
    o.capture_device = "default";               /* or a name from lc_list_devices() */
    o.playback_device = "default";
    o.on_user_amplitude = show_mic_level;       /* 0..1, 20 times a second */
    o.on_agent_speaking = show_agent_speaking;

    if (lc_client_new(&o, &c) != LC_OK) {
        fprintf(stderr, "%s\n", lc_client_last_error(NULL));
        return 1;
    }
    lc_client_connect(c);
    while ((status = lc_client_status(c)) == LC_STATUS_CONNECTING ||
           status == LC_STATUS_CONNECTED || status == LC_STATUS_RECONNECTING)
        nanosleep(&(struct timespec){0, 100000000}, NULL);  /* the library runs the audio */
    lc_client_free(c);
    return status == LC_STATUS_ERROR;
}
