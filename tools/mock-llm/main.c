/*
 * mock-llm: a fast, deterministic fake OpenAI-compatible provider with fault
 * injection, for tollgate's tests and benchmarks (see README.md).
 *
 * This file turns the command line into settings and starts the server.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "mock.h"

#define MAX_THREADS 256

static const char usage_text[] =
    "usage: mock-llm [--listen HOST:PORT] [--port-file FILE] [--threads N]\n"
    "                [--latency-ms N] [--token-delay-ms N]\n"
    "                [--status CODE] [--fault reset|hang|malformed|truncate|role_chunk]\n"
    "                [--fail-first N] [--retry-after S]\n";

static int parse_range(const char *flag, const char *text, unsigned long min, unsigned long max, unsigned long *out)
{
    char *end;
    errno = 0;
    unsigned long n = strtoul(text, &end, 10);
    if (errno != 0 || end == text || *end != '\0' || text[0] == '-' || n < min || n > max) {
        fprintf(stderr, "mock-llm: --%s wants a number from %lu to %lu, not \"%s\"\n", flag, min, max, text);
        return -1;
    }
    *out = n;
    return 0;
}

static int parse_number(const char *flag, const char *text, unsigned long max, unsigned long *out)
{
    return parse_range(flag, text, 0, max, out);
}

/* Splits HOST:PORT, where HOST may be a bracketed IPv6 address. HOST is
 * copied out so that argv, which ps shows, stays intact. */
static int parse_listen(const char *text, struct mock_server_options *o)
{
    static char host[256];
    const char *colon = strrchr(text, ':');
    unsigned long port;
    if (colon == NULL || colon == text || parse_number("listen", colon + 1, 65535, &port) != 0) {
        fprintf(stderr, "mock-llm: --listen wants HOST:PORT, not \"%s\"\n", text);
        return -1;
    }
    size_t len = (size_t)(colon - text);
    if (len >= 2 && text[0] == '[' && colon[-1] == ']') {
        text++;
        len -= 2;
    }
    if (len >= sizeof(host)) {
        fprintf(stderr, "mock-llm: --listen host is too long\n");
        return -1;
    }
    memcpy(host, text, len);
    host[len] = '\0';
    o->host = host;
    o->port = (uint16_t)port;
    return 0;
}

int main(int argc, char **argv)
{
    enum { OPT_LISTEN = 1, OPT_PORT_FILE, OPT_THREADS, OPT_LATENCY, OPT_TOKEN_DELAY, OPT_STATUS, OPT_FAULT,
           OPT_FAIL_FIRST, OPT_RETRY_AFTER, OPT_HELP };
    static const struct option options[] = {
        {"listen", required_argument, NULL, OPT_LISTEN},
        {"port-file", required_argument, NULL, OPT_PORT_FILE},
        {"threads", required_argument, NULL, OPT_THREADS},
        {"latency-ms", required_argument, NULL, OPT_LATENCY},
        {"token-delay-ms", required_argument, NULL, OPT_TOKEN_DELAY},
        {"status", required_argument, NULL, OPT_STATUS},
        {"fault", required_argument, NULL, OPT_FAULT},
        {"fail-first", required_argument, NULL, OPT_FAIL_FIRST},
        {"retry-after", required_argument, NULL, OPT_RETRY_AFTER},
        {"help", no_argument, NULL, OPT_HELP},
        {NULL, 0, NULL, 0},
    };
    struct mock_server_options server = {.host = "127.0.0.1", .port = 9090, .threads = 1};
    struct mock_settings settings = {.retry_after = 1};
    unsigned long n = 0;
    int opt, ok = 1;

    while (ok && (opt = getopt_long(argc, argv, "", options, NULL)) != -1) {
        const char *flag = opt >= OPT_LISTEN && opt <= OPT_HELP ? options[opt - OPT_LISTEN].name : "";
        switch (opt) {
        case OPT_LISTEN:
            ok = parse_listen(optarg, &server) == 0;
            break;
        case OPT_PORT_FILE:
            server.port_file = optarg;
            break;
        case OPT_THREADS:
            ok = parse_range(flag, optarg, 1, MAX_THREADS, &n) == 0;
            server.threads = (unsigned)n;
            break;
        case OPT_LATENCY:
            ok = parse_number(flag, optarg, MOCK_MAX_DELAY_MS, &n) == 0;
            settings.latency_ms = (uint32_t)n;
            break;
        case OPT_TOKEN_DELAY:
            ok = parse_number(flag, optarg, MOCK_MAX_DELAY_MS, &n) == 0;
            settings.token_delay_ms = (uint32_t)n;
            break;
        case OPT_STATUS:
            ok = parse_number(flag, optarg, 599, &n) == 0;
            if (ok && !mock_status_is_valid((long)n)) {
                fprintf(stderr, "mock-llm: --status must be 0 or from 400 to 599\n");
                ok = 0;
            }
            settings.status = (int)n;
            break;
        case OPT_FAULT:
            ok = mock_fault_from_name(optarg, strlen(optarg), &settings.fault) == 0;
            if (!ok)
                fprintf(stderr, "mock-llm: --fault must be reset, hang, malformed, truncate or role_chunk\n");
            break;
        case OPT_FAIL_FIRST:
            ok = parse_number(flag, optarg, UINT32_MAX, &n) == 0;
            settings.fail_first = (uint32_t)n;
            break;
        case OPT_RETRY_AFTER:
            ok = parse_number(flag, optarg, 86400, &n) == 0;
            settings.retry_after = (uint32_t)n;
            break;
        case OPT_HELP:
            fputs(usage_text, stdout);
            return 0;
        default:
            ok = 0;
            break;
        }
    }
    if (!ok || optind != argc) {
        fputs(usage_text, stderr);
        return 2;
    }

    mock_json_setup();
    mock_faults_init(&settings);
    return mock_server_run(&server) == 0 ? 0 : 1;
}
