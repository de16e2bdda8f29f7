/* SPDX-License-Identifier: Apache-2.0 */
#include "lcshims.h"
#include <stdio.h>
#include <string.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/socket.h>

int lcshim_ctx_configure_client(SSL_CTX *ctx) {
    if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1) return 0;
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    return 1;
}

int lcshim_err_is_unexpected_eof(unsigned long err) {
#ifdef SSL_R_UNEXPECTED_EOF_WHILE_READING
    return ERR_GET_LIB(err) == ERR_LIB_SSL && ERR_GET_REASON(err) == SSL_R_UNEXPECTED_EOF_WHILE_READING;
#else
    (void)err;
    return 0;
#endif
}

int lcshim_ssl_set_sni(SSL *ssl, const char *host) {
    return (int)SSL_set_tlsext_host_name(ssl, host);
}

void lcshim_ssl_error_text(SSL *ssl, char *buf, size_t len) {
    if (len == 0) return;
    buf[0] = 0;
    size_t used = 0;
    if (ssl != NULL) {
        long verify = SSL_get_verify_result(ssl);
        if (verify != X509_V_OK) {
            int n = snprintf(buf, len, "certificate verify failed: %s",
                             X509_verify_cert_error_string(verify));
            used = n > 0 ? ((size_t)n < len ? (size_t)n : len - 1) : 0;
        }
    }
    unsigned long e;
    while ((e = ERR_get_error()) != 0) {
        if (used + 3 >= len) continue; /* keep draining the queue */
        if (used > 0) { buf[used++] = ';'; buf[used++] = ' '; buf[used] = 0; }
        ERR_error_string_n(e, buf + used, len - used);
        used = strlen(buf);
    }
}

int lcshim_random_bytes(unsigned char *buf, int n) {
    return RAND_bytes(buf, n);
}

void lcshim_sha1(const unsigned char *data, size_t len, unsigned char out[20]) {
    unsigned int n = 20;
    EVP_Digest(data, len, out, &n, EVP_sha1(), NULL);
}

/* ---- the socket BIO: send(MSG_NOSIGNAL) and a count of received bytes ---------------- */

struct lcshim_sock {
    int fd;
    unsigned long long received;
};

static int lcshim_sock_retriable(int e) {
    return e == EAGAIN || e == EWOULDBLOCK || e == EINTR || e == EINPROGRESS || e == EALREADY;
}

static int lcshim_sock_write(BIO *b, const char *data, size_t len, size_t *written) {
    struct lcshim_sock *s = BIO_get_data(b);
    BIO_clear_retry_flags(b);
    ssize_t n = send(s->fd, data, len, MSG_NOSIGNAL);
    if (n >= 0) { *written = (size_t)n; return 1; }
    if (lcshim_sock_retriable(errno)) BIO_set_retry_write(b);
    *written = 0;
    return 0;
}

static int lcshim_sock_read(BIO *b, char *data, size_t len, size_t *readbytes) {
    struct lcshim_sock *s = BIO_get_data(b);
    BIO_clear_retry_flags(b);
    BIO_clear_flags(b, BIO_FLAGS_IN_EOF);
    ssize_t n = recv(s->fd, data, len, 0);
    if (n > 0) {
        s->received += (unsigned long long)n;
        *readbytes = (size_t)n;
        return 1;
    }
    *readbytes = 0;
    if (n == 0) BIO_set_flags(b, BIO_FLAGS_IN_EOF); /* OpenSSL's "unexpected eof" check */
    else if (lcshim_sock_retriable(errno)) BIO_set_retry_read(b);
    return 0;
}

static int lcshim_sock_puts(BIO *b, const char *str) {
    size_t written = 0;
    return lcshim_sock_write(b, str, strlen(str), &written) ? (int)written : -1;
}

static long lcshim_sock_ctrl(BIO *b, int cmd, long num, void *ptr) {
    struct lcshim_sock *s = BIO_get_data(b);
    (void)num;
    switch (cmd) {
    case BIO_CTRL_FLUSH: return 1;
    case BIO_CTRL_EOF: return BIO_test_flags(b, BIO_FLAGS_IN_EOF) ? 1 : 0;
    case BIO_C_GET_FD:
        if (s == NULL) return -1;
        if (ptr != NULL) *(int *)ptr = s->fd;
        return s->fd;
    default: return 0;
    }
}

static int lcshim_sock_create(BIO *b) {
    struct lcshim_sock *s = calloc(1, sizeof *s);
    if (s == NULL) return 0;
    s->fd = -1;
    BIO_set_data(b, s);
    BIO_set_init(b, 1);
    return 1;
}

static int lcshim_sock_destroy(BIO *b) {
    free(BIO_get_data(b));   /* the fd belongs to the caller */
    BIO_set_data(b, NULL);
    BIO_set_init(b, 0);
    return 1;
}

static BIO_METHOD *lcshim_sock_method_value;
static int lcshim_sock_type;
static CRYPTO_ONCE lcshim_sock_method_once = CRYPTO_ONCE_STATIC_INIT;

static void lcshim_sock_method_init(void) {
    int type = BIO_get_new_index();
    if (type == -1) return;
    type |= BIO_TYPE_SOURCE_SINK | BIO_TYPE_DESCRIPTOR;
    BIO_METHOD *m = BIO_meth_new(type, "liblayercode socket");
    if (m == NULL) return;
    if (BIO_meth_set_write_ex(m, lcshim_sock_write) != 1
        || BIO_meth_set_read_ex(m, lcshim_sock_read) != 1
        || BIO_meth_set_puts(m, lcshim_sock_puts) != 1
        || BIO_meth_set_ctrl(m, lcshim_sock_ctrl) != 1
        || BIO_meth_set_create(m, lcshim_sock_create) != 1
        || BIO_meth_set_destroy(m, lcshim_sock_destroy) != 1) {
        BIO_meth_free(m);
        return;
    }
    lcshim_sock_type = type;
    lcshim_sock_method_value = m;   /* lives as long as the process */
}

int lcshim_ssl_set_socket(SSL *ssl, int fd) {
    if (!CRYPTO_THREAD_run_once(&lcshim_sock_method_once, lcshim_sock_method_init)
        || lcshim_sock_method_value == NULL)
        return 0;
    BIO *bio = BIO_new(lcshim_sock_method_value);
    if (bio == NULL) return 0;
    ((struct lcshim_sock *)BIO_get_data(bio))->fd = fd;
    SSL_set_bio(ssl, bio, bio);   /* ssl owns it; one reference serves both directions */
    return 1;
}

unsigned long long lcshim_ssl_socket_bytes_received(SSL *ssl) {
    BIO *bio = SSL_get_rbio(ssl);
    if (bio == NULL || lcshim_sock_type == 0 || BIO_method_type(bio) != lcshim_sock_type) return 0;
    struct lcshim_sock *s = BIO_get_data(bio);
    return s != NULL ? s->received : 0;
}

void lcshim_ssl_never_check_subject(SSL *ssl) {
    X509_VERIFY_PARAM_set_hostflags(SSL_get0_param(ssl), X509_CHECK_FLAG_NEVER_CHECK_SUBJECT);
}
