
/*
 * GovSvc: what the public and the departments exchange: consultations
 * (网上咨询), the public case query (统一查询), ratings (好差评) and the
 * rectification tasks a bad rating opens.
 */


#include "ngx_govsvc.h"
#include "gs_calendar.h"
#include "gs_utf8.h"

#include <openssl/rand.h>
#include <openssl/sha.h>


#define NGX_GOVSVC_CODE_LEN            12


typedef struct {
    const char               *values[7];
    char                      today[11];
    char                      reply_due[11];
    char                      code[NGX_GOVSVC_CODE_LEN + 1];
    char                      code_hash[SHA256_DIGEST_LENGTH * 2 + 1];
    char                      department[NGX_INT64_LEN + 1];
    char                      id[NGX_INT64_LEN + 1];
    const char               *outbox[3];
} ngx_govsvc_consult_t;


static void ngx_govsvc_consult_step(ngx_govsvc_pg_t *pg, PGresult *res,
    void *data);
static const char *ngx_govsvc_consult_validate(ngx_govsvc_ctx_t *ctx,
    ngx_govsvc_consult_t *cs);


/*
 * POST /api/v1/public/consultations: one transaction of two statements,
 * the question and its outbox event, after the reply deadline has been
 * computed from the working-day calendar.
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
    const char              *sql, *kind;
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
        rc = ngx_govsvc_db_error(r, res);
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
        sql = "INSERT INTO consultations (node, title, content, item_code,"
              " department, asker_name, asker_phone, reply_due, code_hash)"
              " VALUES ($8, $1, $2, $3, $4::bigint, $5, $6, $7::date, $9)"
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

        ctx->step = NGX_GOVSVC_CONSULT_OUTBOX;
        sql = "SELECT govsvc_outbox_append($1, 'consultation.created', NULL,"
              " jsonb_build_object('id', $2::bigint, 'reply_due', $3::date))";
        n = 3;
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


/* issue 6 (helper): the handlers below are placeholders until then */

static ngx_int_t
ngx_govsvc_public_todo(ngx_govsvc_ctx_t *ctx)
{
    return ngx_govsvc_send_error(ctx->request, NGX_HTTP_NOT_FOUND,
                                 "not_found", "not yet", NULL);
}

ngx_int_t ngx_govsvc_consult_list(ngx_govsvc_ctx_t *ctx)
{ return ngx_govsvc_public_todo(ctx); }
ngx_int_t ngx_govsvc_consult_get(ngx_govsvc_ctx_t *ctx)
{ return ngx_govsvc_public_todo(ctx); }
ngx_int_t ngx_govsvc_consult_reply(ngx_govsvc_ctx_t *ctx)
{ return ngx_govsvc_public_todo(ctx); }
ngx_int_t ngx_govsvc_public_consult_list(ngx_govsvc_ctx_t *ctx)
{ return ngx_govsvc_public_todo(ctx); }
ngx_int_t ngx_govsvc_public_consult_get(ngx_govsvc_ctx_t *ctx)
{ return ngx_govsvc_public_todo(ctx); }
ngx_int_t ngx_govsvc_public_case(ngx_govsvc_ctx_t *ctx)
{ return ngx_govsvc_public_todo(ctx); }
ngx_int_t ngx_govsvc_public_evaluate(ngx_govsvc_ctx_t *ctx)
{ return ngx_govsvc_public_todo(ctx); }
ngx_int_t ngx_govsvc_rectifications_list(ngx_govsvc_ctx_t *ctx)
{ return ngx_govsvc_public_todo(ctx); }
ngx_int_t ngx_govsvc_rectifications_answer(ngx_govsvc_ctx_t *ctx)
{ return ngx_govsvc_public_todo(ctx); }
