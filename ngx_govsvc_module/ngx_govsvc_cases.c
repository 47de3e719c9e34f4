
/*
 * GovSvc: registering a case (收件), reading it, and keeping a draft
 * (临时保留).  The outcomes (accept, reject, correction) and their notices
 * come next; a draft already shows the Art.32 deadline: a case not
 * answered with a correction notice within 5 working days of receipt is
 * deemed accepted from the day of receipt.
 */


#include "ngx_govsvc.h"
#include "gs_calendar.h"
#include "gs_deadline.h"
#include "gs_ident.h"
#include "gs_region.h"

#include <openssl/sha.h>


#define NGX_GOVSVC_ART32_DAYS     5
#define NGX_GOVSVC_KEY_MAX        128


/* ngx_govsvc_case_check()'s answer when memory ran out, not a field */
static const char  ngx_govsvc_case_oom[] = "";


typedef struct {
    ngx_govsvc_ctx_t         *ctx;
    const char               *values[17];
    const char               *key;              /* Idempotency-Key */
    u_char                    body_hash[65];
    char                      version[NGX_INT_T_LEN + 1];
    char                      department[NGX_INT64_LEN + 1];
    char                      item_version[NGX_INT_T_LEN + 1];
    char                      resume[96];
    char                      dates[192];
} ngx_govsvc_case_t;


static void ngx_govsvc_case_item(ngx_govsvc_pg_t *pg, PGresult *res,
    void *data);
static void ngx_govsvc_case_found(ngx_govsvc_pg_t *pg, PGresult *res,
    void *data);
static void ngx_govsvc_case_draft(ngx_govsvc_pg_t *pg, PGresult *res,
    void *data);
static void ngx_govsvc_case_written(ngx_govsvc_pg_t *pg, PGresult *res,
    void *data);
static ngx_int_t ngx_govsvc_case_answer(ngx_govsvc_ctx_t *ctx,
    ngx_uint_t status, PGresult *res, ngx_uint_t with_password);
static ngx_int_t ngx_govsvc_case_render(ngx_govsvc_ctx_t *ctx,
    PGresult *res, ngx_uint_t with_password, ngx_str_t *body);
static cJSON *ngx_govsvc_case_deadline(ngx_http_request_t *r,
    const char *text, size_t len);
static ngx_int_t ngx_govsvc_clock_date(cJSON *clock, const char *name,
    gs_date_t *date);
static int ngx_govsvc_clock_int(cJSON *clock, const char *name);
static const char *ngx_govsvc_case_check(ngx_govsvc_ctx_t *ctx,
    ngx_govsvc_case_t *cs, const char *fields, const char *materials,
    ngx_uint_t partial);
static const char *ngx_govsvc_check_applicant(cJSON *a, cJSON **out);
static const char *ngx_govsvc_check_form(ngx_pool_t *pool, cJSON *form,
    cJSON *defs, cJSON **out);
static const char *ngx_govsvc_check_materials(cJSON *given, cJSON *defs,
    cJSON **out);
static char *ngx_govsvc_case_print(ngx_pool_t *pool, cJSON *json);
static const char *ngx_govsvc_member(cJSON *obj, const char *name);
static const char *ngx_govsvc_case_dates(ngx_govsvc_case_t *cs,
    const char *extra);
static ngx_int_t ngx_govsvc_case_version(ngx_govsvc_ctx_t *ctx,
    ngx_govsvc_case_t *cs);
static void ngx_govsvc_case_suspension(ngx_govsvc_pg_t *pg,
    PGresult *res, void *data);
static ngx_int_t ngx_govsvc_case_act(ngx_govsvc_case_t *cs,
    const char *extra);
static void ngx_govsvc_case_acted(ngx_govsvc_pg_t *pg, PGresult *res,
    void *data);


/* what every case answer selects: the case, and what its deadline block
 * is computed from (govsvc_case_clock(): dates, the step's limit, the
 * calendar that covers them) */
#define NGX_GOVSVC_CASE_COLUMNS(c)                                           \
    "govsvc_case_json(" c "), govsvc_case_clock(" c ")"


/*
 * POST /api/v1/cases: checks the item and a replayed Idempotency-Key in
 * one statement, then the body against the item, then writes the case,
 * its audit entry, its outbox event and the kept answer in another.
 */

ngx_int_t
ngx_govsvc_cases_create(ngx_govsvc_ctx_t *ctx)
{
    char                *text;
    u_char               md[SHA256_DIGEST_LENGTH];
    cJSON               *item;
    ngx_http_request_t  *r;
    ngx_govsvc_case_t   *cs;

    r = ctx->request;

    cs = ngx_pcalloc(r->pool, sizeof(ngx_govsvc_case_t));
    if (cs == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    cs->ctx = ctx;
    ctx->data = cs;

    cs->key = ngx_govsvc_header(r, "Idempotency-Key");

    if (cs->key && (cs->key[0] == '\0'
                    || ngx_strlen(cs->key) > NGX_GOVSVC_KEY_MAX))
    {
        return ngx_govsvc_send_error(r, NGX_HTTP_BAD_REQUEST,
                                     "invalid_request",
                                     "Idempotency-Key must be 1 to 128 "
                                     "characters", NULL);
    }

    item = cJSON_GetObjectItemCaseSensitive(ctx->body, "item_code");
    if (!cJSON_IsString(item) || item->valuestring[0] == '\0') {
        return ngx_govsvc_send_error(r, NGX_HTTP_UNPROCESSABLE_ENTITY,
                                     "validation_failed",
                                     "the item is required", "item_code");
    }

    /* "the same body": the parsed body printed again, member order kept */
    text = cJSON_PrintUnformatted(ctx->body);
    if (text == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    SHA256((u_char *) text, ngx_strlen(text), md);
    cJSON_free(text);
    ngx_hex_dump(cs->body_hash, md, sizeof(md));

    cs->values[0] = item->valuestring;
    cs->values[1] = (const char *) ctx->user->id_text;
    cs->values[2] = cs->key;

    return ngx_govsvc_query(ctx,
        "SELECT i.code IS NOT NULL, i.status, i.department, i.version,"
        "  i.fields::text, i.materials::text,"
        "  k.body_sha256, k.status, k.answer, i.source IS NOT NULL"
        " FROM (SELECT 1) AS one"
        " LEFT JOIN items i ON i.code = $1"
        " LEFT JOIN idempotency_keys k ON k.user_id = $2::bigint"
        "  AND k.key = $3 AND k.created_at > now() - interval '24 hours'",
        3, cs->values, ngx_govsvc_case_item, cs);
}


static void
ngx_govsvc_case_item(ngx_govsvc_pg_t *pg, PGresult *res, void *data)
{
    ngx_govsvc_case_t *cs = data;

    ngx_int_t                rc;
    const char              *field, **v;
    ngx_govsvc_ctx_t        *ctx;
    ngx_http_request_t      *r;
    ngx_govsvc_main_conf_t  *gmcf;

    ctx = cs->ctx;
    r = ctx->request;

    ngx_govsvc_pg_close(pg);

    if (ngx_govsvc_pg_result(r, res, &rc) != NGX_OK) {
        goto done;
    }

    if (!PQgetisnull(res, 0, 6)) {
        if (ngx_strcmp(PQgetvalue(res, 0, 6), cs->body_hash) != 0) {
            rc = ngx_govsvc_send_error(r, NGX_HTTP_CONFLICT, "duplicate",
                                       "this Idempotency-Key was used for "
                                       "another request", NULL);
            goto done;
        }

        /* the same request again: the first answer, nothing created */
        rc = ngx_govsvc_send_json(r, ngx_atoi((u_char *) PQgetvalue(res, 0, 7),
                                              PQgetlength(res, 0, 7)),
                                  (u_char *) PQgetvalue(res, 0, 8),
                                  PQgetlength(res, 0, 8));
        goto done;
    }

    if (PQgetvalue(res, 0, 0)[0] != 't') {
        rc = ngx_govsvc_send_error(r, NGX_HTTP_UNPROCESSABLE_ENTITY,
                                   "validation_failed", "no such item",
                                   "item_code");
        goto done;
    }

    if (ngx_strcmp(PQgetvalue(res, 0, 1), "active") != 0) {
        rc = ngx_govsvc_send_error(r, NGX_HTTP_UNPROCESSABLE_ENTITY,
                                   "validation_failed",
                                   "the item is suspended", "item_code");
        goto done;
    }

    /* an item received from above is taken in at any window of this node
     * (代收), to be forwarded up; this node's own items only by their
     * department's clerks */
    if (ngx_atoof((u_char *) PQgetvalue(res, 0, 2), PQgetlength(res, 0, 2))
        != ctx->user->department
        && PQgetvalue(res, 0, 9)[0] != 't')
    {
        rc = ngx_govsvc_send_error(r, NGX_HTTP_FORBIDDEN, "forbidden",
                                   "the item belongs to another department",
                                   NULL);
        goto done;
    }

    ngx_cpystrn((u_char *) cs->item_version,
                (u_char *) PQgetvalue(res, 0, 3), sizeof(cs->item_version));

    field = ngx_govsvc_case_check(ctx, cs, PQgetvalue(res, 0, 4),
                                  PQgetvalue(res, 0, 5), 0);
    if (field == ngx_govsvc_case_oom) {
        rc = NGX_HTTP_INTERNAL_SERVER_ERROR;
        goto done;
    }

    if (field) {
        rc = ngx_govsvc_send_error(r, NGX_HTTP_UNPROCESSABLE_ENTITY,
                                   "validation_failed",
                                   "a field is missing or invalid", field);
        goto done;
    }

    /* [3..6] the case's parts, set by ngx_govsvc_case_check() */
    v = cs->values;
    gmcf = ngx_http_get_module_main_conf(r, ngx_govsvc_module);

    v[0] = (const char *) gmcf->node.data;
    v[1] = cJSON_GetObjectItemCaseSensitive(ctx->body, "item_code")
               ->valuestring;
    v[2] = cs->item_version;
    v[7] = (const char *) ctx->user->id_text;
    ngx_sprintf((u_char *) cs->department, "%L%Z", ctx->user->department);
    v[8] = cs->department;
    ngx_govsvc_actor(ctx, &v[9]);               /* [9], [10], [11] */
    v[12] = cs->key;
    v[13] = (const char *) cs->body_hash;

    ctx->status = NGX_HTTP_CREATED;

    rc = ngx_govsvc_query(ctx,
        "WITH c AS (INSERT INTO cases (case_no, node, item_code,"
        "   item_version, project_name, applicant, form, materials, channel,"
        "   department, created_by)"
        "  VALUES (govsvc_case_no($1), $1, $2, $3::int, $4, $5::jsonb,"
        "   $6::jsonb, $7::jsonb, 'window', $9::bigint, $8::bigint)"
        "  RETURNING *),"
        " j AS (SELECT " NGX_GOVSVC_CASE_COLUMNS("c") " FROM c),"
        " a AS (SELECT govsvc_audit_append($10::bigint, $11, $12,"
        "  'case.create', 'case:' || c.case_no, '{}') FROM c),"
        " o AS (SELECT govsvc_outbox_append($1, 'case.created', c.case_no,"
        "  jsonb_build_object('item', c.item_code, 'state', c.state,"
        "   'case', govsvc_case_snapshot(c)))"
        "  FROM c),"
        " k AS (INSERT INTO idempotency_keys (user_id, key, body_sha256,"
        "   status, answer)"
        "  SELECT $8::bigint, $13::text, $14, 201, j.govsvc_case_json::text"
        "  FROM j WHERE $13::text IS NOT NULL)"
        " SELECT j.* FROM j, a, o",
        14, cs->values, ngx_govsvc_case_written, cs);

done:

    ngx_govsvc_finalize(r, rc);
}


static void
ngx_govsvc_case_written(ngx_govsvc_pg_t *pg, PGresult *res, void *data)
{
    ngx_govsvc_case_t *cs = data;

    ngx_int_t            rc;
    ngx_http_request_t  *r;

    r = cs->ctx->request;

    ngx_govsvc_pg_close(pg);

    /* a concurrent twin with the same Idempotency-Key fails: 409 */
    if (ngx_govsvc_pg_result(r, res, &rc) != NGX_OK) {
        /* answered: 503, or the statement's error */

    } else if (PQntuples(res) != 1) {
        rc = ngx_govsvc_send_error(r, NGX_HTTP_CONFLICT, "version_conflict",
                                   "the case changed meanwhile; read it "
                                   "again", NULL);

    } else {
        rc = ngx_govsvc_case_answer(cs->ctx, cs->ctx->status, res, 0);
    }

    ngx_govsvc_finalize(r, rc);
}


/* GET /api/v1/cases/{case_no}: the department's staff, and supervisors
 * of its region and the regions above */

ngx_uint_t
ngx_govsvc_case_visible(ngx_govsvc_user_t *u, PGresult *res, int col)
{
    if (ngx_atoof((u_char *) PQgetvalue(res, 0, col),
                  PQgetlength(res, 0, col))
        == u->department)
    {
        return 1;
    }

    return (u->roles & NGX_GOVSVC_ROLE_SUPERVISOR)
           && gs_region_within((char *) u->region,
                               PQgetvalue(res, 0, col + 1));
}


ngx_int_t
ngx_govsvc_cases_get(ngx_govsvc_ctx_t *ctx)
{
    ngx_govsvc_case_t  *cs;

    cs = ngx_pcalloc(ctx->request->pool, sizeof(ngx_govsvc_case_t));
    if (cs == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    cs->ctx = ctx;

    if (ngx_govsvc_case_no(ctx, &cs->values[0]) != NGX_OK) {
        return ngx_govsvc_send_error(ctx->request, NGX_HTTP_NOT_FOUND,
                                     "not_found", "no such case", NULL);
    }

    cs->values[1] = (const char *) ctx->user->id_text;
    cs->values[2] = ngx_govsvc_case_dates(cs, NULL);

    return ngx_govsvc_query(ctx,
        "SELECT " NGX_GOVSVC_CASE_COLUMNS("c") ", c.department, d.region,"
        "  array_to_json(govsvc_case_actions(c, $2::bigint, $3::jsonb))"
        "  AS actions"
        " FROM cases c JOIN departments d ON d.id = c.department"
        " WHERE c.case_no = $1 AND c.state <> 'deleted'",
        3, cs->values, ngx_govsvc_case_found, cs);
}


static void
ngx_govsvc_case_found(ngx_govsvc_pg_t *pg, PGresult *res, void *data)
{
    ngx_govsvc_case_t *cs = data;

    ngx_int_t            rc;
    ngx_govsvc_user_t   *u;
    ngx_http_request_t  *r;

    r = cs->ctx->request;
    u = cs->ctx->user;

    ngx_govsvc_pg_close(pg);

    if (ngx_govsvc_pg_result(r, res, &rc) != NGX_OK) {
        /* answered: 503, or the statement's error */

    } else if (PQntuples(res) != 1) {
        rc = ngx_govsvc_send_error(r, NGX_HTTP_NOT_FOUND, "not_found",
                                   "no such case", NULL);

    } else if (!ngx_govsvc_case_visible(u, res, 2)) {
        rc = ngx_govsvc_send_error(r, NGX_HTTP_FORBIDDEN, "forbidden",
                                   "the case belongs to another department",
                                   NULL);

    } else {
        rc = ngx_govsvc_case_answer(cs->ctx, NGX_HTTP_OK, res, 0);
    }

    ngx_govsvc_finalize(r, rc);
}


/*
 * PATCH /api/v1/cases/{case_no} {"version", and any of "project_name",
 * "applicant", "form", "materials"}: a draft or a case waiting for
 * corrections, of the clerk's department.
 */

ngx_int_t
ngx_govsvc_cases_patch(ngx_govsvc_ctx_t *ctx)
{
    ngx_http_request_t  *r;
    ngx_govsvc_case_t   *cs;

    r = ctx->request;

    cs = ngx_pcalloc(r->pool, sizeof(ngx_govsvc_case_t));
    if (cs == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    cs->ctx = ctx;

    if (ngx_govsvc_case_no(ctx, &cs->values[0]) != NGX_OK) {
        return ngx_govsvc_send_error(r, NGX_HTTP_NOT_FOUND, "not_found",
                                     "no such case", NULL);
    }

    if (ngx_govsvc_case_version(ctx, cs) != NGX_OK) {
        return ngx_govsvc_send_error(r, NGX_HTTP_UNPROCESSABLE_ENTITY,
                                     "validation_failed",
                                     "the case's version is required",
                                     "version");
    }

    return ngx_govsvc_query(ctx,
        "SELECT c.version, c.state, c.department, i.fields::text,"
        "  i.materials::text, c.synced IS NOT NULL"
        " FROM cases c LEFT JOIN items i ON i.code = c.item_code"
        " WHERE c.case_no = $1 AND c.state <> 'deleted'",
        1, cs->values, ngx_govsvc_case_draft, cs);
}


static void
ngx_govsvc_case_draft(ngx_govsvc_pg_t *pg, PGresult *res, void *data)
{
    ngx_govsvc_case_t *cs = data;

    ngx_int_t            rc;
    const char          *field, *state, **v;
    ngx_govsvc_ctx_t    *ctx;
    ngx_http_request_t  *r;

    ctx = cs->ctx;
    r = ctx->request;

    ngx_govsvc_pg_close(pg);

    if (ngx_govsvc_pg_result(r, res, &rc) != NGX_OK) {
        goto done;
    }

    if (PQntuples(res) != 1) {
        rc = ngx_govsvc_send_error(r, NGX_HTTP_NOT_FOUND, "not_found",
                                   "no such case", NULL);
        goto done;
    }

    if (PQgetvalue(res, 0, 5)[0] == 't') {
        rc = ngx_govsvc_send_error(r, NGX_HTTP_FORBIDDEN, "forbidden",
                                   "a case of another node is read-only",
                                   NULL);
        goto done;
    }

    if (ngx_atoof((u_char *) PQgetvalue(res, 0, 2), PQgetlength(res, 0, 2))
        != ctx->user->department)
    {
        rc = ngx_govsvc_send_error(r, NGX_HTTP_FORBIDDEN, "forbidden",
                                   "the case belongs to another department",
                                   NULL);
        goto done;
    }

    state = PQgetvalue(res, 0, 1);

    if (ngx_strcmp(state, "draft") != 0
        && ngx_strcmp(state, "correction") != 0)
    {
        rc = ngx_govsvc_send_error(r, NGX_HTTP_CONFLICT, "invalid_state",
                                   "only a draft or a case waiting for "
                                   "corrections can be changed", NULL);
        goto done;
    }

    if (ngx_strcmp(PQgetvalue(res, 0, 0), cs->version) != 0) {
        rc = ngx_govsvc_send_error(r, NGX_HTTP_CONFLICT, "version_conflict",
                                   "the case changed meanwhile; read it "
                                   "again", NULL);
        goto done;
    }

    field = ngx_govsvc_case_check(ctx, cs, PQgetvalue(res, 0, 3),
                                  PQgetvalue(res, 0, 4), 1);
    if (field == ngx_govsvc_case_oom) {
        rc = NGX_HTTP_INTERNAL_SERVER_ERROR;
        goto done;
    }

    if (field) {
        rc = ngx_govsvc_send_error(r, NGX_HTTP_UNPROCESSABLE_ENTITY,
                                   "validation_failed",
                                   "a field is missing or invalid", field);
        goto done;
    }

    /* packed: PostgreSQL refuses a parameter a statement does not use */
    v = &cs->values[8];
    v[0] = cs->values[0];                       /* case_no */
    v[1] = cs->version;
    ngx_memmove(&v[2], &cs->values[3], 4 * sizeof(char *));
    ngx_govsvc_actor(ctx, &v[6]);               /* [6], [7], [8] */

    ctx->status = NGX_HTTP_OK;

    /* the version is checked again where it counts: in the update */
    rc = ngx_govsvc_query(ctx,
        "WITH c AS (UPDATE cases SET"
        "   project_name = coalesce($3, project_name),"
        "   applicant = coalesce($4::jsonb, applicant),"
        "   form = coalesce($5::jsonb, form),"
        "   materials = coalesce($6::jsonb, materials),"
        "   version = version + 1, updated_at = now()"
        "  WHERE case_no = $1 AND version = $2::int"
        "   AND state IN ('draft', 'correction')"
        "  RETURNING *),"
        " a AS (SELECT govsvc_audit_append($7::bigint, $8, $9,"
        "  'case.update', 'case:' || c.case_no,"
        "  jsonb_build_object('version', c.version)) FROM c),"
        " o AS (SELECT govsvc_outbox_append(c.node, 'case.updated',"
        "  c.case_no, jsonb_build_object('version', c.version,"
        "   'case', govsvc_case_snapshot(c))) FROM c)"
        " SELECT " NGX_GOVSVC_CASE_COLUMNS("c") " FROM c, a, o",
        9, v, ngx_govsvc_case_written, cs);

done:

    ngx_govsvc_finalize(r, rc);
}


/*
 * POST /api/v1/cases/{case_no}/actions {"action", "version", "opinion",
 * ...}: govsvc_case_act() checks role, department, version, state, the
 * parameters and the notice the action needs, and makes the transition
 * with its opinion, audit entry and outbox event in one transaction.  The
 * dates it needs come from here: today, and for resume the due date moved
 * by the working days the special procedure took, computed on the
 * calendar read first.  The worklists the transition changed are
 * invalidated before the answer leaves, so that the next read of any of
 * them, anywhere, sees it.
 */

ngx_int_t
ngx_govsvc_cases_act(ngx_govsvc_ctx_t *ctx)
{
    char                *text;
    const char          *field, **v;
    ngx_http_request_t  *r;
    ngx_govsvc_case_t   *cs;

    r = ctx->request;

    cs = ngx_pcalloc(r->pool, sizeof(ngx_govsvc_case_t));
    if (cs == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    cs->ctx = ctx;
    v = cs->values;

    if (ngx_govsvc_case_no(ctx, &v[0]) != NGX_OK) {
        return ngx_govsvc_send_error(r, NGX_HTTP_NOT_FOUND, "not_found",
                                     "no such case", NULL);
    }

    field = NULL;
    v[2] = ngx_govsvc_text(ctx->body, "action", 32, 1, &field);

    if (field) {
        return ngx_govsvc_send_error(r, NGX_HTTP_UNPROCESSABLE_ENTITY,
                                     "validation_failed",
                                     "the action is required", "action");
    }

    if (ngx_govsvc_case_version(ctx, cs) != NGX_OK) {
        return ngx_govsvc_send_error(r, NGX_HTTP_UNPROCESSABLE_ENTITY,
                                     "validation_failed",
                                     "the case's version is required",
                                     "version");
    }

    text = cJSON_PrintUnformatted(ctx->body);
    if (text == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    v[3] = ngx_pnalloc(r->pool, ngx_strlen(text) + 1);
    if (v[3] != NULL) {
        ngx_cpystrn((u_char *) v[3], (u_char *) text, ngx_strlen(text) + 1);
    }

    cJSON_free(text);

    if (v[3] == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    v[1] = cs->version;

    if (ngx_strcmp(v[2], "resume") != 0) {
        return ngx_govsvc_case_act(cs, NULL);
    }

    return ngx_govsvc_query(ctx,
        "SELECT c.paused_since, c.due_date,"
        "  govsvc_calendar_between(c.paused_since - 1,"
        "   greatest(c.due_date, (now() AT TIME ZONE 'Asia/Shanghai')::date)"
        "   + 400)"
        " FROM cases c"
        " WHERE c.case_no = $1 AND c.state = 'suspended'"
        "  AND c.paused_since IS NOT NULL AND c.due_date IS NOT NULL",
        1, v, ngx_govsvc_case_suspension, cs);
}


/*
 * The suspension read for resume: the due date moved by the working days
 * it took.  Without one, govsvc_case_act() answers why (404, 403, 409).
 */

static void
ngx_govsvc_case_suspension(ngx_govsvc_pg_t *pg, PGresult *res, void *data)
{
    ngx_govsvc_case_t *cs = data;

    int                  taken;
    char                 moved[11];
    ngx_int_t            rc;
    gs_date_t            since, due, today;
    gs_calendar_t        cal;
    ngx_http_request_t  *r;

    r = cs->ctx->request;

    ngx_govsvc_pg_close(pg);

    if (ngx_govsvc_pg_result(r, res, &rc) != NGX_OK) {
        ngx_govsvc_finalize(r, rc);
        return;
    }

    if (PQntuples(res) != 1) {
        ngx_govsvc_finalize(r, ngx_govsvc_case_act(cs, NULL));
        return;
    }

    today = ngx_govsvc_today();

    if (gs_date_parse(PQgetvalue(res, 0, 0), PQgetlength(res, 0, 0), &since)
        != 0
        || gs_date_parse(PQgetvalue(res, 0, 1), PQgetlength(res, 0, 1), &due)
           != 0
        || ngx_govsvc_calendar_load(r->pool, PQgetvalue(res, 0, 2), &cal)
           != NGX_OK)
    {
        ngx_govsvc_finalize(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    /* a suspension that began "after today" (a clock set back): none */
    due = gs_deadline_resume(&cal, due, since, ngx_max(today, since),
                             &taken);
    if (due == GS_DATE_INVALID) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "govsvc: no due date after the suspension of case %s",
                      cs->values[0]);
        ngx_govsvc_finalize(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    gs_date_format(due, moved);

    ngx_sprintf((u_char *) cs->resume,
                ",\"paused_since\":\"%s\",\"due_date\":\"%s\",\"taken\":%d%Z",
                PQgetvalue(res, 0, 0), moved, taken);

    ngx_govsvc_finalize(r, ngx_govsvc_case_act(cs, cs->resume));
}


/* govsvc_case_act() with the dates: today, the abnormal draft age, and
 * resume's (extra: a JSON member list, or NULL) */

static ngx_int_t
ngx_govsvc_case_act(ngx_govsvc_case_t *cs, const char *extra)
{
    const char  **v;

    v = cs->values;

    v[4] = ngx_govsvc_case_dates(cs, extra);
    ngx_govsvc_actor(cs->ctx, &v[5]);           /* [5], [6], [7] */

    /* the case's JSON is built inside the function, where the opinion it
     * has just written is visible */
    return ngx_govsvc_query(cs->ctx,
        "SELECT a.case_json, govsvc_case_clock(a.c), a.query_password,"
        "  array_to_string(a.lists, ' '),"
        "  array_to_json(govsvc_case_actions(a.c, $6::bigint, $5::jsonb))"
        "  AS actions"
        " FROM govsvc_case_act($1, $2::int, $3, $4::jsonb, $5::jsonb,"
        "  $6::bigint, $7, $8) a",
        8, v, ngx_govsvc_case_acted, cs);
}


/*
 * The node's dates the rules of an action read (today, the days after
 * which a draft is abnormal), as JSON in cs->dates; extra is appended
 * inside the object.
 */

static const char *
ngx_govsvc_case_dates(ngx_govsvc_case_t *cs, const char *extra)
{
    char                     today[11];
    ngx_govsvc_main_conf_t  *gmcf;

    gmcf = ngx_http_get_module_main_conf(cs->ctx->request, ngx_govsvc_module);

    gs_date_format(ngx_govsvc_today(), today);

    ngx_snprintf((u_char *) cs->dates, sizeof(cs->dates) - 1,
                 "{\"today\":\"%s\",\"stale_days\":%i%s}%Z", today,
                 gmcf->draft_stale_days, extra ? extra : "");
    cs->dates[sizeof(cs->dates) - 1] = '\0';

    return cs->dates;
}


static void
ngx_govsvc_case_acted(ngx_govsvc_pg_t *pg, PGresult *res, void *data)
{
    ngx_govsvc_case_t *cs = data;

    ngx_int_t            rc;
    ngx_str_t            body;
    ngx_http_request_t  *r;

    r = cs->ctx->request;

    ngx_govsvc_pg_close(pg);

    if (ngx_govsvc_pg_result(r, res, &rc) != NGX_OK) {
        ngx_govsvc_finalize(r, rc);
        return;
    }

    if (ngx_govsvc_case_render(cs->ctx, res, 1, &body) != NGX_OK) {
        ngx_govsvc_finalize(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    /* the answer waits for the worklists: read-your-writes */
    rc = ngx_govsvc_worklists_touch(cs->ctx, PQgetvalue(res, 0, 3), &body);

    ngx_govsvc_finalize(r, rc);
}


/* "version": a positive int, kept as text in cs->version */

static ngx_int_t
ngx_govsvc_case_version(ngx_govsvc_ctx_t *ctx, ngx_govsvc_case_t *cs)
{
    cJSON  *version;

    version = cJSON_GetObjectItemCaseSensitive(ctx->body, "version");

    if (!cJSON_IsNumber(version) || version->valuedouble < 1
        || version->valuedouble > 2147483647.0
        || version->valuedouble != (double) (int) version->valuedouble)
    {
        return NGX_DECLINED;
    }

    ngx_sprintf((u_char *) cs->version, "%d%Z", (int) version->valuedouble);

    return NGX_OK;
}


/* the case of row 0, with its deadline block (and the query password of
 * column 2, with_password) */

static ngx_int_t
ngx_govsvc_case_answer(ngx_govsvc_ctx_t *ctx, ngx_uint_t status,
    PGresult *res, ngx_uint_t with_password)
{
    ngx_str_t  body;

    if (ngx_govsvc_case_render(ctx, res, with_password, &body) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_govsvc_send_json(ctx->request, status, body.data, body.len);
}


static ngx_int_t
ngx_govsvc_case_render(ngx_govsvc_ctx_t *ctx, PGresult *res,
    ngx_uint_t with_password, ngx_str_t *body)
{
    int          col;
    char        *text;
    cJSON       *json, *deadline, *actions;
    ngx_int_t    rc;

    json = cJSON_ParseWithLength(PQgetvalue(res, 0, 0),
                                 PQgetlength(res, 0, 0));
    if (json == NULL) {
        return NGX_ERROR;
    }

    rc = NGX_ERROR;

    deadline = ngx_govsvc_case_deadline(ctx->request, PQgetvalue(res, 0, 1),
                                        PQgetlength(res, 0, 1));

    if (deadline != NULL) {
        cJSON_AddItemToObject(json, "deadline", deadline);

    } else if (cJSON_AddNullToObject(json, "deadline") == NULL) {
        goto done;
    }

    /* what the user may do now, where the statement asked for it */
    col = PQfnumber(res, "actions");

    if (col >= 0) {
        actions = cJSON_ParseWithLength(PQgetvalue(res, 0, col),
                                        PQgetlength(res, 0, col));
        if (actions == NULL) {
            goto done;
        }

        cJSON_AddItemToObject(json, "actions", actions);
    }

    /* accept's answer alone: the only time it is shown but on paper */
    if (with_password && !PQgetisnull(res, 0, 2)
        && cJSON_AddStringToObject(json, "query_password",
                                   PQgetvalue(res, 0, 2))
           == NULL)
    {
        goto done;
    }

    text = cJSON_PrintUnformatted(json);
    if (text == NULL) {
        goto done;
    }

    body->len = ngx_strlen(text);
    body->data = ngx_pnalloc(ctx->request->pool, body->len);

    if (body->data != NULL) {
        ngx_memcpy(body->data, text, body->len);
        rc = NGX_OK;
    }

    cJSON_free(text);

done:

    cJSON_Delete(json);

    return rc;
}


/*
 * The deadline block, from govsvc_case_clock()'s JSON: a draft's is Art.32
 * (deemed accepted five working days after receipt unless a correction
 * notice comes first); a case in progress or suspended has its due date,
 * computed by gs_deadline.  Other states have none: NULL, as on any error
 * (logged), since a case is still worth answering without it.
 */

static cJSON *
ngx_govsvc_case_deadline(ngx_http_request_t *r, const char *text,
    size_t len)
{
    char                     due_text[11];
    cJSON                   *clock, *d;
    const char              *state, *kind;
    gs_deadline_t            dl;
    gs_calendar_t            cal;
    gs_deadline_in_t         in;
    ngx_govsvc_main_conf_t  *gmcf;

    gmcf = ngx_http_get_module_main_conf(r, ngx_govsvc_module);

    clock = cJSON_ParseWithLength(text, len);
    if (clock == NULL) {
        return NULL;
    }

    d = NULL;
    state = ngx_govsvc_member(clock, "state");

    ngx_memzero(&in, sizeof(gs_deadline_in_t));
    in.paused_since = GS_DATE_INVALID;
    in.step_started = GS_DATE_INVALID;
    in.today = ngx_govsvc_today();
    in.yellow_days = (int) gmcf->yellow_days;

    if (state == NULL
        || ngx_govsvc_calendar_load(r->pool,
                                    ngx_govsvc_member(clock, "calendar"),
                                    &cal)
           != NGX_OK)
    {
        goto done;
    }

    if (ngx_strcmp(state, "draft") == 0) {
        kind = "deemed_acceptance";

        if (ngx_govsvc_clock_date(clock, "received", &in.due) != NGX_OK) {
            goto done;
        }

        in.due = gs_calendar_add_working_days(&cal, in.due,
                                              NGX_GOVSVC_ART32_DAYS);

    } else if (ngx_strcmp(state, "in_progress") == 0
               || ngx_strcmp(state, "suspended") == 0)
    {
        kind = "promised";

        if (ngx_govsvc_clock_date(clock, "due", &in.due) != NGX_OK) {
            goto done;
        }

        (void) ngx_govsvc_clock_date(clock, "paused_since",
                                     &in.paused_since);
        (void) ngx_govsvc_clock_date(clock, "step_started",
                                     &in.step_started);
        in.step_days = ngx_govsvc_clock_int(clock, "step_days");
        in.step_paused_days = ngx_govsvc_clock_int(clock,
                                                   "step_paused_days");

    } else {
        goto done;
    }

    if (gs_deadline_compute(&cal, &in, &dl) != 0) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "govsvc: no deadline from the calendar for \"%s\"",
                      text);
        goto done;
    }

    gs_date_format(dl.due, due_text);

    d = cJSON_CreateObject();

    if (d == NULL
        || cJSON_AddStringToObject(d, "kind", kind) == NULL
        || cJSON_AddStringToObject(d, "due_date", due_text) == NULL
        || cJSON_AddNumberToObject(d, "remaining_working_days",
                                   dl.remaining) == NULL
        || cJSON_AddBoolToObject(d, "paused", dl.paused) == NULL
        || cJSON_AddStringToObject(d, "level", gs_level_name(dl.level))
           == NULL
        || cJSON_AddBoolToObject(d, "step_overdue", dl.step_overdue)
           == NULL)
    {
        cJSON_Delete(d);
        d = NULL;
    }

done:

    cJSON_Delete(clock);

    return d;
}


/* a "YYYY-MM-DD" member of the clock; NGX_DECLINED when null or absent */

static ngx_int_t
ngx_govsvc_clock_date(cJSON *clock, const char *name, gs_date_t *date)
{
    const char  *s;

    s = ngx_govsvc_member(clock, name);

    if (s == NULL || gs_date_parse(s, ngx_strlen(s), date) != 0) {
        return NGX_DECLINED;
    }

    return NGX_OK;
}


/* a non-negative whole member of the clock; 0 when null or absent */

static int
ngx_govsvc_clock_int(cJSON *clock, const char *name)
{
    cJSON  *n;

    n = cJSON_GetObjectItemCaseSensitive(clock, name);

    if (!cJSON_IsNumber(n) || n->valuedouble < 0
        || n->valuedouble > 100000)
    {
        return 0;
    }

    return (int) n->valuedouble;
}


/*
 * A calendar from govsvc_calendar_from()'s text, "YYYY-MM-DDholiday,
 * YYYY-MM-DDworkday,...": the days are allocated in pool.
 */

ngx_int_t
ngx_govsvc_calendar_load(ngx_pool_t *pool, const char *text,
    gs_calendar_t *cal)
{
    size_t       n, i;
    gs_day_t    *days;
    const char  *p;

    n = (text[0] != '\0');
    for (p = text; *p; p++) {
        n += (*p == ',');
    }

    days = ngx_palloc(pool, (n ? n : 1) * sizeof(gs_day_t));
    if (days == NULL) {
        return NGX_ERROR;
    }

    for (i = 0, p = text; i < n; i++) {
        if (ngx_strlen(p) < 11 || gs_date_parse(p, 10, &days[i].date) != 0) {
            return NGX_ERROR;
        }

        days[i].kind = (p[10] == 'h') ? GS_DAY_HOLIDAY : GS_DAY_WORKDAY;

        p = ngx_strchr(p, ',');
        p = p ? p + 1 : "";
    }

    return (gs_calendar_init(cal, days, n) == 0) ? NGX_OK : NGX_ERROR;
}


/* the date in China (+08:00), where every time limit is counted */

gs_date_t
ngx_govsvc_today(void)
{
    return (gs_date_t) ((ngx_time() + 8 * 3600) / 86400);
}


/*
 * Checks the body's parts against the item and sets values[3..6] (project
 * name, applicant, form, materials: NULL for a part a PATCH leaves out).
 * Returns the first field at fault, or NULL.
 */

static const char *
ngx_govsvc_case_check(ngx_govsvc_ctx_t *ctx, ngx_govsvc_case_t *cs,
    const char *fields, const char *materials, ngx_uint_t partial)
{
    cJSON        *defs, *part, *out;
    ngx_pool_t   *pool;
    const char   *field;

    pool = ctx->request->pool;
    field = NULL;

    cs->values[3] = ngx_govsvc_text(ctx->body, "project_name", 200,
                                    !partial, &field);
    if (field) {
        return field;
    }

    part = cJSON_GetObjectItemCaseSensitive(ctx->body, "applicant");
    if (part || !partial) {
        field = ngx_govsvc_check_applicant(part, &out);
        if (field) {
            return field;
        }

        cs->values[4] = ngx_govsvc_case_print(pool, out);
        cJSON_Delete(out);

        if (cs->values[4] == NULL) {
            return ngx_govsvc_case_oom;
        }
    }

    part = cJSON_GetObjectItemCaseSensitive(ctx->body, "form");
    if (part || !partial) {
        defs = cJSON_Parse(fields);
        field = ngx_govsvc_check_form(pool, part, defs, &out);
        cJSON_Delete(defs);
        if (field) {
            return field;
        }

        cs->values[5] = ngx_govsvc_case_print(pool, out);
        cJSON_Delete(out);

        if (cs->values[5] == NULL) {
            return ngx_govsvc_case_oom;
        }
    }

    part = cJSON_GetObjectItemCaseSensitive(ctx->body, "materials");
    if (part || !partial) {
        defs = cJSON_Parse(materials);
        field = ngx_govsvc_check_materials(part, defs, &out);
        cJSON_Delete(defs);
        if (field) {
            return field;
        }

        cs->values[6] = ngx_govsvc_case_print(pool, out);
        cJSON_Delete(out);

        if (cs->values[6] == NULL) {
            return ngx_govsvc_case_oom;
        }
    }

    return NULL;
}


/*
 * applicant: {"type": "person" (id_type id_card) or "org" (id_type uscc),
 * "name", "id_no" (check digit verified), "phone", "address"?}
 */

static const char *
ngx_govsvc_check_applicant(cJSON *a, cJSON **out)
{
    cJSON        *o;
    ngx_uint_t    person;
    const char   *type, *id_type, *name, *id_no, *phone, *address, *field;

    *out = NULL;
    field = NULL;

    if (!cJSON_IsObject(a)) {
        return "applicant";
    }

    type = ngx_govsvc_text(a, "type", 6, 1, &field);
    if (field || (ngx_strcmp(type, "person") != 0
                  && ngx_strcmp(type, "org") != 0))
    {
        return "applicant.type";
    }

    person = (type[0] == 'p');

    id_type = ngx_govsvc_text(a, "id_type", 8, 0, &field);
    if (field || (id_type && ngx_strcmp(id_type, person ? "id_card" : "uscc")
                             != 0))
    {
        return "applicant.id_type";
    }

    name = ngx_govsvc_text(a, "name", 100, 1, &field);
    if (field) {
        return "applicant.name";
    }

    id_no = ngx_govsvc_text(a, "id_no", 18, 1, &field);
    if (field || !(person ? gs_ident_id_card(id_no, ngx_strlen(id_no))
                          : gs_ident_uscc(id_no, ngx_strlen(id_no))))
    {
        return "applicant.id_no";
    }

    phone = ngx_govsvc_text(a, "phone", 32, 1, &field);
    if (field || !gs_ident_phone(phone, ngx_strlen(phone))) {
        return "applicant.phone";
    }

    address = ngx_govsvc_text(a, "address", 200, 0, &field);
    if (field) {
        return "applicant.address";
    }

    o = cJSON_CreateObject();

    if (o == NULL
        || cJSON_AddStringToObject(o, "type", type) == NULL
        || cJSON_AddStringToObject(o, "name", name) == NULL
        || cJSON_AddStringToObject(o, "id_type", person ? "id_card" : "uscc")
           == NULL
        || cJSON_AddStringToObject(o, "id_no", id_no) == NULL
        || cJSON_AddStringToObject(o, "phone", phone) == NULL
        || (address && cJSON_AddStringToObject(o, "address", address)
                       == NULL))
    {
        cJSON_Delete(o);
        return "applicant";
    }

    *out = o;

    return NULL;
}


/* form: the item's fields, each by its type; nothing else */

static const char *
ngx_govsvc_check_form(ngx_pool_t *pool, cJSON *form, cJSON *defs,
    cJSON **out)
{
    u_char      *name;
    cJSON       *def, *v, *o, *type, *members;
    gs_date_t    date;
    ngx_uint_t   ok;
    const char  *s, *field, *t, *n;

    *out = NULL;

    if (form != NULL && !cJSON_IsObject(form) && !cJSON_IsNull(form)) {
        return "form";
    }

    o = cJSON_CreateObject();
    if (o == NULL) {
        return "form";
    }

    /* a member the item does not ask for */
    members = cJSON_IsObject(form) ? form : NULL;

    cJSON_ArrayForEach(v, members) {
        ok = 0;

        cJSON_ArrayForEach(def, defs) {
            n = ngx_govsvc_member(def, "name");
            if (ngx_strcmp(n, v->string) == 0) {
                ok = 1;
            }
        }

        if (!ok) {
            s = v->string;
            goto invalid;
        }
    }

    cJSON_ArrayForEach(def, defs) {
        s = ngx_govsvc_member(def, "name");
        type = cJSON_GetObjectItemCaseSensitive(def, "type");
        t = cJSON_IsString(type) ? type->valuestring : "text";

        if (s[0] == '\0') {
            continue;
        }

        v = cJSON_GetObjectItemCaseSensitive(members, s);

        if (v == NULL || cJSON_IsNull(v)) {
            if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(def,
                                                              "required")))
            {
                goto invalid;
            }

            continue;
        }

        if (ngx_strcmp(t, "number") == 0) {
            if (!cJSON_IsNumber(v)
                || cJSON_AddNumberToObject(o, s, v->valuedouble) == NULL)
            {
                goto invalid;
            }

            continue;
        }

        field = NULL;
        n = ngx_govsvc_text(form, s, 500, 1, &field);

        if (field
            || (ngx_strcmp(t, "date") == 0
                && gs_date_parse(n, ngx_strlen(n), &date) != 0)
            || (ngx_strcmp(t, "id_card") == 0
                && !gs_ident_id_card(n, ngx_strlen(n)))
            || (ngx_strcmp(t, "uscc") == 0
                && !gs_ident_uscc(n, ngx_strlen(n)))
            || (ngx_strcmp(t, "phone") == 0
                && !gs_ident_phone(n, ngx_strlen(n)))
            || cJSON_AddStringToObject(o, s, n) == NULL)
        {
            goto invalid;
        }
    }

    *out = o;

    return NULL;

invalid:

    cJSON_Delete(o);

    name = ngx_pnalloc(pool, sizeof("form.") + ngx_strlen(s));
    if (name == NULL) {
        return "form";
    }

    ngx_sprintf(name, "form.%s%Z", s);

    return (const char *) name;
}


/*
 * materials: [{"code","received"}] for the item's materials; the case
 * keeps every material of the item with its name and whether it is
 * required, and whether it was received.
 */

static const char *
ngx_govsvc_check_materials(cJSON *given, cJSON *defs, cJSON **out)
{
    cJSON       *g, *def, *o, *m, *received, *list;
    ngx_uint_t   known;
    const char  *code;

    *out = NULL;

    if (given != NULL && !cJSON_IsArray(given) && !cJSON_IsNull(given)) {
        return "materials";
    }

    list = cJSON_IsArray(given) ? given : NULL;

    cJSON_ArrayForEach(g, list) {
        code = ngx_govsvc_member(g, "code");
        received = cJSON_GetObjectItemCaseSensitive(g, "received");

        if (code[0] == '\0' || (received && !cJSON_IsBool(received))) {
            return "materials";
        }

        known = 0;

        cJSON_ArrayForEach(def, defs) {
            if (ngx_strcmp(code, ngx_govsvc_member(def, "code")) == 0) {
                known = 1;
            }
        }

        if (!known) {
            return "materials";
        }
    }

    o = cJSON_CreateArray();
    if (o == NULL) {
        return "materials";
    }

    cJSON_ArrayForEach(def, defs) {
        code = ngx_govsvc_member(def, "code");
        received = NULL;

        cJSON_ArrayForEach(g, list) {
            if (ngx_strcmp(code, ngx_govsvc_member(g, "code")) == 0) {
                received = cJSON_GetObjectItemCaseSensitive(g, "received");
            }
        }

        m = cJSON_CreateObject();

        if (m == NULL
            || !cJSON_AddItemToArray(o, m)
            || cJSON_AddStringToObject(m, "code", code) == NULL
            || cJSON_AddStringToObject(m, "name", ngx_govsvc_member(def, "name"))
               == NULL
            || cJSON_AddBoolToObject(m, "required",
                   !cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(def,
                                                          "required")))
               == NULL
            || cJSON_AddBoolToObject(m, "received", cJSON_IsTrue(received))
               == NULL
            || cJSON_AddArrayToObject(m, "files") == NULL)
        {
            cJSON_Delete(o);
            return "materials";
        }
    }

    *out = o;

    return NULL;
}


/* a string member, or "" */

static const char *
ngx_govsvc_member(cJSON *obj, const char *name)
{
    const char  *s;

    s = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(obj, name));

    return s ? s : "";
}


/* JSON text in the request's pool; NULL when out of memory */

static char *
ngx_govsvc_case_print(ngx_pool_t *pool, cJSON *json)
{
    char    *text;
    u_char  *copy;
    size_t   len;

    text = cJSON_PrintUnformatted(json);
    if (text == NULL) {
        return NULL;
    }

    len = ngx_strlen(text);

    copy = ngx_pnalloc(pool, len + 1);
    if (copy) {
        ngx_memcpy(copy, text, len + 1);
    }

    cJSON_free(text);

    return (char *) copy;
}


/* the {case_no} of the path, if it can be one: 20 digits */

ngx_int_t
ngx_govsvc_case_no(ngx_govsvc_ctx_t *ctx, const char **case_no)
{
    u_char      *p;
    ngx_str_t   *s;
    ngx_uint_t   i;

    s = &ctx->params[0];

    if (s->len != 20) {
        return NGX_DECLINED;
    }

    for (i = 0; i < 20; i++) {
        if (s->data[i] < '0' || s->data[i] > '9') {
            return NGX_DECLINED;
        }
    }

    p = ngx_pnalloc(ctx->request->pool, 21);
    if (p == NULL) {
        return NGX_ERROR;
    }

    ngx_cpystrn(p, s->data, 21);
    *case_no = (const char *) p;

    return NGX_OK;
}
