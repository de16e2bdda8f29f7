/* SPDX-License-Identifier: Apache-2.0 */
/* What the C test programs of tests/c share: the PASS/FAIL checks (event_queue.c,
 * option_checks.c, api_misuse.c) and the options of a session (session_options()).
 * Included as "check.h": the compiler looks next to the including source first, so the
 * programs need no extra -I wherever they are built (tests/c/test_*.py, tools/sanitize_c.py).
 *
 * check(ok, fmt, ...) counts a check, prints "PASS <text>" or "FAIL <text>" and flushes;
 * check_summary() prints "SUMMARY <n> checks, <f> failed" and returns the exit status. A
 * program whose checks run on several threads defines CHECK_LOCK() and CHECK_UNLOCK() before
 * including this header. Everything is static inline, so a program that uses only part of
 * it builds warning-free. */
#ifndef LC_TESTS_CHECK_H
#define LC_TESTS_CHECK_H

#include <stdarg.h>
#include <stdio.h>

#include "layercode.h"

#ifndef CHECK_LOCK
#define CHECK_LOCK() ((void)0)
#define CHECK_UNLOCK() ((void)0)
#endif

static int checks, failures;

static inline void check(int ok, const char *fmt, ...) {
    va_list ap;
    CHECK_LOCK();
    checks++;
    if (!ok) failures++;
    printf("%s ", ok ? "PASS" : "FAIL");
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    putchar('\n');
    fflush(stdout);
    CHECK_UNLOCK();
}

/* Prints the SUMMARY line; returns the exit status: 0 if every check held, else 1. */
static inline int check_summary(void) {
    printf("SUMMARY %d checks, %d failed\n", checks, failures);
    return failures == 0 ? 0 : 1;
}

/* lc_options_init(o), then the agent and the two URLs of the server to talk to. */
static inline void session_options(lc_options *o, const char *agent_id, const char *authorize_url,
                                   const char *ws_url) {
    lc_options_init(o);
    o->agent_id = agent_id;
    o->authorize_url = authorize_url;
    o->ws_url = ws_url;
}

#endif
