/*
 * yaml_fixture.h - a temporary directory holding one YAML config file, for
 * the gateway unit tests that load configurations (config, metrics,
 * endpoints). Include after <cmocka.h> and "config.h".
 */
#ifndef TOLLGATE_TEST_YAML_FIXTURE_H
#define TOLLGATE_TEST_YAML_FIXTURE_H

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static char tmpdir[] = "/tmp/tg_test.XXXXXX";
static char yaml_path[256];

/* cmocka group setup: creates the directory. */
static inline int yaml_setup(void **state)
{
    if (mkdtemp(tmpdir) == NULL)
        return -1;
    snprintf(yaml_path, sizeof(yaml_path), "%s/tollgate.yaml", tmpdir);
    return 0;
}

/* cmocka group teardown: removes the file and the directory. */
static inline int yaml_teardown(void **state)
{
    unlink(yaml_path);
    rmdir(tmpdir);
    return 0;
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
static inline tg_config_t *load_yaml(const char *text)
{
    char *err = NULL;
    tg_config_t *cfg = tg_config_load(write_yaml(text), &err);
    if (cfg == NULL)
        fail_msg("%s", err);
    return cfg;
}

#endif
