/* SPDX-License-Identifier: Apache-2.0 */
/*
 * args.c - command-line parsing for layercode-player. Accepts "--flag value" and
 * "--flag=value".
 */
#define _POSIX_C_SOURCE 200809L

#include "args.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

void args_usage(FILE *out) {
    fputs(
        "usage: layercode-player --authorize-url URL --agent-id ID [options]\n"
        "       layercode-player --list-devices [--json-events]\n"
        "\n"
        "Talks to a Layercode voice agent with liblayercode: through the sound card (ALSA),\n"
        "or with WAV files (or silence) as the microphone and the speaker, paced in real\n"
        "time in 20 ms chunks.\n"
        "\n"
        "Session:\n"
        "  --authorize-url URL     your backend's authorize endpoint (required)\n"
        "  --agent-id ID           the Layercode agent id (required)\n"
        "  --ws-url URL            WebSocket base URL (default: Layercode's)\n"
        "  --header \"K: V\"         extra header for the authorize request (repeatable)\n"
        "  --metadata JSON         JSON object sent as metadata when authorizing\n"
        "  --conversation-id ID    resume this conversation\n"
        "  --ca-file PEM           trusted CA certificates for https/wss (default: system)\n"
        "  --ca-dir DIR            directory of trusted CA certificates\n"
        "  --connect-timeout-ms MS time allowed for authorize and for the socket open\n"
        "  --reconnect-attempts N  after a dropped connection, reconnect up to N times\n"
        "                          (same conversation, backoff 0.5..7 s; default 5, 0: never)\n"
        "\n"
        "Sound devices (ALSA; the default: without --input/--output/--no-devices the\n"
        "player uses the ALSA device \"default\" for both directions):\n"
        "  --capture DEV           ALSA PCM to record from (\"default\", \"plughw:1,0\", ...)\n"
        "  --playback DEV          ALSA PCM to play to\n"
        "  --device-rate HZ        sample rate asked of the devices, 8000..48000 (default\n"
        "                          48000; the library resamples whatever they settle on)\n"
        "  --period-ms MS          ALSA period, 2..100 ms (default 10)\n"
        "  --list-devices          list the ALSA devices (name, in/out, description), exit\n"
        "\n"
        "WAV files (no sound card; cannot be mixed with --capture/--playback and the other\n"
        "device flags):\n"
        "  --input FILE.wav        microphone audio from a WAV file (any rate 8000..48000,\n"
        "                          8/16/24/32-bit PCM or float, channels mixed to mono);\n"
        "                          starts once connected, then silence; with\n"
        "                          --push-to-talk it plays only while talking.\n"
        "                          Default: silence\n"
        "  --output FILE.wav       write what the speaker plays (16 kHz mono 16-bit)\n"
        "  --no-devices            WAV mode without files: a silent microphone, and what the\n"
        "                          agent says is discarded (like --input/--output unset)\n"
        "\n"
        "Audio, either mode:\n"
        "  --no-mic                listen only: send no microphone audio\n"
        "  --no-speaker            do not play agent audio (text and transcripts only)\n"
        "  --muted                 start with the microphone muted\n"
        "  --record FILE.opus      record the session as Ogg Opus: stereo 16 kHz, left the\n"
        "                          microphone as sent, right the agent as played\n"
        "  --jitter-min-ms MS      smallest agent-audio jitter buffer delay (default 40)\n"
        "  --jitter-max-ms MS      largest agent-audio jitter buffer delay (default 500)\n"
        "  --codecs LIST           wire codecs to offer, most preferred first: \"opus,pcm16\"\n"
        "                          asks for the compressed Opus profile, which a server\n"
        "                          that speaks it (devserver --codecs, its relay) may\n"
        "                          choose; others keep PCM JSON (default: pcm16 only)\n"
        "  --opus-bitrate BPS      Opus uplink bitrate, 6000..510000 (default 16000)\n"
        "  --aec, --no-aec         echo cancellation on or off (default: on with ALSA\n"
        "                          devices when the library has an echo engine)\n"
        "  --echo-engine NAME      webrtc-aec3, webrtc-legacy, speexdsp or webrtc\n"
        "                          (default: the best built in)\n"
        "  --ns                    noise suppression (from the echo engine)\n"
        "  --agc                   automatic gain control (from the echo engine)\n"
        "  --half-duplex, --no-half-duplex\n"
        "                          without a canceller, mute the microphone while the\n"
        "                          agent is audible unless the user is clearly louder\n"
        "                          (default: on with ALSA devices when AEC is off)\n"
        "  --push-to-talk          talk only while asked to. On a terminal: hold SPACE to\n"
        "                          talk (released about 300 ms after the key stops\n"
        "                          repeating), 't' toggles talking, 'm' toggles mute,\n"
        "                          'q' quits. Otherwise each line on stdin toggles talking\n"
        "                          (the first starts a turn, the next ends it; end of\n"
        "                          input ends a turn in progress)\n"
        "\n"
        "Text and timing:\n"
        "  --text \"...\"            send this typed message once connected\n"
        "  --duration SECONDS      disconnect after this long (default 0: run until the\n"
        "                          server closes the session, 'q', or SIGINT/SIGTERM)\n"
        "\n"
        "Output (on a terminal: a live status line with level meters under the events):\n"
        "  --json-events           print every event as one JSON object per line\n"
        "  -v, --verbose           also print the agent's full config on connect (by\n"
        "                          default a one-line summary: turn trigger, can_interrupt)\n"
        "  --amplitude-rate HZ     microphone/agent level updates per second, 0..50\n"
        "                          (default 20; 0: none); with --json-events printed as\n"
        "                          {\"event\":\"amplitude\",\"user\":F,\"agent\":F}\n"
        "  --stats-interval SECS   also print statistics every SECS seconds (default 0:\n"
        "                          only when the session ends)\n"
        "  --help                  show this help and exit\n"
        "  --version               print the library version and exit\n"
        "\n"
        "Exit status: 0 for a clean session (closed cleanly, duration reached, 'q', or\n"
        "interrupted) and for --list-devices, 1 when the session failed, 2 for a usage\n"
        "error.\n",
        out);
}

void args_usage_short(FILE *out) {
    fputs("usage: layercode-player --authorize-url URL --agent-id ID [options]; "
          "see layercode-player --help\n", out);
}

#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
static void set_err(char *err, size_t err_size, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, err_size, fmt, ap);
    va_end(ap);
}

enum flag_id {
    F_AUTHORIZE_URL, F_AGENT_ID, F_WS_URL, F_HEADER, F_METADATA, F_CONVERSATION_ID,
    F_CA_FILE, F_CA_DIR, F_CONNECT_TIMEOUT, F_INPUT, F_OUTPUT, F_NO_DEVICES, F_CAPTURE,
    F_PLAYBACK, F_DEVICE_RATE, F_PERIOD_MS, F_JITTER_MIN, F_JITTER_MAX, F_CODECS, F_OPUS_BITRATE, F_NO_MIC,
    F_NO_SPEAKER, F_MUTED, F_PUSH_TO_TALK, F_TEXT, F_DURATION, F_JSON_EVENTS,
    F_AMPLITUDE_RATE, F_STATS_INTERVAL, F_LIST_DEVICES, F_HELP, F_VERSION, F_RECONNECT,
    F_VERBOSE, F_RECORD, F_AEC, F_NO_AEC, F_ECHO_ENGINE, F_NS, F_AGC, F_HALF_DUPLEX,
    F_NO_HALF_DUPLEX
};

static const struct {
    const char *name;
    enum flag_id id;
    int takes_value;
} flags[] = {
    {"--authorize-url", F_AUTHORIZE_URL, 1},
    {"--agent-id", F_AGENT_ID, 1},
    {"--ws-url", F_WS_URL, 1},
    {"--header", F_HEADER, 1},
    {"--metadata", F_METADATA, 1},
    {"--conversation-id", F_CONVERSATION_ID, 1},
    {"--ca-file", F_CA_FILE, 1},
    {"--ca-dir", F_CA_DIR, 1},
    {"--connect-timeout-ms", F_CONNECT_TIMEOUT, 1},
    {"--reconnect-attempts", F_RECONNECT, 1},
    {"--input", F_INPUT, 1},
    {"--output", F_OUTPUT, 1},
    {"--no-devices", F_NO_DEVICES, 0},
    {"--capture", F_CAPTURE, 1},
    {"--playback", F_PLAYBACK, 1},
    {"--device-rate", F_DEVICE_RATE, 1},
    {"--period-ms", F_PERIOD_MS, 1},
    {"--jitter-min-ms", F_JITTER_MIN, 1},
    {"--jitter-max-ms", F_JITTER_MAX, 1},
    {"--record", F_RECORD, 1},
    {"--codecs", F_CODECS, 1},
    {"--opus-bitrate", F_OPUS_BITRATE, 1},
    {"--aec", F_AEC, 0},
    {"--no-aec", F_NO_AEC, 0},
    {"--echo-engine", F_ECHO_ENGINE, 1},
    {"--ns", F_NS, 0},
    {"--agc", F_AGC, 0},
    {"--half-duplex", F_HALF_DUPLEX, 0},
    {"--no-half-duplex", F_NO_HALF_DUPLEX, 0},
    {"--no-mic", F_NO_MIC, 0},
    {"--no-speaker", F_NO_SPEAKER, 0},
    {"--muted", F_MUTED, 0},
    {"--push-to-talk", F_PUSH_TO_TALK, 0},
    {"--text", F_TEXT, 1},
    {"--duration", F_DURATION, 1},
    {"--json-events", F_JSON_EVENTS, 0},
    {"--verbose", F_VERBOSE, 0},
    {"-v", F_VERBOSE, 0},
    {"--amplitude-rate", F_AMPLITUDE_RATE, 1},
    {"--stats-interval", F_STATS_INTERVAL, 1},
    {"--list-devices", F_LIST_DEVICES, 0},
    {"--help", F_HELP, 0},
    {"-h", F_HELP, 0},
    {"--version", F_VERSION, 0},
};

/* An integer in [lo, hi], the whole value. */
static int parse_int(const char *value, long lo, long hi, int *out) {
    char *end;
    long v;
    errno = 0;
    v = strtol(value, &end, 10);
    if (errno != 0 || end == value || *end != '\0' || v < lo || v > hi) return -1;
    *out = (int)v;
    return 0;
}

/* Seconds in [0, 1e7]. */
static int parse_seconds(const char *value, double *out) {
    char *end;
    double d;
    errno = 0;
    d = strtod(value, &end);
    if (errno != 0 || end == value || *end != '\0' || !(d >= 0.0) || d > 1e7) return -1;
    *out = d;
    return 0;
}

int args_parse(int argc, char **argv, player_args *a, char *err, size_t err_size) {
    int i;
    /* The first flag of each audio family seen, for the conflict message. */
    const char *wav_flag = NULL, *device_flag = NULL;

    memset(a, 0, sizeof *a);
    a->amplitude_rate = 20;
    a->reconnect_attempts = -1;
    a->aec = -1;
    a->half_duplex = -1;
    a->headers = calloc((size_t)(argc > 0 ? argc : 1), sizeof *a->headers);
    if (a->headers == NULL) {
        set_err(err, err_size, "out of memory");
        return -1;
    }

    for (i = 1; i < argc; i++) {
        const char *arg = argv[i];
        const char *value = NULL;
        const char *eq = NULL;
        size_t name_len = strlen(arg);
        size_t k, nflags = sizeof flags / sizeof flags[0];
        int found = -1;

        if (strncmp(arg, "--", 2) == 0 && (eq = strchr(arg, '=')) != NULL)
            name_len = (size_t)(eq - arg);
        for (k = 0; k < nflags; k++) {
            if (strlen(flags[k].name) == name_len && strncmp(arg, flags[k].name, name_len) == 0) {
                found = (int)k;
                break;
            }
        }
        if (found < 0) {
            set_err(err, err_size, "unknown option '%.*s'", (int)name_len, arg);
            return -1;
        }
        if (flags[found].takes_value) {
            if (eq != NULL) {
                value = eq + 1;
            } else if (i + 1 < argc) {
                value = argv[++i];
            } else {
                set_err(err, err_size, "option '%s' needs a value", flags[found].name);
                return -1;
            }
        } else if (eq != NULL) {
            set_err(err, err_size, "option '%s' takes no value", flags[found].name);
            return -1;
        }

        switch (flags[found].id) {
        case F_AUTHORIZE_URL: a->authorize_url = value; break;
        case F_AGENT_ID: a->agent_id = value; break;
        case F_WS_URL: a->ws_url = value; break;
        case F_HEADER:
            if (strchr(value, ':') == NULL || value[0] == ':') {
                set_err(err, err_size, "--header wants \"Name: Value\", got '%s'", value);
                return -1;
            }
            a->headers[a->header_count++] = value;
            break;
        case F_METADATA: a->metadata_json = value; break;
        case F_RECONNECT:
            if (parse_int(value, 0, 1000, &a->reconnect_attempts) != 0) {
                set_err(err, err_size, "--reconnect-attempts wants 0..1000, got '%s'", value);
                return -1;
            }
            break;
        case F_CONVERSATION_ID: a->conversation_id = value; break;
        case F_CA_FILE: a->ca_file = value; break;
        case F_CA_DIR: a->ca_dir = value; break;
        case F_CONNECT_TIMEOUT:
            if (parse_int(value, 1, 3600000, &a->connect_timeout_ms) != 0) {
                set_err(err, err_size, "--connect-timeout-ms wants milliseconds, got '%s'",
                        value);
                return -1;
            }
            break;
        case F_INPUT:
            a->input_path = value;
            if (!wav_flag) wav_flag = "--input";
            break;
        case F_RECORD:
            a->record_path = value;
            break;
        case F_OUTPUT:
            a->output_path = value;
            if (!wav_flag) wav_flag = "--output";
            break;
        case F_NO_DEVICES:
            a->no_devices = 1;
            if (!wav_flag) wav_flag = "--no-devices";
            break;
        case F_CAPTURE:
            if (*value == '\0') {
                set_err(err, err_size, "--capture wants an ALSA device name");
                return -1;
            }
            a->capture_device = value;
            if (!device_flag) device_flag = "--capture";
            break;
        case F_PLAYBACK:
            if (*value == '\0') {
                set_err(err, err_size, "--playback wants an ALSA device name");
                return -1;
            }
            a->playback_device = value;
            if (!device_flag) device_flag = "--playback";
            break;
        case F_DEVICE_RATE:
            if (parse_int(value, 8000, 48000, &a->device_rate) != 0) {
                set_err(err, err_size, "--device-rate wants 8000..48000 Hz, got '%s'", value);
                return -1;
            }
            if (!device_flag) device_flag = "--device-rate";
            break;
        case F_PERIOD_MS:
            if (parse_int(value, 2, 100, &a->period_ms) != 0) {
                set_err(err, err_size, "--period-ms wants 2..100 ms, got '%s'", value);
                return -1;
            }
            if (!device_flag) device_flag = "--period-ms";
            break;
        case F_JITTER_MIN:
        case F_JITTER_MAX: {
            int ms;
            if (parse_int(value, 1, 10000, &ms) != 0) {
                set_err(err, err_size, "%s wants 1..10000 ms, got '%s'", flags[found].name,
                        value);
                return -1;
            }
            if (flags[found].id == F_JITTER_MIN) a->jitter_min_ms = ms;
            else a->jitter_max_ms = ms;
            break;
        }
        case F_CODECS: a->codecs = value; break;
        case F_OPUS_BITRATE:
            if (parse_int(value, 6000, 510000, &a->opus_bitrate) != 0) {
                set_err(err, err_size, "--opus-bitrate wants 6000..510000 bits/s, got '%s'", value);
                return -1;
            }
            break;
        case F_AEC: a->aec = 1; break;
        case F_NO_AEC: a->aec = 0; break;
        case F_ECHO_ENGINE: a->echo_engine = value; break;
        case F_NS: a->ns = 1; break;
        case F_AGC: a->agc = 1; break;
        case F_HALF_DUPLEX: a->half_duplex = 1; break;
        case F_NO_HALF_DUPLEX: a->half_duplex = 0; break;
        case F_NO_MIC: a->no_mic = 1; break;
        case F_NO_SPEAKER: a->no_speaker = 1; break;
        case F_MUTED: a->muted = 1; break;
        case F_PUSH_TO_TALK: a->push_to_talk = 1; break;
        case F_TEXT: a->text = value; break;
        case F_DURATION:
            if (parse_seconds(value, &a->duration) != 0) {
                set_err(err, err_size, "--duration wants seconds >= 0, got '%s'", value);
                return -1;
            }
            break;
        case F_JSON_EVENTS: a->json_events = 1; break;
        case F_VERBOSE: a->verbose = 1; break;
        case F_AMPLITUDE_RATE:
            if (parse_int(value, 0, 50, &a->amplitude_rate) != 0) {
                set_err(err, err_size, "--amplitude-rate wants 0..50 per second, got '%s'",
                        value);
                return -1;
            }
            break;
        case F_STATS_INTERVAL:
            if (parse_seconds(value, &a->stats_interval) != 0) {
                set_err(err, err_size, "--stats-interval wants seconds >= 0, got '%s'", value);
                return -1;
            }
            break;
        case F_LIST_DEVICES: a->list_devices = 1; break;
        case F_HELP: a->help = 1; break;
        case F_VERSION: a->version = 1; break;
        }
    }

    if (a->help || a->version) return 0;
    if (wav_flag && device_flag) {
        set_err(err, err_size, "%s (WAV files) cannot be combined with %s (sound devices)",
                wav_flag, device_flag);
        return -1;
    }
    a->audio = wav_flag ? AUDIO_WAV : AUDIO_ALSA;
    if (a->audio == AUDIO_ALSA) {
        if (a->capture_device == NULL) a->capture_device = "default";
        if (a->playback_device == NULL) a->playback_device = "default";
    }
    if (a->jitter_min_ms > 0 && a->jitter_max_ms > 0 && a->jitter_min_ms > a->jitter_max_ms) {
        set_err(err, err_size, "--jitter-min-ms %d is above --jitter-max-ms %d",
                a->jitter_min_ms, a->jitter_max_ms);
        return -1;
    }
    if (a->list_devices) return 0;
    if (a->authorize_url == NULL) {
        set_err(err, err_size, "--authorize-url is required");
        return -1;
    }
    if (a->agent_id == NULL) {
        set_err(err, err_size, "--agent-id is required");
        return -1;
    }
    return 0;
}

void args_free(player_args *a) {
    free((void *)a->headers);
    a->headers = NULL;
    a->header_count = 0;
}
