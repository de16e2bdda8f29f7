/* SPDX-License-Identifier: Apache-2.0 */
/*
 * wav.h - just enough RIFF/WAVE for the player: read any PCM or float WAV as mono int16,
 * write 16-bit mono.
 */
#ifndef LAYERCODE_PLAYER_WAV_H
#define LAYERCODE_PLAYER_WAV_H

#include <stddef.h>
#include <stdint.h>

/* ---- Reading -------------------------------------------------------------------------- */

typedef struct wav_reader wav_reader;

/**
 * Opens a WAV file: integer PCM of 8, 16, 24 or 32 bits, or IEEE float of 32 or 64 bits,
 * any rate and channel count, plain or WAVE_FORMAT_EXTENSIBLE, with any other chunks
 * (LIST, fact, cue, ...) skipped. Returns NULL on failure and puts the reason in err.
 */
wav_reader *wav_reader_open(const char *path, char *err, size_t err_size);

int wav_reader_sample_rate(const wav_reader *reader);
int wav_reader_channels(const wav_reader *reader);
int wav_reader_bits(const wav_reader *reader);
int wav_reader_is_float(const wav_reader *reader);
/** Frames in the data chunk, or -1 when the header does not say (a streamed file). */
int64_t wav_reader_frames(const wav_reader *reader);

/**
 * Reads up to `frames` frames, downmixed to mono int16 (channels averaged, rounded and
 * clipped). Returns the number of frames stored in out; fewer than asked (0 included)
 * means the data ended (or a read error, see wav_reader_error).
 */
size_t wav_reader_read_mono(wav_reader *reader, int16_t *out, size_t frames);

/** Non-zero if reading stopped on an I/O error rather than at the end of the data. */
int wav_reader_error(const wav_reader *reader);

void wav_reader_close(wav_reader *reader);

/* ---- Writing -------------------------------------------------------------------------- */

typedef struct wav_writer wav_writer;

/** Creates (truncates) a 16-bit mono WAV. Returns NULL on failure, with the reason in err. */
wav_writer *wav_writer_open(const char *path, int sample_rate, char *err, size_t err_size);

/** Appends samples. Returns 0, or -1 on a write error (later writes are then ignored). */
int wav_writer_write(wav_writer *writer, const int16_t *samples, size_t count);

/** Samples written so far. */
uint64_t wav_writer_samples(const wav_writer *writer);

/**
 * Fixes up the RIFF and data sizes in the header and closes the file. Returns 0, or -1 if
 * anything failed since the open (the writer is freed either way). NULL is a no-op.
 */
int wav_writer_close(wav_writer *writer);

#endif /* LAYERCODE_PLAYER_WAV_H */
