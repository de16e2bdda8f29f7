/* SPDX-License-Identifier: Apache-2.0 */
/* The first published size of each struct that crosses the ABI (liblayercode 0.1.0, the
 * first release of soname liblayercode.so.0), computed the way a compiler computes sizeof for
 * the 0.1.0 header: the end of the struct's last 0.1.0 field, rounded up to its alignment.
 * Private to the library (not installed). These never change: doc/abi.md. */
#ifndef LAYERCODE_ABI_SIZES_H
#define LAYERCODE_ABI_SIZES_H

#include <stddef.h>
#include "../../include/layercode.h"

static inline size_t lc_abi_round_up(size_t n, size_t alignment) {
    return (n + alignment - 1) / alignment * alignment;
}

/** sizeof(lc_options) in 0.1.0: its last field was device_watch_ms. */
static inline size_t lc_abi_options_size_v0_1(void) {
    return lc_abi_round_up(offsetof(lc_options, device_watch_ms) + sizeof(int),
                           __alignof__(lc_options));
}

/** sizeof(lc_stats) in 0.1.0: its last field was protocol_errors. */
static inline size_t lc_abi_stats_size_v0_1(void) {
    return lc_abi_round_up(offsetof(lc_stats, protocol_errors) + sizeof(uint64_t),
                           __alignof__(lc_stats));
}

/** sizeof(lc_event) in 0.1.0: its last field was turn_id. */
static inline size_t lc_abi_event_size_v0_1(void) {
    return lc_abi_round_up(offsetof(lc_event, turn_id) + sizeof(const char *),
                           __alignof__(lc_event));
}

#endif
