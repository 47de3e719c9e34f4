
/*
 * GovSvc: the /api/v1 routes.
 *
 * Reads let PostgreSQL build the JSON (json_agg), which the module passes
 * through untouched; reads that change rarely are cached in Redis, which
 * may vanish at any moment: a miss, an error and a timeout all fall back
 * to PostgreSQL.
 */


#include "ngx_govsvc.h"
#include "gs_calendar.h"
#include "gs_utf8.h"

#include <openssl/rand.h>
#include <openssl/sha.h>


#define NGX_GOVSVC_LIST_DEFAULT        50
#define NGX_GOVSVC_LIST_MAX            500


typedef struct {
    ngx_govsvc_ctx_t         *ctx;
    ngx_str_t                 key;            /* Redis key */
    const char               *sql;
    int                       nparams;
    const char              **values;
    ngx_govsvc_redis_cmd_t   *cmd;
} ngx_govsvc_cached_t;




static ngx_int_t ngx_govsvc_regions_list(ngx_govsvc_ctx_t *ctx);
static ngx_int_t ngx_govsvc_regions_get(ngx_govsvc_ctx_t *ctx);
static ngx_int_t ngx_govsvc_calendar_get(ngx_govsvc_ctx_t *ctx);

static ngx_int_t ngx_govsvc_cached_query(ngx_govsvc_ctx_t *ctx,
    ngx_str_t *key, const char *sql, int nparams, const char **values);
static void ngx_govsvc_cached_reply(redisReply *reply, void *data);
static void ngx_govsvc_cached_result(ngx_govsvc_pg_t *pg, PGresult *res,
    void *data);
static void ngx_govsvc_cached_cleanup(void *data);
static void ngx_govsvc_redis_ignore(redisReply *reply, void *data);
static ngx_int_t ngx_govsvc_limit(ngx_http_request_t *r, const char **limit);
static ngx_int_t ngx_govsvc_refusal(ngx_http_request_t *r, PGresult *res,
    const char *state);


#define ADMIN  NGX_GOVSVC_ROLE_ADMIN
#define CLERK  NGX_GOVSVC_ROLE_CLERK
#define ANY    NGX_GOVSVC_ROLE_ANY
/* the staff who work on cases: everyone but the administrator */
#define STAFF  (NGX_GOVSVC_ROLE_ANY & ~NGX_GOVSVC_ROLE_ADMIN)
#define GET    (NGX_HTTP_GET|NGX_HTTP_HEAD)
#define JSON   NGX_GOVSVC_BODY_JSON

static const ngx_govsvc_route_t  ngx_govsvc_api_routes[] = {
    { GET, "/api/v1/regions", ngx_govsvc_regions_list, 0, 0,
      "regions_list" },
    { GET, "/api/v1/regions/{}", ngx_govsvc_regions_get, 0, 0,
      "regions_get" },
    { GET, "/api/v1/calendar", ngx_govsvc_calendar_get, 0, 0,
      "calendar_get" },
    { NGX_HTTP_PUT, "/api/v1/calendar/{}", ngx_govsvc_calendar_put, JSON,
      ADMIN, "calendar_put" },
    { NGX_HTTP_DELETE, "/api/v1/calendar/{}", ngx_govsvc_calendar_delete,
      0, ADMIN, "calendar_delete" },
    { NGX_HTTP_POST, "/api/v1/public/consultations",
      ngx_govsvc_consult_create, JSON|NGX_GOVSVC_PUBLIC_WRITE, 0,
      "public_consultations_create" },

    { NGX_HTTP_POST, "/api/v1/sessions", ngx_govsvc_sessions_create, JSON,
      0, "sessions_create" },
    { NGX_HTTP_POST, "/api/v1/sessions/cert", ngx_govsvc_sessions_cert, 0,
      0, "sessions_cert" },
    { NGX_HTTP_DELETE, "/api/v1/sessions/current",
      ngx_govsvc_sessions_delete, 0, ANY, "sessions_delete" },
    { GET, "/api/v1/me", ngx_govsvc_me, 0, ANY, "me" },
    { GET, "/api/v1/me/colleagues", ngx_govsvc_me_colleagues, 0, STAFF,
      "me_colleagues" },

    { GET, "/api/v1/items", ngx_govsvc_items_list, 0, 0, "items_list" },
    { NGX_HTTP_POST, "/api/v1/items", ngx_govsvc_items_create, JSON, ADMIN,
      "items_create" },
    { GET, "/api/v1/items/{}", ngx_govsvc_items_get, 0, 0, "items_get" },
    { NGX_HTTP_PUT, "/api/v1/items/{}", ngx_govsvc_items_update, JSON,
      ADMIN, "items_update" },

    { NGX_HTTP_POST, "/api/v1/cases", ngx_govsvc_cases_create, JSON, CLERK,
      "cases_create" },
    { GET, "/api/v1/cases", ngx_govsvc_cases_list, 0, STAFF,
      "cases_list" },
    { GET, "/api/v1/cases/{}", ngx_govsvc_cases_get, 0, STAFF,
      "cases_get" },
    { NGX_HTTP_PATCH, "/api/v1/cases/{}", ngx_govsvc_cases_patch, JSON,
      CLERK, "cases_patch" },
    { NGX_HTTP_POST, "/api/v1/cases/{}/actions", ngx_govsvc_cases_act, JSON,
      STAFF, "cases_actions" },
    { NGX_HTTP_POST, "/api/v1/cases/{}/notices", ngx_govsvc_notices_create,
      JSON, STAFF, "notices_create" },
    { GET, "/api/v1/notices/{}", ngx_govsvc_notices_get, 0, STAFF,
      "notices_get" },
    { GET, "/api/v1/public/notices/{}/verify", ngx_govsvc_notices_verify, 0,
      0, "public_notices_verify" },
    { NGX_HTTP_PUT, "/api/v1/cases/{}/materials/{}/files",
      ngx_govsvc_files_upload, NGX_GOVSVC_BODY_FILE, CLERK, "files_upload" },
    { GET, "/api/v1/files/{}", ngx_govsvc_files_get, 0, STAFF, "files_get" },
    { GET, "/api/v1/worklist", ngx_govsvc_worklist_get, 0, STAFF,
      "worklist" },

    { GET, "/api/v1/consultations", ngx_govsvc_consult_list, 0, STAFF,
      "consultations_list" },
    { GET, "/api/v1/consultations/{}", ngx_govsvc_consult_get, 0, STAFF,
      "consultations_get" },
    { NGX_HTTP_POST, "/api/v1/consultations/{}/reply",
      ngx_govsvc_consult_reply, JSON, STAFF, "consultations_reply" },
    { GET, "/api/v1/public/consultations", ngx_govsvc_public_consult_list,
      0, 0, "public_consultations_list" },
    { GET, "/api/v1/public/consultations/{}",
      ngx_govsvc_public_consult_get, 0, 0, "public_consultations_get" },
    { GET, "/api/v1/public/cases/{}", ngx_govsvc_public_case, 0, 0,
      "public_cases_get" },
    { NGX_HTTP_POST, "/api/v1/public/cases/{}/evaluation",
      ngx_govsvc_public_evaluate, JSON|NGX_GOVSVC_PUBLIC_WRITE, 0,
      "public_cases_evaluate" },
    { GET, "/api/v1/rectifications", ngx_govsvc_rectifications_list, 0,
      STAFF, "rectifications_list" },
    { NGX_HTTP_POST, "/api/v1/rectifications/{}/response",
      ngx_govsvc_rectifications_answer, JSON, STAFF,
      "rectifications_answer" },

    { GET, "/api/v1/supervision/warnings", ngx_govsvc_supervision_warnings,
      0, NGX_GOVSVC_ROLE_SUPERVISOR, "supervision_warnings" },
    { GET, "/api/v1/supervision/stats", ngx_govsvc_supervision_stats, 0,
      NGX_GOVSVC_ROLE_SUPERVISOR, "supervision_stats" },
    { NGX_HTTP_POST, "/api/v1/supervision/cases/{}/cards",
      ngx_govsvc_cards_issue, JSON, NGX_GOVSVC_ROLE_SUPERVISOR,
      "cards_issue" },
    { NGX_HTTP_POST, "/api/v1/supervision/cards/{}/revoke",
      ngx_govsvc_cards_revoke, JSON, NGX_GOVSVC_ROLE_SUPERVISOR,
      "cards_revoke" },
    { GET, "/api/v1/cards", ngx_govsvc_cards_list, 0, STAFF, "cards_list" },
    { NGX_HTTP_POST, "/api/v1/cards/{}/response", ngx_govsvc_cards_respond,
      JSON, STAFF, "cards_respond" },
    { GET, "/api/v1/abnormal", ngx_govsvc_abnormal_list, 0,
      CLERK|NGX_GOVSVC_ROLE_SUPERVISOR, "abnormal" },

    { GET, "/api/v1/departments", ngx_govsvc_departments_list, 0, ADMIN,
      "departments_list" },
    { NGX_HTTP_POST, "/api/v1/departments", ngx_govsvc_departments_create,
      JSON, ADMIN, "departments_create" },
    { GET, "/api/v1/departments/{}", ngx_govsvc_departments_get, 0, ADMIN,
      "departments_get" },
    { NGX_HTTP_PUT, "/api/v1/departments/{}",
      ngx_govsvc_departments_update, JSON, ADMIN, "departments_update" },
    { GET, "/api/v1/users", ngx_govsvc_users_list, 0, ADMIN, "users_list" },
    { NGX_HTTP_POST, "/api/v1/users", ngx_govsvc_users_create, JSON, ADMIN,
      "users_create" },
    { GET, "/api/v1/users/{}", ngx_govsvc_users_get, 0, ADMIN, "users_get" },
    { NGX_HTTP_PUT, "/api/v1/users/{}", ngx_govsvc_users_update, JSON,
      ADMIN, "users_update" },
    /* the user itself too: the handler checks */
    { NGX_HTTP_POST, "/api/v1/users/{}/password", ngx_govsvc_users_password,
      JSON, ANY, "users_password" },
    { NGX_HTTP_POST, "/api/v1/users/{}/certificates",
      ngx_govsvc_users_cert_bind, NGX_GOVSVC_BODY_PEM, ADMIN,
      "users_cert_bind" },
    { NGX_HTTP_DELETE, "/api/v1/users/{}/certificates/{}",
      ngx_govsvc_users_cert_unbind, 0, ADMIN, "users_cert_unbind" },
};

/* node to node: no session; each handler knows its peer by the verified
 * node certificate (ngx_govsvc_sync.c) */
static const ngx_govsvc_route_t  ngx_govsvc_sync_routes[] = {
    { GET, "/sync/v1/status", ngx_govsvc_sync_status, 0, 0, "sync_status" },
    { NGX_HTTP_POST, "/sync/v1/batches", ngx_govsvc_sync_batches, JSON, 0,
      "sync_batches" },
    { GET, "/sync/v1/catalog", ngx_govsvc_sync_catalog, 0, 0,
      "sync_catalog" },
    { GET, "/sync/v1/forwarded", ngx_govsvc_sync_forwarded, 0, 0,
      "sync_forwarded" },
};

#undef ADMIN
#undef CLERK
#undef STAFF
#undef ANY
#undef GET
#undef JSON


#define NGX_GOVSVC_API_NROUTES                                               \
    (sizeof(ngx_govsvc_api_routes) / sizeof(ngx_govsvc_route_t))
#define NGX_GOVSVC_SYNC_NROUTES                                              \
    (sizeof(ngx_govsvc_sync_routes) / sizeof(ngx_govsvc_route_t))


/* ids below NGX_GOVSVC_ROUTE_BASE name the location kinds */
static const char  *ngx_govsvc_kind_names[NGX_GOVSVC_ROUTE_BASE] = {
    "none", "api", "sync", "healthz", "metrics", "error", "bench_json",
    "bench_sleep"
};


ngx_uint_t  ngx_govsvc_nroute_names = NGX_GOVSVC_ROUTE_BASE
                                      + NGX_GOVSVC_API_NROUTES
                                      + NGX_GOVSVC_SYNC_NROUTES;


const char *
ngx_govsvc_route_name(ngx_uint_t id)
{
    if (id < NGX_GOVSVC_ROUTE_BASE) {
        return ngx_govsvc_kind_names[id];
    }

    id -= NGX_GOVSVC_ROUTE_BASE;

    if (id < NGX_GOVSVC_API_NROUTES) {
        return ngx_govsvc_api_routes[id].name;
    }

    return ngx_govsvc_sync_routes[id - NGX_GOVSVC_API_NROUTES].name;
}


ngx_int_t
ngx_govsvc_api_handler(ngx_http_request_t *r)
{
    return ngx_govsvc_dispatch(r, ngx_govsvc_api_routes,
                               NGX_GOVSVC_API_NROUTES,
                               NGX_GOVSVC_ROUTE_BASE);
}


ngx_int_t
ngx_govsvc_sync_handler(ngx_http_request_t *r)
{
    return ngx_govsvc_dispatch(r, ngx_govsvc_sync_routes,
                               NGX_GOVSVC_SYNC_NROUTES,
                               NGX_GOVSVC_ROUTE_BASE + NGX_GOVSVC_API_NROUTES);
}


/* GET /api/v1/regions?limit=&cursor= */

static ngx_int_t
ngx_govsvc_regions_list(ngx_govsvc_ctx_t *ctx)
{
    const char  **values;

    values = ngx_palloc(ctx->request->pool, 2 * sizeof(char *));
    if (values == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    values[0] = ngx_govsvc_arg(ctx->request, "cursor");
    if (values[0] == NULL) {
        values[0] = "";
    }

    if (ngx_govsvc_limit(ctx->request, &values[1]) != NGX_OK) {
        return ngx_govsvc_send_error(ctx->request, NGX_HTTP_BAD_REQUEST,
                                     "invalid_request",
                                     "limit must be 1 to 500", "limit");
    }

    return ngx_govsvc_json_query(ctx, NGX_HTTP_OK,
        "WITH page AS ("
        "  SELECT code, name, parent, level FROM regions"
        "  WHERE code > $1 ORDER BY code LIMIT $2::int + 1),"
        " shown AS (SELECT * FROM page ORDER BY code LIMIT $2::int)"
        " SELECT json_build_object("
        "  'items', coalesce((SELECT json_agg(json_build_object("
        "     'code', code, 'name', name, 'parent', parent,"
        "     'level', level) ORDER BY code) FROM shown), '[]'),"
        "  'next_cursor', CASE WHEN (SELECT count(*) FROM page) > $2::int"
        "     THEN (SELECT max(code) FROM shown) END)",
        2, values);
}


/* GET /api/v1/regions/{code} */

static ngx_int_t
ngx_govsvc_regions_get(ngx_govsvc_ctx_t *ctx)
{
    u_char       *code;
    const char  **values;

    code = ngx_pnalloc(ctx->request->pool, ctx->params[0].len + 1);
    values = ngx_palloc(ctx->request->pool, sizeof(char *));
    if (code == NULL || values == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    (void) ngx_cpystrn(code, ctx->params[0].data, ctx->params[0].len + 1);
    values[0] = (const char *) code;

    return ngx_govsvc_json_query(ctx, NGX_HTTP_OK,
        "SELECT json_build_object('code', code, 'name', name,"
        " 'parent', parent, 'level', level)"
        " FROM regions WHERE code = $1",
        1, values);
}


/*
 * GET /api/v1/calendar?year=YYYY: the working-day exceptions of a year.
 * Public: promised dates shown to applicants are computed from it.
 */

static ngx_int_t
ngx_govsvc_calendar_get(ngx_govsvc_ctx_t *ctx)
{
    char         *year;
    ngx_int_t     y;
    ngx_str_t     key;
    const char  **values;

    year = ngx_govsvc_arg(ctx->request, "year");
    y = year ? ngx_atoi((u_char *) year, ngx_strlen(year)) : NGX_ERROR;

    if (y < 1900 || y > 9999) {
        return ngx_govsvc_send_error(ctx->request,
                                     NGX_HTTP_UNPROCESSABLE_ENTITY,
                                     "validation_failed",
                                     "year must be a four-digit year",
                                     "year");
    }

    values = ngx_palloc(ctx->request->pool, sizeof(char *));
    key.data = ngx_pnalloc(ctx->request->pool, sizeof("govsvc:calendar:") + 4);
    if (values == NULL || key.data == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    values[0] = year;
    key.len = ngx_sprintf(key.data, "govsvc:calendar:%i", y) - key.data;

    return ngx_govsvc_cached_query(ctx, &key,
        "SELECT json_build_object('year', $1::int, 'days',"
        " coalesce(json_agg(json_build_object('date', day, 'kind', kind,"
        "  'name', name) ORDER BY day), '[]'))"
        " FROM calendar_days WHERE extract(year FROM day) = $1::int",
        1, values);
}


/*
 * Runs a statement returning one JSON value and answers it: 200, or 404
 * when there is no row.
 */

ngx_int_t
ngx_govsvc_json_query(ngx_govsvc_ctx_t *ctx, ngx_uint_t status,
    const char *sql, int nparams, const char **values)
{
    ctx->status = status;

    return ngx_govsvc_query(ctx, sql, nparams, values,
                            ngx_govsvc_json_result, ctx);
}


void
ngx_govsvc_json_result(ngx_govsvc_pg_t *pg, PGresult *res, void *data)
{
    ngx_govsvc_ctx_t *ctx = data;

    ngx_int_t            rc;
    ngx_http_request_t  *r;

    r = ctx->request;

    ngx_govsvc_pg_close(pg);

    if (ngx_govsvc_pg_result(r, res, &rc) != NGX_OK) {
        /* answered: 503, or the statement's error */

    } else if (PQntuples(res) == 0 || PQgetisnull(res, 0, 0)) {
        rc = ngx_govsvc_send_error(r, NGX_HTTP_NOT_FOUND, "not_found",
                                   "no such resource", NULL);

    } else {
        rc = ngx_govsvc_send_json(r, ctx->status ? ctx->status : NGX_HTTP_OK,
                                  (u_char *) PQgetvalue(res, 0, 0),
                                  PQgetlength(res, 0, 0));
    }

    ngx_govsvc_finalize(r, rc);
}


/* Redis first, PostgreSQL on a miss or when Redis is away */

static ngx_int_t
ngx_govsvc_cached_query(ngx_govsvc_ctx_t *ctx, ngx_str_t *key,
    const char *sql, int nparams, const char **values)
{
    const char              *argv[2];
    size_t                   argvlen[2];
    ngx_http_request_t      *r;
    ngx_pool_cleanup_t      *cln;
    ngx_govsvc_cached_t     *cq;
    ngx_govsvc_main_conf_t  *gmcf;

    r = ctx->request;
    gmcf = ngx_http_get_module_main_conf(r, ngx_govsvc_module);

    if (gmcf->redis == NULL) {
        return ngx_govsvc_json_query(ctx, NGX_HTTP_OK, sql, nparams,
                                     values);
    }

    cln = ngx_pool_cleanup_add(r->pool, sizeof(ngx_govsvc_cached_t));
    if (cln == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    cq = cln->data;
    ngx_memzero(cq, sizeof(ngx_govsvc_cached_t));
    cq->ctx = ctx;
    cq->key = *key;
    cq->sql = sql;
    cq->nparams = nparams;
    cq->values = values;

    cln->handler = ngx_govsvc_cached_cleanup;

    argv[0] = "GET";
    argvlen[0] = 3;
    argv[1] = (const char *) key->data;
    argvlen[1] = key->len;

    cq->cmd = ngx_govsvc_redis_command(gmcf->redis, ngx_govsvc_cached_reply,
                                       cq, 2, argv, argvlen);

    if (cq->cmd == NULL) {
        ngx_govsvc_count(cache_misses);
        return ngx_govsvc_json_query(ctx, NGX_HTTP_OK, sql, nparams,
                                     values);
    }

    r->main->count++;

    return NGX_DONE;
}


static void
ngx_govsvc_cached_reply(redisReply *reply, void *data)
{
    ngx_govsvc_cached_t *cq = data;

    ngx_int_t            rc;
    ngx_http_request_t  *r;

    cq->cmd = NULL;
    r = cq->ctx->request;

    /* "" is a change's tombstone: a miss */
    if (reply && reply->type == REDIS_REPLY_STRING && reply->len > 0) {
        ngx_govsvc_count(cache_hits);
        rc = ngx_govsvc_send_json(r, NGX_HTTP_OK, (u_char *) reply->str,
                                  reply->len);
        ngx_govsvc_finalize(r, rc);
        return;
    }

    ngx_govsvc_count(cache_misses);

    cq->ctx->pg = ngx_govsvc_pg_open(r);

    if (cq->ctx->pg == NULL
        || ngx_govsvc_pg_query(cq->ctx->pg, cq->sql, cq->nparams,
                               cq->values, ngx_govsvc_cached_result, cq)
           != NGX_OK)
    {
        rc = ngx_govsvc_send_unavailable(r, "the database is unavailable");
        ngx_govsvc_finalize(r, rc);
    }
}


static void
ngx_govsvc_cached_result(ngx_govsvc_pg_t *pg, PGresult *res, void *data)
{
    ngx_govsvc_cached_t *cq = data;

    if (res && PQresultStatus(res) == PGRES_TUPLES_OK
        && PQntuples(res) == 1 && !PQgetisnull(res, 0, 0))
    {
        ngx_govsvc_cache_put(cq->ctx->request, &cq->key,
                             PQgetvalue(res, 0, 0), PQgetlength(res, 0, 0),
                             1);
    }

    ngx_govsvc_json_result(pg, res, cq->ctx);
}


/* SET key value PX govsvc_cache_ttl [NX], not waited for: a fill that
 * fails is tried again by the next read; NX (keep) where a fill that
 * raced a change must not replace the change's tombstone
 * (ngx_govsvc_admin.c) */

void
ngx_govsvc_cache_put(ngx_http_request_t *r, ngx_str_t *key,
    const char *value, size_t len, ngx_uint_t keep)
{
    u_char                   ttl[NGX_INT_T_LEN];
    const char              *argv[6];
    size_t                   argvlen[6];
    ngx_govsvc_main_conf_t  *gmcf;

    gmcf = ngx_http_get_module_main_conf(r, ngx_govsvc_module);

    if (gmcf->redis == NULL) {
        return;
    }

    argv[0] = "SET";
    argvlen[0] = 3;
    argv[1] = (const char *) key->data;
    argvlen[1] = key->len;
    argv[2] = value;
    argvlen[2] = len;
    argv[3] = "PX";
    argvlen[3] = 2;
    argv[4] = (const char *) ttl;
    argvlen[4] = ngx_sprintf(ttl, "%M", gmcf->cache_ttl) - ttl;
    argv[5] = "NX";
    argvlen[5] = 2;

    (void) ngx_govsvc_redis_command(gmcf->redis, ngx_govsvc_redis_ignore,
                                    NULL, keep ? 6 : 5, argv, argvlen);
}


static void
ngx_govsvc_cached_cleanup(void *data)
{
    ngx_govsvc_cached_t *cq = data;

    if (cq->cmd) {
        ngx_govsvc_redis_cancel(cq->cmd);
        cq->cmd = NULL;
    }
}


static void
ngx_govsvc_redis_ignore(redisReply *reply, void *data)
{
}


/*
 * A refusal raised by a function of sql/ with SQLSTATE "GSnnn": nnn is the
 * status, the message api.md's code, DETAIL the text and HINT the field.
 */

static ngx_int_t
ngx_govsvc_refusal(ngx_http_request_t *r, PGresult *res, const char *state)
{
    ngx_int_t    status;
    const char  *code, *message, *field;

    status = ngx_atoi((u_char *) state + 2, 3);
    code = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
    message = PQresultErrorField(res, PG_DIAG_MESSAGE_DETAIL);
    field = PQresultErrorField(res, PG_DIAG_MESSAGE_HINT);

    if (status < 400 || status > 499 || code == NULL) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "govsvc: malformed refusal %s from PostgreSQL: %s",
                      state, PQresultErrorMessage(res));
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_govsvc_send_error(r, status, code, message ? message : code,
                                 (field && field[0]) ? field : NULL);
}


/* a statement failed: constraint violations are the client's, the rest
 * ours */

ngx_int_t
ngx_govsvc_db_error(ngx_http_request_t *r, PGresult *res)
{
    const char  *state, *constraint;

    state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
    constraint = PQresultErrorField(res, PG_DIAG_CONSTRAINT_NAME);

    if (state && state[0] == 'G' && state[1] == 'S') {
        return ngx_govsvc_refusal(r, res, state);
    }

    if (state && ngx_strcmp(state, "23503") == 0 && constraint
        && ngx_strstr(constraint, "department"))
    {
        return ngx_govsvc_send_error(r, NGX_HTTP_UNPROCESSABLE_ENTITY,
                                     "validation_failed",
                                     "no such department", "department");
    }

    if (state && ngx_strcmp(state, "23505") == 0) {
        return ngx_govsvc_send_error(r, NGX_HTTP_CONFLICT, "duplicate",
                                     "it exists already", NULL);
    }

    if (state && ngx_strcmp(state, "23503") == 0) {
        return ngx_govsvc_send_error(r, NGX_HTTP_UNPROCESSABLE_ENTITY,
                                     "validation_failed",
                                     "it refers to something that does not "
                                     "exist", NULL);
    }

    if (state && state[0] == '2' && state[1] == '2') {
        /* data exceptions: a value PostgreSQL could not take */
        return ngx_govsvc_send_error(r, NGX_HTTP_BAD_REQUEST,
                                     "invalid_request",
                                     "a value is out of range", NULL);
    }

    ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                  "govsvc: PostgreSQL statement failed: %s %s",
                  state ? state : "-", PQresultErrorMessage(res));

    return ngx_govsvc_send_error(r, NGX_HTTP_INTERNAL_SERVER_ERROR,
                                 "internal", "the request failed; it was "
                                 "logged and nothing was written", NULL);
}


static ngx_int_t
ngx_govsvc_limit(ngx_http_request_t *r, const char **limit)
{
    char       *s;
    ngx_int_t   n;

    s = ngx_govsvc_arg(r, "limit");

    if (s == NULL) {
        *limit = "50";
        return NGX_OK;
    }

    n = ngx_atoi((u_char *) s, ngx_strlen(s));
    if (n < 1 || n > NGX_GOVSVC_LIST_MAX) {
        return NGX_ERROR;
    }

    *limit = s;

    return NGX_OK;
}
