#include "lcshims.h"
#include <stdio.h>
#include <string.h>

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
