/* SPDX-License-Identifier: Apache-2.0 */
#include <alsa/asoundlib.h>
#include <stdarg.h>
#include <stdio.h>

/* ALSA's library messages ("ALSA lib pcm.c:2666:(snd_pcm_open_noupdate) Unknown PCM ...")
 * go to stderr unless a handler is installed with snd_lib_error_set_handler. The handler is
 * variadic, which Swift cannot define: this one formats the message and hands it to
 * lcshim_alsa_message, defined in Swift (Sources/Layercode/AlsaMessages.swift). */
void lcshim_alsa_message(const char *file, int line, const char *function, int err,
                         const char *text);

static inline void lcshim_alsa_error_handler(const char *file, int line, const char *function,
                                             int err, const char *fmt, ...) {
    char text[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    lcshim_alsa_message(file, line, function, err, text);
}

/* Routes every later ALSA library message of the process to lcshim_alsa_message. */
static inline int lcshim_alsa_route_messages(void) {
    return snd_lib_error_set_handler(lcshim_alsa_error_handler);
}
