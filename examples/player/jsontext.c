/* SPDX-License-Identifier: Apache-2.0 */
/*
 * jsontext.c - see jsontext.h.
 */
#define _POSIX_C_SOURCE 200809L

#include "jsontext.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void sb_init(strbuf *sb) { memset(sb, 0, sizeof *sb); }

void sb_free(strbuf *sb) {
    free(sb->data);
    sb_init(sb);
}

static int sb_reserve(strbuf *sb, size_t extra) {
    size_t need, cap;
    char *p;
    if (sb->oom) return -1;
    need = sb->len + extra + 1;
    if (need <= sb->cap) return 0;
    cap = sb->cap ? sb->cap : 256;
    while (cap < need) cap *= 2;
    p = realloc(sb->data, cap);
    if (p == NULL) {
        sb->oom = 1;
        return -1;
    }
    sb->data = p;
    sb->cap = cap;
    return 0;
}

void sb_append(strbuf *sb, const char *s, size_t n) {
    if (sb_reserve(sb, n) != 0) return;
    memcpy(sb->data + sb->len, s, n);
    sb->len += n;
    sb->data[sb->len] = '\0';
}

void sb_puts(strbuf *sb, const char *s) { sb_append(sb, s, strlen(s)); }

void sb_printf(strbuf *sb, const char *fmt, ...) {
    va_list ap;
    int n;
    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || sb_reserve(sb, (size_t)n) != 0) return;
    va_start(ap, fmt);
    vsnprintf(sb->data + sb->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    sb->len += (size_t)n;
}

/* Length of the valid UTF-8 sequence at s (1..4), or 0 if the bytes there are not one. */
static size_t utf8_seq_len(const unsigned char *s) {
    unsigned char c = s[0];
    if (c < 0x80) return 1;
    if (c >= 0xC2 && c <= 0xDF) return (s[1] & 0xC0) == 0x80 ? 2 : 0;
    if (c >= 0xE0 && c <= 0xEF) {
        unsigned char lo = c == 0xE0 ? 0xA0 : 0x80, hi = c == 0xED ? 0x9F : 0xBF;
        return (s[1] >= lo && s[1] <= hi && (s[2] & 0xC0) == 0x80) ? 3 : 0;
    }
    if (c >= 0xF0 && c <= 0xF4) {
        unsigned char lo = c == 0xF0 ? 0x90 : 0x80, hi = c == 0xF4 ? 0x8F : 0xBF;
        return (s[1] >= lo && s[1] <= hi && (s[2] & 0xC0) == 0x80 && (s[3] & 0xC0) == 0x80)
                   ? 4 : 0;
    }
    return 0;
}

void sb_json_string(strbuf *sb, const char *s) {
    const unsigned char *p = (const unsigned char *)s;
    if (s == NULL) {
        sb_puts(sb, "null");
        return;
    }
    sb_append(sb, "\"", 1);
    while (*p) {
        size_t n = utf8_seq_len(p);
        if (n == 0) {
            sb_puts(sb, "\\ufffd");
            p++;
            continue;
        }
        if (n > 1) {
            sb_append(sb, (const char *)p, n);
            p += n;
            continue;
        }
        switch (*p) {
        case '"': sb_puts(sb, "\\\""); break;
        case '\\': sb_puts(sb, "\\\\"); break;
        case '\b': sb_puts(sb, "\\b"); break;
        case '\f': sb_puts(sb, "\\f"); break;
        case '\n': sb_puts(sb, "\\n"); break;
        case '\r': sb_puts(sb, "\\r"); break;
        case '\t': sb_puts(sb, "\\t"); break;
        default:
            if (*p < 0x20)
                sb_printf(sb, "\\u%04x", (unsigned)*p);
            else
                sb_append(sb, (const char *)p, 1);
        }
        p++;
    }
    sb_append(sb, "\"", 1);
}

void sb_json_raw(strbuf *sb, const char *json) {
    size_t start;
    if (json == NULL || json[0] == '\0') {
        sb_puts(sb, "null");
        return;
    }
    start = sb->len;
    sb_puts(sb, json);
    if (sb->oom) return;
    for (; start < sb->len; start++)
        if (sb->data[start] == '\n' || sb->data[start] == '\r') sb->data[start] = ' ';
}

char *sb_take(strbuf *sb) {
    char *s;
    if (sb->oom) {
        sb_free(sb);
        return NULL;
    }
    if (sb->data == NULL) return calloc(1, 1);
    s = sb->data;
    sb_init(sb);
    return s;
}

/* ---- Reading a member ----------------------------------------------------------------- */

static const char *skip_ws(const char *p) {
    while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r') p++;
    return p;
}

static int hex4(const char *p, unsigned *out) {
    unsigned v = 0;
    int i;
    for (i = 0; i < 4; i++) {
        char c = p[i];
        v <<= 4;
        if (c >= '0' && c <= '9') v |= (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f') v |= (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F') v |= (unsigned)(c - 'A' + 10);
        else return -1;
    }
    *out = v;
    return 0;
}

static void put_utf8(strbuf *sb, unsigned cp) {
    char b[4];
    if (cp < 0x80) {
        b[0] = (char)cp;
        sb_append(sb, b, 1);
    } else if (cp < 0x800) {
        b[0] = (char)(0xC0 | (cp >> 6));
        b[1] = (char)(0x80 | (cp & 0x3F));
        sb_append(sb, b, 2);
    } else if (cp < 0x10000) {
        b[0] = (char)(0xE0 | (cp >> 12));
        b[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        b[2] = (char)(0x80 | (cp & 0x3F));
        sb_append(sb, b, 3);
    } else {
        b[0] = (char)(0xF0 | (cp >> 18));
        b[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
        b[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
        b[3] = (char)(0x80 | (cp & 0x3F));
        sb_append(sb, b, 4);
    }
}

/* Decodes the string starting at the '"' at p into out (if not NULL). Returns the position
 * after the closing quote, or NULL if malformed. */
static const char *parse_string(const char *p, strbuf *out) {
    p++; /* opening quote */
    for (;;) {
        char c = *p;
        if (c == '\0') return NULL;
        if (c == '"') return p + 1;
        if (c != '\\') {
            if (out) sb_append(out, p, 1);
            p++;
            continue;
        }
        p++;
        switch (*p) {
        case '"': case '\\': case '/':
            if (out) sb_append(out, p, 1);
            break;
        case 'b': if (out) sb_puts(out, "\b"); break;
        case 'f': if (out) sb_puts(out, "\f"); break;
        case 'n': if (out) sb_puts(out, "\n"); break;
        case 'r': if (out) sb_puts(out, "\r"); break;
        case 't': if (out) sb_puts(out, "\t"); break;
        case 'u': {
            unsigned cp, lo;
            if (hex4(p + 1, &cp) != 0) return NULL;
            p += 4;
            if (cp >= 0xD800 && cp <= 0xDBFF && p[1] == '\\' && p[2] == 'u' &&
                hex4(p + 3, &lo) == 0 && lo >= 0xDC00 && lo <= 0xDFFF) {
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                p += 6;
            } else if (cp >= 0xD800 && cp <= 0xDFFF) {
                cp = 0xFFFD; /* lone surrogate */
            }
            if (out) put_utf8(out, cp);
            break;
        }
        default:
            return NULL;
        }
        p++;
    }
}

/* Skips one JSON value starting at p (after whitespace). NULL if malformed. */
static const char *skip_value(const char *p) {
    int depth = 0;
    if (*p == '"') return parse_string(p, NULL);
    if (*p != '{' && *p != '[') {
        const char *start = p;
        while (*p && strchr(",}] \t\r\n", *p) == NULL) p++;
        return p == start ? NULL : p;
    }
    for (;;) {
        char c = *p;
        if (c == '\0') return NULL;
        if (c == '"') {
            p = parse_string(p, NULL);
            if (p == NULL) return NULL;
            continue;
        }
        if (c == '{' || c == '[') depth++;
        if (c == '}' || c == ']') {
            if (--depth == 0) return p + 1;
        }
        p++;
    }
}

/* The start of the value of the top-level member `key` of the object `json`; NULL when
 * absent or malformed. */
static const char *find_member(const char *json, const char *key) {
    const char *p;
    if (json == NULL || key == NULL) return NULL;
    p = skip_ws(json);
    if (*p != '{') return NULL;
    p = skip_ws(p + 1);
    if (*p == '}') return NULL;
    for (;;) {
        strbuf name;
        int match;
        if (*p != '"') return NULL;
        sb_init(&name);
        p = parse_string(p, &name);
        match = p != NULL && !name.oom && strcmp(name.data ? name.data : "", key) == 0;
        sb_free(&name);
        if (p == NULL) return NULL;
        p = skip_ws(p);
        if (*p != ':') return NULL;
        p = skip_ws(p + 1);
        if (match) return p;
        p = skip_value(p);
        if (p == NULL) return NULL;
        p = skip_ws(p);
        if (*p != ',') return NULL;
        p = skip_ws(p + 1);
    }
}

char *json_get_string(const char *json, const char *key) {
    const char *p = find_member(json, key);
    strbuf value;
    if (p == NULL || *p != '"') return NULL;
    sb_init(&value);
    if (parse_string(p, &value) == NULL) {
        sb_free(&value);
        return NULL;
    }
    return sb_take(&value);
}

char *json_get_raw(const char *json, const char *key) {
    const char *p = find_member(json, key), *end;
    strbuf value;
    if (p == NULL) return NULL;
    end = skip_value(p);
    if (end == NULL) return NULL;
    sb_init(&value);
    sb_append(&value, p, (size_t)(end - p));
    return sb_take(&value);
}
