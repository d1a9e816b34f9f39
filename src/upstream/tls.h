/* tls.h: client TLS for https providers. Each https provider has its own
 * SSL_CTX, built by the configuration loader (so that a bad ca_file is a
 * configuration error, FILE:LINE) and freed with the configuration. It
 * trusts the provider's ca_file, or the system store when there is none,
 * and accepts only a certificate issued for the provider's host: a DNS
 * name, or for an IP literal an IP address entry.
 *
 * Why the name check is here and not h2o's: h2o 2.2.5's client handshake
 * verifies the chain, but matches the host name only when the handshake's
 * last step has nothing left to send, which is never the case with TLS 1.3
 * (the client's Finished is still pending), and it knows no IP address
 * entries. So the expected name goes into the context's verify parameters
 * and OpenSSL refuses a mismatch during the handshake itself. */
#ifndef TOLLGATE_UPSTREAM_TLS_H
#define TOLLGATE_UPSTREAM_TLS_H

#include <stddef.h>

#include <openssl/ssl.h>

/* A client context for `host` (a DNS name, or an IPv4/IPv6 literal without
 * brackets). ca_file: a PEM file of the certificates to trust instead of
 * the system store, or NULL. *system_trust is the system store, loaded on
 * first use and shared by every provider of one configuration (loading it
 * costs about 25 ms and 1 MB of heap; a context of its own, 0.1 ms and
 * 12 KB); the caller frees it with X509_STORE_free after the last call.
 * Returns NULL with a message in err on failure. */
SSL_CTX *tg_tls_client_new(const char *host, const char *ca_file, X509_STORE **system_trust, char *err,
                           size_t err_size);

/* Why a handshake failed, for the log: OpenSSL's reason from this thread's
 * error queue joined with h2o's error, which for a refused certificate is
 * the verification result, e.g. "certificate verify failed: hostname
 * mismatch". Clears the thread's error queue. */
void tg_tls_failure_reason(const char *h2o_err, char *buf, size_t size);

#endif
