/* SPDX-License-Identifier: Apache-2.0 */
/* C shims for the Swift layers: OpenSSL macros wrapped as functions. Every symbol is
 * prefixed lcshim_. The system headers come first through CPosix's header, so that in Swift
 * they belong to the CPosix module (an import of it), not to this one: Embedded Swift
 * refuses a declaration from a module the file does not import. */
#ifndef LCSHIMS_H
#define LCSHIMS_H

#include "../../CPosix/shim.h"
#include <openssl/ssl.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

/* SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) and the client defaults we want. */
int lcshim_ctx_configure_client(SSL_CTX *ctx);
/* SSL_set_tlsext_host_name: SNI (call only for DNS names, never IP literals). */
int lcshim_ssl_set_sni(SSL *ssl, const char *host);
/* The last OpenSSL error on this thread's queue (and any verify result) as text; clears it. */
void lcshim_ssl_error_text(SSL *ssl, char *buf, size_t len);
/* 1 if the error code is OpenSSL 3's "unexpected eof while reading" (the peer closed
 * mid-handshake), else 0. */
int lcshim_err_is_unexpected_eof(unsigned long err);
/* Attaches fd to ssl through the library's own socket BIO (read and write): writes use
 * send(MSG_NOSIGNAL), so neither SSL_write nor SSL_shutdown can raise SIGPIPE in the host
 * after the peer reset the connection (OpenSSL's socket BIO uses write(2)); and it counts
 * every byte received from the socket, whole TLS records or not. 1 on success. */
int lcshim_ssl_set_socket(SSL *ssl, int fd);
/* Bytes the BIO of lcshim_ssl_set_socket has received from the socket so far (0 if ssl
 * has no such BIO). */
unsigned long long lcshim_ssl_socket_bytes_received(SSL *ssl);
/* Host-name checks only against subjectAltName DNS entries, never the subject's CN
 * (RFC 9525; X509_CHECK_FLAG_NEVER_CHECK_SUBJECT). */
void lcshim_ssl_never_check_subject(SSL *ssl);
/* Fills buf with n cryptographically random bytes; 1 on success. */
int lcshim_random_bytes(unsigned char *buf, int n);
/* SHA-1 of data into out[20]. */
void lcshim_sha1(const unsigned char *data, size_t len, unsigned char out[20]);

#endif
