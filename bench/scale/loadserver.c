/* SPDX-License-Identifier: Apache-2.0 */
/* A cheap Layercode-compatible load server for the scale benchmark (bench/scale/scale.py):
 * one thread, epoll, plain HTTP on loopback. It speaks just enough of the wire contract
 * (doc/protocol.md) for the library's client:
 *   POST /authorize            -> {client_session_key, conversation_id, config} (automatic,
 *                                 can_interrupt false, client VAD on but not gating, so the
 *                                 client streams every 20 ms frame);
 *   GET /v1/agents/web/websocket with an RFC 6455 upgrade -> the session socket: it counts
 *                                 every client message and every client.audio, answers
 *                                 pings and closes, and after client.ready sends
 *                                 turn.start{assistant} and then an endless 440 Hz tone as
 *                                 response.audio, one 16 kHz chunk every --chunk-ms, on the
 *                                 session's own real-time schedule;
 *   GET /stats                 -> JSON: every open session's counters (the harness samples
 *                                 it at the start and end of its window), and the longest
 *                                 gap between this server's 20 ms ticks since the last
 *                                 /stats (a server held off the CPU delays every session).
 * The tone is base64-encoded once; a chunk costs one memcpy and one write. Where the
 * devserver spends about a percent of a core per session (it parses each message, decodes
 * the audio and runs a VAD), this spends a few hundredths.
 * usage: loadserver [--port N] [--chunk-ms MS]; prints one JSON "ready" line on stdout. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#define MAX_CONNS 4096
#define IN_CAP (64 * 1024)          /* a client message or HTTP request larger: closed */
#define OUT_CAP (4 * 1024 * 1024)   /* queued bytes per socket; beyond it chunks are dropped */
#define TICK_NS 20000000LL

enum { ST_HTTP, ST_WS };

typedef struct conn {
    int fd, state, close_after_flush, session_id, ready, watching_out;
    unsigned char in[IN_CAP];
    size_t in_len;
    unsigned char *out;
    size_t out_len, out_cap;
    int64_t opened_ns, stream_start_ns;
    uint64_t messages_in, audio_in, chunks_out, dropped_out;
} conn;

static conn *conns[MAX_CONNS];
static int epfd;
static int next_session = 1;
static uint64_t sessions_closed;
static int64_t chunk_ns = 100000000LL;
static int64_t last_tick_ns, tick_gap_max_ns;   /* the longest gap between ticks since /stats */
static char *tone_b64;      /* one chunk of the tone, base64 */
static size_t tone_b64_len;

static int64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static int out_reserve(conn *c, size_t more) {
    if (c->out_len + more <= c->out_cap) return 0;
    if (c->out_len + more > OUT_CAP) return -1;
    size_t cap = c->out_cap ? c->out_cap : 16384;
    while (cap < c->out_len + more) cap *= 2;
    unsigned char *p = realloc(c->out, cap);
    if (!p) return -1;
    c->out = p;
    c->out_cap = cap;
    return 0;
}

static int out_append(conn *c, const void *data, size_t len) {
    if (out_reserve(c, len) != 0) return -1;
    memcpy(c->out + c->out_len, data, len);
    c->out_len += len;
    return 0;
}

static void conn_close(conn *c) {
    if (c->state == ST_WS) sessions_closed++;
    epoll_ctl(epfd, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    conns[c->fd] = NULL;
    free(c->out);
    free(c);
}

/* Writes what is queued; EPOLLOUT only while something is left. 0, or -1 if closed. */
static int conn_flush(conn *c) {
    size_t done = 0;
    while (done < c->out_len) {
        ssize_t n = send(c->fd, c->out + done, c->out_len - done, MSG_NOSIGNAL);
        if (n > 0) { done += (size_t)n; continue; }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
        conn_close(c);
        return -1;
    }
    memmove(c->out, c->out + done, c->out_len - done);
    c->out_len -= done;
    if (c->out_len == 0 && c->close_after_flush) { conn_close(c); return -1; }
    int want = c->out_len != 0;
    if (want != c->watching_out) {
        struct epoll_event ev = {.events = EPOLLIN | (want ? EPOLLOUT : 0), .data.fd = c->fd};
        epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev);
        c->watching_out = want;
    }
    return 0;
}

static int ws_frame(conn *c, int opcode, const void *payload, size_t len) {
    unsigned char head[10];
    size_t h = 0;
    head[h++] = (unsigned char)(0x80 | opcode);
    if (len < 126) {
        head[h++] = (unsigned char)len;
    } else if (len < 65536) {
        head[h++] = 126;
        head[h++] = (unsigned char)(len >> 8);
        head[h++] = (unsigned char)len;
    } else {
        head[h++] = 127;
        for (int i = 7; i >= 0; i--) head[h++] = (unsigned char)((uint64_t)len >> (8 * i));
    }
    if (out_reserve(c, h + len) != 0) return -1;
    out_append(c, head, h);
    out_append(c, payload, len);
    return 0;
}

static void http_reply(conn *c, const char *status, const char *type, const char *body, size_t len) {
    char head[256];
    int n = snprintf(head, sizeof head, "HTTP/1.1 %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
                     "Connection: close\r\n\r\n", status, type, len);
    out_append(c, head, (size_t)n);
    if (out_reserve(c, len) == 0) out_append(c, body, len);
    c->close_after_flush = 1;
}

/* The value of header `name` in the request head (NUL-terminated), copied into buf. */
static int header_value(const char *head, const char *name, char *buf, size_t cap) {
    size_t nl = strlen(name);
    for (const char *p = strstr(head, "\r\n"); p; p = strstr(p + 2, "\r\n")) {
        const char *line = p + 2;
        if (strncasecmp(line, name, nl) == 0 && line[nl] == ':') {
            const char *v = line + nl + 1;
            while (*v == ' ' || *v == '\t') v++;
            const char *e = strstr(v, "\r\n");
            size_t len = e ? (size_t)(e - v) : strlen(v);
            while (len && (v[len - 1] == ' ' || v[len - 1] == '\t')) len--;
            if (len >= cap) return -1;
            memcpy(buf, v, len);
            buf[len] = 0;
            return 0;
        }
    }
    return -1;
}

static void stats_reply(conn *c) {
    size_t cap = 256 + (size_t)MAX_CONNS * 160, len = 0;
    char *body = malloc(cap);
    if (!body) { conn_close(c); return; }
    int64_t now = now_ns();
    len += (size_t)snprintf(body + len, cap - len,
                            "{\"now_ns\":%lld,\"closed\":%llu,\"tick_gap_max_ms\":%.1f,\"sessions\":[",
                            (long long)now, (unsigned long long)sessions_closed, (double)tick_gap_max_ns / 1e6);
    tick_gap_max_ns = 0;
    int first = 1;
    for (int fd = 0; fd < MAX_CONNS; fd++) {
        conn *s = conns[fd];
        if (!s || s->state != ST_WS) continue;
        len += (size_t)snprintf(body + len, cap - len,
                                "%s{\"id\":%d,\"ready\":%d,\"age_ms\":%lld,\"messages_in\":%llu,"
                                "\"audio_in\":%llu,\"chunks_out\":%llu,\"dropped_out\":%llu}",
                                first ? "" : ",", s->session_id, s->ready,
                                (long long)((now - s->opened_ns) / 1000000),
                                (unsigned long long)s->messages_in, (unsigned long long)s->audio_in,
                                (unsigned long long)s->chunks_out, (unsigned long long)s->dropped_out);
        first = 0;
    }
    len += (size_t)snprintf(body + len, cap - len, "]}");
    http_reply(c, "200 OK", "application/json", body, len);
    free(body);
}

/* One complete HTTP request in c->in (head_len bytes of head, then the body). */
static void http_request(conn *c, size_t head_len, size_t body_len) {
    char head[8192];
    size_t hl = head_len < sizeof head - 1 ? head_len : sizeof head - 1;
    memcpy(head, c->in, hl);
    head[hl] = 0;
    char method[16], path[1024];
    if (sscanf(head, "%15s %1023s", method, path) != 2) {
        http_reply(c, "400 Bad Request", "application/json", "{\"error\":\"bad request\"}", 23);
        return;
    }
    char key[128];
    if (strcmp(method, "POST") == 0 && (strcmp(path, "/authorize") == 0 ||
                                        strcmp(path, "/v1/agents/web/authorize_session") == 0)) {
        static unsigned grants;
        char body[512];
        grants++;
        int n = snprintf(body, sizeof body,
                         "{\"client_session_key\":\"load-key-%u\",\"conversation_id\":\"conv_load_%u\","
                         "\"config\":{\"transcription\":{\"trigger\":\"automatic\",\"can_interrupt\":false},"
                         "\"vad\":{\"enabled\":true,\"gate_audio\":false,\"buffer_frames\":10}}}",
                         grants, grants);
        http_reply(c, "200 OK", "application/json", body, (size_t)n);
    } else if (strcmp(method, "GET") == 0 && strncmp(path, "/v1/agents/web/websocket", 24) == 0 &&
               header_value(head, "Sec-WebSocket-Key", key, sizeof key) == 0) {
        unsigned char digest[SHA_DIGEST_LENGTH];
        char input[200], accept[64], reply[256];
        int n = snprintf(input, sizeof input, "%s258EAFA5-E914-47DA-95CA-C5AB0DC85B11", key);
        SHA1((const unsigned char *)input, (size_t)n, digest);
        EVP_EncodeBlock((unsigned char *)accept, digest, SHA_DIGEST_LENGTH);
        n = snprintf(reply, sizeof reply, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                     "Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n", accept);
        out_append(c, reply, (size_t)n);
        c->state = ST_WS;
        c->session_id = next_session++;
        c->opened_ns = now_ns();
    } else if (strcmp(method, "GET") == 0 && strcmp(path, "/stats") == 0) {
        stats_reply(c);
    } else {
        http_reply(c, "404 Not Found", "application/json", "{\"error\":\"not found\"}", 21);
    }
    size_t used = head_len + body_len;
    memmove(c->in, c->in + used, c->in_len - used);
    c->in_len -= used;
}

static int contains(const unsigned char *p, size_t len, const char *needle) {
    return memmem(p, len < 96 ? len : 96, needle, strlen(needle)) != NULL;
}

static void ws_message(conn *c, const unsigned char *p, size_t len) {
    c->messages_in++;
    if (contains(p, len, "\"client.audio\"")) {
        c->audio_in++;
    } else if (!c->ready && contains(p, len, "\"client.ready\"")) {
        char msg[160];
        int n = snprintf(msg, sizeof msg, "{\"type\":\"turn.start\",\"role\":\"assistant\",\"turn_id\":\"t%d\"}",
                         c->session_id);
        ws_frame(c, 1, msg, (size_t)n);
        c->ready = 1;
        c->stream_start_ns = now_ns();
    }
}

/* Client frames in c->in: masked, at most IN_CAP. Returns -1 if the socket was closed. */
static int ws_input(conn *c) {
    size_t off = 0;
    while (c->in_len - off >= 2) {
        unsigned char *f = c->in + off;
        int opcode = f[0] & 0x0f, masked = f[1] & 0x80;
        uint64_t len = f[1] & 0x7f;
        size_t h = 2;
        if (len == 126) {
            if (c->in_len - off < 4) break;
            len = ((uint64_t)f[2] << 8) | f[3];
            h = 4;
        } else if (len == 127) {
            if (c->in_len - off < 10) break;
            len = 0;
            for (int i = 0; i < 8; i++) len = (len << 8) | f[2 + i];
            h = 10;
        }
        if (!masked || len > IN_CAP - 14) { conn_close(c); return -1; }
        if (c->in_len - off < h + 4 + len) break;
        unsigned char *mask = f + h, *p = f + h + 4;
        for (uint64_t i = 0; i < len; i++) p[i] ^= mask[i & 3];
        if (opcode == 1 || opcode == 0) {
            ws_message(c, p, (size_t)len);
        } else if (opcode == 8) {
            ws_frame(c, 8, p, len >= 2 ? 2 : 0);
            c->close_after_flush = 1;
        } else if (opcode == 9) {
            ws_frame(c, 10, p, (size_t)len);
        }
        off += h + 4 + (size_t)len;
    }
    memmove(c->in, c->in + off, c->in_len - off);
    c->in_len -= off;
    return 0;
}

static void on_readable(conn *c) {
    for (;;) {
        if (c->in_len == IN_CAP) { conn_close(c); return; }
        ssize_t n = recv(c->fd, c->in + c->in_len, IN_CAP - c->in_len, 0);
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
            conn_close(c);
            return;
        }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) break;
        c->in_len += (size_t)n;
        if (c->state == ST_HTTP) {
            unsigned char *end = memmem(c->in, c->in_len, "\r\n\r\n", 4);
            if (!end) continue;
            size_t head_len = (size_t)(end - c->in) + 4;
            char tmp[8192], cl[32];
            size_t hl = head_len < sizeof tmp - 1 ? head_len : sizeof tmp - 1;
            memcpy(tmp, c->in, hl);
            tmp[hl] = 0;
            size_t body = header_value(tmp, "Content-Length", cl, sizeof cl) == 0 ? strtoul(cl, NULL, 10) : 0;
            if (body > IN_CAP / 2) { conn_close(c); return; }
            if (c->in_len < head_len + body) continue;
            http_request(c, head_len, body);
        }
        if (c->state == ST_WS && ws_input(c) != 0) return;
    }
    conn_flush(c);
}

/* Every streaming session gets the chunks its real-time schedule has made due. */
static void on_tick(void) {
    int64_t now = now_ns();
    if (last_tick_ns && now - last_tick_ns > tick_gap_max_ns) tick_gap_max_ns = now - last_tick_ns;
    last_tick_ns = now;
    char prefix[] = "{\"type\":\"response.audio\",\"content\":\"";
    for (int fd = 0; fd < MAX_CONNS; fd++) {
        conn *c = conns[fd];
        if (!c || c->state != ST_WS || !c->ready || c->close_after_flush) continue;
        uint64_t due = (uint64_t)((now - c->stream_start_ns) / chunk_ns) + 1;
        if (due <= c->chunks_out + c->dropped_out) continue;
        while (c->chunks_out + c->dropped_out < due) {
            char tail[96];
            uint64_t seq = c->chunks_out + c->dropped_out + 1;
            int tl = snprintf(tail, sizeof tail, "\",\"turn_id\":\"t%d\",\"delta_id\":\"t%d-d%llu\"}",
                              c->session_id, c->session_id, (unsigned long long)seq);
            size_t len = sizeof prefix - 1 + tone_b64_len + (size_t)tl;
            unsigned char head[4] = {0x81, 126, (unsigned char)(len >> 8), (unsigned char)len};
            if (out_reserve(c, sizeof head + len) != 0) { c->dropped_out++; continue; }
            out_append(c, head, sizeof head);
            out_append(c, prefix, sizeof prefix - 1);
            out_append(c, tone_b64, tone_b64_len);
            out_append(c, tail, (size_t)tl);
            c->chunks_out++;
        }
        conn_flush(c);
    }
}

int main(int argc, char **argv) {
    int port = 0, chunk_ms = 100;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--port") == 0) port = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--chunk-ms") == 0) chunk_ms = atoi(argv[i + 1]);
        else { fprintf(stderr, "usage: loadserver [--port N] [--chunk-ms MS]\n"); return 2; }
    }
    if (chunk_ms < 20 || chunk_ms > 1000) { fprintf(stderr, "--chunk-ms: 20..1000\n"); return 2; }
    chunk_ns = (int64_t)chunk_ms * 1000000LL;
    signal(SIGPIPE, SIG_IGN);

    /* 440 Hz at 16 kHz: a whole number of cycles in every 20 ms step, so chunks join. */
    size_t samples = (size_t)chunk_ms * 16, bytes = samples * 2;
    unsigned char *pcm = malloc(bytes);
    tone_b64 = malloc(4 * ((bytes + 2) / 3) + 1);
    if (!pcm || !tone_b64) return 1;
    for (size_t i = 0; i < samples; i++) {
        int16_t v = (int16_t)lrint(8000.0 * sin(2.0 * M_PI * 440.0 * (double)i / 16000.0));
        pcm[2 * i] = (unsigned char)(v & 0xff);
        pcm[2 * i + 1] = (unsigned char)((uint16_t)v >> 8);
    }
    tone_b64_len = (size_t)EVP_EncodeBlock((unsigned char *)tone_b64, pcm, (int)bytes);
    free(pcm);

    int lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0), one = 1;
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t alen = sizeof addr;
    if (bind(lfd, (struct sockaddr *)&addr, sizeof addr) != 0 || listen(lfd, 1024) != 0 ||
        getsockname(lfd, (struct sockaddr *)&addr, &alen) != 0) {
        printf("{\"event\": \"error\", \"error\": \"cannot listen: %s\"}\n", strerror(errno));
        return 1;
    }
    port = ntohs(addr.sin_port);
    int tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK);
    struct itimerspec its = {.it_interval = {0, TICK_NS}, .it_value = {0, TICK_NS}};
    timerfd_settime(tfd, 0, &its, NULL);
    epfd = epoll_create1(0);
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = lfd};
    epoll_ctl(epfd, EPOLL_CTL_ADD, lfd, &ev);
    ev.data.fd = tfd;
    epoll_ctl(epfd, EPOLL_CTL_ADD, tfd, &ev);
    printf("{\"event\": \"ready\", \"port\": %d, \"pid\": %d, "
           "\"authorize_url\": \"http://127.0.0.1:%d/authorize\", "
           "\"ws\": \"ws://127.0.0.1:%d/v1/agents/web/websocket\", "
           "\"stats_url\": \"http://127.0.0.1:%d/stats\"}\n", port, (int)getpid(), port, port, port);
    fflush(stdout);

    struct epoll_event events[256];
    for (;;) {
        int n = epoll_wait(epfd, events, 256, -1);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return 1;
        for (int i = 0; i < n; i++) {
            int fd = events[i].data.fd;
            if (fd == lfd) {
                int cfd;
                while ((cfd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK)) >= 0) {
                    if (cfd >= MAX_CONNS) { close(cfd); continue; }
                    conn *c = calloc(1, sizeof *c);
                    if (!c) { close(cfd); continue; }
                    c->fd = cfd;
                    setsockopt(cfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                    conns[cfd] = c;
                    struct epoll_event cev = {.events = EPOLLIN, .data.fd = cfd};
                    epoll_ctl(epfd, EPOLL_CTL_ADD, cfd, &cev);
                }
            } else if (fd == tfd) {
                uint64_t expirations;
                if (read(tfd, &expirations, sizeof expirations) > 0) on_tick();
            } else if (conns[fd]) {
                conn *c = conns[fd];
                if (events[i].events & (EPOLLERR | EPOLLHUP)) { conn_close(c); continue; }
                if (events[i].events & EPOLLOUT) { if (conn_flush(c) != 0) continue; }
                if (events[i].events & EPOLLIN) on_readable(c);
            }
        }
    }
}
