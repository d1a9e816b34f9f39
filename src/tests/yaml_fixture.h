/*
 * yaml_fixture.h - a temporary directory holding one YAML config file, for
 * the gateway unit tests that load configurations (config, metrics,
 * endpoints). Include after <cmocka.h> and "config.h".
 */
#ifndef TG_TEST_YAML_FIXTURE_H
#define TG_TEST_YAML_FIXTURE_H

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static char tmpdir[] = "/tmp/tg_test.XXXXXX";
static char yaml_path[256];

/* Creates the directory; call from a cmocka group setup. */
static inline int yaml_dir_create(void)
{
    if (mkdtemp(tmpdir) == NULL)
        return -1;
    snprintf(yaml_path, sizeof(yaml_path), "%s/tollgate.yaml", tmpdir);
    return 0;
}

/* Removes the file and the directory; call from a group teardown. */
static inline void yaml_dir_remove(void)
{
    unlink(yaml_path);
    rmdir(tmpdir);
}

/* Writes text as the config file and returns its path. */
static inline const char *write_yaml(const char *text)
{
    FILE *f = fopen(yaml_path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    return yaml_path;
}

/* Writes and loads text, failing the test with the loader's message if it
 * is refused. */
static inline tg_config *load_yaml(const char *text)
{
    char *err = NULL;
    tg_config *cfg = tg_config_load(write_yaml(text), &err);
    if (cfg == NULL)
        fail_msg("%s", err);
    return cfg;
}

#endif
