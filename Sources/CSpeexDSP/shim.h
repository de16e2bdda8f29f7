/* SPDX-License-Identifier: Apache-2.0 */
#include <speex/speex_resampler.h>
