/* main.c: the tollgate command line. Parses arguments, loads the
 * configuration and hands over to the server, or to the admin CLI
 * (admin/admin.h); nothing else. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin/admin.h"
#include "config.h"
#include "obs/log.h"
#include "server/server.h"

static int usage(FILE *out)
{
    fputs("usage: tollgate serve --config FILE\n"
          "       tollgate check-config FILE\n"
          "       tollgate orgs|keys|usage|audit ... --config FILE   (docs/tenancy.md)\n"
          "       tollgate --version\n",
          out);
    return out == stdout ? 0 : 2;
}

static int serve(const char *path)
{
    char *err = NULL;
    tg_config_t *cfg = tg_config_load(path, &err);
    if (cfg == NULL) {
        fputs(err != NULL ? err : "cannot load the configuration\n", stderr);
        free(err);
        return 1;
    }
    return tg_server_run(path, cfg);
}

int main(int argc, char **argv)
{
    if (argc == 2 && strcmp(argv[1], "--version") == 0) {
        printf("tollgate %s\n", TOLLGATE_VERSION);
        return 0;
    }
    if (argc == 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0))
        return usage(stdout);
    if (argc >= 2 && (strcmp(argv[1], "orgs") == 0 || strcmp(argv[1], "keys") == 0 || strcmp(argv[1], "usage") == 0 ||
                      strcmp(argv[1], "audit") == 0))
        return tg_admin_cli(argc - 1, argv + 1);
    if (argc == 3 && strcmp(argv[1], "check-config") == 0)
        return tg_config_check(argv[2], stdout);
    if (argc == 4 && strcmp(argv[1], "serve") == 0 && strcmp(argv[2], "--config") == 0)
        return serve(argv[3]);
    if (argc == 3 && strcmp(argv[1], "serve") == 0 && strncmp(argv[2], "--config=", 9) == 0)
        return serve(argv[2] + 9);
    return usage(stderr);
}
