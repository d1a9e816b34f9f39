/* tls.c: see tls.h. */
#include "upstream/tls.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include <h2o/socket.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

static bool is_ip_literal(const char *host)
{
    unsigned char addr[sizeof(struct in6_addr)];
    return inet_pton(AF_INET, host, addr) == 1 || inet_pton(AF_INET6, host, addr) == 1;
}

/* h2o sends whatever server name it is given, and it needs one to act as a
 * client; RFC 6066 allows no IP address there. For IP-literal providers the
 * name is taken out again before the ClientHello is written. */
static void drop_server_name(const SSL *ssl, int where, int ret)
{
    (void)ret;
    if (where == SSL_CB_HANDSHAKE_START)
        SSL_set_tlsext_host_name((SSL *)ssl, NULL);
}

/* Adds every certificate of the PEM file to store. */
static int load_ca_file(X509_STORE *store, const char *path, char *err, size_t err_size)
{
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        snprintf(err, err_size, "ca_file \"%s\": %s", path, strerror(errno));
        return -1;
    }
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
        snprintf(err, err_size, "ca_file \"%s\" is not a regular file", path);
        fclose(f);
        return -1;
    }
    ERR_clear_error();
    size_t count = 0;
    X509 *cert;
    while ((cert = PEM_read_X509(f, NULL, NULL, NULL)) != NULL) {
        int added = X509_STORE_add_cert(store, cert);
        X509_free(cert);
        if (!added) {
            snprintf(err, err_size, "ca_file \"%s\": cannot add certificate %zu", path, count + 1);
            fclose(f);
            ERR_clear_error();
            return -1;
        }
        count++;
    }
    fclose(f);
    /* the loop always ends in an error: "no start line" is the clean end */
    unsigned long e = ERR_peek_last_error();
    ERR_clear_error();
    if (ERR_GET_LIB(e) != ERR_LIB_PEM || ERR_GET_REASON(e) != PEM_R_NO_START_LINE) {
        snprintf(err, err_size, "ca_file \"%s\": certificate %zu is malformed (%s)", path, count + 1,
                 ERR_reason_error_string(e) ? ERR_reason_error_string(e) : "unknown error");
        return -1;
    }
    if (count == 0) {
        snprintf(err, err_size, "ca_file \"%s\" holds no PEM certificate", path);
        return -1;
    }
    return 0;
}

SSL_CTX *tg_tls_client_new(const char *host, const char *ca_file, X509_STORE **system_trust, char *err,
                           size_t err_size)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    if (ctx == NULL)
        goto nomem;
    if (ca_file != NULL) {
        if (load_ca_file(SSL_CTX_get_cert_store(ctx), ca_file, err, err_size) != 0) {
            SSL_CTX_free(ctx);
            return NULL;
        }
    } else {
        if (*system_trust == NULL) {
            if ((*system_trust = X509_STORE_new()) == NULL)
                goto nomem;
            /* a system without a CA bundle trusts nothing: every handshake
             * then fails with the reason logged */
            X509_STORE_set_default_paths(*system_trust);
        }
        SSL_CTX_set1_cert_store(ctx, *system_trust);
    }
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);

    X509_VERIFY_PARAM *param = SSL_CTX_get0_param(ctx); /* copied into each connection's SSL */
    int ok;
    if (is_ip_literal(host)) {
        ok = X509_VERIFY_PARAM_set1_ip_asc(param, host);
        SSL_CTX_set_info_callback(ctx, drop_server_name);
    } else {
        X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
        ok = X509_VERIFY_PARAM_set1_host(param, host, 0);
    }
    if (!ok)
        goto nomem;
    return ctx;

nomem:
    SSL_CTX_free(ctx);
    ERR_clear_error();
    snprintf(err, err_size, "cannot create a TLS context: out of memory");
    return NULL;
}

/* h2o's own errors: the socket failed, or h2o refused the certificate
 * after OpenSSL's handshake step succeeded. Either way no OpenSSL call
 * failed just before, and what the queue holds is stale. */
static bool is_h2o_error(const char *err)
{
    const char *const *own[] = {
        &h2o_socket_error_out_of_memory, &h2o_socket_error_io, &h2o_socket_error_closed,
        &h2o_socket_error_conn_fail, &h2o_socket_error_ssl_no_cert, &h2o_socket_error_ssl_cert_invalid,
        &h2o_socket_error_ssl_cert_name_mismatch, &h2o_socket_error_ssl_decode,
    };
    for (size_t i = 0; i < sizeof(own) / sizeof(own[0]); i++)
        if (err == *own[i])
            return true;
    return false;
}

void tg_tls_failure_reason(const char *h2o_err, char *buf, size_t size)
{
    /* Otherwise the error comes from the OpenSSL handshake step that just
     * failed (h2o clears the queue before each step and calls back right
     * after the failing one): h2o passes the verification result when there
     * is one, else only "ssl handshake failure"; OpenSSL's own reason says
     * more ("certificate verify failed", "wrong version number"...). */
    unsigned long e = is_h2o_error(h2o_err) ? 0 : ERR_peek_last_error();
    const char *reason = e != 0 ? ERR_reason_error_string(e) : NULL;
    if (reason == NULL || strcmp(reason, h2o_err) == 0)
        snprintf(buf, size, "%s", h2o_err);
    else
        snprintf(buf, size, "%s: %s", reason, h2o_err);
    ERR_clear_error();
}
