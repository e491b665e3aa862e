#ifndef CHAND_COPENSSL_SHIM_H
#define CHAND_COPENSSL_SHIM_H
#include <openssl/ssl.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <openssl/rand.h>

/* The OpenSSL calls below are function-like macros, which Swift does not import. */

static inline int chand_SSL_CTX_set_min_proto_version(SSL_CTX *ctx, int version) {
    return (int)SSL_CTX_set_min_proto_version(ctx, version);
}

static inline int chand_SSL_CTX_set_max_proto_version(SSL_CTX *ctx, int version) {
    return (int)SSL_CTX_set_max_proto_version(ctx, version);
}

static inline void chand_SSL_CTX_set_mode(SSL_CTX *ctx, long mode) {
    (void)SSL_CTX_set_mode(ctx, mode);
}

static inline void chand_SSL_CTX_set_session_cache_mode(SSL_CTX *ctx, long mode) {
    (void)SSL_CTX_set_session_cache_mode(ctx, mode);
}

static inline uint64_t chand_SSL_OP_NO_RENEGOTIATION(void) { return SSL_OP_NO_RENEGOTIATION; }
static inline uint64_t chand_SSL_OP_NO_COMPRESSION(void) { return SSL_OP_NO_COMPRESSION; }

static inline int chand_SSL_set_tlsext_host_name(SSL *ssl, const char *name) {
    return (int)SSL_set_tlsext_host_name(ssl, name);
}

static inline void chand_BIO_set_retry_read(BIO *bio) { BIO_set_retry_read(bio); }
static inline void chand_BIO_clear_retry_flags(BIO *bio) { BIO_clear_retry_flags(bio); }

#endif
