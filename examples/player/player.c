/*
 * layercode-player - a command-line Layercode voice-agent client built on liblayercode's
 * external-audio mode. A WAV file (or silence) is the microphone, a WAV file is the
 * speaker, and both run in real time in 20 ms chunks on the main thread, the way a sound
 * card would drive them. Events are printed as they arrive, for people or (with
 * --json-events) for programs.
 *
 * Threads: the main thread runs the audio clock; the library's event-loop thread runs the
 * callbacks, which format their line, queue it and record state under a mutex; a printer
 * thread writes queued lines to stdout, so a slow reader of stdout never stalls the audio
 * clock or the library.
 */
#define _POSIX_C_SOURCE 200809L

#include "args.h"
#include "jsontext.h"
#include "wav.h"

#include <layercode.h>

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define PROG "layercode-player"

/* The audio clock: one chunk of input and output every CHUNK_NS. */
#define CHUNKS_PER_SECOND 50
#define CHUNK_NS (1000000000L / CHUNKS_PER_SECOND)
#define OUTPUT_RATE 16000
#define OUTPUT_CHUNK (OUTPUT_RATE / CHUNKS_PER_SECOND)
#define DEFAULT_INPUT_RATE 16000
/* How long to wait for on_disconnected after asking to disconnect, or after the status
 * turned to error without one. */
#define DISCONNECT_WAIT_NS 2000000000LL

/* ---- Output queue and printer thread -------------------------------------------------- */

typedef struct line {
    struct line *next;
    char *text; /* without the newline */
} line;

static struct {
    pthread_mutex_t mu;
    pthread_cond_t cond;
    line *head, *tail;
    int quit;
} printer = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, NULL, NULL, 0};

/* Queues a finished line (takes ownership of the strbuf's text). */
static void emit(strbuf *sb) {
    line *l;
    char *text = sb_take(sb);
    if (text == NULL) return;
    l = malloc(sizeof *l);
    if (l == NULL) {
        free(text);
        return;
    }
    l->next = NULL;
    l->text = text;
    pthread_mutex_lock(&printer.mu);
    if (printer.tail) printer.tail->next = l;
    else printer.head = l;
    printer.tail = l;
    pthread_cond_signal(&printer.cond);
    pthread_mutex_unlock(&printer.mu);
}

static void *printer_main(void *arg) {
    (void)arg;
    pthread_mutex_lock(&printer.mu);
    for (;;) {
        line *batch;
        while (printer.head == NULL && !printer.quit) pthread_cond_wait(&printer.cond, &printer.mu);
        if (printer.head == NULL && printer.quit) break;
        batch = printer.head;
        printer.head = printer.tail = NULL;
        pthread_mutex_unlock(&printer.mu);
        while (batch) {
            line *next = batch->next;
            fputs(batch->text, stdout);
            fputc('\n', stdout);
            fflush(stdout);
            free(batch->text);
            free(batch);
            batch = next;
        }
        pthread_mutex_lock(&printer.mu);
    }
    pthread_mutex_unlock(&printer.mu);
    return NULL;
}

/* ---- Session state shared with the callbacks ------------------------------------------ */

typedef struct session {
    pthread_mutex_t mu;
    int json;                  /* --json-events; read-only after start */
    int connected;             /* on_connected has run */
    int disconnected;          /* on_disconnected has run */
    int disconnect_reason;
    char disconnect_message[1024];
    int status;                /* last status from on_status */
    int error_status;          /* on_status reported LC_STATUS_ERROR */
    int last_error_code;       /* last on_error */
    char last_error_message[1024];
} session;

static volatile sig_atomic_t signal_count = 0;

static void on_signal(int sig) {
    (void)sig;
    if (signal_count < 100) signal_count++;
}

static void copy_text(char *dst, size_t size, const char *src) {
    snprintf(dst, size, "%s", src ? src : "");
}

static const char *status_name(int status) {
    switch (status) {
    case LC_STATUS_DISCONNECTED: return "disconnected";
    case LC_STATUS_CONNECTING: return "connecting";
    case LC_STATUS_CONNECTED: return "connected";
    case LC_STATUS_RECONNECTING: return "reconnecting";
    case LC_STATUS_ERROR: return "error";
    default: return "unknown";
    }
}

static void cb_status(void *user_data, int status) {
    session *s = user_data;
    strbuf sb;
    pthread_mutex_lock(&s->mu);
    s->status = status;
    s->error_status = status == LC_STATUS_ERROR;
    pthread_mutex_unlock(&s->mu);

    sb_init(&sb);
    if (s->json) {
        sb_puts(&sb, "{\"event\":\"status\",\"status\":");
        sb_json_string(&sb, status_name(status));
        sb_puts(&sb, "}");
    } else {
        sb_printf(&sb, "* status: %s", status_name(status));
    }
    emit(&sb);
}

static void cb_connected(void *user_data, const char *conversation_id, const char *config_json) {
    session *s = user_data;
    strbuf sb;
    pthread_mutex_lock(&s->mu);
    s->connected = 1;
    pthread_mutex_unlock(&s->mu);

    sb_init(&sb);
    if (s->json) {
        sb_puts(&sb, "{\"event\":\"connected\",\"conversation_id\":");
        sb_json_string(&sb, conversation_id);
        sb_puts(&sb, ",\"config\":");
        sb_json_raw(&sb, config_json);
        sb_puts(&sb, "}");
    } else {
        sb_printf(&sb, "* connected: conversation %s, config ",
                  conversation_id ? conversation_id : "(none)");
        sb_json_raw(&sb, config_json);
    }
    emit(&sb);
}

static void cb_disconnected(void *user_data, int reason, const char *message) {
    session *s = user_data;
    strbuf sb;
    pthread_mutex_lock(&s->mu);
    s->disconnected = 1;
    s->disconnect_reason = reason;
    copy_text(s->disconnect_message, sizeof s->disconnect_message, message);
    pthread_mutex_unlock(&s->mu);

    sb_init(&sb);
    if (s->json) {
        sb_printf(&sb, "{\"event\":\"disconnected\",\"reason\":%d,\"name\":", reason);
        sb_json_string(&sb, lc_strerror(reason));
        sb_puts(&sb, ",\"message\":");
        sb_json_string(&sb, message ? message : "");
        sb_puts(&sb, "}");
    } else if (reason == LC_OK) {
        sb_printf(&sb, "* disconnected%s%s", message && *message ? ": " : "",
                  message ? message : "");
    } else {
        sb_printf(&sb, "* disconnected: %s (%d)%s%s", lc_strerror(reason), reason,
                  message && *message ? ": " : "", message ? message : "");
    }
    emit(&sb);
}

static void cb_error(void *user_data, int code, const char *message) {
    session *s = user_data;
    strbuf sb;
    pthread_mutex_lock(&s->mu);
    s->last_error_code = code;
    copy_text(s->last_error_message, sizeof s->last_error_message, message);
    pthread_mutex_unlock(&s->mu);

    sb_init(&sb);
    if (s->json) {
        sb_printf(&sb, "{\"event\":\"error\",\"code\":%d,\"name\":", code);
        sb_json_string(&sb, lc_strerror(code));
        sb_puts(&sb, ",\"message\":");
        sb_json_string(&sb, message ? message : "");
        sb_puts(&sb, "}");
    } else {
        sb_printf(&sb, "! error: %s (%d)%s%s", lc_strerror(code), code,
                  message && *message ? ": " : "", message ? message : "");
    }
    emit(&sb);
}

/* Keeps a human line on one line: line breaks become spaces, trailing blanks go. */
static void one_line(char *text) {
    size_t n;
    char *p;
    if (text == NULL) return;
    for (p = text; *p; p++)
        if (*p == '\n' || *p == '\r') *p = ' ';
    n = strlen(text);
    while (n > 0 && (text[n - 1] == ' ' || text[n - 1] == '\t')) text[--n] = '\0';
}

/* The human form of a server message: text for what people read, the JSON otherwise. */
static void human_message(strbuf *sb, const char *type, const char *json) {
    char *content = json_get_string(json, "content");
    one_line(content);
    if (type == NULL) type = "";
    if (strcmp(type, "response.text") == 0 && content) {
        sb_printf(sb, "agent: %s", content);
    } else if (strcmp(type, "user.transcript") == 0 && content) {
        sb_printf(sb, "you: %s", content);
    } else if ((strcmp(type, "user.transcript.delta") == 0 ||
                strcmp(type, "user.transcript.interim_delta") == 0) && content) {
        sb_printf(sb, "you (%s): %s", strcmp(type, "user.transcript.delta") == 0 ? "final"
                                                                                : "interim",
                  content);
    } else if (strcmp(type, "turn.start") == 0) {
        char *role = json_get_string(json, "role");
        sb_printf(sb, "* turn start: %s", role ? role : "?");
        free(role);
    } else if (strcmp(type, "response.end") == 0) {
        sb_puts(sb, "* response end");
    } else {
        sb_printf(sb, "[%s] ", type);
        sb_json_raw(sb, json);
    }
    free(content);
}

static void cb_message(void *user_data, const char *type, const char *json) {
    session *s = user_data;
    strbuf sb;
    sb_init(&sb);
    if (s->json) {
        sb_puts(&sb, "{\"event\":\"message\",\"type\":");
        sb_json_string(&sb, type ? type : "");
        sb_puts(&sb, ",\"message\":");
        sb_json_raw(&sb, json);
        sb_puts(&sb, "}");
    } else {
        human_message(&sb, type, json);
    }
    emit(&sb);
}

static void cb_data(void *user_data, const char *content_json, const char *turn_id) {
    session *s = user_data;
    strbuf sb;
    sb_init(&sb);
    if (s->json) {
        sb_puts(&sb, "{\"event\":\"data\",\"content\":");
        sb_json_raw(&sb, content_json);
        sb_puts(&sb, ",\"turn_id\":");
        sb_json_string(&sb, turn_id);
        sb_puts(&sb, "}");
    } else {
        sb_puts(&sb, "data: ");
        sb_json_raw(&sb, content_json);
        if (turn_id) sb_printf(&sb, " (turn %s)", turn_id);
    }
    emit(&sb);
}

/* ---- Helpers -------------------------------------------------------------------------- */

static int64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void sleep_until(int64_t deadline_ns) {
    struct timespec ts;
    ts.tv_sec = (time_t)(deadline_ns / 1000000000LL);
    ts.tv_nsec = (long)(deadline_ns % 1000000000LL);
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR) {
        if (signal_count > 0) return;
    }
}

static void emit_stats(int json, const lc_stats *st, double input_seconds,
                       double output_seconds) {
    strbuf sb;
    sb_init(&sb);
    if (json) {
        sb_printf(&sb,
                  "{\"event\":\"stats\",\"audio_frames_sent\":%llu,\"audio_bytes_sent\":%llu,"
                  "\"audio_frames_received\":%llu,\"audio_bytes_received\":%llu,"
                  "\"messages_sent\":%llu,\"messages_received\":%llu,"
                  "\"input_samples_dropped\":%llu,\"playout_samples_dropped\":%llu,"
                  "\"played_samples\":%llu,\"underrun_samples\":%llu,"
                  "\"connect_time_us\":%lld,\"input_seconds\":%.3f,\"output_seconds\":%.3f}",
                  (unsigned long long)st->audio_frames_sent,
                  (unsigned long long)st->audio_bytes_sent,
                  (unsigned long long)st->audio_frames_received,
                  (unsigned long long)st->audio_bytes_received,
                  (unsigned long long)st->messages_sent,
                  (unsigned long long)st->messages_received,
                  (unsigned long long)st->input_samples_dropped,
                  (unsigned long long)st->playout_samples_dropped,
                  (unsigned long long)st->played_samples,
                  (unsigned long long)st->underrun_samples, (long long)st->connect_time_us,
                  input_seconds, output_seconds);
    } else {
        sb_printf(&sb,
                  "stats: sent %llu audio frames (%llu bytes), received %llu (%llu bytes); "
                  "messages %llu sent, %llu received; played %llu samples, underrun %llu, "
                  "dropped %llu input / %llu playout; connect %.1f ms; "
                  "audio %.2f s in, %.2f s out",
                  (unsigned long long)st->audio_frames_sent,
                  (unsigned long long)st->audio_bytes_sent,
                  (unsigned long long)st->audio_frames_received,
                  (unsigned long long)st->audio_bytes_received,
                  (unsigned long long)st->messages_sent,
                  (unsigned long long)st->messages_received,
                  (unsigned long long)st->played_samples,
                  (unsigned long long)st->underrun_samples,
                  (unsigned long long)st->input_samples_dropped,
                  (unsigned long long)st->playout_samples_dropped,
                  st->connect_time_us >= 0 ? (double)st->connect_time_us / 1000.0 : -1.0,
                  input_seconds, output_seconds);
    }
    emit(&sb);
}

static const char *failure_prefix(int code) {
    switch (code) {
    case LC_ERR_AUTHORIZE: return "authorize failed";
    case LC_ERR_NETWORK: return "network error";
    case LC_ERR_TLS: return "TLS error";
    case LC_ERR_PROTOCOL: return "protocol error";
    case LC_ERR_TIMEOUT: return "timed out";
    case LC_ERR_CLOSED: return "connection closed";
    default: return "session failed";
    }
}

/* Why the main loop stopped. */
enum stop_reason { STOP_SESSION_ENDED, STOP_DURATION, STOP_SIGNAL, STOP_ERROR_STATUS };

int main(int argc, char **argv) {
    player_args args;
    char err[512];
    session s;
    lc_options opts;
    lc_client *client = NULL;
    wav_reader *input = NULL;
    wav_writer *output = NULL;
    pthread_t printer_thread;
    struct sigaction sa;
    int input_rate = DEFAULT_INPUT_RATE;
    int input_done = 0; /* the input file has ended */
    int text_sent = 0;
    int16_t *in_buf = NULL;
    int16_t out_buf[OUTPUT_CHUNK];
    size_t in_buf_len;
    int64_t start_ns, chunk, total_chunks, error_status_at = -1;
    uint64_t input_samples = 0, output_samples = 0;
    enum stop_reason stop = STOP_SESSION_ENDED;
    lc_stats stats;
    int rc, exit_code = 0;

    if (args_parse(argc, argv, &args, err, sizeof err) != 0) {
        fprintf(stderr, "%s: %s\n", PROG, err);
        args_usage(stderr);
        args_free(&args);
        return 2;
    }
    if (args.help) {
        args_usage(stdout);
        args_free(&args);
        return 0;
    }
    if (args.version) {
        printf("%s (liblayercode %s)\n", PROG, lc_version());
        args_free(&args);
        return 0;
    }

    if (args.input_path) {
        input = wav_reader_open(args.input_path, err, sizeof err);
        if (input == NULL) {
            fprintf(stderr, "%s: cannot read input: %s\n", PROG, err);
            args_free(&args);
            return 1;
        }
        input_rate = wav_reader_sample_rate(input);
        if (input_rate < 8000 || input_rate > 48000) {
            fprintf(stderr, "%s: cannot read input: %s: sample rate %d Hz is outside "
                            "8000..48000\n", PROG, args.input_path, input_rate);
            wav_reader_close(input);
            args_free(&args);
            return 1;
        }
    }
    /* One chunk of input; rates that are not a multiple of 50 alternate chunk sizes. */
    in_buf_len = (size_t)input_rate / CHUNKS_PER_SECOND + 1;
    in_buf = calloc(in_buf_len, sizeof *in_buf);
    if (in_buf == NULL) {
        fprintf(stderr, "%s: out of memory\n", PROG);
        wav_reader_close(input);
        args_free(&args);
        return 1;
    }
    if (args.output_path) {
        output = wav_writer_open(args.output_path, OUTPUT_RATE, err, sizeof err);
        if (output == NULL) {
            fprintf(stderr, "%s: cannot write output: %s\n", PROG, err);
            wav_reader_close(input);
            free(in_buf);
            args_free(&args);
            return 1;
        }
    }

    memset(&s, 0, sizeof s);
    pthread_mutex_init(&s.mu, NULL);
    s.json = args.json_events;
    s.status = LC_STATUS_DISCONNECTED;

    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sa.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &sa, NULL); /* a closed stdout must not kill the session */

    if (pthread_create(&printer_thread, NULL, printer_main, NULL) != 0) {
        fprintf(stderr, "%s: cannot start the printer thread\n", PROG);
        wav_writer_close(output);
        wav_reader_close(input);
        free(in_buf);
        args_free(&args);
        return 1;
    }

    lc_options_init(&opts);
    opts.agent_id = args.agent_id;
    opts.authorize_url = args.authorize_url;
    opts.authorize_headers = args.headers;
    opts.authorize_header_count = args.header_count;
    opts.metadata_json = args.metadata_json;
    opts.conversation_id = args.conversation_id;
    opts.ws_url = args.ws_url;
    opts.ca_file = args.ca_file;
    opts.ca_dir = args.ca_dir;
    if (args.connect_timeout_ms > 0) opts.connect_timeout_ms = args.connect_timeout_ms;
    opts.audio_mode = LC_AUDIO_EXTERNAL;
    opts.input_sample_rate = input_rate;
    opts.output_sample_rate = OUTPUT_RATE;
    opts.user_data = &s;
    opts.on_status = cb_status;
    opts.on_connected = cb_connected;
    opts.on_disconnected = cb_disconnected;
    opts.on_error = cb_error;
    opts.on_message = cb_message;
    opts.on_data = cb_data;

    rc = lc_client_new(&opts, &client);
    if (rc != LC_OK) {
        const char *detail = lc_client_last_error(NULL);
        fprintf(stderr, "%s: %s: %s\n", PROG,
                rc == LC_ERR_INVALID_ARGUMENT ? "invalid options" : "cannot create client",
                detail && *detail ? detail : lc_strerror(rc));
        exit_code = rc == LC_ERR_INVALID_ARGUMENT ? 2 : 1;
        goto finish;
    }

    start_ns = now_ns();
    rc = lc_client_connect(client);
    if (rc != LC_OK) {
        const char *detail = lc_client_last_error(client);
        fprintf(stderr, "%s: connect failed: %s\n", PROG,
                detail && *detail ? detail : lc_strerror(rc));
        exit_code = 1;
        goto teardown;
    }

    /* The audio clock. Chunk k covers [k, k+1) * 20 ms after start: at its end the
     * "microphone" hands over its 20 ms and the "speaker" takes the next 20 ms. Deadlines
     * are absolute, so late wake-ups catch up instead of drifting. */
    total_chunks = args.duration > 0
                       ? (int64_t)(args.duration * CHUNKS_PER_SECOND + 0.5)
                       : -1;
    if (total_chunks == 0) total_chunks = 1;
    for (chunk = 0;; chunk++) {
        int connected, disconnected, error_status;
        size_t want, got;
        int64_t due;

        sleep_until(start_ns + (chunk + 1) * CHUNK_NS);

        pthread_mutex_lock(&s.mu);
        connected = s.connected;
        disconnected = s.disconnected;
        error_status = s.error_status;
        pthread_mutex_unlock(&s.mu);

        if (signal_count > 0) {
            stop = STOP_SIGNAL;
            break;
        }
        if (disconnected) {
            stop = STOP_SESSION_ENDED;
            break;
        }
        if (!error_status) {
            error_status_at = -1;
        } else {
            /* The status turned to error: on_disconnected should follow; if it does not,
             * the session is over anyway. */
            if (error_status_at < 0)
                error_status_at = now_ns();
            else if (now_ns() - error_status_at > DISCONNECT_WAIT_NS) {
                stop = STOP_ERROR_STATUS;
                break;
            }
        }
        if (total_chunks > 0 && chunk >= total_chunks) {
            stop = STOP_DURATION;
            break;
        }

        if (connected && args.text && !text_sent) {
            text_sent = 1;
            rc = lc_client_send_text(client, args.text);
            if (rc != LC_OK) {
                const char *detail = lc_client_last_error(client);
                fprintf(stderr, "%s: send text failed: %s\n", PROG,
                        detail && *detail ? detail : lc_strerror(rc));
            }
        }

        /* Microphone: this chunk's samples at the input rate. The file starts playing once
         * the session is live (audio written before is discarded by the library). */
        due = (chunk + 1) * (int64_t)input_rate / CHUNKS_PER_SECOND;
        want = (size_t)(due - (int64_t)input_samples);
        if (want > in_buf_len) want = in_buf_len;
        got = 0;
        if (input && !input_done && lc_client_status(client) == LC_STATUS_CONNECTED) {
            got = wav_reader_read_mono(input, in_buf, want);
            if (got < want) {
                input_done = 1;
                if (wav_reader_error(input))
                    fprintf(stderr, "%s: read error on %s; continuing with silence\n", PROG,
                            args.input_path);
            }
        }
        if (got < want) memset(in_buf + got, 0, (want - got) * sizeof *in_buf);
        rc = lc_client_write_audio(client, in_buf, want);
        (void)rc; /* losses show up in input_samples_dropped */
        input_samples += want;

        /* Speaker: everything read, agent audio and silence alike, is what was played. */
        rc = lc_client_read_audio(client, out_buf, OUTPUT_CHUNK);
        if (rc < 0) memset(out_buf, 0, sizeof out_buf);
        if (output) (void)wav_writer_write(output, out_buf, OUTPUT_CHUNK); /* errors: at close */
        output_samples += OUTPUT_CHUNK;
    }

    if (stop == STOP_DURATION || stop == STOP_SIGNAL) {
        int64_t deadline = now_ns() + DISCONNECT_WAIT_NS;
        lc_client_disconnect(client);
        for (;;) {
            int done;
            pthread_mutex_lock(&s.mu);
            done = s.disconnected;
            pthread_mutex_unlock(&s.mu);
            /* A second signal stops the wait. */
            if (done || now_ns() >= deadline || signal_count > 1) break;
            sleep_until(now_ns() + 10000000LL);
        }
    }

    pthread_mutex_lock(&s.mu);
    if (stop == STOP_SIGNAL) {
        exit_code = 0;
    } else if (stop == STOP_DURATION) {
        if (!s.connected) {
            fprintf(stderr, "%s: not connected after %.3g s\n", PROG, args.duration);
            exit_code = 1;
        }
    } else {
        int code = s.disconnected ? s.disconnect_reason : s.last_error_code;
        if (s.disconnected && code == LC_OK) {
            exit_code = 0;
        } else {
            const char *detail;
            if (code == LC_OK) code = LC_ERR_INTERNAL; /* error status with no error */
            if (s.last_error_code == code && s.last_error_message[0])
                detail = s.last_error_message;
            else if (s.disconnected && s.disconnect_message[0])
                detail = s.disconnect_message;
            else if (*lc_client_last_error(client))
                detail = lc_client_last_error(client);
            else
                detail = lc_strerror(code);
            /* The detail may already say what failed ("authorize failed: HTTP 402..."). */
            if (strncmp(detail, failure_prefix(code), strlen(failure_prefix(code))) == 0)
                fprintf(stderr, "%s: %s\n", PROG, detail);
            else
                fprintf(stderr, "%s: %s: %s\n", PROG, failure_prefix(code), detail);
            exit_code = 1;
        }
    }
    pthread_mutex_unlock(&s.mu);

teardown:
    memset(&stats, 0, sizeof stats);
    stats.connect_time_us = -1;
    lc_client_get_stats(client, &stats);
    lc_client_free(client); /* no callback runs after this: stats stay the last line */
    emit_stats(s.json, &stats, (double)input_samples / input_rate,
               (double)output_samples / OUTPUT_RATE);

finish:
    pthread_mutex_lock(&printer.mu);
    printer.quit = 1;
    pthread_cond_signal(&printer.cond);
    pthread_mutex_unlock(&printer.mu);
    pthread_join(printer_thread, NULL);

    if (output && wav_writer_close(output) != 0) {
        fprintf(stderr, "%s: error writing %s\n", PROG, args.output_path);
        if (exit_code == 0) exit_code = 1;
    }
    wav_reader_close(input);
    free(in_buf);
    pthread_mutex_destroy(&s.mu);
    args_free(&args);
    return exit_code;
}
