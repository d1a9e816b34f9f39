/* orgs.c: GET, POST /admin/v1/orgs and PATCH /admin/v1/orgs/{name}. */
#include <stdio.h>
#include <string.h>

#include "admin/ops.h"
#include "admin/response.h"

/* Whether plan is one of tenancy.plans; a 400 naming them when not. */
static bool check_plan(tg_admin_call_t *c, const char *plan)
{
    char plans[512] = "";
    for (size_t i = 0; i < c->env->plan_count; i++) {
        if (strcmp(c->env->plans[i], plan) == 0)
            return true;
        tg_admin_join(plans, sizeof(plans), c->env->plans[i]);
    }
    tg_admin_fail(c->resp, TG_ADMIN_ERR_INVALID_REQUEST, "plan", "plan must be one of: %s", plans);
    return false;
}

static int add_org(void *ctx, const tg_org_t *org)
{
    return json_array_append_new(ctx, tg_admin_org_json(org));
}

void tg_admin_orgs_list(tg_admin_call_t *c)
{
    json_t *data = json_array();
    tg_store_status_t st = c->s->methods->org_list(c->s, add_org, data);
    tg_admin_reply_list(c->resp, st, data);
}

void tg_admin_orgs_create(tg_admin_call_t *c)
{
    tg_admin_body_t b;
    unsigned allowed = TG_ADMIN_BIT(NAME) | TG_ADMIN_BIT(PLAN) | TG_ADMIN_POLICY_FIELDS;
    if (!tg_admin_read_body(c->req, allowed, TG_ADMIN_BIT(NAME), &b, c->resp))
        return;
    if (strcmp(b.name, "anonymous") == 0) { /* the org of requests without a key, in logs and the ledger */
        tg_admin_fail(c->resp, TG_ADMIN_ERR_INVALID_REQUEST, "name",
                      "\"anonymous\" is reserved for requests without a key; choose another name");
        return;
    }
    const char *plan = (b.present & TG_ADMIN_BIT(PLAN)) ? b.plan : c->env->plans[0];
    if (!check_plan(c, plan))
        return;
    tg_org_t org = {.created = c->env->now, .policy = b.policy};
    strcpy(org.name, b.name);
    strcpy(org.plan, plan);
    char what[192];
    snprintf(what, sizeof(what), "organization %s", org.name);
    tg_admin_change_t ch = {.count = 0};
    if (!tg_admin_begin(c))
        return;
    tg_store_status_t st = c->s->methods->org_insert(c->s, &org);
    if (st != TG_STORE_OK) {
        tg_admin_abort(c, st, "name", what);
        return;
    }
    tg_admin_audit_add(c, &ch, TG_AUDIT_ORG_CREATED, org.name, NULL, NULL);
    if (!tg_admin_commit(c, &ch))
        return;
    c->resp->orgs_changed = true;
    tg_admin_reply(c->resp, 201, tg_admin_org_json(&org));
}

void tg_admin_orgs_update(tg_admin_call_t *c)
{
    char what[192];
    snprintf(what, sizeof(what), "organization %s", c->id);
    if (!tg_admin_valid_name(c->id)) {
        tg_admin_fail(c->resp, TG_ADMIN_ERR_NOT_FOUND, NULL, "%s does not exist", what);
        return;
    }
    tg_admin_body_t b;
    if (!tg_admin_read_body(c->req, TG_ADMIN_BIT(PLAN) | TG_ADMIN_POLICY_FIELDS, 0, &b, c->resp))
        return;
    if ((b.present & TG_ADMIN_BIT(PLAN)) && !check_plan(c, b.plan))
        return;
    if (!tg_admin_begin(c))
        return;
    tg_org_t org;
    tg_store_status_t st = c->s->methods->org_get(c->s, c->id, &org);
    if (st != TG_STORE_OK) {
        tg_admin_abort(c, st, NULL, what);
        return;
    }
    tg_admin_change_t ch = {.count = 0};
    if ((b.present & TG_ADMIN_BIT(PLAN)) && strcmp(org.plan, b.plan) != 0) {
        json_t *detail = json_pack("{s{ssss}}", "plan", "from", org.plan, "to", b.plan);
        tg_admin_audit_add(c, &ch, TG_AUDIT_ORG_UPDATED, org.name, NULL, detail);
        json_decref(detail);
        strcpy(org.plan, b.plan);
    }
    json_t *detail = json_object();
    if (tg_admin_apply_policy(&b, &org.policy, detail))
        tg_admin_audit_add(c, &ch, TG_AUDIT_POLICY_UPDATE, org.name, NULL, detail);
    json_decref(detail);
    if (ch.count == 0) {
        /* Nothing changed: nothing to write or audit. */
        c->s->methods->rollback(c->s);
        tg_admin_reply(c->resp, 200, tg_admin_org_json(&org));
        return;
    }
    st = c->s->methods->org_update(c->s, &org);
    if (st != TG_STORE_OK) {
        tg_admin_abort(c, st, NULL, what);
        return;
    }
    if (!tg_admin_commit(c, &ch))
        return;
    c->resp->orgs_changed = true;
    tg_admin_reply(c->resp, 200, tg_admin_org_json(&org));
}
