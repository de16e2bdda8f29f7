/*
 * args.h - the player's command line.
 */
#ifndef LAYERCODE_PLAYER_ARGS_H
#define LAYERCODE_PLAYER_ARGS_H

#include <stddef.h>
#include <stdio.h>

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
    const char *input_path;      /* --input */
    const char *output_path;     /* --output */
    const char *text;            /* --text */
    double duration;             /* --duration seconds, 0 = until the session ends */
    int json_events;             /* --json-events */
    int help;                    /* --help */
    int version;                 /* --version */
} player_args;

/**
 * Parses argv into *args (strings point into argv). Returns 0, or -1 with a one-line reason
 * in err for an unknown flag, a missing or bad value, or a missing required flag (the
 * required ones are not checked when --help or --version is given).
 */
int args_parse(int argc, char **argv, player_args *args, char *err, size_t err_size);

/** Frees what args_parse allocated. */
void args_free(player_args *args);

/** Writes the usage text. */
void args_usage(FILE *out);

#endif /* LAYERCODE_PLAYER_ARGS_H */
