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
        "\n"
        "Talks to a Layercode voice agent with liblayercode, using WAV files (or silence)\n"
        "as the microphone and the speaker, paced in real time in 20 ms chunks.\n"
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
        "\n"
        "Audio and text:\n"
        "  --input FILE.wav        microphone audio from a WAV file (any rate 8000..48000,\n"
        "                          8/16/24/32-bit PCM or float, channels mixed to mono);\n"
        "                          starts once connected, then silence. Default: silence\n"
        "  --output FILE.wav       write what the speaker plays (16 kHz mono 16-bit)\n"
        "  --text \"...\"            send this typed message once connected\n"
        "  --duration SECONDS      disconnect after this long (default 0: run until the\n"
        "                          server closes the session or SIGINT/SIGTERM)\n"
        "\n"
        "Output:\n"
        "  --json-events           print every event as one JSON object per line\n"
        "  --help                  show this help and exit\n"
        "  --version               print the library version and exit\n"
        "\n"
        "Exit status: 0 for a clean session (closed cleanly, duration reached, or\n"
        "interrupted), 1 when the session failed, 2 for a usage error.\n",
        out);
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

/* Flags that take a value, and where it goes. */
enum flag_id {
    F_AUTHORIZE_URL, F_AGENT_ID, F_WS_URL, F_HEADER, F_METADATA, F_CONVERSATION_ID,
    F_CA_FILE, F_CA_DIR, F_CONNECT_TIMEOUT, F_INPUT, F_OUTPUT, F_TEXT, F_DURATION,
    F_JSON_EVENTS, F_HELP, F_VERSION
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
    {"--input", F_INPUT, 1},
    {"--output", F_OUTPUT, 1},
    {"--text", F_TEXT, 1},
    {"--duration", F_DURATION, 1},
    {"--json-events", F_JSON_EVENTS, 0},
    {"--help", F_HELP, 0},
    {"-h", F_HELP, 0},
    {"--version", F_VERSION, 0},
};

int args_parse(int argc, char **argv, player_args *a, char *err, size_t err_size) {
    int i;
    memset(a, 0, sizeof *a);
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
        case F_CONVERSATION_ID: a->conversation_id = value; break;
        case F_CA_FILE: a->ca_file = value; break;
        case F_CA_DIR: a->ca_dir = value; break;
        case F_CONNECT_TIMEOUT: {
            char *end;
            long ms;
            errno = 0;
            ms = strtol(value, &end, 10);
            if (errno != 0 || end == value || *end != '\0' || ms <= 0 || ms > 3600000) {
                set_err(err, err_size, "--connect-timeout-ms wants milliseconds, got '%s'",
                        value);
                return -1;
            }
            a->connect_timeout_ms = (int)ms;
            break;
        }
        case F_INPUT: a->input_path = value; break;
        case F_OUTPUT: a->output_path = value; break;
        case F_TEXT: a->text = value; break;
        case F_DURATION: {
            char *end;
            double d;
            errno = 0;
            d = strtod(value, &end);
            if (errno != 0 || end == value || *end != '\0' || !(d >= 0.0) || d > 1e7) {
                set_err(err, err_size, "--duration wants seconds >= 0, got '%s'", value);
                return -1;
            }
            a->duration = d;
            break;
        }
        case F_JSON_EVENTS: a->json_events = 1; break;
        case F_HELP: a->help = 1; break;
        case F_VERSION: a->version = 1; break;
        }
    }

    if (a->help || a->version) return 0;
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
