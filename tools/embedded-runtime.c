/* SPDX-License-Identifier: Apache-2.0 */
/* What the Embedded Swift standard library calls but neither it nor libc defines; linked
 * into the Embedded build only (tools/build-embedded.sh). The normal Swift runtime
 * (swift build, swift test) has its own definitions, so this file is no SwiftPM target.
 *
 * _swift_stdlib_strtod_clocale: Double(String) (LayercodeCore's JSON number parsing) calls
 * it; the full runtime's is in swift/stdlib/public/stubs/Stubs.cpp. Same contract: parse
 * with strtod in the C locale (never the host application's, which may use ',' for the
 * decimal point), store the value, return the end of the parsed text (the caller accepts
 * the string only if that is its end). Signalling NaN literals ("snan"), which the full
 * runtime also accepts, are not parsed here: the JSON grammar has none. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* strtod_l, newlocale */
#endif
#include <locale.h>
#include <pthread.h>
#include <stdlib.h>

static locale_t c_locale;
static pthread_once_t c_locale_once = PTHREAD_ONCE_INIT;

static void make_c_locale(void) {
    c_locale = newlocale(LC_ALL_MASK, "C", (locale_t)0);
}

const char *_swift_stdlib_strtod_clocale(const char *nptr, double *out_result);

const char *_swift_stdlib_strtod_clocale(const char *nptr, double *out_result) {
    char *end;
    pthread_once(&c_locale_once, make_c_locale);
    if (c_locale == (locale_t)0) { /* no memory for the locale: parse nothing */
        *out_result = 0;
        return nptr;
    }
    *out_result = strtod_l(nptr, &end, c_locale);
    return end;
}
