/* SPDX-License-Identifier: Apache-2.0 */
/*
 * jsontext.h - a growable string, JSON string escaping, and reading one string member out
 * of a JSON object (for the human-readable event lines).
 */
#ifndef LAYERCODE_PLAYER_JSONTEXT_H
#define LAYERCODE_PLAYER_JSONTEXT_H

#include <stddef.h>

typedef struct strbuf {
    char *data;   /* NUL-terminated once anything was appended */
    size_t len;
    size_t cap;
    int oom;      /* an allocation failed: the text is truncated */
} strbuf;

void sb_init(strbuf *sb);
void sb_free(strbuf *sb);
void sb_append(strbuf *sb, const char *s, size_t n);
void sb_puts(strbuf *sb, const char *s);
#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
void sb_printf(strbuf *sb, const char *fmt, ...);
/** Appends s as a JSON string: quoted, with '"', '\\' and control characters escaped, valid
 *  UTF-8 passed through and invalid bytes replaced by U+FFFD. NULL appends null. */
void sb_json_string(strbuf *sb, const char *s);
/** Appends text that is already JSON. NULL or empty appends null. Line breaks become spaces
 *  so the result stays on one line. */
void sb_json_raw(strbuf *sb, const char *json);
/** Hands the text over (malloc'd, NUL-terminated; "" if empty) and resets sb; NULL if out
 *  of memory. */
char *sb_take(strbuf *sb);

/** The top-level member `key` of the JSON object `json` if it is a string, decoded
 *  (malloc'd, UTF-8); NULL when absent, not a string, or the JSON is malformed. */
char *json_get_string(const char *json, const char *key);

/** The top-level member `key` of the JSON object `json` as its JSON text (an object, an
 *  array, a string with its quotes, a number or a literal; malloc'd); NULL when absent or
 *  the JSON is malformed. */
char *json_get_raw(const char *json, const char *key);

#endif /* LAYERCODE_PLAYER_JSONTEXT_H */
