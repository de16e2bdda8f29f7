/* SPDX-License-Identifier: Apache-2.0 */
/*
 * devices.c - --list-devices: ALSA's PCMs as lc_list_devices() reports them, "default"
 * first. See devices.h.
 */
#define _POSIX_C_SOURCE 200809L

#include "devices.h"

#include "jsontext.h"

#include <layercode.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* --list-devices: what lc_list_devices reports, kept so that "default" can go first. */
typedef struct device_entry {
    char *name;
    char *desc; /* one line */
    int is_input, is_output;
} device_entry;

typedef struct device_list {
    device_entry *items;
    size_t count, cap;
} device_list;

static void cb_device(void *user_data, const char *name, const char *description,
                      int is_input, int is_output) {
    device_list *list = user_data;
    strbuf sb;
    char *desc, *copy;
    const char *p;
    size_t n;
    if (list->count == list->cap) {
        size_t cap = list->cap ? 2 * list->cap : 32;
        device_entry *items = realloc(list->items, cap * sizeof *items);
        if (items == NULL) return;
        list->items = items;
        list->cap = cap;
    }
    /* The description flattened to one line: ALSA separates its parts with newlines. */
    sb_init(&sb);
    for (p = description ? description : ""; *p; p++) {
        if (*p == '\n' || *p == '\r') {
            while (p[1] == '\n' || p[1] == '\r') p++;
            if (p[1] != '\0' && sb.len > 0) sb_puts(&sb, " - ");
        } else {
            sb_append(&sb, p, 1);
        }
    }
    desc = sb_take(&sb);
    if (desc == NULL) return;
    n = strlen(desc);
    while (n > 0 && (desc[n - 1] == ' ' || desc[n - 1] == '\t')) desc[--n] = '\0';
    sb_puts(&sb, name ? name : "");
    copy = sb_take(&sb);
    if (copy == NULL) {
        free(desc);
        return;
    }
    list->items[list->count].name = copy;
    list->items[list->count].desc = desc;
    list->items[list->count].is_input = is_input;
    list->items[list->count].is_output = is_output;
    list->count++;
}

static void print_device(int json, const device_entry *d) {
    strbuf sb;
    sb_init(&sb);
    if (json) {
        sb_puts(&sb, "{\"event\":\"device\",\"name\":");
        sb_json_string(&sb, d->name);
        sb_puts(&sb, ",\"description\":");
        sb_json_string(&sb, d->desc);
        sb_printf(&sb, ",\"input\":%s,\"output\":%s}", d->is_input ? "true" : "false",
                  d->is_output ? "true" : "false");
    } else {
        sb_printf(&sb, "%-32s %-6s %s", d->name,
                  d->is_input && d->is_output ? "in/out"
                  : d->is_input               ? "in"
                  : d->is_output              ? "out"
                                              : "-",
                  d->desc);
    }
    if (sb.data) puts(sb.data);
    sb_free(&sb);
}

/* ALSA's devices, "default" first: the device the player uses when given none. ALSA's
 * name hints list it only when the configuration describes it (not on a board without a
 * card-specific or PulseAudio configuration), yet it always opens as the card's default. */
int list_devices(int json) {
    static const device_entry alsa_default = {
        (char *)"default", (char *)"ALSA's default device (used when no device is given)", 1,
        1};
    device_list list;
    size_t i, first = (size_t)-1;
    int rc;
    memset(&list, 0, sizeof list);
    rc = lc_list_devices(cb_device, &list);
    if (rc >= 0) {
        for (i = 0; i < list.count; i++)
            if (strcmp(list.items[i].name, "default") == 0) first = i;
        print_device(json, first == (size_t)-1 ? &alsa_default : &list.items[first]);
        for (i = 0; i < list.count; i++)
            if (i != first) print_device(json, &list.items[i]);
    }
    for (i = 0; i < list.count; i++) {
        free(list.items[i].name);
        free(list.items[i].desc);
    }
    free(list.items);
    fflush(stdout);
    if (rc < 0) {
        fprintf(stderr, "layercode-player: cannot list devices: %s\n", lc_strerror(rc));
        return 1;
    }
    return 0;
}
