/* SPDX-License-Identifier: Apache-2.0 */
/* libopus for Swift. opus_encoder_ctl/opus_decoder_ctl are variadic, which Swift cannot
 * call: each request the library uses gets a typed inline wrapper here. */
#include <opus/opus.h>

static inline int lcopus_set_bitrate(OpusEncoder *e, opus_int32 bps) {
    return opus_encoder_ctl(e, OPUS_SET_BITRATE(bps));
}
static inline int lcopus_set_complexity(OpusEncoder *e, opus_int32 c) {
    return opus_encoder_ctl(e, OPUS_SET_COMPLEXITY(c));
}
static inline int lcopus_set_inband_fec(OpusEncoder *e, opus_int32 on) {
    return opus_encoder_ctl(e, OPUS_SET_INBAND_FEC(on));
}
static inline int lcopus_set_packet_loss_perc(OpusEncoder *e, opus_int32 pct) {
    return opus_encoder_ctl(e, OPUS_SET_PACKET_LOSS_PERC(pct));
}
static inline int lcopus_set_dtx(OpusEncoder *e, opus_int32 on) {
    return opus_encoder_ctl(e, OPUS_SET_DTX(on));
}
static inline int lcopus_set_vbr(OpusEncoder *e, opus_int32 on) {
    return opus_encoder_ctl(e, OPUS_SET_VBR(on));
}
static inline int lcopus_set_signal_voice(OpusEncoder *e) {
    return opus_encoder_ctl(e, OPUS_SET_SIGNAL(OPUS_SIGNAL_VOICE));
}
/* The encoder's lookahead in samples at its own rate (the Ogg pre-skip, the added latency). */
static inline opus_int32 lcopus_get_lookahead(OpusEncoder *e) {
    opus_int32 v = 0;
    return opus_encoder_ctl(e, OPUS_GET_LOOKAHEAD(&v)) == OPUS_OK ? v : -1;
}
static inline int lcopus_encoder_reset(OpusEncoder *e) {
    return opus_encoder_ctl(e, OPUS_RESET_STATE);
}
static inline int lcopus_decoder_reset(OpusDecoder *d) {
    return opus_decoder_ctl(d, OPUS_RESET_STATE);
}
