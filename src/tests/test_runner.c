/* test_runner.c: unit tests of the pipeline runner (pipeline/runner.c)
 * with fake stages: stages run in order; one that responds early skips
 * the rest but the `always` ones; a stage that suspends is resumed from
 * another thread through the worker's message queue; an answer that comes
 * before its stage returns; and a request whose client leaves while it
 * waits, whose late answer must be dropped without touching the freed
 * request (ASan watches). */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "pipeline/runner.h"

typedef struct fixture {
    h2o_loop_t *loop;
    h2o_multithread_queue_t *queue;
    h2o_multithread_receiver_t answers;
} fixture_t;

static char trail[64]; /* which stages ran, in order: one letter each */
static int responded;
static bool responded_gone;

static void note(char c)
{
    size_t n = strlen(trail);
    trail[n] = c;
    trail[n + 1] = '\0';
}

static void respond(tg_request_t *r)
{
    responded++;
    responded_gone = r->client_gone;
}

static tg_stage_result_t stage_a(tg_request_t *r) { note('a'); return TG_STAGE_CONTINUE; }
static tg_stage_result_t stage_b(tg_request_t *r) { note('b'); return TG_STAGE_CONTINUE; }
static tg_stage_result_t stage_fail(tg_request_t *r)
{
    note('f');
    tg_error_set(&r->error, 400, TG_ERR_INVALID_REQUEST, TG_CODE_INVALID_JSON, "bad", NULL);
    return TG_STAGE_RESPOND;
}
static tg_stage_result_t stage_account(tg_request_t *r) { note('z'); return TG_STAGE_CONTINUE; }

/* A wait with its payload: the answer another thread computes. */
typedef struct answer_wait {
    tg_wait_t super;
    h2o_multithread_receiver_t *answers;
    int value;
    unsigned delay_us;
} answer_wait_t;

static int delivered_value;

static tg_stage_result_t deliver_answer(tg_request_t *r, tg_wait_t *w)
{
    delivered_value = ((answer_wait_t *)w)->value;
    note('d');
    return delivered_value < 0 ? TG_STAGE_RESPOND : TG_STAGE_CONTINUE;
}

static void *answer_later(void *arg)
{
    answer_wait_t *w = arg;
    usleep(w->delay_us);
    w->value = 42;
    tg_wait_post(w->answers, &w->super);
    return NULL;
}

static pthread_t answering_thread;
static unsigned answer_delay_us;

static tg_stage_result_t stage_ask_another_thread(tg_request_t *r)
{
    note('s');
    answer_wait_t *w = (answer_wait_t *)tg_wait_begin(r, sizeof(*w), deliver_answer);
    assert_non_null(w);
    w->answers = r->env.answers;
    w->delay_us = answer_delay_us;
    assert_int_equal(pthread_create(&answering_thread, NULL, answer_later, w), 0);
    return TG_STAGE_SUSPEND;
}

static tg_stage_result_t stage_answered_at_once(tg_request_t *r)
{
    note('i');
    tg_pipeline_resume(r, TG_STAGE_CONTINUE); /* e.g. a call that failed synchronously */
    return TG_STAGE_SUSPEND;
}

static tg_request_t *new_request(fixture_t *f)
{
    tg_request_t *r = calloc(1, sizeof(*r));
    r->respond = respond;
    r->env.loop = f->loop;
    r->env.answers = &f->answers;
    trail[0] = '\0';
    responded = 0;
    responded_gone = false;
    delivered_value = 0;
    return r;
}

static void run_loop_until(fixture_t *f, int *flag, int want)
{
    for (int i = 0; i < 500 && *flag != want; i++)
        h2o_evloop_run(f->loop, 10);
}

#define RUN(r, list) tg_pipeline_start(r, list, sizeof(list) / sizeof(list[0]))

static void test_stages_run_in_order(void **state)
{
    static const tg_stage_t list[] = {{"a", stage_a, false}, {"b", stage_b, false}, {"z", stage_account, true}};
    tg_request_t *r = new_request(*state);
    RUN(r, list);
    assert_string_equal(trail, "abz");
    assert_int_equal(responded, 1);
    assert_int_equal(r->state, TG_REQ_FINISHED);
    free(r);
}

static void test_respond_early_skips_all_but_always(void **state)
{
    static const tg_stage_t list[] = {
        {"a", stage_a, false}, {"f", stage_fail, false}, {"b", stage_b, false}, {"z", stage_account, true}};
    tg_request_t *r = new_request(*state);
    RUN(r, list);
    assert_string_equal(trail, "afz");
    assert_int_equal(r->error.status, 400);
    assert_true(r->responding);
    assert_int_equal(responded, 1);
    free(r);
}

static void test_suspend_and_resume_from_another_thread(void **state)
{
    fixture_t *f = *state;
    static const tg_stage_t list[] = {
        {"a", stage_a, false}, {"s", stage_ask_another_thread, false}, {"b", stage_b, false}, {"z", stage_account, true}};
    tg_request_t *r = new_request(f);
    answer_delay_us = 20000;
    RUN(r, list);
    assert_string_equal(trail, "as");
    assert_int_equal(r->state, TG_REQ_SUSPENDED);
    assert_int_equal(responded, 0);
    run_loop_until(f, &responded, 1);
    pthread_join(answering_thread, NULL);
    assert_string_equal(trail, "asdbz");
    assert_int_equal(delivered_value, 42);
    assert_null(r->wait);
    assert_int_equal(responded, 1);
    assert_false(responded_gone);
    free(r);
}

static void test_answer_before_the_stage_returns(void **state)
{
    static const tg_stage_t list[] = {{"i", stage_answered_at_once, false}, {"b", stage_b, false}, {"z", stage_account, true}};
    tg_request_t *r = new_request(*state);
    RUN(r, list);
    assert_string_equal(trail, "ibz");
    assert_int_equal(responded, 1);
    free(r);
}

static void test_client_leaves_while_suspended(void **state)
{
    fixture_t *f = *state;
    static const tg_stage_t list[] = {
        {"s", stage_ask_another_thread, false}, {"b", stage_b, false}, {"z", stage_account, true}};
    tg_request_t *r = new_request(f);
    answer_delay_us = 30000;
    RUN(r, list);
    assert_int_equal(r->state, TG_REQ_SUSPENDED);
    tg_pipeline_abandon(r); /* the server's dispose */
    assert_string_equal(trail, "sz");
    assert_int_equal(responded, 1);
    assert_true(responded_gone);
    free(r); /* the late answer must not touch it */
    pthread_join(answering_thread, NULL);
    for (int i = 0; i < 10; i++)
        h2o_evloop_run(f->loop, 10); /* delivers (and frees) the late answer */
    assert_string_equal(trail, "sz");
    assert_int_equal(delivered_value, 0);
}

/* The ledger's case: an `always` stage that waits on another thread runs
 * while the request is disposed. It cannot wait then: its job goes on, the
 * request finishes at once, and the late answer touches nothing. */
static void test_always_stage_suspends_while_disposing(void **state)
{
    fixture_t *f = *state;
    static const tg_stage_t list[] = {
        {"s", stage_ask_another_thread, false}, {"l", stage_ask_another_thread, true}, {"z", stage_account, true}};
    tg_request_t *r = new_request(f);
    answer_delay_us = 30000;
    RUN(r, list);
    assert_int_equal(r->state, TG_REQ_SUSPENDED);
    pthread_t first = answering_thread;
    tg_pipeline_abandon(r); /* the server's dispose: the always stages run, one asks again */
    assert_string_equal(trail, "ssz");
    assert_int_equal(r->state, TG_REQ_FINISHED);
    assert_null(r->wait);
    assert_int_equal(responded, 1);
    assert_true(responded_gone);
    free(r);
    pthread_join(first, NULL);
    pthread_join(answering_thread, NULL);
    for (int i = 0; i < 10; i++)
        h2o_evloop_run(f->loop, 10); /* both answers come, and are freed unread */
    assert_string_equal(trail, "ssz");
    assert_int_equal(delivered_value, 0);
}

/* Static: h2o 2.2.5 cannot destroy a loop, so it stays reachable. */
static fixture_t the_fixture;

static int setup(void **state)
{
    fixture_t *f = &the_fixture;
    f->loop = h2o_evloop_create();
    f->queue = h2o_multithread_create_queue(f->loop);
    h2o_multithread_register_receiver(f->queue, &f->answers, tg_wait_on_answers);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture_t *f = *state;
    h2o_multithread_unregister_receiver(f->queue, &f->answers);
    h2o_multithread_destroy_queue(f->queue);
    free(f->queue);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stages_run_in_order),
        cmocka_unit_test(test_respond_early_skips_all_but_always),
        cmocka_unit_test(test_suspend_and_resume_from_another_thread),
        cmocka_unit_test(test_answer_before_the_stage_returns),
        cmocka_unit_test(test_client_leaves_while_suspended),
        cmocka_unit_test(test_always_stage_suspends_while_disposing),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
