/* SPDX-License-Identifier: Apache-2.0 */
/*
 * args.h - the player's command line.
 */
#ifndef LAYERCODE_PLAYER_ARGS_H
#define LAYERCODE_PLAYER_ARGS_H

#include <stddef.h>
#include <stdio.h>

/* Where the audio comes from and goes to. */
enum player_audio {
    AUDIO_ALSA, /* sound devices: --capture/--playback, or ALSA "default" for both */
    AUDIO_WAV   /* --input/--output WAV files (or silence), paced by the player */
};

typedef struct player_args {
    const char *authorize_url;   /* --authorize-url (required) */
    const char *agent_id;        /* --agent-id (required) */
    const char *ws_url;          /* --ws-url */
    const char **headers;        /* --header "K: V", repeatable */
    size_t header_count;
    const char *metadata_json;   /* --metadata */
    const char *conversation_id; /* --conversation-id */
    const char *ca_file;         /* --ca-file */
    const char *ca_dir;          /* --ca-dir */
    int connect_timeout_ms;      /* --connect-timeout-ms, 0 = library default */
    int reconnect_attempts;      /* --reconnect-attempts, -1 = library default */

    enum player_audio audio;     /* derived from the flags below */
    const char *input_path;      /* --input */
    const char *output_path;     /* --output */
    int no_devices;              /* --no-devices: WAV mode without files */
    const char *capture_device;  /* --capture (ALSA mode; "default" when unset) */
    const char *playback_device; /* --playback */
    int device_rate;             /* --device-rate, 0 = library default */
    int period_ms;               /* --period-ms, 0 = library default */
    int jitter_min_ms;           /* --jitter-min-ms, 0 = library default */
    int jitter_max_ms;           /* --jitter-max-ms, 0 = library default */
    const char *codecs;          /* --codecs (lc_options.wire_codecs), NULL = PCM only */
    int opus_bitrate;            /* --opus-bitrate, 0 = library default */
    int aec;                     /* --aec 1, --no-aec 0, -1 = library default */
    const char *echo_engine;     /* --echo-engine, NULL = the best built in */
    int ns;                      /* --ns */
    int agc;                     /* --agc */
    int half_duplex;             /* --half-duplex 1, --no-half-duplex 0, -1 = default */
    int no_mic;                  /* --no-mic */
    int no_speaker;              /* --no-speaker */
    int muted;                   /* --muted */
    const char *record_path;     /* --record */
    int push_to_talk;            /* --push-to-talk */

    const char *text;            /* --text */
    double duration;             /* --duration seconds, 0 = until the session ends */
    int json_events;             /* --json-events */
    int verbose;                 /* -v, --verbose: the full config on connect */
    int amplitude_rate;          /* --amplitude-rate Hz, default 20, 0 = none */
    double stats_interval;       /* --stats-interval seconds, 0 = final stats only */
    int list_devices;            /* --list-devices */
    int help;                    /* --help */
    int version;                 /* --version */
} player_args;

/**
 * Parses argv into *args (strings point into argv). Returns 0, or -1 with a one-line reason
 * in err for an unknown flag, a missing or bad value, a missing required flag (not checked
 * with --help, --version or --list-devices), or flags that do not go together (WAV files
 * with sound devices).
 */
int args_parse(int argc, char **argv, player_args *args, char *err, size_t err_size);

/** Frees what args_parse allocated. */
void args_free(player_args *args);

/** Writes the usage text (--help). */
void args_usage(FILE *out);

/** Writes the one-line synopsis and a pointer to --help (after a usage error). */
void args_usage_short(FILE *out);

#endif /* LAYERCODE_PLAYER_ARGS_H */
