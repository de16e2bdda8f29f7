/* SPDX-License-Identifier: Apache-2.0 */
/*
 * wav.c - RIFF/WAVE reading (any PCM/float layout, downmixed to mono int16) and writing
 * (16-bit mono, header fixed up at close). Byte order is decoded by hand, so it works on
 * any host.
 */
#define _POSIX_C_SOURCE 200809L

#include "wav.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define WAVE_FORMAT_PCM 0x0001
#define WAVE_FORMAT_IEEE_FLOAT 0x0003
#define WAVE_FORMAT_EXTENSIBLE 0xFFFE

/* Frames decoded per fread in wav_reader_read_mono. */
#define READ_BLOCK_FRAMES 1024

struct wav_reader {
    FILE *file;
    int sample_rate;
    int channels;
    int bits;             /* bits per sample as declared (container size) */
    int bytes_per_sample; /* container bytes of one sample */
    int is_float;
    size_t frame_bytes;   /* bytes of one frame (block align) */
    int64_t frames;       /* frames in the data chunk, -1 if unknown (read to EOF) */
    int64_t frames_left;  /* frames still to read, -1 if unknown */
    int error;
    unsigned char *buffer; /* READ_BLOCK_FRAMES frames */
};

struct wav_writer {
    FILE *file;
    uint64_t samples;
    int error;
};

#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
static void set_err(char *err, size_t err_size, const char *fmt, ...) {
    va_list ap;
    if (err == NULL || err_size == 0) return;
    va_start(ap, fmt);
    vsnprintf(err, err_size, fmt, ap);
    va_end(ap);
}

static uint16_t le16(const unsigned char *p) { return (uint16_t)(p[0] | (p[1] << 8)); }

static uint32_t le32(const unsigned char *p) {
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) |
           ((uint32_t)p[3] << 24);
}

static void put16(unsigned char *p, uint16_t v) {
    p[0] = (unsigned char)(v & 0xFF);
    p[1] = (unsigned char)(v >> 8);
}

static void put32(unsigned char *p, uint32_t v) {
    p[0] = (unsigned char)(v & 0xFF);
    p[1] = (unsigned char)((v >> 8) & 0xFF);
    p[2] = (unsigned char)((v >> 16) & 0xFF);
    p[3] = (unsigned char)(v >> 24);
}

/* Skips n bytes: seek when possible, read and discard otherwise (pipes). */
static int skip_bytes(FILE *f, uint64_t n) {
    unsigned char scratch[4096];
    if (n <= 0x7FFFFFFFu && fseek(f, (long)n, SEEK_CUR) == 0) return 0;
    while (n > 0) {
        size_t want = n < sizeof scratch ? (size_t)n : sizeof scratch;
        size_t got = fread(scratch, 1, want, f);
        if (got != want) return -1;
        n -= got;
    }
    return 0;
}

wav_reader *wav_reader_open(const char *path, char *err, size_t err_size) {
    unsigned char hdr[12];
    unsigned char fmt[40];
    int have_fmt = 0;
    uint32_t riff_size;
    uint16_t format = 0;
    wav_reader *r;
    FILE *f = fopen(path, "rb");

    if (f == NULL) {
        set_err(err, err_size, "%s: %s", path, strerror(errno));
        return NULL;
    }
    r = calloc(1, sizeof *r);
    if (r == NULL) {
        fclose(f);
        set_err(err, err_size, "out of memory");
        return NULL;
    }
    r->file = f;

    if (fread(hdr, 1, 12, f) != 12 || memcmp(hdr, "RIFF", 4) != 0 ||
        memcmp(hdr + 8, "WAVE", 4) != 0) {
        set_err(err, err_size, "%s: not a RIFF/WAVE file", path);
        goto fail;
    }
    riff_size = le32(hdr + 4);

    for (;;) {
        unsigned char ch[8];
        uint32_t size;
        if (fread(ch, 1, 8, f) != 8) {
            set_err(err, err_size, "%s: no data chunk", path);
            goto fail;
        }
        size = le32(ch + 4);
        if (memcmp(ch, "fmt ", 4) == 0) {
            size_t keep = size < sizeof fmt ? size : sizeof fmt;
            if (size < 16) {
                set_err(err, err_size, "%s: fmt chunk too short (%u bytes)", path,
                        (unsigned)size);
                goto fail;
            }
            memset(fmt, 0, sizeof fmt);
            if (fread(fmt, 1, keep, f) != keep ||
                skip_bytes(f, (uint64_t)(size - keep) + (size & 1u)) != 0) {
                set_err(err, err_size, "%s: truncated fmt chunk", path);
                goto fail;
            }
            have_fmt = 1;
            format = le16(fmt);
            r->channels = le16(fmt + 2);
            r->sample_rate = (int)le32(fmt + 4);
            r->frame_bytes = le16(fmt + 12);
            r->bits = le16(fmt + 14);
            if (format == WAVE_FORMAT_EXTENSIBLE) {
                /* cbSize(2) validBits(2) channelMask(4) then the SubFormat GUID, whose
                 * first two bytes are the plain format tag. */
                if (size < 40 || le16(fmt + 16) < 22) {
                    set_err(err, err_size, "%s: truncated WAVE_FORMAT_EXTENSIBLE header",
                            path);
                    goto fail;
                }
                format = le16(fmt + 24);
            }
        } else if (memcmp(ch, "data", 4) == 0) {
            if (!have_fmt) {
                set_err(err, err_size, "%s: data chunk before fmt chunk", path);
                goto fail;
            }
            /* 0xFFFFFFFF (or 0 in a header whose RIFF size is unset too) is what writers
             * that cannot seek back leave: the data runs to the end of the file. */
            if (size == 0xFFFFFFFFu || (size == 0 && (riff_size == 0 ||
                                                      riff_size == 0xFFFFFFFFu)))
                r->frames = -1;
            else
                r->frames = 0; /* set below, once frame_bytes is checked */
            r->frames_left = size; /* bytes for now */
            break;
        } else {
            /* LIST, fact, cue, bext, JUNK, ...: skip, with the pad byte of odd sizes. */
            if (skip_bytes(f, (uint64_t)size + (size & 1u)) != 0) {
                set_err(err, err_size, "%s: truncated '%.4s' chunk", path, (char *)ch);
                goto fail;
            }
        }
    }

    if (format == WAVE_FORMAT_PCM) {
        r->is_float = 0;
        if (r->bits < 1 || r->bits > 32) {
            set_err(err, err_size, "%s: unsupported PCM sample size %d bits", path, r->bits);
            goto fail;
        }
    } else if (format == WAVE_FORMAT_IEEE_FLOAT) {
        r->is_float = 1;
        if (r->bits != 32 && r->bits != 64) {
            set_err(err, err_size, "%s: unsupported float sample size %d bits", path,
                    r->bits);
            goto fail;
        }
    } else {
        set_err(err, err_size, "%s: unsupported WAV format tag 0x%04x (PCM and float only)",
                path, (unsigned)format);
        goto fail;
    }
    if (r->channels < 1) {
        set_err(err, err_size, "%s: no channels", path);
        goto fail;
    }
    if (r->sample_rate <= 0) {
        set_err(err, err_size, "%s: bad sample rate %d", path, r->sample_rate);
        goto fail;
    }
    /* Samples are left-justified in byte containers (e.g. 20 valid bits in 3 bytes). */
    r->bytes_per_sample = (r->bits + 7) / 8;
    if (r->frame_bytes < (size_t)r->channels * (size_t)r->bytes_per_sample)
        r->frame_bytes = (size_t)r->channels * (size_t)r->bytes_per_sample; /* bad blockAlign */
    if (r->frames == 0) {
        r->frames = (int64_t)((uint64_t)r->frames_left / r->frame_bytes);
        r->frames_left = r->frames;
    } else {
        r->frames_left = -1;
    }
    r->buffer = malloc(r->frame_bytes * READ_BLOCK_FRAMES);
    if (r->buffer == NULL) {
        set_err(err, err_size, "out of memory");
        goto fail;
    }
    return r;

fail:
    fclose(f);
    free(r->buffer);
    free(r);
    return NULL;
}

int wav_reader_sample_rate(const wav_reader *r) { return r->sample_rate; }
int wav_reader_channels(const wav_reader *r) { return r->channels; }
int wav_reader_bits(const wav_reader *r) { return r->bits; }
int wav_reader_is_float(const wav_reader *r) { return r->is_float; }
int64_t wav_reader_frames(const wav_reader *r) { return r->frames; }
int wav_reader_error(const wav_reader *r) { return r->error; }

/* One sample as a fraction of full scale, [-1, 1) for integers. */
static double decode_sample(const wav_reader *r, const unsigned char *p) {
    switch (r->bytes_per_sample) {
    case 1:
        return r->is_float ? 0.0 : ((int)p[0] - 128) / 128.0; /* 8-bit WAV is unsigned */
    case 2:
        return (int16_t)le16(p) / 32768.0;
    case 3: {
        int32_t v = (int32_t)((uint32_t)p[0] << 8 | (uint32_t)p[1] << 16 |
                              (uint32_t)p[2] << 24);
        return v / 2147483648.0;
    }
    case 4:
        if (r->is_float) {
            uint32_t u = le32(p);
            float fl;
            memcpy(&fl, &u, sizeof fl);
            return fl;
        }
        return (int32_t)le32(p) / 2147483648.0;
    case 8: {
        uint64_t u = (uint64_t)le32(p) | ((uint64_t)le32(p + 4) << 32);
        double d;
        memcpy(&d, &u, sizeof d);
        return d;
    }
    default:
        return 0.0;
    }
}

static int16_t to_int16(double x) {
    double v = x * 32768.0;
    if (v != v) return 0; /* NaN in a float file */
    v = v >= 0 ? v + 0.5 : v - 0.5;
    if (v >= 32767.0) return 32767;
    if (v <= -32768.0) return -32768;
    return (int16_t)v;
}

size_t wav_reader_read_mono(wav_reader *r, int16_t *out, size_t frames) {
    size_t done = 0;
    while (done < frames && !r->error) {
        size_t want = frames - done;
        size_t got, i;
        if (want > READ_BLOCK_FRAMES) want = READ_BLOCK_FRAMES;
        if (r->frames_left >= 0 && (int64_t)want > r->frames_left)
            want = (size_t)r->frames_left;
        if (want == 0) break;
        got = fread(r->buffer, r->frame_bytes, want, r->file);
        if (got < want && ferror(r->file)) r->error = 1;
        if (r->channels == 1 && r->bytes_per_sample == 2) {
            /* 16-bit mono, the common case: no conversion through double per sample. */
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
            memcpy(out + done, r->buffer, got * 2);
#else
            for (i = 0; i < got; i++) out[done + i] = (int16_t)le16(r->buffer + 2 * i);
#endif
        } else for (i = 0; i < got; i++) {
            const unsigned char *frame = r->buffer + i * r->frame_bytes;
            double sum = 0.0;
            int c;
            if (r->channels == 1) {
                out[done + i] = to_int16(decode_sample(r, frame));
                continue;
            }
            for (c = 0; c < r->channels; c++)
                sum += decode_sample(r, frame + (size_t)c * (size_t)r->bytes_per_sample);
            out[done + i] = to_int16(sum / r->channels);
        }
        done += got;
        if (r->frames_left >= 0) r->frames_left -= (int64_t)got;
        if (got < want) {
            r->frames_left = 0; /* truncated file or end of a streamed one */
            break;
        }
    }
    return done;
}

void wav_reader_close(wav_reader *r) {
    if (r == NULL) return;
    fclose(r->file);
    free(r->buffer);
    free(r);
}

/* ---- Writing -------------------------------------------------------------------------- */

static void make_header(unsigned char h[44], int sample_rate, uint32_t data_bytes) {
    memcpy(h, "RIFF", 4);
    put32(h + 4, data_bytes + 36u);
    memcpy(h + 8, "WAVE", 4);
    memcpy(h + 12, "fmt ", 4);
    put32(h + 16, 16);
    put16(h + 20, WAVE_FORMAT_PCM);
    put16(h + 22, 1);                           /* mono */
    put32(h + 24, (uint32_t)sample_rate);
    put32(h + 28, (uint32_t)sample_rate * 2u); /* byte rate */
    put16(h + 32, 2);                           /* block align */
    put16(h + 34, 16);                          /* bits */
    memcpy(h + 36, "data", 4);
    put32(h + 40, data_bytes);
}

wav_writer *wav_writer_open(const char *path, int sample_rate, char *err, size_t err_size) {
    unsigned char h[44];
    wav_writer *w;
    FILE *f = fopen(path, "wb");
    if (f == NULL) {
        set_err(err, err_size, "%s: %s", path, strerror(errno));
        return NULL;
    }
    w = calloc(1, sizeof *w);
    if (w == NULL) {
        fclose(f);
        set_err(err, err_size, "out of memory");
        return NULL;
    }
    w->file = f;
    /* Sizes stay 0 until close: a reader of an unfinished file sees an empty one. */
    make_header(h, sample_rate, 0);
    if (fwrite(h, 1, sizeof h, f) != sizeof h) {
        set_err(err, err_size, "%s: %s", path, strerror(errno));
        fclose(f);
        free(w);
        return NULL;
    }
    return w;
}

int wav_writer_write(wav_writer *w, const int16_t *samples, size_t count) {
    unsigned char buf[4096];
    size_t i = 0;
    if (w->error) return -1;
    while (i < count) {
        size_t n = count - i, j;
        if (n > sizeof buf / 2) n = sizeof buf / 2;
        for (j = 0; j < n; j++) put16(buf + 2 * j, (uint16_t)samples[i + j]);
        if (fwrite(buf, 2, n, w->file) != n) {
            w->error = 1;
            return -1;
        }
        i += n;
        w->samples += n;
    }
    return 0;
}

uint64_t wav_writer_samples(const wav_writer *w) { return w->samples; }

int wav_writer_close(wav_writer *w) {
    unsigned char field[4];
    uint64_t data_bytes;
    int rc;
    if (w == NULL) return 0;
    data_bytes = w->samples * 2u;
    if (data_bytes > 0xFFFFFFFFu - 36u) data_bytes = 0xFFFFFFFFu - 36u; /* RIFF's 4 GiB cap */
    rc = w->error ? -1 : 0;
    put32(field, (uint32_t)data_bytes + 36u);
    if (fseek(w->file, 4, SEEK_SET) != 0 || fwrite(field, 1, 4, w->file) != 4) rc = -1;
    put32(field, (uint32_t)data_bytes);
    if (fseek(w->file, 40, SEEK_SET) != 0 || fwrite(field, 1, 4, w->file) != 4) rc = -1;
    if (fclose(w->file) != 0) rc = -1;
    free(w);
    return rc;
}
