
/*
 * GovSvc: what the public and the departments exchange: consultations
 * (网上咨询), the public case query (统一查询), ratings (好差评) and the
 * rectification tasks a bad rating opens.
 */


#include "ngx_govsvc.h"
#include "gs_calendar.h"
#include "gs_password.h"
#include "gs_region.h"
#include "gs_utf8.h"

#include <openssl/rand.h>
#include <openssl/sha.h>


#define NGX_GOVSVC_CODE_LEN            12
/* longer than any query password: refused without hashing */
#define NGX_GOVSVC_PUBLIC_PASSWORD_MAX 64

/* one answer for an unknown number and a wrong password alike */
#define NGX_GOVSVC_CASE_UNKNOWN        "no such case, or a wrong password"
#define NGX_GOVSVC_CONSULT_UNKNOWN     "no such consultation, or a wrong code"


typedef struct {
    const char               *values[7];
    char                      today[11];
    char                      reply_due[11];
    char                      code[NGX_GOVSVC_CODE_LEN + 1];
    char                      code_hash[SHA256_DIGEST_LENGTH * 2 + 1];
    char                      department[NGX_INT64_LEN + 1];
    char                      id[NGX_INT64_LEN + 1];
    const char               *outbox[4];
} ngx_govsvc_consult_t;


/* the state of the other handlers of this file */
typedef struct {
    ngx_govsvc_ctx_t         *ctx;
    const char               *values[12];
    char                      today[11];
    char                      due[11];
    char                      id[NGX_INT64_LEN + 1];
    char                      department[NGX_INT64_LEN + 1];
    char                      region[7];
    char                      score[NGX_INT_T_LEN + 1];
    char                      span[NGX_INT_T_LEN + 1];
    const char               *bad;            /* the parameter at fault */
    const char               *not_found;      /* the 404's message */

    /* the public case query and the rating */
    const char               *case_no;
    const char               *password;
    const char               *channel;
    const char               *comment;
    const char               *answer;         /* the case's public JSON */
    const char               *calendar;       /* after today */
    unsigned                  evaluate:1;     /* the rating, not a query */
    unsigned                  found:1;        /* a case with a password */
} ngx_govsvc_pub_t;


static void ngx_govsvc_consult_step(ngx_govsvc_pg_t *pg, PGresult *res,
    void *data);
static const char *ngx_govsvc_consult_validate(ngx_govsvc_ctx_t *ctx,
    ngx_govsvc_consult_t *cs);
static void ngx_govsvc_consult_found(ngx_govsvc_pg_t *pg, PGresult *res,
    void *data);
static void ngx_govsvc_pub_answer(ngx_govsvc_pg_t *pg, PGresult *res,
    void *data);
static ngx_int_t ngx_govsvc_public_case_start(ngx_govsvc_pub_t *p);
static void ngx_govsvc_public_case_found(ngx_govsvc_pg_t *pg,
    PGresult *res, void *data);
static void ngx_govsvc_public_case_checked(ngx_govsvc_ctx_t *ctx,
    ngx_int_t rc);
static ngx_int_t ngx_govsvc_public_evaluate_write(ngx_govsvc_pub_t *p);
static ngx_int_t ngx_govsvc_public_limited(ngx_govsvc_pub_t *p,
    ngx_int_t *rc);
static ngx_int_t ngx_govsvc_public_failed(ngx_govsvc_pub_t *p);
static ngx_int_t ngx_govsvc_public_key(ngx_govsvc_pub_t *p, ngx_str_t *key);
static ngx_int_t ngx_govsvc_pub_write(ngx_govsvc_ctx_t *ctx,
    const char *unknown, const char *sql);
static ngx_govsvc_pub_t *ngx_govsvc_pub_new(ngx_govsvc_ctx_t *ctx);
static void ngx_govsvc_pub_scope(ngx_govsvc_pub_t *p,
    const char **department, const char **node, const char **prefix);
static ngx_int_t ngx_govsvc_pub_page(ngx_govsvc_pub_t *p,
    const char **limit, const char **cursor);
static ngx_int_t ngx_govsvc_pub_filter(ngx_govsvc_pub_t *p,
    const char *name, size_t max, const char *pattern, const char **out);
static ngx_int_t ngx_govsvc_pub_bad(ngx_govsvc_pub_t *p);
static const char *ngx_govsvc_pub_body(ngx_govsvc_pub_t *p);
static const char *ngx_govsvc_pub_copy(ngx_pool_t *pool, PGresult *res,
    int col);


/*
 * POST /api/v1/public/consultations: one transaction of two statements,
 * the question, then its outbox event and audit entry, after the reply
 * deadline has been computed from the working-day calendar.
 */

enum {
    NGX_GOVSVC_CONSULT_CALENDAR = 0,
    NGX_GOVSVC_CONSULT_BEGIN,
    NGX_GOVSVC_CONSULT_INSERT,
    NGX_GOVSVC_CONSULT_OUTBOX,
    NGX_GOVSVC_CONSULT_COMMIT
};


ngx_int_t
ngx_govsvc_consult_create(ngx_govsvc_ctx_t *ctx)
{
    u_char                 rnd[NGX_GOVSVC_CODE_LEN];
    u_char                 md[SHA256_DIGEST_LENGTH];
    ngx_uint_t             i;
    const char            *field;
    ngx_http_request_t    *r;
    ngx_govsvc_consult_t  *cs;
    static const char      alphabet[] = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789";

    r = ctx->request;

    cs = ngx_pcalloc(r->pool, sizeof(ngx_govsvc_consult_t));
    if (cs == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->data = cs;

    field = ngx_govsvc_consult_validate(ctx, cs);
    if (field) {
        return ngx_govsvc_send_error(r, NGX_HTTP_UNPROCESSABLE_ENTITY,
                                     "validation_failed",
                                     "a field is missing or invalid", field);
    }

    if (RAND_bytes(rnd, sizeof(rnd)) != 1) {
        ngx_log_error(NGX_LOG_ALERT, r->connection->log, 0,
                      "govsvc: RAND_bytes() failed");
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* 32 symbols: every byte maps evenly; 60 bits of chance */
    for (i = 0; i < NGX_GOVSVC_CODE_LEN; i++) {
        cs->code[i] = alphabet[rnd[i] % 32];
    }

    SHA256((u_char *) cs->code, NGX_GOVSVC_CODE_LEN, md);
    ngx_hex_dump((u_char *) cs->code_hash, md, sizeof(md));

    gs_date_format(ngx_govsvc_today(), cs->today);
    cs->outbox[0] = cs->today;

    ctx->step = NGX_GOVSVC_CONSULT_CALENDAR;

    return ngx_govsvc_query(ctx,
            "SELECT day::text, kind FROM calendar_days"
            " WHERE day > $1::date AND day <= $1::date + 366"
            " ORDER BY day",
            1, cs->outbox, ngx_govsvc_consult_step, ctx);
}


/* the name of the first field at fault, or NULL when all are good */

static const char *
ngx_govsvc_consult_validate(ngx_govsvc_ctx_t *ctx, ngx_govsvc_consult_t *cs)
{
    cJSON       *body, *dept, *asker;
    ngx_uint_t   i;
    const char  *field;

    body = ctx->body;
    field = NULL;

    cs->values[0] = ngx_govsvc_text(body, "title", 200, 1, &field);
    cs->values[1] = ngx_govsvc_text(body, "content", 5000, 1, &field);
    cs->values[2] = ngx_govsvc_text(body, "item_code", 64, 0, &field);

    asker = cJSON_GetObjectItemCaseSensitive(body, "asker");

    if (asker != NULL && !cJSON_IsNull(asker) && !cJSON_IsObject(asker)) {
        return field ? field : "asker";
    }

    if (field) {
        return field;
    }

    cs->values[4] = ngx_govsvc_text(asker, "name", 50, 0, &field);
    cs->values[5] = ngx_govsvc_text(asker, "phone", 20, 0, &field);

    if (field) {
        return (field[0] == 'n') ? "asker.name" : "asker.phone";
    }

    for (i = 0; cs->values[5] && cs->values[5][i]; i++) {
        if ((cs->values[5][i] < '0' || cs->values[5][i] > '9')
            && cs->values[5][i] != '-' && cs->values[5][i] != '+')
        {
            return "asker.phone";
        }
    }

    dept = cJSON_GetObjectItemCaseSensitive(body, "department");

    if (dept == NULL || cJSON_IsNull(dept)) {
        return NULL;
    }

    if (!cJSON_IsNumber(dept) || dept->valuedouble < 1
        || dept->valuedouble > 9007199254740991.0
        || dept->valuedouble != (double) (int64_t) dept->valuedouble)
    {
        return "department";
    }

    ngx_sprintf((u_char *) cs->department, "%L%Z",
                (int64_t) dept->valuedouble);
    cs->values[3] = cs->department;

    return NULL;
}


static void
ngx_govsvc_consult_step(ngx_govsvc_pg_t *pg, PGresult *res, void *data)
{
    ngx_govsvc_ctx_t *ctx = data;

    int                      i, n;
    cJSON                   *json;
    ngx_int_t                rc;
    gs_day_t                *days;
    gs_date_t                today, due;
    const char              *sql, *kind, *constraint, *actor[3];
    gs_calendar_t            cal;
    ngx_http_request_t      *r;
    ngx_govsvc_consult_t    *cs;
    ngx_govsvc_main_conf_t  *gmcf;
    const char *const       *values;

    r = ctx->request;
    cs = ctx->data;
    gmcf = ngx_http_get_module_main_conf(r, ngx_govsvc_module);

    if (res == NULL) {
        rc = ngx_govsvc_send_unavailable(r, "the database is unavailable");
        goto done;
    }

    if (PQresultStatus(res) != PGRES_TUPLES_OK
        && PQresultStatus(res) != PGRES_COMMAND_OK)
    {
        constraint = PQresultErrorField(res, PG_DIAG_CONSTRAINT_NAME);

        if (constraint
            && ngx_strcmp(constraint, "consultations_item_fkey") == 0)
        {
            rc = ngx_govsvc_send_error(r, NGX_HTTP_UNPROCESSABLE_ENTITY,
                                       "validation_failed", "no such item",
                                       "item_code");

        } else {
            rc = ngx_govsvc_db_error(r, res);
        }

        goto done;
    }

    switch (ctx->step) {

    case NGX_GOVSVC_CONSULT_CALENDAR:
        n = PQntuples(res);
        days = ngx_palloc(r->pool, (n ? n : 1) * sizeof(gs_day_t));
        if (days == NULL) {
            rc = NGX_HTTP_INTERNAL_SERVER_ERROR;
            goto done;
        }

        for (i = 0; i < n; i++) {
            kind = PQgetvalue(res, i, 1);
            days[i].kind = (kind[0] == 'h') ? GS_DAY_HOLIDAY : GS_DAY_WORKDAY;

            if (gs_date_parse(PQgetvalue(res, i, 0), PQgetlength(res, i, 0),
                              &days[i].date)
                != 0)
            {
                rc = NGX_HTTP_INTERNAL_SERVER_ERROR;
                goto done;
            }
        }

        if (gs_calendar_init(&cal, days, n) != 0
            || gs_date_parse(cs->today, 10, &today) != 0)
        {
            rc = NGX_HTTP_INTERNAL_SERVER_ERROR;
            goto done;
        }

        due = gs_calendar_add_working_days(&cal, today,
                                           (int) gmcf->consult_reply_days);
        if (due == GS_DATE_INVALID) {
            ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                          "govsvc: the calendar has no working day left "
                          "after %s", cs->today);
            rc = NGX_HTTP_INTERNAL_SERVER_ERROR;
            goto done;
        }

        gs_date_format(due, cs->reply_due);
        cs->values[6] = cs->reply_due;

        ctx->step = NGX_GOVSVC_CONSULT_BEGIN;
        sql = "BEGIN";
        n = 0;
        values = NULL;
        break;

    case NGX_GOVSVC_CONSULT_BEGIN:
        ctx->step = NGX_GOVSVC_CONSULT_INSERT;
        /* a question about an item without a department goes to the
         * item's; one with neither is the node's (see consult_list) */
        sql = "INSERT INTO consultations (node, title, content, item_code,"
              " department, asker_name, asker_phone, reply_due, code_hash)"
              " VALUES ($8, $1, $2, $3, coalesce($4::bigint,"
              "  (SELECT department FROM items WHERE code = $3)),"
              " $5, $6, $7::date, $9)"
              " RETURNING id";
        cs->outbox[0] = (const char *) gmcf->node.data;
        n = 9;

        /* values[7], values[8] are the node and the code's hash */
        values = ngx_palloc(r->pool, 9 * sizeof(char *));
        if (values == NULL) {
            rc = NGX_HTTP_INTERNAL_SERVER_ERROR;
            goto done;
        }

        ngx_memcpy((void *) values, cs->values, 7 * sizeof(char *));
        ((const char **) values)[7] = (const char *) gmcf->node.data;
        ((const char **) values)[8] = cs->code_hash;
        break;

    case NGX_GOVSVC_CONSULT_INSERT:
        ngx_cpystrn((u_char *) cs->id, (u_char *) PQgetvalue(res, 0, 0),
                    sizeof(cs->id));
        cs->outbox[1] = cs->id;
        cs->outbox[2] = cs->reply_due;

        /* the asker is anonymous: its address is all the entry names */
        ngx_govsvc_actor(ctx, actor);
        cs->outbox[3] = actor[2];

        ctx->step = NGX_GOVSVC_CONSULT_OUTBOX;
        sql = "SELECT govsvc_outbox_append($1, 'consultation.created', NULL,"
              " jsonb_build_object('id', $2::bigint, 'reply_due', $3::date)),"
              " govsvc_audit_append(NULL, 'anonymous', $4,"
              " 'consultation.create', 'consultation:' || $2,"
              " jsonb_build_object('reply_due', $3::date))";
        n = 4;
        values = cs->outbox;
        break;

    case NGX_GOVSVC_CONSULT_OUTBOX:
        ctx->step = NGX_GOVSVC_CONSULT_COMMIT;
        sql = "COMMIT";
        n = 0;
        values = NULL;
        break;

    default: /* NGX_GOVSVC_CONSULT_COMMIT */
        ngx_govsvc_pg_close(pg);

        json = cJSON_CreateObject();
        if (json == NULL
            || cJSON_AddNumberToObject(json, "id",
                                       (double) ngx_atoof((u_char *) cs->id,
                                                    ngx_strlen(cs->id)))
               == NULL
            || cJSON_AddStringToObject(json, "code", cs->code) == NULL
            || cJSON_AddStringToObject(json, "reply_due", cs->reply_due)
               == NULL)
        {
            cJSON_Delete(json);
            rc = NGX_HTTP_INTERNAL_SERVER_ERROR;
            goto done;
        }

        rc = ngx_govsvc_send_cjson(r, NGX_HTTP_CREATED, json);
        cJSON_Delete(json);
        goto done;
    }

    if (ngx_govsvc_pg_query(pg, sql, n, values, ngx_govsvc_consult_step, ctx)
        == NGX_OK)
    {
        return;
    }

    rc = ngx_govsvc_send_unavailable(r, "the database is unavailable");

done:

    /* an open transaction is rolled back by the pool */
    ngx_govsvc_pg_close(pg);
    ngx_govsvc_finalize(r, rc);
}


/* ---- staff: GET /api/v1/consultations, GET .../{id}, POST .../reply ---- */

/*
 * $1 $2 $3 the caller's scope (department and its node, or a supervisor's
 * region prefix), $4 title, $5 status, $6 from, $7 to, $8 cursor, $9
 * limit, $10 today.  A question asked of no department in particular is
 * every department's of its node until one replies and takes it.
 */
static const char  ngx_govsvc_consult_list_sql[] =
    "WITH page AS (SELECT c.id FROM consultations c"
    "  LEFT JOIN departments d ON d.id = c.department"
    "  WHERE ($1::bigint IS NULL OR c.department = $1::bigint"
    "         OR (c.department IS NULL AND c.node = $2))"
    "   AND ($3::text IS NULL OR coalesce(d.region, c.node) LIKE $3 || '%')"
    "   AND ($4::text IS NULL OR c.title"
    "        ILIKE '%' || replace(replace(replace($4, '\\', '\\\\'),"
    "         '%', '\\%'), '_', '\\_') || '%')"
    "   AND ($5::text IS NULL OR c.status = $5)"
    "   AND ($6::date IS NULL OR c.created_at"
    "        >= $6::date::timestamp AT TIME ZONE 'Asia/Shanghai')"
    "   AND ($7::date IS NULL OR c.created_at"
    "        < ($7::date + 1)::timestamp AT TIME ZONE 'Asia/Shanghai')"
    "   AND ($8::bigint IS NULL OR c.id < $8::bigint)"
    "  ORDER BY c.id DESC LIMIT $9::int + 1),"
    " shown AS (SELECT id FROM page ORDER BY id DESC LIMIT $9::int)"
    " SELECT json_build_object('items', coalesce((SELECT json_agg("
    "   govsvc_consult_json(c, $10::date) ORDER BY c.id DESC)"
    "   FROM shown s JOIN consultations c ON c.id = s.id), '[]'),"
    "  'next_cursor', CASE WHEN (SELECT count(*) FROM page) > $9::int"
    "   THEN (SELECT min(id) FROM shown)::text END)";


ngx_int_t
ngx_govsvc_consult_list(ngx_govsvc_ctx_t *ctx)
{
    const char        **v;
    ngx_govsvc_pub_t   *p;

    p = ngx_govsvc_pub_new(ctx);
    if (p == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    v = p->values;

    ngx_govsvc_pub_scope(p, &v[0], &v[1], &v[2]);

    if (ngx_govsvc_pub_filter(p, "title", 200, NULL, &v[3]) != NGX_OK
        || ngx_govsvc_pub_filter(p, "status", 8, "pending replied", &v[4])
           != NGX_OK
        || ngx_govsvc_pub_filter(p, "from", 10, "date", &v[5]) != NGX_OK
        || ngx_govsvc_pub_filter(p, "to", 10, "date", &v[6]) != NGX_OK
        || ngx_govsvc_pub_page(p, &v[8], &v[7]) != NGX_OK)
    {
        return ngx_govsvc_pub_bad(p);
    }

    v[9] = p->today;

    return ngx_govsvc_json_query(ctx, NGX_HTTP_OK,
                                 ngx_govsvc_consult_list_sql, 10, v);
}


/* GET /api/v1/consultations/{id}: 404 unknown, 403 another department's */

ngx_int_t
ngx_govsvc_consult_get(ngx_govsvc_ctx_t *ctx)
{
    ngx_govsvc_pub_t  *p;

    p = ngx_govsvc_pub_new(ctx);
    if (p == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ngx_govsvc_path_id(ctx, p->id) != NGX_OK) {
        return ngx_govsvc_send_error(ctx->request, NGX_HTTP_NOT_FOUND,
                                     "not_found", "no such consultation",
                                     NULL);
    }

    p->values[0] = p->id;

    p->values[1] = p->today;

    return ngx_govsvc_query(ctx,
        "SELECT c.department, coalesce(d.region, c.node),"
        "  govsvc_consult_json(c, $2::date)"
        " FROM consultations c LEFT JOIN departments d"
        "  ON d.id = c.department"
        " WHERE c.id = $1::bigint",
        2, p->values, ngx_govsvc_consult_found, p);
}


static void
ngx_govsvc_consult_found(ngx_govsvc_pg_t *pg, PGresult *res, void *data)
{
    ngx_govsvc_pub_t *p = data;

    ngx_int_t            rc;
    ngx_uint_t           visible;
    ngx_govsvc_user_t   *u;
    ngx_http_request_t  *r;

    r = p->ctx->request;
    u = p->ctx->user;

    ngx_govsvc_pg_close(pg);

    if (ngx_govsvc_pg_result(r, res, &rc) != NGX_OK) {
        ngx_govsvc_finalize(r, rc);
        return;
    }

    if (PQntuples(res) != 1) {
        rc = ngx_govsvc_send_error(r, NGX_HTTP_NOT_FOUND, "not_found",
                                   "no such consultation", NULL);
        ngx_govsvc_finalize(r, rc);
        return;
    }

    if (PQgetisnull(res, 0, 0)) {
        /* asked of no department: every department of its node */
        visible = (ngx_strcmp(u->region, PQgetvalue(res, 0, 1)) == 0)
                  || ((u->roles & NGX_GOVSVC_ROLE_SUPERVISOR)
                      && gs_region_within((char *) u->region,
                                          PQgetvalue(res, 0, 1)));

    } else {
        visible = ngx_govsvc_case_visible(u, res, 0);
    }

    if (!visible) {
        rc = ngx_govsvc_send_error(r, NGX_HTTP_FORBIDDEN, "forbidden",
                                   "the consultation is another "
                                   "department's", NULL);

    } else {
        rc = ngx_govsvc_send_json(r, NGX_HTTP_OK,
                                  (u_char *) PQgetvalue(res, 0, 2),
                                  PQgetlength(res, 0, 2));
    }

    ngx_govsvc_finalize(r, rc);
}


/*
 * POST /api/v1/consultations/{id}/reply {"content","replier","visibility"}:
 * govsvc_consult_reply() checks and writes the reply, its audit entry and
 * its outbox event in one transaction.
 */

ngx_int_t
ngx_govsvc_consult_reply(ngx_govsvc_ctx_t *ctx)
{
    return ngx_govsvc_pub_write(ctx, "no such consultation",
        "SELECT govsvc_consult_reply($1::bigint, $2::jsonb, $3::date,"
        " $4::bigint, $5, $6)");
}


/* ---- the public: replied public consultations, and the asker's own ---- */

/* GET /api/v1/public/consultations?item_code=&limit=&cursor= */

ngx_int_t
ngx_govsvc_public_consult_list(ngx_govsvc_ctx_t *ctx)
{
    const char        **v;
    ngx_govsvc_pub_t   *p;

    p = ngx_govsvc_pub_new(ctx);
    if (p == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    v = p->values;

    if (ngx_govsvc_pub_filter(p, "item_code", 64, NULL, &v[0]) != NGX_OK
        || ngx_govsvc_pub_page(p, &v[2], &v[1]) != NGX_OK)
    {
        return ngx_govsvc_pub_bad(p);
    }

    return ngx_govsvc_json_query(ctx, NGX_HTTP_OK,
        "WITH page AS (SELECT c.id FROM consultations c"
        "  WHERE c.status = 'replied' AND c.visibility = 'public'"
        "   AND ($1::text IS NULL OR c.item_code = $1)"
        "   AND ($2::bigint IS NULL OR c.id < $2::bigint)"
        "  ORDER BY c.id DESC LIMIT $3::int + 1),"
        " shown AS (SELECT id FROM page ORDER BY id DESC LIMIT $3::int)"
        " SELECT json_build_object('items', coalesce((SELECT json_agg("
        "   govsvc_consult_public_json(c, false) ORDER BY c.id DESC)"
        "   FROM shown s JOIN consultations c ON c.id = s.id), '[]'),"
        "  'next_cursor', CASE WHEN (SELECT count(*) FROM page) > $3::int"
        "   THEN (SELECT min(id) FROM shown)::text END)",
        3, v);
}


/*
 * GET /api/v1/public/consultations/{id}?code=: the asker's own, private
 * reply included.  The code is compared by its SHA-256 (all that is
 * kept); a wrong code answers as an unknown id does.
 */

ngx_int_t
ngx_govsvc_public_consult_get(ngx_govsvc_ctx_t *ctx)
{
    char              *code;
    ngx_govsvc_pub_t  *p;

    p = ngx_govsvc_pub_new(ctx);
    if (p == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    code = ngx_govsvc_arg(ctx->request, "code");

    if (ngx_govsvc_path_id(ctx, p->id) != NGX_OK
        || code == NULL || code[0] == '\0' || ngx_strlen(code) > 64
        || !gs_utf8_valid_text((u_char *) code, ngx_strlen(code)))
    {
        return ngx_govsvc_send_error(ctx->request, NGX_HTTP_NOT_FOUND,
                                     "not_found", NGX_GOVSVC_CONSULT_UNKNOWN,
                                     NULL);
    }

    p->values[0] = p->id;

    p->values[1] = code;
    p->not_found = NGX_GOVSVC_CONSULT_UNKNOWN;

    return ngx_govsvc_query(ctx,
        "SELECT govsvc_consult_public_json(c, true) FROM consultations c"
        " WHERE c.id = $1::bigint"
        "  AND c.code_hash = encode(sha256(convert_to(upper($2), 'UTF8')),"
        "   'hex')",
        2, p->values, ngx_govsvc_pub_answer, p);
}


/* one JSON value, or the handler's own 404 message when there is none */

static void
ngx_govsvc_pub_answer(ngx_govsvc_pg_t *pg, PGresult *res, void *data)
{
    ngx_govsvc_pub_t *p = data;

    ngx_int_t            rc;
    ngx_http_request_t  *r;

    r = p->ctx->request;

    ngx_govsvc_pg_close(pg);

    if (ngx_govsvc_pg_result(r, res, &rc) != NGX_OK) {
        /* answered: 503, or the statement's error */

    } else if (PQntuples(res) != 1 || PQgetisnull(res, 0, 0)) {
        rc = ngx_govsvc_send_error(r, NGX_HTTP_NOT_FOUND, "not_found",
                                   p->not_found, NULL);

    } else {
        rc = ngx_govsvc_send_json(r, NGX_HTTP_OK,
                                  (u_char *) PQgetvalue(res, 0, 0),
                                  PQgetlength(res, 0, 0));
    }

    ngx_govsvc_finalize(r, rc);
}


/* ---- the public case query (统一查询) and the rating (好差评) ---- */

/*
 * GET /api/v1/public/cases/{case_no}?password=: the query password is
 * checked against its PBKDF2 hash in the thread pool.  An unknown number
 * (or a case without a password: not accepted) is checked against a fixed
 * dummy hash, so that it costs what a wrong password costs, and answers
 * the same 404.  Failed attempts are counted per address in the shared
 * zone; past govsvc_public_query_limit every query of the address answers
 * 429 until its window ends.
 */

ngx_int_t
ngx_govsvc_public_case(ngx_govsvc_ctx_t *ctx)
{
    ngx_govsvc_pub_t  *p;

    p = ngx_govsvc_pub_new(ctx);
    if (p == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p->password = ngx_govsvc_arg(ctx->request, "password");

    return ngx_govsvc_public_case_start(p);
}


/*
 * POST /api/v1/public/cases/{case_no}/evaluation {"password","score",
 * "channel","comment"}: the body is checked first (it tells nothing about
 * the case), then the password as for the query, then the case's state
 * and an earlier rating (govsvc_case_evaluate()).
 */

ngx_int_t
ngx_govsvc_public_evaluate(ngx_govsvc_ctx_t *ctx)
{
    cJSON             *score, *comment;
    ngx_uint_t         i;
    const char        *field, *channel;
    ngx_govsvc_pub_t  *p;

    static const char  *channels[] = {
        "window", "web", "app", "kiosk", "phone", "sms", NULL
    };

    p = ngx_govsvc_pub_new(ctx);
    if (p == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p->evaluate = 1;
    field = NULL;

    p->password = ngx_govsvc_text(ctx->body, "password",
                                  NGX_GOVSVC_PUBLIC_PASSWORD_MAX, 1, &field);
    if (field) {
        goto invalid;
    }

    score = cJSON_GetObjectItemCaseSensitive(ctx->body, "score");

    if (!cJSON_IsNumber(score) || score->valuedouble < 1
        || score->valuedouble > 5
        || score->valuedouble != (double) (int) score->valuedouble)
    {
        field = "score";
        goto invalid;
    }

    ngx_sprintf((u_char *) p->score, "%d%Z", (int) score->valuedouble);

    channel = ngx_govsvc_text(ctx->body, "channel", 16, 1, &field);
    if (field) {
        goto invalid;
    }

    for (i = 0; channels[i]; i++) {
        if (ngx_strcmp(channel, channels[i]) == 0) {
            break;
        }
    }

    if (channels[i] == NULL) {
        field = "channel";
        goto invalid;
    }

    p->channel = channel;

    /* an empty comment is no comment */
    comment = cJSON_GetObjectItemCaseSensitive(ctx->body, "comment");

    if (!(cJSON_IsString(comment) && comment->valuestring[0] == '\0')) {
        p->comment = ngx_govsvc_text(ctx->body, "comment", 2000, 0, &field);
        if (field) {
            goto invalid;
        }
    }

    return ngx_govsvc_public_case_start(p);

invalid:

    return ngx_govsvc_send_error(ctx->request, NGX_HTTP_UNPROCESSABLE_ENTITY,
                                 "validation_failed",
                                 "a field is missing or invalid", field);
}


static ngx_int_t
ngx_govsvc_public_case_start(ngx_govsvc_pub_t *p)
{
    ngx_int_t                rc;
    ngx_govsvc_ctx_t        *ctx;
    ngx_govsvc_main_conf_t  *gmcf;

    ctx = p->ctx;
    gmcf = ngx_http_get_module_main_conf(ctx->request, ngx_govsvc_module);

    if (ngx_govsvc_public_limited(p, &rc) != NGX_OK) {
        return rc;
    }

    /* neither can match: no need to ask or to hash */
    if (ngx_govsvc_case_no(ctx, &p->case_no) != NGX_OK
        || p->password == NULL || p->password[0] == '\0'
        || ngx_strlen(p->password) > NGX_GOVSVC_PUBLIC_PASSWORD_MAX)
    {
        return ngx_govsvc_public_failed(p);
    }

    p->values[0] = p->case_no;

    if (!p->evaluate) {
        return ngx_govsvc_query(ctx,
            "SELECT c.query_password_hash, govsvc_case_public_json(c)"
            " FROM cases c WHERE c.case_no = $1 AND c.state <> 'deleted'",
            1, p->values, ngx_govsvc_public_case_found, p);
    }

    /* the calendar for a rectification's due date comes along */
    ngx_sprintf((u_char *) p->span, "%i%Z", 400 + 2 * gmcf->rectify_days);
    p->values[1] = p->today;
    p->values[2] = p->span;

    return ngx_govsvc_query(ctx,
        "SELECT c.query_password_hash,"
        "  govsvc_calendar_between($2::date, $2::date + $3::int)"
        " FROM cases c WHERE c.case_no = $1 AND c.state <> 'deleted'",
        3, p->values, ngx_govsvc_public_case_found, p);
}


static void
ngx_govsvc_public_case_found(ngx_govsvc_pg_t *pg, PGresult *res, void *data)
{
    ngx_govsvc_pub_t *p = data;

    ngx_int_t            rc;
    const char          *stored;
    ngx_http_request_t  *r;

    r = p->ctx->request;

    ngx_govsvc_pg_close(pg);
    p->ctx->pg = NULL;

    if (ngx_govsvc_pg_result(r, res, &rc) != NGX_OK) {
        ngx_govsvc_finalize(r, rc);
        return;
    }

    stored = gs_password_dummy;

    if (PQntuples(res) == 1 && !PQgetisnull(res, 0, 0)) {
        stored = ngx_govsvc_pub_copy(r->pool, res, 0);
        if (p->evaluate) {
            p->answer = "";
            p->calendar = ngx_govsvc_pub_copy(r->pool, res, 1);

        } else {
            p->answer = ngx_govsvc_pub_copy(r->pool, res, 1);
            p->calendar = "";
        }

        if (stored == NULL || p->answer == NULL || p->calendar == NULL) {
            ngx_govsvc_finalize(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
            return;
        }

        p->found = 1;
    }

    if (ngx_govsvc_password_verify(p->ctx, p->password, stored,
                                   ngx_govsvc_public_case_checked)
        != NGX_OK)
    {
        ngx_govsvc_finalize(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
    }

    /* the request stays counted for the thread's answer */
}


static void
ngx_govsvc_public_case_checked(ngx_govsvc_ctx_t *ctx, ngx_int_t rc)
{
    ngx_govsvc_pub_t    *p;
    ngx_http_request_t  *r;

    p = ctx->data;
    r = ctx->request;

    if (rc != NGX_OK || !p->found) {
        if (rc == NGX_ERROR && p->found) {
            ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                          "govsvc: the query password hash of case %s is "
                          "malformed", p->case_no);
        }

        ngx_govsvc_finalize(r, ngx_govsvc_public_failed(p));
        return;
    }

    if (p->evaluate) {
        ngx_govsvc_finalize(r, ngx_govsvc_public_evaluate_write(p));
        return;
    }

    ngx_govsvc_finalize(r, ngx_govsvc_send_json(r, NGX_HTTP_OK,
                                                (u_char *) p->answer,
                                                ngx_strlen(p->answer)));
}


/* the rating, and the rectification a bad one opens, due govsvc_rectify_days
 * working days after today */

static ngx_int_t
ngx_govsvc_public_evaluate_write(ngx_govsvc_pub_t *p)
{
    gs_date_t                due;
    const char              *actor[3];
    gs_calendar_t            cal;
    ngx_http_request_t      *r;
    ngx_govsvc_main_conf_t  *gmcf;

    r = p->ctx->request;
    gmcf = ngx_http_get_module_main_conf(r, ngx_govsvc_module);

    if (ngx_govsvc_calendar_load(r->pool, p->calendar, &cal) != NGX_OK) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "govsvc: the calendar after %s could not be read",
                      p->today);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    due = gs_calendar_add_working_days(&cal, ngx_govsvc_today(),
                                       (int) gmcf->rectify_days);
    if (due == GS_DATE_INVALID) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "govsvc: the calendar has no working day left "
                      "after %s", p->today);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    gs_date_format(due, p->due);
    ngx_govsvc_actor(p->ctx, actor);

    p->values[0] = p->case_no;
    p->values[1] = p->score;
    p->values[2] = p->channel;
    p->values[3] = p->comment;
    p->values[4] = p->due;
    p->values[5] = actor[2];

    return ngx_govsvc_json_query(p->ctx, NGX_HTTP_CREATED,
        "SELECT govsvc_case_evaluate($1, $2::int, $3, $4, $5::date, $6)",
        6, p->values);
}


/* NGX_OK: go on; NGX_DECLINED: *rc is the 429 already answered */

static ngx_int_t
ngx_govsvc_public_limited(ngx_govsvc_pub_t *p, ngx_int_t *rc)
{
    int64_t                  count;
    ngx_str_t                key, value;
    ngx_msec_t               left;
    ngx_http_request_t      *r;
    ngx_govsvc_main_conf_t  *gmcf;

    r = p->ctx->request;
    gmcf = ngx_http_get_module_main_conf(r, ngx_govsvc_module);

    if (gmcf->shm_zone == NULL || ngx_govsvc_public_key(p, &key) != NGX_OK) {
        return NGX_OK;
    }

    /* reading adds 0: the window starts with the first failure */
    if (ngx_govsvc_shm_get(gmcf->shm_zone, &key, r->pool, &value) != NGX_OK)
    {
        return NGX_OK;
    }

    count = ngx_atoof(value.data, value.len);

    if (count < (int64_t) gmcf->public_query_limit
        || ngx_govsvc_shm_incr(gmcf->shm_zone, &key, 0,
                               gmcf->public_query_window, &count, &left)
           != NGX_OK)
    {
        return NGX_OK;
    }

    *rc = ngx_govsvc_send_rate_limited(r, left,
                                       "too many failed case queries from "
                                       "this address; try later");
    return NGX_DECLINED;
}


/* a wrong password, an unknown number: counted, and the one 404 */

static ngx_int_t
ngx_govsvc_public_failed(ngx_govsvc_pub_t *p)
{
    int64_t                  count;
    ngx_str_t                key;
    ngx_msec_t               left;
    ngx_http_request_t      *r;
    ngx_govsvc_main_conf_t  *gmcf;

    r = p->ctx->request;
    gmcf = ngx_http_get_module_main_conf(r, ngx_govsvc_module);

    if (gmcf->shm_zone && ngx_govsvc_public_key(p, &key) == NGX_OK
        && ngx_govsvc_shm_incr(gmcf->shm_zone, &key, 1,
                               gmcf->public_query_window, &count, &left)
           != NGX_OK)
    {
        ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                      "govsvc zone full: public query limit not applied");
    }

    return ngx_govsvc_send_error(r, NGX_HTTP_NOT_FOUND, "not_found",
                                 NGX_GOVSVC_CASE_UNKNOWN, NULL);
}


static ngx_int_t
ngx_govsvc_public_key(ngx_govsvc_pub_t *p, ngx_str_t *key)
{
    ngx_http_request_t  *r;

    r = p->ctx->request;

    key->data = ngx_pnalloc(r->pool, sizeof("pq:") - 1
                                     + r->connection->addr_text.len);
    if (key->data == NULL) {
        return NGX_ERROR;
    }

    key->len = ngx_sprintf(key->data, "pq:%V", &r->connection->addr_text)
               - key->data;

    return NGX_OK;
}


/* ---- rectification tasks (整改) ---- */

/* GET /api/v1/rectifications?status=open|answered&limit=&cursor= */

ngx_int_t
ngx_govsvc_rectifications_list(ngx_govsvc_ctx_t *ctx)
{
    const char        **v, *node;
    ngx_govsvc_pub_t   *p;

    p = ngx_govsvc_pub_new(ctx);
    if (p == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    v = p->values;

    ngx_govsvc_pub_scope(p, &v[0], &node, &v[1]);

    if (ngx_govsvc_pub_filter(p, "status", 8, "open answered", &v[2])
        != NGX_OK
        || ngx_govsvc_pub_page(p, &v[4], &v[3]) != NGX_OK)
    {
        return ngx_govsvc_pub_bad(p);
    }

    v[5] = p->today;

    return ngx_govsvc_json_query(ctx, NGX_HTTP_OK,
        "WITH page AS (SELECT t.id FROM rectifications t"
        "  JOIN departments d ON d.id = t.department"
        "  WHERE ($1::bigint IS NULL OR t.department = $1::bigint)"
        "   AND ($2::text IS NULL OR d.region LIKE $2 || '%')"
        "   AND ($3::text IS NULL OR t.status = $3)"
        "   AND ($4::bigint IS NULL OR t.id < $4::bigint)"
        "  ORDER BY t.id DESC LIMIT $5::int + 1),"
        " shown AS (SELECT id FROM page ORDER BY id DESC LIMIT $5::int)"
        " SELECT json_build_object('items', coalesce((SELECT json_agg("
        "   govsvc_rectification_json(t, $6::date) ORDER BY t.id DESC)"
        "   FROM shown s JOIN rectifications t ON t.id = s.id), '[]'),"
        "  'next_cursor', CASE WHEN (SELECT count(*) FROM page) > $5::int"
        "   THEN (SELECT min(id) FROM shown)::text END)",
        6, v);
}


/* POST /api/v1/rectifications/{id}/response {"content"}: once, by staff
 * of the department (govsvc_rectification_answer()) */

ngx_int_t
ngx_govsvc_rectifications_answer(ngx_govsvc_ctx_t *ctx)
{
    return ngx_govsvc_pub_write(ctx, "no such rectification",
        "SELECT govsvc_rectification_answer($1::bigint, $2::jsonb,"
        " $3::date, $4::bigint, $5, $6)");
}


/*
 * A write on the row {id} of the path by a function of sql/ that checks it
 * and writes its audit entry and outbox event: (id, body, today, actor,
 * username, address) -> the row's JSON.
 */

static ngx_int_t
ngx_govsvc_pub_write(ngx_govsvc_ctx_t *ctx, const char *unknown,
    const char *sql)
{
    ngx_govsvc_pub_t  *p;

    p = ngx_govsvc_pub_new(ctx);
    if (p == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ngx_govsvc_path_id(ctx, p->id) != NGX_OK) {
        return ngx_govsvc_send_error(ctx->request, NGX_HTTP_NOT_FOUND,
                                     "not_found", unknown, NULL);
    }

    p->values[0] = p->id;

    p->values[1] = ngx_govsvc_pub_body(p);
    if (p->values[1] == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p->values[2] = p->today;
    ngx_govsvc_actor(ctx, &p->values[3]);

    return ngx_govsvc_json_query(ctx, NGX_HTTP_OK, sql, 6, p->values);
}


/* ---- helpers ---- */

static ngx_govsvc_pub_t *
ngx_govsvc_pub_new(ngx_govsvc_ctx_t *ctx)
{
    ngx_govsvc_pub_t  *p;

    p = ngx_pcalloc(ctx->request->pool, sizeof(ngx_govsvc_pub_t));
    if (p == NULL) {
        return NULL;
    }

    p->ctx = ctx;
    ctx->data = p;

    gs_date_format(ngx_govsvc_today(), p->today);

    return p;
}


/*
 * The caller's scope: a supervisor sees its region and below (*prefix:
 * "43" for a province, "4301" for a city, a county's whole code); the
 * others their department (*department) and, for questions asked of no
 * department, their node (*node, the department's region).
 */

static void
ngx_govsvc_pub_scope(ngx_govsvc_pub_t *p, const char **department,
    const char **node, const char **prefix)
{
    ngx_govsvc_user_t  *u;

    u = p->ctx->user;

    *department = NULL;
    *node = NULL;
    *prefix = NULL;

    if (!(u->roles & NGX_GOVSVC_ROLE_SUPERVISOR)) {
        ngx_sprintf((u_char *) p->department, "%L%Z", u->department);
        *department = p->department;
        *node = (const char *) u->region;
        return;
    }

    ngx_govsvc_region_prefix(u->region, p->region);
    *prefix = p->region;
}


/* limit (default 50, 1 to 500) and cursor (an id, or NULL) */

static ngx_int_t
ngx_govsvc_pub_page(ngx_govsvc_pub_t *p, const char **limit,
    const char **cursor)
{
    if (ngx_govsvc_arg_limit(p->ctx->request, limit, &p->bad) != NGX_OK) {
        return NGX_DECLINED;
    }

    return ngx_govsvc_arg_filter(p->ctx->request, "cursor", NGX_INT64_LEN,
                                 "#", cursor, &p->bad);
}


/*
 * A filter of the query string: absent or empty is NULL; otherwise UTF-8
 * text of at most max characters and, by pattern, a date (YYYY-MM-DD) or
 * one of the space-separated words.
 */

static ngx_int_t
ngx_govsvc_pub_filter(ngx_govsvc_pub_t *p, const char *name, size_t max,
    const char *pattern, const char **out)
{
    return ngx_govsvc_arg_filter(p->ctx->request, name, max, pattern, out,
                                 &p->bad);
}


static ngx_int_t
ngx_govsvc_pub_bad(ngx_govsvc_pub_t *p)
{
    return ngx_govsvc_send_bad_arg(p->ctx->request, p->bad);
}


/* the request's body as JSON text, for a function that checks it */

static const char *
ngx_govsvc_pub_body(ngx_govsvc_pub_t *p)
{
    char    *text;
    size_t   len;
    u_char  *copy;

    text = cJSON_PrintUnformatted(p->ctx->body);
    if (text == NULL) {
        return NULL;
    }

    len = ngx_strlen(text);

    copy = ngx_pnalloc(p->ctx->request->pool, len + 1);
    if (copy != NULL) {
        ngx_memcpy(copy, text, len + 1);
    }

    cJSON_free(text);

    return (const char *) copy;
}


/* a value of res's first row that must outlive res */

static const char *
ngx_govsvc_pub_copy(ngx_pool_t *pool, PGresult *res, int col)
{
    size_t   len;
    u_char  *copy;

    len = PQgetlength(res, 0, col);

    copy = ngx_pnalloc(pool, len + 1);
    if (copy == NULL) {
        return NULL;
    }

    ngx_memcpy(copy, PQgetvalue(res, 0, col), len);
    copy[len] = '\0';

    return (const char *) copy;
}
