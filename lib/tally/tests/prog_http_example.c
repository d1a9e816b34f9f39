/*
 * prog_http_example.c - the three lines it takes to serve tally metrics
 * from a C program with tally_http, in a runnable example: it counts a
 * "work" loop and serves /metrics until stdin closes.
 *
 * Usage: tally_prog_http_example [port]   (default 0: any free port; the
 * chosen port is printed on stdout)
 */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "tally.h"
#include "tally_http.h"

int main(int argc, char **argv)
{
    uint16_t port = argc > 1 ? (uint16_t)atoi(argv[1]) : 0;

    /* The three lines: a registry, a server, (later) a stop. */
    tally_registry *reg = tally_registry_new();
    tally_http *srv = tally_http_start(reg, "127.0.0.1", port, NULL);
    if (srv == NULL) {
        fprintf(stderr, "cannot listen on 127.0.0.1:%u\n", port);
        tally_registry_free(reg);
        return 1;
    }

    tally_process_collector_register(reg, NULL);
    tally_counter *lines = tally_counter_new(reg, "example_lines", "Lines read on stdin.", NULL);
    printf("%u\n", tally_http_port(srv));
    fflush(stdout);

    char line[256];
    while (fgets(line, sizeof(line), stdin) != NULL)
        tally_counter_inc(lines);

    tally_http_stop(srv);
    tally_registry_free(reg);
    return 0;
}
