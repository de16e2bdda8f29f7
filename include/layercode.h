/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file layercode.h
 * liblayercode, a native client for Layercode's real-time voice agents.
 *
 * The only header an application includes. Plain C99, usable from C++ and from any language
 * with a C FFI. Conventions (after libopus, SQLite, libcurl, miniaudio):
 *
 *  - Opaque handles with create/destroy pairs: lc_client_new() / lc_client_free().
 *  - Every function that can fail returns an int: LC_OK (0) or a negative LC_ERR_* code.
 *    lc_strerror() names a code; lc_client_last_error() says why a call failed (per thread,
 *    like errno); lc_client_failure_reason() and lc_client_failure_message() say why a
 *    session failed (per client: HTTP status and server message, OpenSSL reason, ...).
 *  - Structs that cross the ABI begin with `struct_size` (set by lc_options_init() and the
 *    lc_client_get_stats() / lc_client_poll_event() macros), so they can grow without
 *    breaking compiled applications: fields are only ever appended, and a library accepts
 *    every struct_size from the first published one (liblayercode 0.1.0) up to its own.
 *    An application built against a newer header is refused (LC_ERR_INVALID_ARGUMENT, "built
 *    against a newer header?") where it hands the library a larger lc_options; larger
 *    lc_stats and lc_event get the fields this library knows, and their struct_size says
 *    how many bytes were written. doc/abi.md has the whole policy.
 *  - Strings are UTF-8 and NUL-terminated; an option or argument that is not valid UTF-8 is
 *    refused with LC_ERR_INVALID_ARGUMENT, never repaired. Input strings stay owned by the
 *    caller and are copied before the call returns. Strings handed to a callback are valid only during that
 *    call. Strings returned by a function are owned by the library (see each function).
 *  - Callbacks run on the library's event-loop thread (one per process, shared by all
 *    clients). They must be quick and must not block; they may call any lc_ function,
 *    including lc_client_free() on their own client (the free then completes after the
 *    callback returns, and no further callback runs for that client).
 *  - No callback runs after lc_client_free() returns.
 *  - The library never prints to stdout or stderr. ALSA's own messages ("ALSA lib ...")
 *    included: the library installs ALSA's process-wide snd_lib_error_set_handler() and
 *    passes them to lc_set_log_handler()'s handler at LC_LOG_WARN (dropped when they come
 *    from an audio thread, which never logs).
 *  - The library never raises a signal in its host: a peer that resets a connection (TCP or
 *    TLS) never causes a SIGPIPE, so the application need not ignore SIGPIPE.
 */
#ifndef LAYERCODE_H
#define LAYERCODE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Version -------------------------------------------------------------------------- */

#define LC_VERSION_MAJOR 0 /**< Major version: changes break the ABI (and the soname). */
#define LC_VERSION_MINOR 1 /**< Minor version: additions only. */
#define LC_VERSION_PATCH 0 /**< Patch version: fixes only. */
/** MAJOR * 10000 + MINOR * 100 + PATCH, comparable with lc_version_number(). */
#define LC_VERSION_NUMBER (LC_VERSION_MAJOR * 10000 + LC_VERSION_MINOR * 100 + LC_VERSION_PATCH)
#define LC_VERSION_STRING "0.1.0" /**< The version as text, as lc_version() returns it. */

/**
 * The library's version as "MAJOR.MINOR.PATCH".
 * Thread safety: any thread. Callback safety: yes. Ownership: static string, never freed.
 */
const char *lc_version(void);

/**
 * The library's version as LC_VERSION_NUMBER of the library actually loaded.
 * Thread safety: any thread. Callback safety: yes. Ownership: none.
 */
int lc_version_number(void);

/* ---- Errors (codes are never reused or renumbered) ------------------------------------ */

#define LC_OK 0 /**< Success. */
#define LC_ERR_INVALID_ARGUMENT (-1) /**< NULL where a value is required, bad option, bad JSON */
#define LC_ERR_INVALID_STATE (-2) /**< call not allowed in the client's current state */
#define LC_ERR_NO_MEMORY (-3) /**< An allocation failed. */
#define LC_ERR_AUTHORIZE (-4) /**< the authorize endpoint refused (HTTP status in detail) */
#define LC_ERR_NETWORK (-5) /**< DNS, connect, connection reset */
#define LC_ERR_TLS (-6) /**< handshake or certificate verification failed (an established
                            TLS connection that is lost is LC_ERR_NETWORK) */
#define LC_ERR_PROTOCOL (-7) /**< HTTP, WebSocket or Layercode protocol violation */
#define LC_ERR_TIMEOUT (-8) /**< a connect, authorize or close step took too long */
#define LC_ERR_CLOSED (-9) /**< the session is closed */
#define LC_ERR_AUDIO (-10) /**< audio device or resampler failure */
#define LC_ERR_TOO_LARGE (-11) /**< message or response over its configured limit */
#define LC_ERR_INTERNAL (-12) /**< A bug in the library: please report it. */

/**
 * Static English text for an error code ("unknown error" for codes it does not know).
 * Thread safety: any thread. Callback safety: yes. Ownership: static string, never freed.
 */
const char *lc_strerror(int code);

/* ---- Status --------------------------------------------------------------------------- */

#define LC_STATUS_DISCONNECTED 0 /**< No session (initial state, or after a clean end). */
#define LC_STATUS_CONNECTING 1 /**< Authorizing and opening the WebSocket. */
#define LC_STATUS_CONNECTED 2 /**< The session is live. */
#define LC_STATUS_RECONNECTING 3 /**< The connection dropped; authorizing again with the same
                                       conversation (see reconnect_max_attempts). */
#define LC_STATUS_ERROR 4 /**< The last session failed; lc_client_connect() may be called again. */

/* ---- Callbacks -----------------------------------------------------------------------
 * All run on the library's event-loop thread, one at a time per client, in the order the
 * events happened. Pointers passed in are valid only during the call: copy what you keep.
 * Keep them short (no blocking I/O, no sleeping): audio of every client on the loop waits.
 * From inside a callback you may call any lc_ function, lc_client_free() included.
 * Server strings never arrive cut short by a NUL: JSON text keeps it escaped (\u0000); a
 * server message whose type, turn_id or delta_id holds a NUL, or whose turn_id or delta_id
 * is over 256 bytes, is refused (on_error LC_ERR_PROTOCOL, the session goes on); an
 * authorize response with an empty or NUL-bearing conversation_id or client_session_key
 * fails the connect (LC_ERR_PROTOCOL); a NUL in server text inside an error or
 * disconnect message shows as U+FFFD.                                                   */

/** The client's status changed to one of LC_STATUS_*. */
typedef void (*lc_status_fn)(void *user_data, int status);
/** The session is live. config_json is the authorize response's "config" object. */
typedef void (*lc_connected_fn)(void *user_data, const char *conversation_id,
                                const char *config_json);
/** The session ended. reason is LC_OK for a clean close (by you or by the server), or the
 *  LC_ERR_* that ended it; message says what happened (e.g. the WebSocket close code).
 *  Runs exactly once for every lc_client_connect() that returned LC_OK (a failed connect
 *  included: on_error, then status LC_STATUS_ERROR, then this), unless the client is freed
 *  first. */
typedef void (*lc_disconnected_fn)(void *user_data, int reason, const char *message);
/** An error occurred (it may or may not end the session; status tells). */
typedef void (*lc_error_fn)(void *user_data, int code, const char *message);
/** Every server message except response.audio, as its type and the whole JSON text.
 *  Unknown message types arrive here too. */
typedef void (*lc_message_fn)(void *user_data, const char *type, const char *json);
/** A response.data message: content_json is its "content" value as JSON text,
 *  turn_id its turn (or NULL when absent). */
typedef void (*lc_data_fn)(void *user_data, const char *content_json, const char *turn_id);

/* ---- Options -------------------------------------------------------------------------- */

/** Audio modes. LC_AUDIO_EXTERNAL: the app writes microphone PCM with lc_client_write_audio()
 *  and reads agent PCM with lc_client_read_audio(). LC_AUDIO_NONE: text only, no audio is
 *  sent and agent audio is discarded. LC_AUDIO_ALSA: the library opens capture_device and
 *  playback_device itself and runs them on two real-time threads. LC_AUDIO_WAV: the same
 *  engine with WAV files as the devices, paced in real time by one thread: capture_device is
 *  the microphone's WAV (any rate 8000..48000, any format; silence after its end; NULL: no
 *  microphone), playback_device the WAV written at output_sample_rate (NULL: discarded).
 *
 *  Echo: the library cancels the speaker's echo on the microphone path (echo_cancellation,
 *  on by default in LC_AUDIO_ALSA and LC_AUDIO_WAV when an engine is built in; for the
 *  app's own devices set it and lc_client_set_audio_delays()). Without a canceller
 *  (lc_echo_engines_built() is 0, or it is turned off), ALSA mode falls back to half duplex
 *  (half_duplex), and otherwise, when the microphone can hear the speaker, the agent's
 *  voice comes back as speech and the agent interrupts itself. Then use push-to-talk
 *  (lc_client_turn_start(), lc_client_turn_end()), a headset, can_interrupt off in the
 *  agent's config, or the sound server's echo canceller (PulseAudio, or PipeWire's
 *  pipewire-pulse): `pactl load-module module-echo-cancel aec_method=webrtc
 *  source_name=echocancel sink_name=echocancel_sink`, `pactl set-default-source echocancel`,
 *  `pactl set-default-sink echocancel_sink`, then capture_device and playback_device
 *  "default" (README.md, "Echo cancellation"). */
#define LC_AUDIO_EXTERNAL 0 /**< The app moves the audio (default). */
#define LC_AUDIO_NONE 1 /**< Text only. */
#define LC_AUDIO_ALSA 2 /**< The library runs ALSA capture and playback devices. */
#define LC_AUDIO_WAV 3 /**< WAV files as microphone and speaker, paced in real time. */

/** A level (0..1, RMS of the last 1/amplitude_rate_hz seconds, relative to full scale). */
typedef void (*lc_amplitude_fn)(void *user_data, float level);
/** A yes/no state changed (user speaking per the client VAD; agent speaking per what the
 *  speaker actually plays; muted). */
typedef void (*lc_flag_fn)(void *user_data, int on);
/** A device switch: is_input 1 for the microphone, 0 for the speaker; name as passed. */
typedef void (*lc_device_switched_fn)(void *user_data, int is_input, const char *name);
/** The system's audio devices changed. */
typedef void (*lc_devices_changed_fn)(void *user_data);

/** Everything lc_client_new() needs: fill with lc_options_init(), then set what you need. */
typedef struct lc_options {
    /** sizeof(lc_options) as the application was compiled: set by lc_options_init(). */
    size_t struct_size;

    /** Layercode agent id (required). */
    const char *agent_id;
    /** Your backend's authorize endpoint, which calls Layercode's authorize_session with
     *  your API key (required). http:// or https://. */
    const char *authorize_url;
    /** Extra request headers for the authorize POST, each "Name: Value"
     *  (e.g. "Authorization: Bearer <device token>"). The name must be an HTTP token and
     *  the value free of control characters (CR, LF, NUL, ...; tab is allowed). Names the
     *  library writes or that frame the request are refused, in any case: Host,
     *  Content-Length, Transfer-Encoding, Connection, Content-Type, User-Agent, Accept,
     *  Upgrade, TE, Trailer, Expect, Keep-Alive, Proxy-Connection. Either mistake makes
     *  lc_client_new() fail with LC_ERR_INVALID_ARGUMENT, naming the header. */
    const char *const *authorize_headers;
    size_t authorize_header_count; /**< Number of authorize_headers (0..256). */
    /** A JSON object sent as "metadata" with the authorize request, or NULL. Checked
     *  (strict RFC 8259), then sent exactly as written: numbers keep every digit. */
    const char *metadata_json;
    /** A conversation to resume, or NULL for a new one. */
    const char *conversation_id;
    /** WebSocket base URL; default "wss://api.layercode.com/v1/agents/web/websocket".
     *  "?client_session_key=<key>" is appended. */
    const char *ws_url;

    /** PEM file / directory of trusted CAs for https and wss. NULL: the system store. The
     *  server's certificate must name the host in a subjectAltName (DNS or IP); its subject
     *  CN is never used (RFC 9525). */
    const char *ca_file;
    const char *ca_dir; /**< Directory of trusted CA certificates (c_rehash layout), or NULL. */
    /** Milliseconds allowed for each of authorize and the WebSocket open (DNS, TCP, TLS and
     *  HTTP together). Default 10000. */
    int connect_timeout_ms;

    /** LC_AUDIO_EXTERNAL (default) or LC_AUDIO_NONE. */
    int audio_mode;
    /** Sample rate of the PCM the app writes with lc_client_write_audio(), 8000..48000.
     *  Default 16000. Resampled to Layercode's 8000 Hz. */
    int input_sample_rate;
    /** Sample rate of the PCM lc_client_read_audio() returns, 8000..48000. Default 16000
     *  (Layercode's own rate: no resampling). */
    int output_sample_rate;

    /** Passed to every callback. */
    void *user_data;
    lc_status_fn on_status; /**< Status changes (LC_STATUS_*). */
    lc_connected_fn on_connected; /**< The session is live. */
    lc_disconnected_fn on_disconnected; /**< The session ended. */
    lc_error_fn on_error; /**< Errors. */
    lc_message_fn on_message; /**< Every server message but audio. */
    lc_data_fn on_data; /**< response.data content. */

    /* --- Devices and audio (LC_AUDIO_ALSA unless noted) --- */
    /** LC_AUDIO_ALSA: PCM names ("default", "plughw:1,0", "hw:CARD=Device,DEV=0", ...);
     *  NULL: "default"; lc_list_devices() lists them. LC_AUDIO_WAV: file paths (see there). */
    const char *capture_device;
    const char *playback_device; /**< See capture_device. */
    /** Rate asked of both devices; 0: 48000. The devices may settle on another rate (any of
     *  8000..48000, 44100 included): the library resamples. Channels: whatever the device
     *  offers (mono preferred); capture is downmixed, playback duplicated to every channel. */
    int device_sample_rate;
    /** ALSA period (latency vs. wake-ups), milliseconds. Default 10. */
    int period_ms;
    /** Jitter buffer for agent audio (all audio modes): target delay bounds in ms.
     *  Defaults 40 and 500. The target adapts between them to the arrival jitter. */
    int jitter_min_ms;
    int jitter_max_ms; /**< See jitter_min_ms. */
    /** 1 (default): send microphone audio. 0: listen-only (text input still works). */
    int audio_input_enabled;
    /** 1 (default): play agent audio. 0: agent audio is discarded (transcripts/text only),
     *  and each assistant turn's trigger.response.audio.replay_finished is sent at once, at
     *  its response.end, with the last delta id received (as the JS SDK does; so with
     *  LC_AUDIO_NONE). */
    int audio_output_enabled;
    /** Start muted (lc_client_unmute() to talk). Default 0. */
    int start_muted;
    /** Amplitude callbacks per second (all audio modes), 0..100. Default 20; 0: off. */
    int amplitude_rate_hz;
    lc_amplitude_fn on_user_amplitude; /**< Microphone level (what is captured). */
    lc_amplitude_fn on_agent_amplitude; /**< Agent level (what the speaker plays). */
    lc_flag_fn on_user_speaking; /**< The client VAD's speech start/end. */
    lc_flag_fn on_agent_speaking; /**< Agent audio starts/stops playing. */
    lc_flag_fn on_mute; /**< Mute state changes. */

    /* --- Surviving the network: reconnect, keepalive, limits --- */
    /** After an unexpected drop (connection lost, keepalive timeout, close 1001 "going
     *  away" as in a server deploy or restart, close 1006/1011..1014) the client reconnects:
     *  status LC_STATUS_RECONNECTING, authorize again with the same conversation id, reopen.
     *  Close 1000 (or no code) is the server ending the session: a clean end, no reconnect. Attempts before giving up; 0: never reconnect. Default 5.
     *  The count starts over only once a reopened connection has stayed up for 10 s, so a
     *  server that accepts and drops at once cannot cause endless reconnects. The first
     *  connect never retries. */
    int reconnect_max_attempts;
    /** Backoff: attempt n waits a random time in [d/2, d], d = min(max_delay, base * 2^(n-1)).
     *  Defaults 500 and 7000 ms. */
    int reconnect_base_ms;
    int reconnect_max_delay_ms; /**< See reconnect_base_ms. */
    /** A WebSocket ping after this long without receiving anything; 0: off. Default 20000. */
    int keepalive_interval_ms;
    /** Nothing received this long after that ping: the connection is dead (reconnect).
     *  Any byte arriving on the socket counts, part of a TLS record too, so a slow but live
     *  link is not declared dead. Default 10000. */
    int keepalive_timeout_ms;
    /** Per-step limits in ms; 0 (the default) leaves only connect_timeout_ms, which bounds
     *  authorize and the WebSocket open as a whole. */
    int dns_timeout_ms;
    int tcp_connect_timeout_ms; /**< See dns_timeout_ms. */
    int tls_timeout_ms; /**< See dns_timeout_ms. */
    int upgrade_timeout_ms; /**< WebSocket upgrade (request sent to 101); see dns_timeout_ms. */
    int authorize_timeout_ms; /**< The whole authorize request; 0: connect_timeout_ms. */
    /** Bytes of messages waiting for a server that stopped reading (4096..2^30). Beyond it
     *  the OLDEST microphone audio is dropped and counted (lc_stats.send_queue_dropped_frames);
     *  text and data are never dropped silently (LC_ERR_TOO_LARGE on_error). Answers to the
     *  server's pings wait outside it, but at most one (the latest). Default 262144. */
    size_t send_queue_max_bytes;
    /** Microphone audio kept while reconnecting and sent once the session reopens (0..600000
     *  ms). What an outage costs: audio older than this is dropped and counted
     *  (lc_stats.outage_dropped_frames); agent audio already received keeps playing until
     *  it runs out; text, data and turn calls fail with LC_ERR_INVALID_STATE. Default 2000. */
    int outage_buffer_ms;
    /** Largest WebSocket message accepted (1024..2^30); a larger one fails the session with
     *  LC_ERR_TOO_LARGE (close 1009). Default 16 MiB. */
    size_t max_message_bytes;
    /** Largest authorize response accepted (1024..2^30). Default 1 MiB. */
    size_t max_http_response_bytes;

    /* --- Switching audio at run time (JS SDK: audioInputChanged, onDeviceSwitched, ...) --- */
    lc_flag_fn on_audio_input_changed; /**< lc_client_set_audio_input() changed it. */
    lc_flag_fn on_audio_output_changed; /**< lc_client_set_audio_output() changed it. */
    /** A device switch took effect (is_input 1: microphone, 0: speaker; name: the device). */
    lc_device_switched_fn on_device_switched;
    /** ALSA's device list changed (a USB headset plugged in, ...): call lc_list_devices(). */
    lc_devices_changed_fn on_devices_changed;
    /** How often the device list is checked for on_devices_changed, in ms (LC_AUDIO_ALSA, or
     *  whenever on_devices_changed is set); 0: never. Default 2000. */
    int device_watch_ms;

    /* --- Added after 0.1.0 (doc/abi.md): lc_options_init() sets them --- */
    /** Records each session into this file (opened by lc_client_connect, emptied when the
     *  session first connects; a later session on the same client replaces it): Ogg Opus (RFC 7845), stereo 16 kHz,
     *  left = the microphone as sent (silence where nothing was sent), right = the agent as
     *  played (after barge-in flushes; silence with audio output off), both on the session
     *  clock from the first connect to the session's end; a reconnect continues the file.
     *  Pages are written at least every 500 ms. Tags: CONVERSATION_ID, AGENT_ID, DATE (UTC
     *  start), ENCODER. Encoding runs on its own thread; if it falls behind, frames are
     *  dropped (lc_stats.recorder_dropped_frames, logged once). A path that cannot be
     *  created fails lc_client_connect (LC_ERR_INVALID_ARGUMENT naming it); a write error
     *  later stops the recording (logged), never the session. A session that never
     *  connected leaves no file. Copied at lc_client_new(). Default NULL: no recording. */
    const char *record_path;
    /** The wire codecs offered at authorize, comma-separated, most preferred first:
     *  "opus,pcm16" offers the compressed Opus profile (doc/opus-profile.md), which a server
     *  that speaks it (tools/devserver --codecs opus,pcm16, or its relay) may choose; any
     *  other server keeps Layercode's PCM JSON. NULL (the default) or "pcm16": PCM JSON
     *  only, and the authorize request stays byte for byte Layercode's. An unknown name
     *  fails lc_client_new() with LC_ERR_INVALID_ARGUMENT naming it. The codec chosen is
     *  in on_connected's config (config.audio.codec, when offered) and lc_stats.wire_codec. */
    const char *wire_codecs;
    /** Opus uplink bitrate in bits/s (6000..510000; 0 also means the default). Chosen so
     *  that the uplink is over 8x smaller on the wire than PCM JSON with speech still clear
     *  (README "Opus wire profile"). Default 16000. */
    int opus_bitrate;
    /** Opus encoder complexity, 0 (cheapest) .. 10 (-1 also means the default). Default 5. */
    int opus_complexity;
    /** 1: Opus discontinuous transmission (near-silent frames become tiny packets). Default 0. */
    int opus_dtx;
    /** Echo cancellation on the microphone path, before everything that listens to it (the
     *  uplink, the client VAD, the amplitude callbacks, the recorder), against what the
     *  speaker actually played (doc/echo-cancellation.md). -1 (the default): on in
     *  LC_AUDIO_ALSA and LC_AUDIO_WAV when an engine is built in (lc_echo_engines_built()),
     *  off for external audio; 1: on in every mode (external audio: the reference is what
     *  lc_client_read_audio returns; declare the device latencies with
     *  lc_client_set_audio_delays()), and lc_client_new() fails with
     *  LC_ERR_INVALID_ARGUMENT when no engine is built in; 0: off. */
    int echo_cancellation;
    /** The engine: "webrtc-aec3", "webrtc-legacy", "speexdsp", or "webrtc" (the WebRTC
     *  engine built in) or NULL (the best built in: AEC3, else the legacy WebRTC AEC,
     *  else speexdsp). One not built in fails lc_client_new() with LC_ERR_INVALID_ARGUMENT
     *  naming it. lc_stats.echo_engine says which ran. Copied at lc_client_new(). */
    const char *echo_engine;
    /** 1: noise suppression (from the echo engine; moderate). Default 0. */
    int noise_suppression;
    /** 1: automatic gain control (from the echo engine; adaptive digital). Default 0. */
    int auto_gain;
    /** Half duplex, the fallback where no echo canceller runs: while the agent is audible
     *  (and 300 ms after, for the room's echo), microphone frames are replaced by silence
     *  unless they are more than 10 dB louder than the echo the speaker's level predicts
     *  (doc/echo-cancellation.md "Half duplex"); counted in lc_stats.half_duplex_gated_frames.
     *  -1 (the default): on in LC_AUDIO_ALSA; 1: on (any mode); 0: off. While echo
     *  cancellation runs, the same gate (6 dB) applies only until the canceller has converged (its
     *  measured ERLE at 15 dB, the echo inaudible, or 10 s of agent speech): the convergence
     *  guard, so that its first seconds cannot interrupt the agent. */
    int half_duplex;
    /** 0. (Without it the struct would end in padding, and the next int field added would
     *  not change sizeof(lc_options): doc/abi.md.) */
    int reserved1;
} lc_options;

/**
 * Fills *opts with defaults (all strings NULL, callbacks NULL, the defaults named above) for
 * a struct of struct_size bytes, and sets opts->struct_size. Use the lc_options_init()
 * macro, which passes sizeof. An older application's smaller struct gets its own fields
 * (the library fills in the defaults of the later ones when it reads it).
 * Returns LC_OK, or LC_ERR_INVALID_ARGUMENT for NULL, for a struct_size larger than this
 * library's lc_options (an application built against a newer header) or smaller than the
 * first published one; then nothing is written and lc_client_last_error(NULL) says why.
 * Thread safety: any thread. Callback safety: yes. Ownership: writes only *opts.
 */
int lc_options_init_sized(lc_options *opts, size_t struct_size);
/** Fills *opts with defaults for the struct the caller was compiled with. */
#define lc_options_init(opts) lc_options_init_sized((opts), sizeof(*(opts)))

/* ---- Client --------------------------------------------------------------------------- */

/** A client: one voice session at a time (opaque). */
typedef struct lc_client lc_client;

/**
 * Creates a client from *opts (copied: the strings may be freed when this returns). Does not
 * connect. Reads opts->struct_size bytes (set by lc_options_init()): the fields of an older
 * application's smaller struct take their defaults; a larger struct (an application built
 * against a newer header) is refused with LC_ERR_INVALID_ARGUMENT.
 * On failure *out is NULL and lc_client_last_error(NULL) on this thread says why.
 * Thread safety: any thread. Callback safety: yes.
 * Ownership: the caller owns *out and releases it with lc_client_free().
 */
int lc_client_new(const lc_options *opts, lc_client **out);

/**
 * Disconnects if needed and frees the client. NULL is a no-op. Blocks until the event loop
 * has released the client; no callback for it runs after this returns. Called from one of
 * this client's callbacks, it returns at once and the client is freed when the callback
 * returns. Never call it twice on one handle, nor while another thread is inside a call on
 * it (lc_client_poll_event() excepted: it is woken and returns LC_ERR_CLOSED).
 * Thread safety: any thread, once. Callback safety: yes (see above).
 * Ownership: the handle and every string it returned become invalid.
 */
void lc_client_free(lc_client *client);

/**
 * Starts a session: authorize, then open the WebSocket. Returns at once; progress arrives
 * through on_status / on_connected / on_error / on_disconnected. LC_ERR_INVALID_STATE if a
 * session is already starting or live. The audio buffers are made here (on the first
 * connect in LC_AUDIO_EXTERNAL, kept until lc_client_free(); per session in ALSA/WAV
 * modes): a client that never connects holds none. With lc_options.record_path, the file
 * is opened here: LC_ERR_INVALID_ARGUMENT naming the path when it cannot be (the session
 * does not start).
 * Thread safety: any thread. Callback safety: yes. Ownership: none.
 */
int lc_client_connect(lc_client *client);

/**
 * Ends the session (WebSocket close 1000) or abandons a connect in progress. Returns at once;
 * on_disconnected follows. Disconnecting a disconnected client is LC_OK and does nothing.
 * Thread safety: any thread. Callback safety: yes. Ownership: none.
 */
int lc_client_disconnect(lc_client *client);

/**
 * The client's current LC_STATUS_*, or LC_ERR_INVALID_ARGUMENT for NULL.
 * Thread safety: any thread. Callback safety: yes. Ownership: none.
 */
int lc_client_status(const lc_client *client);

/**
 * External audio in: count mono PCM16 samples at input_sample_rate. Wait-free: it copies
 * into a ring and wakes the event loop; it never blocks, so an audio callback may call it.
 * Returns the number of samples accepted (< count when the ring is full: the rest is
 * dropped and counted in lc_stats.input_samples_dropped), or a negative LC_ERR_*.
 * Audio written while not connected is discarded, not counted, and reported as accepted
 * (the return value is count).
 * Thread safety: one writer thread at a time. Callback safety: yes. Ownership: none.
 */
int lc_client_write_audio(lc_client *client, const int16_t *samples, size_t count);

/**
 * External audio out: fills out[0..count) with agent PCM16 mono at output_sample_rate,
 * padding with silence when no agent audio is queued. Returns the number of samples that
 * were agent audio (the rest of out is silence), or a negative LC_ERR_*. What this call
 * consumes is what counts as played (replay_finished is sent when it drains the queue).
 * Thread safety: one reader thread at a time. Callback safety: yes. Ownership: none.
 */
int lc_client_read_audio(lc_client *client, int16_t *out, size_t count);

/**
 * Sends a typed user message (client.response.text). Agent playback stops first. Empty or
 * all-whitespace text is ignored (LC_OK). LC_ERR_INVALID_ARGUMENT for NULL or invalid UTF-8,
 * LC_ERR_TOO_LARGE over 64 KiB, LC_ERR_INVALID_STATE when not connected.
 * Thread safety: any thread. Callback safety: yes. Ownership: text is copied.
 */
int lc_client_send_text(lc_client *client, const char *text);

/**
 * Sends structured data (client.response.data); json must be a JSON object. Does not
 * interrupt playback. LC_ERR_INVALID_ARGUMENT for NULL or anything but a JSON object,
 * LC_ERR_TOO_LARGE over 64 KiB, LC_ERR_INVALID_STATE when not connected.
 * Thread safety: any thread. Callback safety: yes. Ownership: json is copied.
 */
int lc_client_send_data(lc_client *client, const char *json);

/**
 * Push-to-talk pressed: sends trigger.turn.start, stops agent playback at once, and starts
 * sending microphone audio (pre-roll first). LC_ERR_INVALID_STATE when not connected.
 * Thread safety: any thread. Callback safety: yes. Ownership: none.
 */
int lc_client_turn_start(lc_client *client);

/**
 * Push-to-talk released: sends trigger.turn.end. LC_ERR_INVALID_STATE when not connected.
 * Thread safety: any thread. Callback safety: yes. Ownership: none.
 */
int lc_client_turn_end(lc_client *client);

/**
 * Mutes the microphone: nothing is sent (no audio, no VAD events) until lc_client_unmute().
 * Works in any state and survives reconnects; on_mute reports changes.
 * Thread safety: any thread. Callback safety: yes. Ownership: none.
 */
int lc_client_mute(lc_client *client);

/**
 * Unmutes the microphone. Thread safety: any thread. Callback safety: yes. Ownership: none.
 */
int lc_client_unmute(lc_client *client);

/**
 * 1 if muted, 0 if not, or LC_ERR_INVALID_ARGUMENT for NULL.
 * Thread safety: any thread. Callback safety: yes. Ownership: none.
 */
int lc_client_is_muted(const lc_client *client);

/**
 * Turns the microphone on or off (JS SDK setAudioInput). Off: no audio is captured or sent
 * and, in LC_AUDIO_ALSA/WAV, the capture device is closed (it reopens when turned back on);
 * unlike mute, the microphone is released. Any state; the choice survives sessions and
 * reconnects. on_audio_input_changed reports changes. LC_ERR_INVALID_STATE for an
 * LC_AUDIO_NONE client, LC_ERR_AUDIO (device still off) if the device cannot reopen.
 * Thread safety: any thread; blocks until the loop has applied it. Callback safety: yes.
 * Ownership: none.
 */
int lc_client_set_audio_input(lc_client *client, int enabled);

/**
 * Turns agent audio on or off (JS SDK setAudioOutput). Off: what is queued is dropped now,
 * later agent audio is discarded on arrival (not counted as loss: the app chose it) and,
 * in LC_AUDIO_ALSA/WAV, the playback device is closed. Transcripts and text keep coming;
 * replay_finished is sent at each response.end (see audio_output_enabled).
 * Errors and the rest as lc_client_set_audio_input().
 * Thread safety: any thread; blocks until applied. Callback safety: yes. Ownership: none.
 */
int lc_client_set_audio_output(lc_client *client, int enabled);

/**
 * Switches the microphone to another device (JS SDK setInputDevice): an ALSA PCM name in
 * LC_AUDIO_ALSA (see lc_list_devices()), a WAV file path in LC_AUDIO_WAV. During a session
 * the new device opens first; if it cannot, LC_ERR_AUDIO is returned and the old one keeps
 * running. Outside a session the name is kept for the next one. on_device_switched reports
 * the switch. LC_ERR_INVALID_STATE in LC_AUDIO_EXTERNAL/NONE (the app owns the devices),
 * LC_ERR_INVALID_ARGUMENT for NULL or "".
 * Thread safety: any thread; blocks until the device is open. Callback safety: yes.
 * Ownership: name is copied.
 */
int lc_client_set_input_device(lc_client *client, const char *name);

/**
 * Switches the speaker to another device, like lc_client_set_input_device(). Agent audio
 * queued at that moment keeps playing on the new device when it opens at the same rate
 * and channel count; otherwise it is dropped and counted in lc_stats.dropped_frames.
 * Thread safety: any thread; blocks until the device is open. Callback safety: yes.
 * Ownership: name is copied.
 */
int lc_client_set_output_device(lc_client *client, const char *name);

/**
 * Declares the audio latencies the echo canceller cannot measure itself
 * (doc/echo-cancellation.md "Alignment"), in ms: playback_ms from lc_client_read_audio()
 * returning samples to their being audible, capture_ms from sound reaching the microphone
 * to lc_client_write_audio() receiving it. For external audio (ALSA devices measure their
 * own with snd_pcm_delay; these then apply only to the WAV driver, where both are 0).
 * Overestimate rather than underestimate: a reference that reaches the canceller after
 * its echo cannot cancel it. Applies at once and to later sessions. Default 0 and 0.
 * LC_ERR_INVALID_ARGUMENT for a negative value or one over 1000.
 * Thread safety: any thread; blocks until the loop has applied it. Callback safety: yes.
 * Ownership: none.
 */
int lc_client_set_audio_delays(lc_client *client, int playback_ms, int capture_ms);

/** Why the last session failed for good (see lc_client_failure_reason()). */
#define LC_FAILURE_NONE 0 /**< No failure: never failed, or ended cleanly. */
#define LC_FAILURE_UNREACHABLE 1 /**< DNS, TCP, reset, dropped connection, timeout. */
#define LC_FAILURE_AUTHORIZE 2 /**< The authorize endpoint refused (HTTP status given). */
#define LC_FAILURE_TLS 3 /**< Handshake or certificate verification failed. */
#define LC_FAILURE_PROTOCOL 4 /**< HTTP/WebSocket/Layercode protocol error, or close 1002/1003/1007..1010. */
#define LC_FAILURE_MAX_RETRIES 5 /**< Every reconnect attempt failed with a retryable error. */
#define LC_FAILURE_CLOSED 6 /**< The server closed with an application code (3000..4999). */
#define LC_FAILURE_AUDIO 7 /**< The audio device failed. */

/**
 * Why the last session ended in LC_STATUS_ERROR: an LC_FAILURE_* value (LC_FAILURE_NONE
 * while a session runs or after a clean end). If http_status is not NULL it receives the
 * HTTP status behind the failure (authorize or WebSocket upgrade refused), or 0.
 * LC_ERR_INVALID_ARGUMENT for a NULL client. Set before on_status(LC_STATUS_ERROR) runs.
 * Thread safety: any thread. Callback safety: yes. Ownership: none.
 */
int lc_client_failure_reason(const lc_client *client, int *http_status);

/**
 * Why a call failed: the detail of the last lc_ call on this client that failed on the
 * calling thread ("" if this thread's last failing call was on another client, or there was
 * none). Like errno, read it right after a call returned a negative LC_ERR_*: a call that
 * succeeds does not clear it. With NULL: why the calling thread's last lc_client_new() or
 * lc_options_init_sized() failed. Errors that arrive on their own during a session (on_error,
 * LC_EVENT_ERROR) never show here: see lc_client_failure_message().
 * Thread safety: any thread, concurrently too: each thread has its own.
 * Callback safety: yes.
 * Ownership: library-owned, per thread, never NULL. Valid until the calling thread's next
 * lc_ call (or its exit); other threads' calls and lc_client_free() do not invalidate it.
 * Copy it to keep it longer.
 */
const char *lc_client_last_error(const lc_client *client);

/**
 * Why the session failed: the message of the last error this client reported on its own
 * (the last on_error / LC_EVENT_ERROR message: a refused authorize with its HTTP status,
 * "gave up after N reconnect attempts", an OpenSSL reason, ...), "" if none yet. When the
 * status is LC_STATUS_ERROR it is the error that ended the session, beside
 * lc_client_failure_reason(); it is kept until the client reports another error. Copies
 * it into buffer (size bytes, NUL included; cut short at a UTF-8 character boundary when it
 * does not fit; nothing written when size is 0) and returns its full length in bytes
 * without the NUL, as snprintf does: call with NULL and 0 to learn the size. Returns
 * LC_ERR_INVALID_ARGUMENT for a NULL client, or a NULL buffer with size > 0.
 * Thread safety: any thread. Callback safety: yes.
 * Ownership: writes only buffer[0..size); the caller owns buffer.
 */
int lc_client_failure_message(const lc_client *client, char *buffer, size_t size);

/* ---- Statistics ----------------------------------------------------------------------- */

/** lc_stats.wire_codec: Layercode's PCM16 in JSON text messages. */
#define LC_CODEC_PCM16 0
/** lc_stats.wire_codec: the Opus wire profile (doc/opus-profile.md). */
#define LC_CODEC_OPUS 1

/** lc_stats.echo_engine, lc_echo_engines_built(): no echo canceller. */
#define LC_ECHO_ENGINE_NONE 0
/** WebRTC's AEC3 (webrtc-audio-processing 1.x: Debian 13, Raspberry Pi OS trixie). */
#define LC_ECHO_ENGINE_WEBRTC_AEC3 1
/** WebRTC's legacy AEC with the extended filter and delay-agnostic mode
 *  (webrtc-audio-processing 0.3: Debian 12). */
#define LC_ECHO_ENGINE_WEBRTC_LEGACY 2
/** speexdsp's MDF canceller with its residual echo suppressor. */
#define LC_ECHO_ENGINE_SPEEX 3

/**
 * The echo engines this library was built with: bit (1 << LC_ECHO_ENGINE_x) for each.
 * Thread safety: any thread. Callback safety: yes. Ownership: none.
 */
unsigned lc_echo_engines_built(void);

/**
 * A static name for an LC_ECHO_ENGINE_* value ("webrtc-aec3", "webrtc-legacy", "speexdsp",
 * "none"; "unknown" for any other value), as lc_options.echo_engine takes it.
 * Thread safety: any thread. Callback safety: yes. Ownership: static; never free it.
 */
const char *lc_echo_engine_name(int engine);

/** A client's counters (lc_client_get_stats()); fields only ever get added at the end.
 *  A field lies beyond what the library wrote when its offset + size exceeds struct_size
 *  (an older library): it is then left as the caller had it. */
typedef struct lc_stats {
    size_t struct_size; /**< set by the lc_client_get_stats() macro */
    uint64_t audio_frames_sent; /**< client.audio messages sent (Opus profile: packets) */
    uint64_t audio_bytes_sent; /**< PCM bytes in them (8 kHz, before base64; Opus: packet bytes) */
    uint64_t audio_frames_received; /**< response.audio messages received (Opus: packets) */
    uint64_t audio_bytes_received; /**< PCM bytes in them (16 kHz, after base64; Opus: packet bytes) */
    uint64_t messages_sent; /**< every WebSocket message sent */
    uint64_t messages_received; /**< every WebSocket message received */
    uint64_t input_samples_dropped; /**< microphone samples lost: input ring full */
    uint64_t playout_samples_dropped; /**< agent samples (16 kHz, like every agent-sample count here) discarded: interrupted, late or overflow */
    uint64_t played_samples; /**< agent samples consumed by playout (the speaker) */
    uint64_t underrun_samples; /**< silence played where agent audio was due */
    int64_t connect_time_us; /**< connect call to session open, last session; -1 if none */
    int32_t jitter_delay_ms; /**< jitter buffer (NetEq-style): agent audio buffered now */
    int32_t jitter_target_ms; /**< adaptive target delay */
    int64_t concealed_ms; /**< silence played where agent audio was due */
    int64_t interruptions; /**< underruns of 150 ms or more ... */
    int64_t interruption_ms; /**< ... and their total length */
    uint64_t late_frames; /**< frames that arrived after their play time (dropped) */
    uint64_t dropped_frames; /**< frames dropped: barge-in flushes, overflow, a speaker switch to another rate */
    uint64_t capture_xruns; /**< ALSA overruns recovered */
    uint64_t playback_xruns; /**< ALSA underruns recovered */
    /** Uplink latency p50, µs (-1 until measured; percentiles are over the last 1024
     *  events): a 20 ms frame complete at capture → its message written to the socket. */
    int64_t uplink_latency_p50_us;
    int64_t uplink_latency_p99_us; /**< Uplink latency p99, µs. */
    /** Downlink latency p50, µs: the first agent audio of a turn read from the socket →
     *  rendered for playout (jitter-buffer prefetch included; the device's own buffer comes
     *  on top). */
    int64_t downlink_latency_p50_us;
    int64_t downlink_latency_p99_us; /**< Downlink latency p99, µs. */
    /** Barge-in latency p50, µs: a flush (turn.start{user}, push-to-talk, typed text) → the
     *  first render without agent audio. */
    int64_t barge_in_latency_p50_us;
    int64_t barge_in_latency_p99_us; /**< Barge-in latency p99, µs. */
    uint64_t events_dropped; /**< events the poll queue dropped (LC_EVENT_QUEUE_MAX_BYTES) */
    uint64_t reconnects; /**< successful automatic reconnects */
    uint64_t send_queue_dropped_frames; /**< mic frames dropped: the server stopped reading */
    uint64_t outage_dropped_frames; /**< mic frames dropped: outage longer than outage_buffer_ms */
    uint64_t event_queue_bytes; /**< bytes queued for lc_client_poll_event now */
    /** Server messages refused and skipped (invalid JSON, no type, bad base64 audio, a
     *  turn_id/delta_id over 256 bytes or holding a NUL), each also reported through
     *  on_error as LC_ERR_PROTOCOL; the session goes on. */
    uint64_t protocol_errors;
    /* --- Added after 0.1.0 (doc/abi.md): struct_size says whether the library filled them --- */
    /** Agent audio queued in the playback device, not yet audible (ALSA snd_pcm_delay), in
     *  ms; 0 for external audio and WAV. */
    int64_t device_delay_ms;
    /** 20 ms frames the session recorder (lc_options.record_path) lost because it fell
     *  behind (the microphone's hand-over or the speaker's render tap was full); the first
     *  loss is also logged. 0 without recording. */
    uint64_t recorder_dropped_frames;
    /** Opus profile: missing agent frames decoded from the next packet's in-band FEC, as
     *  the next packet was already buffered (also counted in concealed_ms). libopus 1.3
     *  cannot tell whether a packet carries FEC: where the sender put none, this decode is
     *  PLC (doc/opus-profile.md §5). */
    uint64_t fec_recovered_frames;
    /** Bytes of every WebSocket message sent / received on the socket, frame headers
     *  included, before TLS: the bandwidth the session costs. */
    uint64_t wire_bytes_sent;
    uint64_t wire_bytes_received; /**< see wire_bytes_sent */
    /** The socket's audio codec: LC_CODEC_PCM16 (Layercode's PCM JSON) or LC_CODEC_OPUS
     *  (the Opus profile); the last socket's when none is open. */
    int32_t wire_codec;
    /** The echo engine running on the microphone path, for echo cancellation, noise
     *  suppression or automatic gain: LC_ECHO_ENGINE_* (NONE when none of them runs, half
     *  duplex included). */
    int32_t echo_engine;
    /** Echo return loss enhancement, dB: how much quieter the agent's echo is after the
     *  canceller than before it, smoothed over frames where the agent was audible and the
     *  user was not talking; 0 until measured. */
    double echo_return_loss_enhancement_db;
    /** The level left of the agent's echo after the canceller, dBFS, over the same frames;
     *  -120 until measured. */
    double residual_echo_level_dbfs;
    /** The echo's path beyond what the devices report, ms: from a sample being audible (by
     *  the playback device's delay) to its echo at the microphone (the room, a sound
     *  server's buffering), measured by correlating the two signals' levels; 10 ms
     *  resolution; -1 until measured. Negative down to -20: the declared delays
     *  (lc_client_set_audio_delays) are longer than the real ones (doc/echo-cancellation.md). */
    int64_t echo_delay_ms;
    /** 10 ms frames in which the user talked over the audible agent (double-talk). */
    uint64_t double_talk_frames;
    /** 10 ms microphone frames processed by the echo stage. */
    uint64_t echo_frames;
    /** 10 ms microphone frames whose reference (the agent audio played when they were
     *  captured) was not yet rendered after waiting 60 ms: processed against silence for
     *  the missing part. Rising steadily: the declared delays are too short. */
    uint64_t echo_reference_late_frames;
    /** 10 ms microphone frames replaced by silence by half duplex (lc_options.half_duplex),
     *  or by the echo canceller's convergence guard in its first seconds (while the agent
     *  is audible, unless the user is clearly louder than the echo). */
    uint64_t half_duplex_gated_frames;
} lc_stats;

/**
 * Copies the client's counters into *stats: the first min(struct_size, this library's
 * sizeof(lc_stats)) bytes, and sets stats->struct_size to that count. LC_ERR_INVALID_ARGUMENT
 * for NULL, or a struct_size smaller than the first published lc_stats (0.1.0).
 * Thread safety: any thread. Callback safety: yes. Ownership: writes only *stats.
 */
int lc_client_get_stats_sized(const lc_client *client, lc_stats *stats, size_t struct_size);
/** Copies the client's counters into *stats (sized for the caller's struct). */
#define lc_client_get_stats(client, stats) \
    lc_client_get_stats_sized((client), (stats), sizeof(*(stats)))

/* ---- Events by polling ---------------------------------------------------------------- */

/** Event types of lc_event.type: the same events as the callbacks, for apps that would
 *  rather poll from their own thread than be called on the library's. */
#define LC_EVENT_STATUS 1 /**< code: LC_STATUS_* */
#define LC_EVENT_CONNECTED 2 /**< text: conversation id; json: config */
#define LC_EVENT_DISCONNECTED 3 /**< code: LC_OK or LC_ERR_*; text: what happened */
#define LC_EVENT_ERROR 4 /**< code: LC_ERR_*; text: message */
#define LC_EVENT_MESSAGE 5 /**< text: message type; json: the whole message */
#define LC_EVENT_DATA 6 /**< json: response.data content; turn_id */
#define LC_EVENT_USER_AMPLITUDE 7 /**< level */
#define LC_EVENT_AGENT_AMPLITUDE 8 /**< level */
#define LC_EVENT_USER_SPEAKING 9 /**< code: 1 or 0 */
#define LC_EVENT_AGENT_SPEAKING 10 /**< code: 1 or 0 */
#define LC_EVENT_MUTE 11 /**< code: 1 muted, 0 unmuted */
#define LC_EVENT_AUDIO_INPUT_CHANGED 12 /**< code: 1 on, 0 off */
#define LC_EVENT_AUDIO_OUTPUT_CHANGED 13 /**< code: 1 on, 0 off */
#define LC_EVENT_DEVICE_SWITCHED 14 /**< code: 1 input, 0 output; text: device name */
#define LC_EVENT_DEVICES_CHANGED 15 /**< the device list changed */

/** One event taken by lc_client_poll_event(); the fields used depend on the type. */
typedef struct lc_event {
    size_t struct_size; /**< set by the lc_client_poll_event() macro */
    int type; /**< LC_EVENT_* */
    int code; /**< see the type */
    float level; /**< amplitude events: 0..1 */
    const char *text; /**< see the type, or NULL */
    const char *json; /**< see the type, or NULL */
    const char *turn_id; /**< data events, or NULL */
} lc_event;

/** Bytes of events the poll queue holds (their strings plus 64 bytes each); beyond it the
 *  oldest are dropped. An event larger than this on its own is still queued, alone. */
#define LC_EVENT_QUEUE_MAX_BYTES (1024 * 1024)

/**
 * Takes the oldest queued event into \*event, waiting up to timeout_ms (0: do not wait,
 * negative: wait indefinitely). Returns 1 with an event, 0 on timeout, or a negative
 * LC_ERR_*. Events are queued, in order, only for an app that polls: from lc_client_new()
 * on when no callback is set in lc_options, otherwise from this function's first call on
 * that client (poll once with timeout_ms 0 before lc_client_connect() to see every event as
 * well as the callbacks). An app that only uses callbacks queues nothing. The queue holds
 * LC_EVENT_QUEUE_MAX_BYTES: beyond it the oldest events are dropped, each counted in
 * lc_stats.events_dropped (and the first drop logged at LC_LOG_WARN).
 * lc_client_free() wakes a waiting poll, which returns LC_ERR_CLOSED (the only call that may
 * be in progress on another thread when lc_client_free() is called).
 * Writes the first min(struct_size, this library's sizeof(lc_event)) bytes of *event and sets
 * event->struct_size to that count; LC_ERR_INVALID_ARGUMENT for NULL, or a struct_size
 * smaller than the first published lc_event (0.1.0).
 * Thread safety: one polling thread at a time. Callback safety: yes, with timeout_ms 0.
 * Ownership: the event's strings are the library's, valid until the next poll on this
 * client (or its free).
 */
int lc_client_poll_event_sized(lc_client *client, lc_event *event, size_t struct_size,
                               int timeout_ms);
/** Takes the oldest queued event (see lc_client_poll_event_sized()). */
#define lc_client_poll_event(client, event, timeout_ms) \
    lc_client_poll_event_sized((client), (event), sizeof(*(event)), (timeout_ms))

/* ---- Logging ------------------------------------------------------------------------- */

#define LC_LOG_ERROR 0 /**< Failures. */
#define LC_LOG_WARN 1 /**< Sessions ended by errors, trouble recovered from. */
#define LC_LOG_INFO 2 /**< Session lifecycle: connecting, connected, devices, disconnected. */
#define LC_LOG_DEBUG 3 /**< Everything. */

/** A log line (no trailing newline) of level LC_LOG_*. */
typedef void (*lc_log_fn)(void *user_data, int level, const char *message);

/**
 * Routes the library's log lines at or above max_level's severity (LC_LOG_ERROR only ...
 * LC_LOG_DEBUG everything) to fn, for every client of the process; NULL turns logging off
 * (the default: the library never prints by itself). Lines come from the event-loop thread
 * (never from an audio thread), except ALSA's own messages (LC_LOG_WARN, "ALSA lib ..."),
 * which come from the thread that called ALSA: the loop, the device watch, or the caller of
 * lc_list_devices(). A line already being delivered when the handler is
 * replaced still goes to the old handler.
 * Thread safety: any thread. Callback safety: yes. Ownership: message valid during fn only.
 */
int lc_set_log_handler(lc_log_fn fn, void *user_data, int max_level);

/* ---- Devices -------------------------------------------------------------------------- */

/** One ALSA PCM: name to open, human description, and whether it captures and/or plays. */
typedef void (*lc_device_fn)(void *user_data, const char *name, const char *description,
                             int is_input, int is_output);

/**
 * Calls fn once per ALSA PCM device (from ALSA's name hints: stable names, not indexes that
 * change across reboots), on the calling thread, before returning. Returns the number of
 * devices, or a negative LC_ERR_*.
 * Thread safety: any thread. Callback safety: yes. Ownership: strings valid during fn only.
 */
int lc_list_devices(lc_device_fn fn, void *user_data);

#ifdef __cplusplus
}
#endif

#endif /* LAYERCODE_H */
