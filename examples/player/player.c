/* SPDX-License-Identifier: Apache-2.0 */
/*
 * layercode-player - a command-line Layercode voice-agent client built on liblayercode.
 *
 * Two audio modes:
 *  - ALSA (the default): the library opens the sound devices (--capture/--playback, or
 *    ALSA's "default") and runs them on its own real-time threads.
 *  - WAV (--input/--output/--no-devices): the library's external-audio mode. A WAV file (or
 *    silence) is the microphone, a WAV file is the speaker, and both run in real time in
 *    20 ms chunks on the main thread, the way a sound card would drive them.
 * Events are printed as they arrive, for people (on a terminal with a live status line of
 * levels, speaking and mute state) or, with --json-events, for programs. --push-to-talk
 * turns the keyboard (or lines on stdin) into the talk button.
 *
 * Threads: the main thread runs a 20 ms clock (the audio in WAV mode; keys, push-to-talk,
 * level and stats reports in both); the library's event-loop thread runs the callbacks,
 * which format their line, queue it and record state under a mutex; a printer thread
 * writes queued lines to stdout and redraws the status line, so a slow reader of stdout
 * never stalls the audio clock or the library.
 */
#define _POSIX_C_SOURCE 200809L

#include "args.h"
#include "devices.h"
#include "jsontext.h"
#include "term.h"
#include "wav.h"

#include <layercode.h>

#include <errno.h>
#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define PROG "layercode-player"

/* The main clock: one tick (and in WAV mode one chunk of input and output) every CHUNK_NS. */
#define CHUNKS_PER_SECOND 50
#define CHUNK_NS (1000000000L / CHUNKS_PER_SECOND)
#define OUTPUT_RATE 16000
#define OUTPUT_CHUNK (OUTPUT_RATE / CHUNKS_PER_SECOND)
#define DEFAULT_INPUT_RATE 16000
/* How long to wait for on_disconnected after asking to disconnect, or after the status
 * turned to error without one. */
#define DISCONNECT_WAIT_NS 2000000000LL
/* The status line is redrawn this often (about 15 times a second). */
#define REDRAW_NS 66000000LL
/* Push-to-talk on a terminal: a held SPACE repeats, typically after 250..600 ms and then
 * every 30..50 ms. The talk button is released when no repeat came for this long. */
#define PTT_FIRST_RELEASE_NS 600000000LL
#define PTT_RELEASE_NS 300000000LL
/* Level meters: 10 cells over -60..0 dBFS. */
#define METER_CELLS 10
#define METER_FLOOR_DB (-60.0)

/* ---- Session state shared with the callbacks and the printer -------------------------- */

typedef struct session {
    pthread_mutex_t mu;
    int json;                  /* --json-events; read-only after start */
    int display;               /* live status line on stdout; read-only after start */
    int plain;                 /* neither: plain lines; read-only after start */
    int ptt;                   /* --push-to-talk; read-only after start */
    int verbose;               /* -v: the full config on connect; read-only after start */
    int connected;             /* on_connected has run */
    int disconnected;          /* on_disconnected has run */
    int disconnect_reason;
    char disconnect_message[1024];
    int status;                /* last status from on_status */
    int error_status;          /* on_status reported LC_STATUS_ERROR */
    int last_error_code;       /* last on_error */
    char last_error_message[1024];
    /* Levels, speaking, mute and talk state (for events and the status line). */
    float user_level, agent_level;
    int levels_dirty;          /* a level arrived since the last amplitude event */
    int user_speaking, agent_speaking;
    int muted;                 /* last mute state reported; -1 none yet */
    int talking;               /* push-to-talk turn in progress */
    char last_text[512];       /* last transcript or agent text, one line */
} session;

/* ---- Output queue, printer thread and status line ------------------------------------- */

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

/* Held while writing to the terminal: the printer's lines and status line, and the main
 * thread's messages on stderr, which must first clear the status line. */
static pthread_mutex_t out_mu = PTHREAD_MUTEX_INITIALIZER;
/* Lines of the status area on screen (under out_mu): 0; 1, the meters; or 2, the meters
 * and the latest transcript below them. */
static int status_lines = 0;

/* Erases the status area (under out_mu); the cursor ends where its first line was. */
static void clear_status(void) {
    if (status_lines == 2) fputs("\r\033[K\033[A", stdout);
    if (status_lines > 0) fputs("\r\033[K", stdout);
    status_lines = 0;
}

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

/* A message on stderr that does not collide with the status line. */
#if defined(__GNUC__)
__attribute__((format(printf, 1, 2)))
#endif
static void report(const char *fmt, ...) {
    va_list ap;
    pthread_mutex_lock(&out_mu);
    if (status_lines) {
        clear_status();
        fflush(stdout);
    }
    fputs(PROG ": ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    fflush(stderr);
    pthread_mutex_unlock(&out_mu);
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

/* A level meter over -60..0 dBFS: "[#####     ]". */
static void meter(strbuf *sb, float level) {
    char cells[METER_CELLS + 3];
    int n = 0, i;
    if (level > 0.0f) {
        double db = 20.0 * log10((double)level);
        n = (int)((db - METER_FLOOR_DB) / -METER_FLOOR_DB * METER_CELLS + 0.5);
        if (n < 0) n = 0;
        if (n > METER_CELLS) n = METER_CELLS;
        if (n == 0 && db > METER_FLOOR_DB) n = 1;
    }
    cells[0] = '[';
    for (i = 0; i < METER_CELLS; i++) cells[i + 1] = i < n ? '#' : ' ';
    cells[METER_CELLS + 1] = ']';
    cells[METER_CELLS + 2] = '\0';
    sb_puts(sb, cells);
}

/* Appends UTF-8 text in at most `columns` characters (code points), never half a one. Text
 * that does not fit keeps its end, after "...": a transcript that grows scrolls to the
 * left, so the words being said are the ones on screen (the whole line is printed above
 * the status line once it is final). */
static void append_columns(strbuf *sb, const char *text, int columns) {
    const unsigned char *p = (const unsigned char *)text;
    int count = 0;
    for (; *p; p++)
        if ((*p & 0xC0) != 0x80) count++;
    p = (const unsigned char *)text;
    if (count > columns) {
        int skip = count - (columns - 3);
        sb_puts(sb, "...");
        while (*p && skip > 0) {
            p++;
            while ((*p & 0xC0) == 0x80) p++;
            skip--;
        }
    }
    sb_puts(sb, (const char *)p);
}

/* The status area, each line at most width-1 columns (so the terminal never wraps it):
 * the meters, and below them the latest transcript or agent text with the whole width to
 * itself (its end when it does not fit; the whole text is printed above once final). */
static void compose_status(session *s, strbuf *meters, strbuf *text, int width) {
    pthread_mutex_lock(&s->mu);
    sb_printf(meters, "%-12s mic ", status_name(s->status));
    meter(meters, s->user_level);
    sb_puts(meters, s->user_speaking ? " speaking " : "          ");
    sb_puts(meters, "agent ");
    meter(meters, s->agent_level);
    sb_puts(meters, s->agent_speaking ? " speaking " : "          ");
    sb_puts(meters, s->muted > 0 ? "MUTED " : "      ");
    if (s->ptt) sb_puts(meters, s->talking ? "TALK " : "     ");
    if (s->last_text[0]) {
        /* "agent: " or "you: " stays; what follows scrolls. */
        const char *colon = strstr(s->last_text, ": ");
        int label = colon && colon - s->last_text < 8 ? (int)(colon - s->last_text) + 2 : 0;
        if (width - 1 - label > 3) {
            sb_append(text, s->last_text, (size_t)label);
            append_columns(text, s->last_text + label, width - 1 - label);
        }
    }
    pthread_mutex_unlock(&s->mu);
    while (meters->len > 0 && meters->data[meters->len - 1] == ' ')
        meters->data[--meters->len] = '\0';
    if ((int)meters->len > width - 1 && meters->data) { /* all ASCII: bytes are columns */
        meters->data[width > 1 ? width - 1 : 0] = '\0';
        meters->len = strlen(meters->data);
    }
}

static int64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void *printer_main(void *arg) {
    session *s = arg;
    int64_t next_redraw = now_ns();
    pthread_mutex_lock(&printer.mu);
    for (;;) {
        line *batch;
        int quit;
        while (printer.head == NULL && !printer.quit) {
            if (s->display) {
                /* The condition variable uses CLOCK_REALTIME: wait a relative slice. */
                int64_t left = next_redraw - now_ns();
                struct timespec ts;
                if (left <= 0) break;
                clock_gettime(CLOCK_REALTIME, &ts);
                ts.tv_sec += (time_t)(left / 1000000000LL);
                ts.tv_nsec += (long)(left % 1000000000LL);
                if (ts.tv_nsec >= 1000000000L) {
                    ts.tv_sec++;
                    ts.tv_nsec -= 1000000000L;
                }
                pthread_cond_timedwait(&printer.cond, &printer.mu, &ts);
            } else {
                pthread_cond_wait(&printer.cond, &printer.mu);
            }
        }
        batch = printer.head;
        printer.head = printer.tail = NULL;
        quit = printer.quit;
        pthread_mutex_unlock(&printer.mu);

        pthread_mutex_lock(&out_mu);
        while (batch) {
            line *next = batch->next;
            clear_status();
            fputs(batch->text, stdout);
            fputc('\n', stdout);
            free(batch->text);
            free(batch);
            batch = next;
        }
        if (s->display) {
            if (quit) {
                clear_status();
            } else {
                strbuf meters, text;
                sb_init(&meters);
                sb_init(&text);
                compose_status(s, &meters, &text, term_columns(STDOUT_FILENO));
                clear_status();
                if (meters.data) fputs(meters.data, stdout);
                fputs("\033[K", stdout);
                status_lines = 1;
                if (text.data) {
                    fputs("\n", stdout);
                    fputs(text.data, stdout);
                    fputs("\033[K", stdout);
                    status_lines = 2;
                }
                sb_free(&meters);
                sb_free(&text);
                next_redraw = now_ns() + REDRAW_NS;
            }
        }
        fflush(stdout);
        pthread_mutex_unlock(&out_mu);

        pthread_mutex_lock(&printer.mu);
        if (quit && printer.head == NULL) break;
    }
    pthread_mutex_unlock(&printer.mu);
    return NULL;
}

/* ---- Callbacks ------------------------------------------------------------------------ */

static volatile sig_atomic_t signal_count = 0;

static void on_signal(int sig) {
    (void)sig;
    if (signal_count < 100) signal_count++;
}

static void copy_text(char *dst, size_t size, const char *src) {
    snprintf(dst, size, "%s", src ? src : "");
}

/* Keeps a human line on one line: line breaks become spaces, trailing blanks go. */
static void one_line(char *text) {
    size_t n;
    char *p;
    if (text == NULL) return;
    for (p = text; *p; p++)
        if (*p == '\n' || *p == '\r' || *p == '\t') *p = ' ';
    n = strlen(text);
    while (n > 0 && text[n - 1] == ' ') text[--n] = '\0';
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
        /* One line people read; the whole config with -v (or in the JSON event). */
        char *transcription = json_get_raw(config_json, "transcription");
        char *trigger = json_get_string(transcription, "trigger");
        char *can_interrupt = json_get_raw(transcription, "can_interrupt");
        sb_printf(&sb, "* connected: conversation %s; trigger %s, can_interrupt %s",
                  conversation_id ? conversation_id : "(none)", trigger ? trigger : "?",
                  can_interrupt ? can_interrupt : "true"); /* absent: the default */
        free(transcription);
        free(trigger);
        free(can_interrupt);
        if (s->verbose) {
            emit(&sb);
            sb_puts(&sb, "* config: ");
            sb_json_raw(&sb, config_json);
        }
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

/* The human form of a server message: text for what people read, the JSON otherwise.
 * Returns 0 when nothing is to be printed (interim transcripts on the status line). */
/* dst = label + text for the status line, keeping the end of a text too long for dst (the
 * status line shows the end: see append_columns), never half a UTF-8 sequence. */
static void status_text_of(char *dst, size_t size, const char *label, const char *text) {
    size_t label_len = strlen(label), len = strlen(text), room = size - 1 - label_len;
    if (len > room) {
        text += len - room;
        while ((*(const unsigned char *)text & 0xC0) == 0x80) text++;
    }
    snprintf(dst, size, "%s%s", label, text);
}

static int human_message(session *s, strbuf *sb, const char *type, const char *json) {
    char *content = json_get_string(json, "content");
    int print = 1;
    char status_text[sizeof s->last_text];
    status_text[0] = '\0';
    one_line(content);
    if (type == NULL) type = "";
    if (strcmp(type, "response.text") == 0 && content) {
        sb_printf(sb, "agent: %s", content);
        status_text_of(status_text, sizeof status_text, "agent: ", content);
    } else if (strcmp(type, "user.transcript") == 0 && content) {
        sb_printf(sb, "you: %s", content);
        status_text_of(status_text, sizeof status_text, "you: ", content);
    } else if ((strcmp(type, "user.transcript.delta") == 0 ||
                strcmp(type, "user.transcript.interim_delta") == 0) && content) {
        /* Parts of what user.transcript then says whole: printed once, from that. On a
         * terminal the status line shows what is being said meanwhile. */
        status_text_of(status_text, sizeof status_text, "you: ", content);
        print = 0;
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
    if (status_text[0]) {
        pthread_mutex_lock(&s->mu);
        memcpy(s->last_text, status_text, sizeof s->last_text);
        pthread_mutex_unlock(&s->mu);
    }
    return print;
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
    } else if (!human_message(s, &sb, type, json)) {
        sb_free(&sb);
        return;
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

static float clamp_level(float level) {
    if (!(level > 0.0f)) return 0.0f; /* NaN too */
    return level > 1.0f ? 1.0f : level;
}

static void cb_user_amplitude(void *user_data, float level) {
    session *s = user_data;
    pthread_mutex_lock(&s->mu);
    s->user_level = clamp_level(level);
    s->levels_dirty = 1;
    pthread_mutex_unlock(&s->mu);
}

static void cb_agent_amplitude(void *user_data, float level) {
    session *s = user_data;
    pthread_mutex_lock(&s->mu);
    s->agent_level = clamp_level(level);
    s->levels_dirty = 1;
    pthread_mutex_unlock(&s->mu);
}

/* A yes/no state changed: recorded, and printed as an event (JSON), a line (plain), or
 * only on the status line (terminal). *state is a field of s; only changes are reported. */
static void flag_changed(session *s, int *state, int on, const char *json_event,
                         const char *json_key, const char *plain_on, const char *plain_off) {
    strbuf sb;
    int changed;
    on = on != 0;
    pthread_mutex_lock(&s->mu);
    changed = *state != on;
    *state = on;
    pthread_mutex_unlock(&s->mu);
    if (!changed || s->display) return;
    sb_init(&sb);
    if (s->json)
        sb_printf(&sb, "{\"event\":\"%s\",\"%s\":%s}", json_event, json_key,
                  on ? "true" : "false");
    else
        sb_puts(&sb, on ? plain_on : plain_off);
    emit(&sb);
}

static void cb_user_speaking(void *user_data, int on) {
    session *s = user_data;
    flag_changed(s, &s->user_speaking, on, "user_speaking", "speaking", "* you: speaking",
                 "* you: stopped speaking");
}

static void cb_agent_speaking(void *user_data, int on) {
    session *s = user_data;
    flag_changed(s, &s->agent_speaking, on, "agent_speaking", "speaking",
                 "* agent: speaking", "* agent: stopped speaking");
}

static void cb_mute(void *user_data, int on) {
    session *s = user_data;
    flag_changed(s, &s->muted, on, "mute", "muted", "* microphone muted",
                 "* microphone unmuted");
}

/* ---- Helpers -------------------------------------------------------------------------- */

static void sleep_until(int64_t deadline_ns) {
    struct timespec ts;
    ts.tv_sec = (time_t)(deadline_ns / 1000000000LL);
    ts.tv_nsec = (long)(deadline_ns % 1000000000LL);
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR) {
        if (signal_count > 0) return;
    }
}

/* Statistics: the library's counters, and in WAV mode the seconds of audio the player's
 * clock moved in each direction (have_seconds). */
static void emit_stats(int json, int final, const lc_stats *st, int have_seconds,
                       double input_seconds, double output_seconds) {
    strbuf sb;
    sb_init(&sb);
    if (json) {
        sb_printf(&sb,
                  "{\"event\":\"stats\",\"final\":%s,"
                  "\"audio_frames_sent\":%llu,\"audio_bytes_sent\":%llu,"
                  "\"audio_frames_received\":%llu,\"audio_bytes_received\":%llu,"
                  "\"messages_sent\":%llu,\"messages_received\":%llu,"
                  "\"input_samples_dropped\":%llu,\"playout_samples_dropped\":%llu,"
                  "\"played_samples\":%llu,\"underrun_samples\":%llu,"
                  "\"connect_time_us\":%lld,"
                  "\"jitter_delay_ms\":%ld,\"jitter_target_ms\":%ld,\"concealed_ms\":%lld,"
                  "\"interruptions\":%lld,\"interruption_ms\":%lld,"
                  "\"late_frames\":%llu,\"dropped_frames\":%llu,"
                  "\"capture_xruns\":%llu,\"playback_xruns\":%llu,\"device_delay_ms\":%lld",
                  final ? "true" : "false",
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
                  (long)st->jitter_delay_ms, (long)st->jitter_target_ms,
                  (long long)st->concealed_ms, (long long)st->interruptions,
                  (long long)st->interruption_ms, (unsigned long long)st->late_frames,
                  (unsigned long long)st->dropped_frames,
                  (unsigned long long)st->capture_xruns,
                  (unsigned long long)st->playback_xruns, (long long)st->device_delay_ms);
        sb_printf(&sb, ",\"recorder_dropped_frames\":%llu",
                  (unsigned long long)st->recorder_dropped_frames);
        sb_printf(&sb,
                  ",\"wire_codec\":\"%s\",\"wire_bytes_sent\":%llu,\"wire_bytes_received\":%llu,"
                  "\"fec_recovered_frames\":%llu",
                  st->wire_codec == LC_CODEC_OPUS ? "opus" : "pcm16",
                  (unsigned long long)st->wire_bytes_sent,
                  (unsigned long long)st->wire_bytes_received,
                  (unsigned long long)st->fec_recovered_frames);
        sb_printf(&sb,
                  ",\"echo_engine\":\"%s\",\"echo_return_loss_enhancement_db\":%.1f,"
                  "\"residual_echo_level_dbfs\":%.1f,\"echo_delay_ms\":%lld,"
                  "\"double_talk_frames\":%llu,\"echo_frames\":%llu,"
                  "\"echo_reference_late_frames\":%llu,\"half_duplex_gated_frames\":%llu",
                  lc_echo_engine_name(st->echo_engine), st->echo_return_loss_enhancement_db,
                  st->residual_echo_level_dbfs, (long long)st->echo_delay_ms,
                  (unsigned long long)st->double_talk_frames, (unsigned long long)st->echo_frames,
                  (unsigned long long)st->echo_reference_late_frames,
                  (unsigned long long)st->half_duplex_gated_frames);
        if (have_seconds)
            sb_printf(&sb, ",\"input_seconds\":%.3f,\"output_seconds\":%.3f", input_seconds,
                      output_seconds);
        sb_puts(&sb, "}");
    } else {
        sb_printf(&sb,
                  "stats: sent %llu audio frames (%llu bytes), received %llu (%llu bytes); "
                  "messages %llu sent, %llu received; played %llu samples, underrun %llu, "
                  "dropped %llu input / %llu playout; connect %.1f ms; "
                  "jitter buffer %ld ms (target %ld), concealed %lld ms, "
                  "%lld interruptions (%lld ms), %llu late / %llu dropped frames; "
                  "xruns %llu capture / %llu playback",
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
                  (long)st->jitter_delay_ms, (long)st->jitter_target_ms,
                  (long long)st->concealed_ms, (long long)st->interruptions,
                  (long long)st->interruption_ms, (unsigned long long)st->late_frames,
                  (unsigned long long)st->dropped_frames,
                  (unsigned long long)st->capture_xruns,
                  (unsigned long long)st->playback_xruns);
        sb_printf(&sb, "; wire %s, %llu bytes sent / %llu received, %llu FEC-recovered frames",
                  st->wire_codec == LC_CODEC_OPUS ? "opus" : "pcm16",
                  (unsigned long long)st->wire_bytes_sent,
                  (unsigned long long)st->wire_bytes_received,
                  (unsigned long long)st->fec_recovered_frames);
        if (st->echo_frames > 0)
            sb_printf(&sb, "; echo %s: ERLE %.1f dB, residual %.1f dBFS, delay %lld ms, "
                      "%llu double-talk / %llu late-reference frames",
                      lc_echo_engine_name(st->echo_engine), st->echo_return_loss_enhancement_db,
                      st->residual_echo_level_dbfs, (long long)st->echo_delay_ms,
                      (unsigned long long)st->double_talk_frames,
                      (unsigned long long)st->echo_reference_late_frames);
        if (st->half_duplex_gated_frames > 0)
            sb_printf(&sb, "; half duplex muted %llu frames",
                      (unsigned long long)st->half_duplex_gated_frames);
        if (have_seconds)
            sb_printf(&sb, "; audio %.2f s in, %.2f s out", input_seconds, output_seconds);
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
    case LC_ERR_AUDIO: return "audio device error";
    default: return "session failed";
    }
}

/* ---- Push-to-talk --------------------------------------------------------------------- */

typedef struct ptt_state {
    int enabled;      /* --push-to-talk */
    int keys;         /* stdin is a terminal in raw mode: SPACE/t/m/q */
    int input_open;   /* stdin not at end of input yet */
    int want;         /* talking, as the user asks */
    int sent;         /* talking, as the library was told */
    int latched;      /* talking by 't' or a line: no auto-release */
    int repeated;     /* SPACE repeated since it was pressed */
    int64_t last_space_ns;
    int quit;         /* 'q' */
} ptt_state;

/* Reads what stdin has (never blocks) and applies it. */
static void ptt_read_input(ptt_state *p, lc_client *client, int64_t now) {
    char buf[256];
    ssize_t n, i;
    struct pollfd pfd;
    if (!p->input_open) return;
    pfd.fd = STDIN_FILENO;
    pfd.events = POLLIN;
    pfd.revents = 0;
    if (poll(&pfd, 1, 0) <= 0) return;
    if (pfd.revents & POLLNVAL) n = 0; /* no stdin at all */
    else if (pfd.revents & (POLLIN | POLLHUP | POLLERR)) n = read(STDIN_FILENO, buf, sizeof buf);
    else return;
    if (n < 0) {
        if (errno == EINTR || errno == EAGAIN) return;
        n = 0;
    }
    if (n == 0) {
        /* End of input: a turn in progress ends, and nothing more is read. */
        p->input_open = 0;
        p->want = 0;
        p->latched = 0;
        return;
    }
    for (i = 0; i < n; i++) {
        char c = buf[i];
        if (!p->keys) {
            if (c == '\n') {
                p->want = !p->want;
                p->latched = p->want;
            }
            continue;
        }
        switch (c) {
        case ' ':
            if (!p->want) {
                p->want = 1;
                p->latched = 0;
                p->repeated = 0;
            } else if (!p->latched) {
                p->repeated = 1;
            }
            p->last_space_ns = now;
            break;
        case 't': case 'T':
            p->want = !p->want;
            p->latched = p->want;
            break;
        case 'm': case 'M':
            if (lc_client_is_muted(client) == 1) lc_client_unmute(client);
            else lc_client_mute(client);
            break;
        case 'q': case 'Q':
            p->quit = 1;
            break;
        default:
            break;
        }
    }
}

/* Auto-release of a held SPACE, then tells the library what changed. A turn start waits
 * until the session is live; a turn end without a live session just forgets the turn. */
static void ptt_sync(ptt_state *p, session *s, lc_client *client, int64_t now) {
    int rc = LC_OK, live, starting;
    strbuf sb;
    if (p->want && !p->latched && p->keys &&
        now - p->last_space_ns > (p->repeated ? PTT_RELEASE_NS : PTT_FIRST_RELEASE_NS))
        p->want = 0;
    if (p->want == p->sent) return;
    live = lc_client_status(client) == LC_STATUS_CONNECTED;
    starting = p->want;
    if (starting) {
        if (!live) return;
        rc = lc_client_turn_start(client);
        if (rc == LC_OK) p->sent = 1;
        else p->want = p->latched = 0; /* no retry on every tick */
    } else {
        if (live) rc = lc_client_turn_end(client);
        p->sent = 0; /* a failed end still ends the turn here */
    }
    if (rc != LC_OK) {
        const char *detail = lc_client_last_error(client);
        report("%s failed: %s", starting ? "turn start" : "turn end",
               detail && *detail ? detail : lc_strerror(rc));
    }
    pthread_mutex_lock(&s->mu);
    if (s->talking == p->sent) {
        pthread_mutex_unlock(&s->mu);
        return;
    }
    s->talking = p->sent;
    pthread_mutex_unlock(&s->mu);
    if (s->display) return;
    sb_init(&sb);
    if (s->json)
        sb_printf(&sb, "{\"event\":\"talk\",\"talking\":%s}", p->sent ? "true" : "false");
    else
        sb_puts(&sb, p->sent ? "* talk: on" : "* talk: off");
    emit(&sb);
}

/* ---- Main ----------------------------------------------------------------------------- */

/* Why the main loop stopped. */
enum stop_reason { STOP_SESSION_ENDED, STOP_DURATION, STOP_SIGNAL, STOP_QUIT,
                   STOP_ERROR_STATUS };

/* The amplitude event: the latest levels, when any arrived since the last one. */
static void emit_amplitude(session *s) {
    strbuf sb;
    float user, agent;
    pthread_mutex_lock(&s->mu);
    if (!s->levels_dirty) {
        pthread_mutex_unlock(&s->mu);
        return;
    }
    s->levels_dirty = 0;
    user = s->user_level;
    agent = s->agent_level;
    pthread_mutex_unlock(&s->mu);
    sb_init(&sb);
    sb_printf(&sb, "{\"event\":\"amplitude\",\"user\":%.4f,\"agent\":%.4f}", (double)user,
              (double)agent);
    emit(&sb);
}

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
    ptt_state ptt;
    int wav_mode;
    int input_rate = DEFAULT_INPUT_RATE;
    int input_done = 0; /* the input file has ended */
    int text_sent = 0;
    int16_t *in_buf = NULL;
    int16_t out_buf[OUTPUT_CHUNK];
    size_t in_buf_len;
    int64_t start_ns, chunk, total_chunks, error_status_at = -1;
    int64_t amplitude_period_ns = 0, next_amplitude_ns = 0;
    int64_t stats_period_ns = 0, next_stats_ns = 0;
    uint64_t input_samples = 0, output_samples = 0;
    enum stop_reason stop = STOP_SESSION_ENDED;
    lc_stats stats;
    int rc, exit_code = 0;

    if (args_parse(argc, argv, &args, err, sizeof err) != 0) {
        fprintf(stderr, "%s: %s\n", PROG, err);
        args_usage_short(stderr); /* the error, not 70 lines of help on top of it */
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
    if (args.list_devices) {
        exit_code = list_devices(args.json_events);
        args_free(&args);
        return exit_code;
    }
    wav_mode = args.audio == AUDIO_WAV;

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
    s.display = !s.json && term_isatty(STDOUT_FILENO);
    s.plain = !s.json && !s.display;
    s.ptt = args.push_to_talk;
    s.verbose = args.verbose;
    s.status = LC_STATUS_DISCONNECTED;
    s.muted = -1;

    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    sa.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &sa, NULL); /* a closed stdout must not kill the session */

    memset(&ptt, 0, sizeof ptt);
    if (args.push_to_talk) {
        ptt.enabled = 1;
        ptt.input_open = 1;
        /* On a terminal, keys; otherwise (or if raw mode is refused) lines. */
        ptt.keys = term_isatty(STDIN_FILENO) && term_raw_begin() == 0;
    }

    if (pthread_create(&printer_thread, NULL, printer_main, &s) != 0) {
        term_restore();
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
    if (args.reconnect_attempts >= 0) opts.reconnect_max_attempts = args.reconnect_attempts;
    if (wav_mode) {
        opts.audio_mode = LC_AUDIO_EXTERNAL;
        opts.input_sample_rate = input_rate;
        opts.output_sample_rate = OUTPUT_RATE;
    } else {
        opts.audio_mode = LC_AUDIO_ALSA;
        opts.capture_device = args.capture_device;
        opts.playback_device = args.playback_device;
        if (args.device_rate > 0) opts.device_sample_rate = args.device_rate;
        if (args.period_ms > 0) opts.period_ms = args.period_ms;
    }
    if (args.jitter_min_ms > 0) opts.jitter_min_ms = args.jitter_min_ms;
    if (args.jitter_max_ms > 0) opts.jitter_max_ms = args.jitter_max_ms;
    if (args.codecs) opts.wire_codecs = args.codecs;
    if (args.opus_bitrate > 0) opts.opus_bitrate = args.opus_bitrate;
    opts.echo_cancellation = args.aec;
    opts.echo_engine = args.echo_engine;
    opts.noise_suppression = args.ns;
    opts.auto_gain = args.agc;
    opts.half_duplex = args.half_duplex;
    opts.audio_input_enabled = !args.no_mic;
    opts.audio_output_enabled = !args.no_speaker;
    opts.start_muted = args.muted;
    opts.record_path = args.record_path;
    opts.amplitude_rate_hz = args.amplitude_rate;
    opts.user_data = &s;
    opts.on_status = cb_status;
    opts.on_connected = cb_connected;
    opts.on_disconnected = cb_disconnected;
    opts.on_error = cb_error;
    opts.on_message = cb_message;
    opts.on_data = cb_data;
    if (args.amplitude_rate > 0 && (s.json || s.display)) {
        /* Levels are shown as JSON events or on the live status line only: without a
         * listener the library does not measure them at all. */
        opts.on_user_amplitude = cb_user_amplitude;
        opts.on_agent_amplitude = cb_agent_amplitude;
    }
    opts.on_user_speaking = cb_user_speaking;
    opts.on_agent_speaking = cb_agent_speaking;
    opts.on_mute = cb_mute;

    rc = lc_client_new(&opts, &client);
    if (rc != LC_OK) {
        const char *detail = lc_client_last_error(NULL);
        report("%s: %s",
               rc == LC_ERR_INVALID_ARGUMENT ? "invalid options" : "cannot create client",
               detail && *detail ? detail : lc_strerror(rc));
        exit_code = rc == LC_ERR_INVALID_ARGUMENT ? 2 : 1;
        goto finish;
    }
    /* Starting muted is a mute state too: report it once, whether or not the library
     * calls on_mute for its initial state (cb_mute reports changes only). */
    if (lc_client_is_muted(client) == 1) cb_mute(&s, 1);

    if (args.amplitude_rate > 0 && s.json) amplitude_period_ns = 1000000000LL / args.amplitude_rate;
    if (args.stats_interval > 0) stats_period_ns = (int64_t)(args.stats_interval * 1e9);

    start_ns = now_ns();
    next_amplitude_ns = start_ns + amplitude_period_ns;
    next_stats_ns = start_ns + stats_period_ns;
    rc = lc_client_connect(client);
    if (rc != LC_OK) {
        const char *detail = lc_client_last_error(client);
        report("connect failed: %s", detail && *detail ? detail : lc_strerror(rc));
        exit_code = 1;
        goto teardown;
    }

    /* The clock. Tick k covers [k, k+1) * 20 ms after start. In WAV mode, at its end the
     * "microphone" hands over its 20 ms and the "speaker" takes the next 20 ms. Deadlines
     * are absolute, so late wake-ups catch up instead of drifting. */
    total_chunks = args.duration > 0
                       ? (int64_t)(args.duration * CHUNKS_PER_SECOND + 0.5)
                       : -1;
    if (total_chunks == 0) total_chunks = 1;
    for (chunk = 0;; chunk++) {
        int connected, disconnected, error_status;
        int64_t now;

        sleep_until(start_ns + (chunk + 1) * CHUNK_NS);
        now = now_ns();

        pthread_mutex_lock(&s.mu);
        connected = s.connected;
        disconnected = s.disconnected;
        error_status = s.error_status;
        pthread_mutex_unlock(&s.mu);

        if (signal_count > 0) {
            stop = STOP_SIGNAL;
            break;
        }
        if (ptt.quit) {
            stop = STOP_QUIT;
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
                error_status_at = now;
            else if (now - error_status_at > DISCONNECT_WAIT_NS) {
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
                report("send text failed: %s", detail && *detail ? detail : lc_strerror(rc));
            }
        }

        if (ptt.enabled) {
            ptt_read_input(&ptt, client, now);
            if (ptt.quit) continue; /* stops at the top of the next tick */
            ptt_sync(&ptt, &s, client, now);
        }

        if (wav_mode) {
            size_t want, got;
            int64_t due;
            /* Microphone: this chunk's samples at the input rate. The file starts playing
             * once the session is live (audio written before is discarded by the
             * library); with push-to-talk it plays only while talking, like a person who
             * speaks while holding the button, and pauses between turns. */
            due = (chunk + 1) * (int64_t)input_rate / CHUNKS_PER_SECOND;
            want = (size_t)(due - (int64_t)input_samples);
            if (want > in_buf_len) want = in_buf_len;
            got = 0;
            if (input && !input_done && lc_client_status(client) == LC_STATUS_CONNECTED &&
                (!ptt.enabled || ptt.sent)) {
                got = wav_reader_read_mono(input, in_buf, want);
                if (got < want) {
                    input_done = 1;
                    if (wav_reader_error(input))
                        report("read error on %s; continuing with silence", args.input_path);
                }
            }
            if (got < want) memset(in_buf + got, 0, (want - got) * sizeof *in_buf);
            rc = lc_client_write_audio(client, in_buf, want);
            (void)rc; /* losses show up in input_samples_dropped */
            input_samples += want;

            /* Speaker: everything read, agent audio and silence alike, is what was
             * played. */
            rc = lc_client_read_audio(client, out_buf, OUTPUT_CHUNK);
            if (rc < 0) memset(out_buf, 0, sizeof out_buf);
            if (output) (void)wav_writer_write(output, out_buf, OUTPUT_CHUNK); /* at close */
            output_samples += OUTPUT_CHUNK;
        }

        if (amplitude_period_ns > 0 && now >= next_amplitude_ns) {
            emit_amplitude(&s);
            next_amplitude_ns += amplitude_period_ns;
            if (next_amplitude_ns <= now) next_amplitude_ns = now + amplitude_period_ns;
        }
        if (stats_period_ns > 0 && now >= next_stats_ns) {
            memset(&stats, 0, sizeof stats);
            stats.connect_time_us = -1;
            lc_client_get_stats(client, &stats);
            emit_stats(s.json, 0, &stats, wav_mode, (double)input_samples / input_rate,
                       (double)output_samples / OUTPUT_RATE);
            next_stats_ns += stats_period_ns;
            if (next_stats_ns <= now) next_stats_ns = now + stats_period_ns;
        }
    }

    /* A push-to-talk turn still open ends first, so the server hears all of it. */
    if (ptt.sent && stop != STOP_SESSION_ENDED && stop != STOP_ERROR_STATUS) {
        ptt.want = 0;
        ptt_sync(&ptt, &s, client, now_ns());
    }
    /* The keyboard goes back to the shell as soon as the session stops taking keys. */
    term_restore();

    if (stop == STOP_DURATION || stop == STOP_SIGNAL || stop == STOP_QUIT) {
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

    {
        /* Worded under the lock, reported after it (the printer takes them the other way
         * round). */
        char message[2200];
        message[0] = '\0';
        pthread_mutex_lock(&s.mu);
        if (stop == STOP_SIGNAL || stop == STOP_QUIT) {
            exit_code = 0;
        } else if (stop == STOP_DURATION) {
            if (!s.connected) {
                snprintf(message, sizeof message, "not connected after %.3g s",
                         args.duration);
                exit_code = 1;
            }
        } else {
            int code = s.disconnected ? s.disconnect_reason : s.last_error_code;
            if (s.disconnected && code == LC_OK) {
                exit_code = 0;
            } else {
                const char *detail;
                char failure[512];
                if (code == LC_OK) code = LC_ERR_INTERNAL; /* error status with no error */
                if (s.last_error_code == code && s.last_error_message[0])
                    detail = s.last_error_message;
                else if (s.disconnected && s.disconnect_message[0])
                    detail = s.disconnect_message;
                else if (lc_client_failure_message(client, failure, sizeof failure) > 0)
                    detail = failure;
                else
                    detail = lc_strerror(code);
                /* The detail may say what failed already ("authorize failed: HTTP 402"). */
                if (strncmp(detail, failure_prefix(code), strlen(failure_prefix(code))) == 0)
                    snprintf(message, sizeof message, "%s", detail);
                else
                    snprintf(message, sizeof message, "%s: %s", failure_prefix(code), detail);
                exit_code = 1;
            }
        }
        pthread_mutex_unlock(&s.mu);
        if (message[0]) report("%s", message);
    }

teardown:
    memset(&stats, 0, sizeof stats);
    stats.connect_time_us = -1;
    lc_client_get_stats(client, &stats);
    lc_client_free(client); /* no callback runs after this: stats stay the last line */
    emit_stats(s.json, 1, &stats, wav_mode, (double)input_samples / input_rate,
               (double)output_samples / OUTPUT_RATE);

finish:
    term_restore();
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
