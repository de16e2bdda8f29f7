/* SPDX-License-Identifier: Apache-2.0 */
/*
 * aec_scene: one echo canceller engine (Sources/CEchoCancel, lc_echo.h) over one scene's
 * files, 10 ms by 10 ms, as the library runs it: for every frame, the far (reference)
 * frame first, then the microphone frame in place.
 *
 *   aec_scene ENGINE mic.wav ref.wav out.wav [--ns] [--agc] [--no-aec] [--delay-ms N]
 *             [--align-ms N] [--speex-tail-ms N] [--cpu-file PATH]
 *   aec_scene --list
 *
 * ENGINE: webrtc-aec3, webrtc-legacy, speexdsp, "webrtc" (the best WebRTC engine built),
 * "speex", or "none" (out = mic: the raw microphone through the same path).
 * --delay-ms N is passed to lcecho_process_near (WebRTC's stream delay: the delay between a
 * far frame and its echo; speex ignores it). --align-ms N delays the reference by N ms
 * before the engine sees it (the caller-side alignment the library does from the device
 * delays); default 0.
 * Files: 16 kHz mono PCM16 WAV; a reference shorter than the microphone is padded with
 * silence; out.wav has the microphone's length rounded down to whole 10 ms frames.
 * Prints one JSON object: the engine, frames, CPU time per 10 ms frame (far + near call,
 * CLOCK_THREAD_CPUTIME_ID: mean, p50, p99, max, in µs) and the engine's own metrics at the
 * end; --cpu-file writes each frame's CPU time (µs, one line per frame, in frame order).
 * --list prints {"built": [...], "default": "..."}. Exit 0, or 2 with a message.
 */
#define _POSIX_C_SOURCE 200809L
#include "lc_echo.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct {
    int16_t *samples;
    size_t count;
} pcm;

static void die(const char *what, const char *detail) {
    fprintf(stderr, "aec_scene: %s%s%s\n", what, detail ? ": " : "", detail ? detail : "");
    exit(2);
}

static uint32_t le32(const unsigned char *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint16_t le16(const unsigned char *p) { return (uint16_t)(p[0] | p[1] << 8); }

/* A RIFF/WAVE file's PCM16 mono 16 kHz data; anything else is refused by name. */
static pcm read_wav(const char *path) {
    FILE *f = fopen(path, "rb");
    unsigned char header[12], chunk[8], fmt[16];
    int have_fmt = 0;
    pcm out = {NULL, 0};
    if (!f) die("cannot open", path);
    if (fread(header, 1, 12, f) != 12 || memcmp(header, "RIFF", 4) || memcmp(header + 8, "WAVE", 4))
        die("not a RIFF/WAVE file", path);
    while (fread(chunk, 1, 8, f) == 8) {
        uint32_t size = le32(chunk + 4);
        if (!memcmp(chunk, "fmt ", 4)) {
            if (size < 16 || fread(fmt, 1, 16, f) != 16) die("bad fmt chunk", path);
            if (le16(fmt) != 1 || le16(fmt + 2) != 1 || le32(fmt + 4) != LCECHO_RATE ||
                le16(fmt + 14) != 16)
                die("not PCM16 mono 16 kHz", path);
            have_fmt = 1;
            if (fseek(f, (long)(size - 16 + (size & 1)), SEEK_CUR)) die("truncated", path);
        } else if (!memcmp(chunk, "data", 4)) {
            if (!have_fmt) die("data before fmt", path);
            out.count = size / 2;
            out.samples = malloc(out.count * 2 + 2);
            if (!out.samples) die("out of memory", path);
            out.count = fread(out.samples, 2, out.count, f); /* a short file: what is there */
            for (size_t i = 0; i < out.count; i++) {          /* little-endian on any host */
                const unsigned char *b = (const unsigned char *)&out.samples[i];
                out.samples[i] = (int16_t)le16(b);
            }
            fclose(f);
            return out;
        } else if (fseek(f, (long)(size + (size & 1)), SEEK_CUR)) {
            die("truncated", path);
        }
    }
    die("no data chunk", path);
    return out;
}

static void put32(unsigned char *p, uint32_t v) {
    p[0] = v & 255; p[1] = v >> 8 & 255; p[2] = v >> 16 & 255; p[3] = v >> 24 & 255;
}

static void write_wav(const char *path, const int16_t *s, size_t count) {
    unsigned char h[44];
    FILE *f = fopen(path, "wb");
    if (!f) die("cannot write", path);
    memcpy(h, "RIFF", 4); put32(h + 4, (uint32_t)(36 + count * 2)); memcpy(h + 8, "WAVEfmt ", 8);
    put32(h + 16, 16); h[20] = 1; h[21] = 0; h[22] = 1; h[23] = 0;
    put32(h + 24, LCECHO_RATE); put32(h + 28, LCECHO_RATE * 2); h[32] = 2; h[33] = 0;
    h[34] = 16; h[35] = 0; memcpy(h + 36, "data", 4); put32(h + 40, (uint32_t)(count * 2));
    if (fwrite(h, 1, 44, f) != 44) die("write failed", path);
    for (size_t i = 0; i < count; i++) {
        unsigned char b[2] = {(unsigned char)((uint16_t)s[i] & 255), (unsigned char)((uint16_t)s[i] >> 8)};
        if (fwrite(b, 1, 2, f) != 2) die("write failed", path);
    }
    if (fclose(f)) die("write failed", path);
}

static int engine_by_name(const char *name) {
    unsigned built = lcecho_engines_built();
    if (!strcmp(name, "none")) return LCECHO_ENGINE_NONE;
    if (!strcmp(name, "webrtc")) {
        if (built & (1u << LCECHO_ENGINE_WEBRTC_AEC3)) return LCECHO_ENGINE_WEBRTC_AEC3;
        if (built & (1u << LCECHO_ENGINE_WEBRTC_LEGACY)) return LCECHO_ENGINE_WEBRTC_LEGACY;
        die("no WebRTC engine built", NULL);
    }
    if (!strcmp(name, "speex")) return LCECHO_ENGINE_SPEEX;
    for (int e = LCECHO_ENGINE_WEBRTC_AEC3; e <= LCECHO_ENGINE_SPEEX; e++)
        if (!strcmp(name, lcecho_engine_name(e))) return e;
    die("unknown engine (webrtc-aec3, webrtc-legacy, speexdsp, webrtc, speex, none)", name);
    return -1;
}

static void list_engines(void) {
    unsigned built = lcecho_engines_built();
    const char *sep = "";
    printf("{\"built\": [");
    for (int e = LCECHO_ENGINE_WEBRTC_AEC3; e <= LCECHO_ENGINE_SPEEX; e++) {
        if (built & (1u << e)) {
            printf("%s\"%s\"", sep, lcecho_engine_name(e));
            sep = ", ";
        }
    }
    printf("], \"default\": \"%s\"}\n", lcecho_engine_name(lcecho_default_engine()));
}

static long option_int(int argc, char **argv, int *i) {
    char *end;
    long v;
    if (*i + 1 >= argc) die("missing value for", argv[*i]);
    v = strtol(argv[++*i], &end, 10);
    if (*end || v < 0 || v > 10000) die("bad value for", argv[*i - 1]);
    return v;
}

static double now_us(void) {
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return (double)t.tv_sec * 1e6 + (double)t.tv_nsec / 1e3;
}

static int compare_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv) {
    lcecho_config config = {0, 1, 0, 0, 0};
    const char *positional[4];
    const char *cpu_file = NULL;
    int npositional = 0;
    long delay_ms = 0, align_ms = 0;
    char err[256] = "";
    lcecho *e = NULL;

    if (argc == 2 && !strcmp(argv[1], "--list")) {
        list_engines();
        return 0;
    }
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--ns")) config.ns = 1;
        else if (!strcmp(argv[i], "--agc")) config.agc = 1;
        else if (!strcmp(argv[i], "--no-aec")) config.aec = 0;
        else if (!strcmp(argv[i], "--delay-ms")) delay_ms = option_int(argc, argv, &i);
        else if (!strcmp(argv[i], "--align-ms")) align_ms = option_int(argc, argv, &i);
        else if (!strcmp(argv[i], "--speex-tail-ms")) config.speex_tail_ms = (int)option_int(argc, argv, &i);
        else if (!strcmp(argv[i], "--cpu-file")) {
            if (i + 1 >= argc) die("missing value for", argv[i]);
            cpu_file = argv[++i];
        }
        else if (argv[i][0] == '-' && argv[i][1]) die("unknown option", argv[i]);
        else if (npositional < 4) positional[npositional++] = argv[i];
        else die("too many arguments", argv[i]);
    }
    if (npositional != 4)
        die("usage: aec_scene ENGINE mic.wav ref.wav out.wav [--ns] [--agc] [--no-aec] "
            "[--delay-ms N] [--align-ms N] [--speex-tail-ms N] [--cpu-file PATH] | "
            "aec_scene --list", NULL);
    config.engine = engine_by_name(positional[0]);

    pcm mic = read_wav(positional[1]);
    pcm ref = read_wav(positional[2]);
    size_t frames = mic.count / LCECHO_FRAME;
    size_t align = (size_t)align_ms * LCECHO_RATE / 1000;
    int16_t *out = malloc(frames * LCECHO_FRAME * 2 + 2);
    double *cpu = malloc((frames + 1) * sizeof(double));
    if (!out || !cpu) die("out of memory", NULL);
    memcpy(out, mic.samples, frames * LCECHO_FRAME * 2);

    if (config.engine != LCECHO_ENGINE_NONE) {
        e = lcecho_create(&config, err, sizeof err);
        if (!e) die("lcecho_create failed", err);
    }
    int failures = 0;
    double total = 0;
    for (size_t f = 0; f < frames; f++) {
        int16_t far[LCECHO_FRAME];
        for (size_t i = 0; i < LCECHO_FRAME; i++) {
            size_t n = f * LCECHO_FRAME + i;       /* the reference delayed by `align` */
            far[i] = n >= align && n - align < ref.count ? ref.samples[n - align] : 0;
        }
        double start = now_us();
        if (e) {
            lcecho_process_far(e, far);
            if (lcecho_process_near(e, out + f * LCECHO_FRAME, (int)delay_ms) != 0) failures++;
        }
        cpu[f] = now_us() - start;
        total += cpu[f];
    }
    write_wav(positional[3], out, frames * LCECHO_FRAME);
    if (cpu_file) {
        FILE *f = fopen(cpu_file, "w");
        if (!f) die("cannot write", cpu_file);
        for (size_t i = 0; i < frames; i++) fprintf(f, "%.3f\n", cpu[i]);
        if (fclose(f)) die("write failed", cpu_file);
    }

    lcecho_metrics m = {-1, -1000, -1};
    if (e) lcecho_get_metrics(e, &m);
    qsort(cpu, frames, sizeof(double), compare_double);
    printf("{\"engine\": \"%s\", \"aec\": %d, \"ns\": %d, \"agc\": %d, \"delay_ms\": %ld, "
           "\"align_ms\": %ld, \"frames\": %zu, \"failed_frames\": %d, "
           "\"cpu_us_per_frame\": {\"mean\": %.2f, \"p50\": %.2f, \"p99\": %.2f, \"max\": %.2f}, "
           "\"engine_metrics\": {\"delay_ms\": %d, \"erle_db\": %.2f, \"stream_has_echo\": %d}}\n",
           lcecho_engine_name(config.engine), config.aec, config.ns, config.agc, delay_ms,
           align_ms, frames, failures, frames ? total / (double)frames : 0.0,
           frames ? cpu[frames / 2] : 0.0, frames ? cpu[frames * 99 / 100] : 0.0,
           frames ? cpu[frames - 1] : 0.0, m.delay_ms, m.erle_db, m.stream_has_echo);
    if (e) lcecho_destroy(e);
    free(mic.samples);
    free(ref.samples);
    free(out);
    free(cpu);
    return 0;
}
