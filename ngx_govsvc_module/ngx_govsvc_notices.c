
/*
 * GovSvc: notices (通知书).  A notice is numbered, stored and hashed by
 * govsvc_notice_issue() in PostgreSQL; in the same transaction the module
 * signs its canonical form (the jsonb text of its content) with the node's
 * signing certificate, a detached CMS SignedData.  The dates it prints are
 * computed here from the working-day calendar, and the acceptance notice's
 * query password is hashed in the thread pool before the transaction
 * starts, so that no lock is held across the hashing.
 */


#include "ngx_govsvc.h"
#include "gs_notice.h"

#include <openssl/cms.h>
#include <openssl/pem.h>
#include <openssl/rand.h>


#define NGX_GOVSVC_QUERY_PASSWORD_LEN  8
#define NGX_GOVSVC_NOTICE_NO_MAX       40


enum {
    NGX_GOVSVC_NOTICE_CALENDAR = 0,
    NGX_GOVSVC_NOTICE_BEGIN,
    NGX_GOVSVC_NOTICE_ISSUE,
    NGX_GOVSVC_NOTICE_SIGN,
    NGX_GOVSVC_NOTICE_COMMIT
};


typedef struct {
    ngx_govsvc_ctx_t         *ctx;
    const char               *values[10];
    const char               *kind;
    ngx_int_t                 deadline_days;    /* 0: none given */
    ngx_int_t                 extension_days;   /* 0: none given */
    ngx_uint_t                step;
    char                      password[NGX_GOVSVC_QUERY_PASSWORD_LEN + 1];
    char                      hash[NGX_GOVSVC_PASSWORD_HASH_LEN];
    char                      dates[96];
    char                     *notice_no;
    char                     *sha256;
    char                     *issued_at;
} ngx_govsvc_notice_t;


/* what gs_notice_html() reads: the stored content and two columns */
typedef struct {
    cJSON                    *content;
    const char               *sha256;
    const char               *password;
} ngx_govsvc_notice_fields_t;


static void ngx_govsvc_notice_hashed(ngx_govsvc_ctx_t *ctx, ngx_int_t rc);
static void ngx_govsvc_notice_start(ngx_govsvc_notice_t *nt);
static void ngx_govsvc_notice_step(ngx_govsvc_pg_t *pg, PGresult *res,
    void *data);
static ngx_int_t ngx_govsvc_notice_dates(ngx_govsvc_notice_t *nt,
    PGresult *res);
static ngx_int_t ngx_govsvc_notice_secret(ngx_govsvc_notice_t *nt);
static ngx_int_t ngx_govsvc_notice_created(ngx_govsvc_notice_t *nt);
static ngx_int_t ngx_govsvc_notice_sign(ngx_http_request_t *r,
    const char *content, size_t len, ngx_str_t *out);
static char *ngx_govsvc_notice_copy(ngx_pool_t *pool, PGresult *res,
    int col);
static void ngx_govsvc_notice_found(ngx_govsvc_pg_t *pg, PGresult *res,
    void *data);
static ngx_int_t ngx_govsvc_notice_page(ngx_http_request_t *r,
    PGresult *res);
static ngx_int_t ngx_govsvc_notice_json(ngx_http_request_t *r,
    PGresult *res);
static const char *ngx_govsvc_notice_field(void *data, const char *name);
static void ngx_govsvc_notice_checked(ngx_govsvc_pg_t *pg, PGresult *res,
    void *data);
static ngx_int_t ngx_govsvc_notice_no(ngx_govsvc_ctx_t *ctx,
    const char **notice_no);
static void ngx_govsvc_signer_cleanup(void *data);


static const char  *ngx_govsvc_notice_kinds[] = {
    "acceptance", "rejection", "correction", "special_procedure",
    "extension", "approval_decision", "refusal_decision", NULL
};


/* ---- configuration ---- */

char *
ngx_govsvc_notices_init_conf(ngx_conf_t *cf, ngx_govsvc_main_conf_t *gmcf)
{
    BIO                 *bio;
    ngx_pool_cleanup_t  *cln;

    if (gmcf->signing_cert_file.len == 0
        && gmcf->signing_key_file.len == 0)
    {
        /* only a node issues notices: the stock nginx.conf, with the
         * module loaded by the package and no govsvc_* directive, stays
         * silent */
        if (gmcf->node.len != 0) {
            ngx_conf_log_error(NGX_LOG_WARN, cf, 0,
                               "no govsvc_signing_certificate: notices will "
                               "be issued unsigned");
        }
        return NGX_CONF_OK;
    }

    if (gmcf->signing_cert_file.len == 0 || gmcf->signing_key_file.len == 0)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "govsvc_signing_certificate and "
                           "govsvc_signing_certificate_key go together");
        return NGX_CONF_ERROR;
    }

    if (ngx_conf_full_name(cf->cycle, &gmcf->signing_cert_file, 1) != NGX_OK
        || ngx_conf_full_name(cf->cycle, &gmcf->signing_key_file, 1)
           != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    cln = ngx_pool_cleanup_add(cf->pool, 0);
    if (cln == NULL) {
        return NGX_CONF_ERROR;
    }

    cln->handler = ngx_govsvc_signer_cleanup;
    cln->data = gmcf;

    bio = BIO_new_file((char *) gmcf->signing_cert_file.data, "r");
    if (bio) {
        gmcf->signing_cert = PEM_read_bio_X509(bio, NULL, NULL, NULL);
        BIO_free(bio);
    }

    bio = BIO_new_file((char *) gmcf->signing_key_file.data, "r");
    if (bio) {
        gmcf->signing_key = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
        BIO_free(bio);
    }

    if (gmcf->signing_cert == NULL || gmcf->signing_key == NULL) {
        ngx_ssl_error(NGX_LOG_EMERG, cf->log, 0,
                      "cannot load the signing certificate \"%V\" or its "
                      "key \"%V\"", &gmcf->signing_cert_file,
                      &gmcf->signing_key_file);
        return NGX_CONF_ERROR;
    }

    if (X509_check_private_key(gmcf->signing_cert, gmcf->signing_key) != 1) {
        ngx_ssl_error(NGX_LOG_EMERG, cf->log, 0,
                      "the key \"%V\" does not belong to the signing "
                      "certificate \"%V\"", &gmcf->signing_key_file,
                      &gmcf->signing_cert_file);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


static void
ngx_govsvc_signer_cleanup(void *data)
{
    ngx_govsvc_main_conf_t *gmcf = data;

    X509_free(gmcf->signing_cert);
    EVP_PKEY_free(gmcf->signing_key);
}


/* ---- POST /api/v1/cases/{case_no}/notices ---- */

ngx_int_t
ngx_govsvc_notices_create(ngx_govsvc_ctx_t *ctx)
{
    u_char               rnd[NGX_GOVSVC_QUERY_PASSWORD_LEN];
    cJSON               *days;
    ngx_uint_t           i;
    const char          *field;
    ngx_http_request_t  *r;
    ngx_govsvc_notice_t *nt;
    static const char    alphabet[] = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789";

    r = ctx->request;

    nt = ngx_pcalloc(r->pool, sizeof(ngx_govsvc_notice_t));
    if (nt == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    nt->ctx = ctx;
    ctx->data = nt;

    if (ngx_govsvc_case_no(ctx, &nt->values[1]) != NGX_OK) {
        return ngx_govsvc_send_error(r, NGX_HTTP_NOT_FOUND, "not_found",
                                     "no such case", NULL);
    }

    field = NULL;
    nt->kind = ngx_govsvc_text(ctx->body, "kind", 32, 1, &field);

    for (i = 0; nt->kind && ngx_govsvc_notice_kinds[i]; i++) {
        if (ngx_strcmp(nt->kind, ngx_govsvc_notice_kinds[i]) == 0) {
            break;
        }
    }

    if (field || ngx_govsvc_notice_kinds[i] == NULL) {
        return ngx_govsvc_send_error(r, NGX_HTTP_UNPROCESSABLE_ENTITY,
                                     "validation_failed",
                                     "the kind of notice is required",
                                     "kind");
    }

    /* checked for good by govsvc_notice_params(); here only the date */
    days = cJSON_GetObjectItemCaseSensitive(ctx->body, "deadline_days");
    if (cJSON_IsNumber(days) && days->valuedouble >= 1
        && days->valuedouble <= 5)
    {
        nt->deadline_days = (ngx_int_t) days->valuedouble;
    }

    days = cJSON_GetObjectItemCaseSensitive(ctx->body, "days");
    if (cJSON_IsNumber(days) && days->valuedouble >= 1
        && days->valuedouble <= 10)
    {
        nt->extension_days = (ngx_int_t) days->valuedouble;
    }

    r->main->count++;

    if (ngx_strcmp(nt->kind, "acceptance") != 0) {
        ngx_govsvc_notice_start(nt);
        return NGX_DONE;
    }

    if (RAND_bytes(rnd, sizeof(rnd)) != 1) {
        ngx_ssl_error(NGX_LOG_ALERT, r->connection->log, 0,
                      "RAND_bytes() failed");
        ngx_govsvc_finalize(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return NGX_DONE;
    }

    /* 32 symbols without look-alikes: 40 bits, read out at the window */
    for (i = 0; i < NGX_GOVSVC_QUERY_PASSWORD_LEN; i++) {
        nt->password[i] = alphabet[rnd[i] % 32];
    }

    if (ngx_govsvc_password_hash(ctx, nt->password, nt->hash,
                                 ngx_govsvc_notice_hashed)
        != NGX_OK)
    {
        ngx_govsvc_finalize(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
    }

    return NGX_DONE;
}


static void
ngx_govsvc_notice_hashed(ngx_govsvc_ctx_t *ctx, ngx_int_t rc)
{
    if (rc != NGX_OK) {
        ngx_govsvc_finalize(ctx->request, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    ngx_govsvc_notice_start(ctx->data);
}


/* the item's promised days, the case's due date and the calendar ahead,
 * for the dates */

static void
ngx_govsvc_notice_start(ngx_govsvc_notice_t *nt)
{
    ngx_http_request_t  *r;

    r = nt->ctx->request;

    nt->ctx->pg = ngx_govsvc_pg_open(r);
    if (nt->ctx->pg == NULL) {
        ngx_govsvc_finalize(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    nt->step = NGX_GOVSVC_NOTICE_CALENDAR;

    if (ngx_govsvc_pg_query(nt->ctx->pg,
            "SELECT i.promised_days,"
            "  govsvc_calendar_between(least(t.today, c.due_date),"
            "   greatest(t.today, c.due_date) + 400),"
            "  c.due_date"
            " FROM cases c JOIN items i ON i.code = c.item_code,"
            "  (SELECT (now() AT TIME ZONE 'Asia/Shanghai')::date"
            "   AS today) t"
            " WHERE c.case_no = $1 AND c.state <> 'deleted'",
            1, &nt->values[1], ngx_govsvc_notice_step, nt)
        != NGX_OK)
    {
        ngx_govsvc_finalize(r, ngx_govsvc_send_unavailable(r,
                                         "the database is unavailable"));
    }
}


static void
ngx_govsvc_notice_step(ngx_govsvc_pg_t *pg, PGresult *res, void *data)
{
    ngx_govsvc_notice_t *nt = data;

    int                      n;
    char                    *text;
    ngx_int_t                rc;
    ngx_str_t                signature;
    const char              *sql;
    ExecStatusType           status;
    ngx_http_request_t      *r;
    ngx_govsvc_main_conf_t  *gmcf;

    r = nt->ctx->request;
    gmcf = ngx_http_get_module_main_conf(r, ngx_govsvc_module);

    if (res == NULL) {
        rc = ngx_govsvc_send_unavailable(r, "the database is unavailable");
        goto done;
    }

    status = PQresultStatus(res);

    if (status != PGRES_TUPLES_OK && status != PGRES_COMMAND_OK) {
        rc = ngx_govsvc_db_error(r, res);
        goto done;
    }

    n = 0;

    switch (nt->step) {

    case NGX_GOVSVC_NOTICE_CALENDAR:
        if (PQntuples(res) != 1) {
            rc = ngx_govsvc_send_error(r, NGX_HTTP_NOT_FOUND, "not_found",
                                       "no such case", NULL);
            goto done;
        }

        if (ngx_govsvc_notice_dates(nt, res) != NGX_OK
            || ngx_govsvc_notice_secret(nt) != NGX_OK)
        {
            rc = NGX_HTTP_INTERNAL_SERVER_ERROR;
            goto done;
        }

        nt->step = NGX_GOVSVC_NOTICE_BEGIN;
        sql = "BEGIN";
        break;

    case NGX_GOVSVC_NOTICE_BEGIN:
        nt->step = NGX_GOVSVC_NOTICE_ISSUE;
        sql = "SELECT n.notice_no, n.content::text, n.sha256,"
              "  govsvc_time(n.issued_at)"
              " FROM govsvc_notice_issue($1, $2, $3, $4::jsonb, $5::jsonb,"
              "  $6::jsonb, $7, $8::bigint, $9, $10) n";
        n = 10;
        break;

    case NGX_GOVSVC_NOTICE_ISSUE:
        nt->notice_no = ngx_govsvc_notice_copy(r->pool, res, 0);
        nt->sha256 = ngx_govsvc_notice_copy(r->pool, res, 2);
        nt->issued_at = ngx_govsvc_notice_copy(r->pool, res, 3);

        if (nt->notice_no == NULL || nt->sha256 == NULL
            || nt->issued_at == NULL)
        {
            rc = NGX_HTTP_INTERNAL_SERVER_ERROR;
            goto done;
        }

        if (gmcf->signing_key == NULL) {
            nt->step = NGX_GOVSVC_NOTICE_COMMIT;
            sql = "COMMIT";
            break;
        }

        text = PQgetvalue(res, 0, 1);

        if (ngx_govsvc_notice_sign(r, text, PQgetlength(res, 0, 1),
                                   &signature)
            != NGX_OK)
        {
            rc = NGX_HTTP_INTERNAL_SERVER_ERROR;
            goto done;
        }

        nt->values[0] = nt->notice_no;
        nt->values[1] = (const char *) signature.data;

        nt->step = NGX_GOVSVC_NOTICE_SIGN;
        sql = "UPDATE notices SET signature = $2 WHERE notice_no = $1";
        n = 2;
        break;

    case NGX_GOVSVC_NOTICE_SIGN:
        nt->step = NGX_GOVSVC_NOTICE_COMMIT;
        sql = "COMMIT";
        break;

    default: /* NGX_GOVSVC_NOTICE_COMMIT */
        ngx_govsvc_pg_close(pg);
        ngx_govsvc_finalize(r, ngx_govsvc_notice_created(nt));
        return;
    }

    if (ngx_govsvc_pg_query(pg, sql, n, nt->values, ngx_govsvc_notice_step,
                            nt)
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


/*
 * The dates the notice prints, from today: the acceptance's promised date
 * (the item's promised working days), the correction's deadline; and
 * the due date an extension leads to, from the case's.
 */

static ngx_int_t
ngx_govsvc_notice_dates(ngx_govsvc_notice_t *nt, PGresult *res)
{
    char                 promised[11], deadline[11], extended[11];
    ngx_int_t            days;
    gs_date_t            today, d;
    gs_calendar_t        cal;
    ngx_http_request_t  *r;

    r = nt->ctx->request;

    if (ngx_govsvc_calendar_load(r->pool, PQgetvalue(res, 0, 1), &cal)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    today = ngx_govsvc_today();

    days = ngx_atoi((u_char *) PQgetvalue(res, 0, 0),
                    PQgetlength(res, 0, 0));

    d = gs_calendar_add_working_days(&cal, today, (int) days);
    if (days == NGX_ERROR || d == GS_DATE_INVALID) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "govsvc: no promised date from the calendar");
        return NGX_ERROR;
    }

    gs_date_format(d, promised);

    d = gs_calendar_add_working_days(&cal, today, (int) nt->deadline_days);
    if (d == GS_DATE_INVALID) {
        return NGX_ERROR;
    }

    gs_date_format(d, deadline);

    extended[0] = '\0';

    if (!PQgetisnull(res, 0, 2)) {
        if (gs_date_parse(PQgetvalue(res, 0, 2), PQgetlength(res, 0, 2), &d)
            != 0)
        {
            return NGX_ERROR;
        }

        d = gs_calendar_add_working_days(&cal, d, (int) nt->extension_days);
        if (d == GS_DATE_INVALID) {
            return NGX_ERROR;
        }

        gs_date_format(d, extended);
    }

    ngx_sprintf((u_char *) nt->dates,
                "{\"promised_date\":\"%s\",\"deadline\":\"%s\","
                "\"new_due_date\":\"%s\"}%Z",
                promised, deadline, extended);

    return NGX_OK;
}


/* the values of govsvc_notice_issue(), the query password's among them */

static ngx_int_t
ngx_govsvc_notice_secret(ngx_govsvc_notice_t *nt)
{
    char                    *text;
    cJSON                   *secret;
    size_t                   len;
    const char             **v;
    ngx_http_request_t      *r;
    ngx_govsvc_main_conf_t  *gmcf;

    r = nt->ctx->request;
    gmcf = ngx_http_get_module_main_conf(r, ngx_govsvc_module);
    v = nt->values;

    v[0] = (const char *) gmcf->node.data;
    /* v[1]: the case number */
    v[2] = nt->kind;
    v[4] = nt->dates;
    v[6] = (const char *) gmcf->supervision_phone.data;
    ngx_govsvc_actor(nt->ctx, &v[7]);           /* [7], [8], [9] */

    text = cJSON_PrintUnformatted(nt->ctx->body);
    if (text == NULL) {
        return NGX_ERROR;
    }

    len = ngx_strlen(text) + 1;
    v[3] = ngx_pnalloc(r->pool, len);
    if (v[3]) {
        ngx_memcpy((char *) v[3], text, len);
    }

    cJSON_free(text);

    if (v[3] == NULL) {
        return NGX_ERROR;
    }

    if (nt->password[0] == '\0') {
        v[5] = NULL;
        return NGX_OK;
    }

    secret = cJSON_CreateObject();
    if (secret == NULL
        || cJSON_AddStringToObject(secret, "password", nt->password) == NULL
        || cJSON_AddStringToObject(secret, "hash", nt->hash) == NULL
        || (text = cJSON_PrintUnformatted(secret)) == NULL)
    {
        cJSON_Delete(secret);
        return NGX_ERROR;
    }

    cJSON_Delete(secret);

    len = ngx_strlen(text) + 1;
    v[5] = ngx_pnalloc(r->pool, len);
    if (v[5]) {
        ngx_memcpy((char *) v[5], text, len);
    }

    cJSON_free(text);

    return v[5] ? NGX_OK : NGX_ERROR;
}


static ngx_int_t
ngx_govsvc_notice_created(ngx_govsvc_notice_t *nt)
{
    u_char              *url;
    cJSON               *json;
    ngx_int_t            rc;
    ngx_http_request_t  *r;

    r = nt->ctx->request;

    url = ngx_pnalloc(r->pool, sizeof("/api/v1/notices/")
                               + ngx_strlen(nt->notice_no));
    if (url == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_sprintf(url, "/api/v1/notices/%s%Z", nt->notice_no);

    json = cJSON_CreateObject();

    if (json == NULL
        || cJSON_AddStringToObject(json, "notice_no", nt->notice_no) == NULL
        || cJSON_AddStringToObject(json, "kind", nt->kind) == NULL
        || cJSON_AddStringToObject(json, "issued_at", nt->issued_at) == NULL
        || cJSON_AddStringToObject(json, "sha256", nt->sha256) == NULL
        || cJSON_AddStringToObject(json, "url", (char *) url) == NULL)
    {
        cJSON_Delete(json);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    rc = ngx_govsvc_send_cjson(r, NGX_HTTP_CREATED, json);
    cJSON_Delete(json);

    return rc;
}


/*
 * A detached CMS SignedData over the canonical form, base64 of its DER.
 * An ECDSA P-256 signature costs some tens of microseconds: it stays on
 * the event loop.
 */

static ngx_int_t
ngx_govsvc_notice_sign(ngx_http_request_t *r, const char *content,
    size_t len, ngx_str_t *out)
{
    int                      n;
    BIO                     *in;
    u_char                  *der, *p;
    ngx_str_t                src;
    CMS_ContentInfo         *cms;
    ngx_govsvc_main_conf_t  *gmcf;

    gmcf = ngx_http_get_module_main_conf(r, ngx_govsvc_module);

    in = BIO_new_mem_buf(content, (int) len);
    if (in == NULL) {
        return NGX_ERROR;
    }

    cms = CMS_sign(gmcf->signing_cert, gmcf->signing_key, NULL, in,
                   CMS_DETACHED|CMS_BINARY);
    BIO_free(in);

    if (cms == NULL) {
        ngx_ssl_error(NGX_LOG_ALERT, r->connection->log, 0,
                      "CMS_sign() failed");
        return NGX_ERROR;
    }

    n = i2d_CMS_ContentInfo(cms, NULL);
    der = (n > 0) ? ngx_pnalloc(r->pool, n) : NULL;
    out->data = (n > 0) ? ngx_pnalloc(r->pool,
                                      ngx_base64_encoded_length(n) + 1)
                        : NULL;

    if (der == NULL || out->data == NULL) {
        CMS_ContentInfo_free(cms);
        return NGX_ERROR;
    }

    p = der;
    i2d_CMS_ContentInfo(cms, &p);
    CMS_ContentInfo_free(cms);

    src.data = der;
    src.len = n;
    ngx_encode_base64(out, &src);
    out->data[out->len] = '\0';

    return NGX_OK;
}


static char *
ngx_govsvc_notice_copy(ngx_pool_t *pool, PGresult *res, int col)
{
    char    *s;
    size_t   len;

    len = PQgetlength(res, 0, col);

    s = ngx_pnalloc(pool, len + 1);
    if (s == NULL) {
        return NULL;
    }

    ngx_memcpy(s, PQgetvalue(res, 0, col), len);
    s[len] = '\0';

    return s;
}


/* ---- GET /api/v1/notices/{notice_no} ---- */

ngx_int_t
ngx_govsvc_notices_get(ngx_govsvc_ctx_t *ctx)
{
    const char  **v;

    v = ngx_pcalloc(ctx->request->pool, sizeof(char *));
    if (v == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ngx_govsvc_notice_no(ctx, &v[0]) != NGX_OK) {
        return ngx_govsvc_send_error(ctx->request, NGX_HTTP_NOT_FOUND,
                                     "not_found", "no such notice", NULL);
    }

    return ngx_govsvc_query(ctx,
        "SELECT n.kind, n.content::text, n.sha256, n.signature,"
        "  n.query_password, c.department, d.region, n.case_no,"
        "  n.notice_no, govsvc_time(n.issued_at)"
        " FROM notices n JOIN cases c ON c.case_no = n.case_no"
        "  JOIN departments d ON d.id = c.department"
        " WHERE n.notice_no = $1",
        1, v, ngx_govsvc_notice_found, ctx);
}


static void
ngx_govsvc_notice_found(ngx_govsvc_pg_t *pg, PGresult *res, void *data)
{
    ngx_govsvc_ctx_t *ctx = data;

    ngx_int_t            rc;
    ngx_str_t           *accept;
    ngx_govsvc_user_t   *u;
    ngx_http_request_t  *r;

    r = ctx->request;
    u = ctx->user;

    ngx_govsvc_pg_close(pg);

    if (ngx_govsvc_pg_result(r, res, &rc) != NGX_OK) {
        /* answered */

    } else if (PQntuples(res) != 1) {
        rc = ngx_govsvc_send_error(r, NGX_HTTP_NOT_FOUND, "not_found",
                                   "no such notice", NULL);

    } else if (!ngx_govsvc_case_visible(u, res, 5)) {
        rc = ngx_govsvc_send_error(r, NGX_HTTP_FORBIDDEN, "forbidden",
                                   "the notice belongs to another "
                                   "department", NULL);

    } else {
        accept = r->headers_in.accept ? &r->headers_in.accept->value : NULL;

        if (accept
            && ngx_strlcasestrn(accept->data, accept->data + accept->len,
                                (u_char *) "application/json",
                                sizeof("application/json") - 2)
               != NULL)
        {
            rc = ngx_govsvc_notice_json(r, res);

        } else {
            rc = ngx_govsvc_notice_page(r, res);
        }
    }

    ngx_govsvc_finalize(r, rc);
}


/* the printable page; the query password is on it until the case is
 * accepted (govsvc-server.conf keeps it out of caches and scripts out of
 * it) */

static ngx_int_t
ngx_govsvc_notice_page(ngx_http_request_t *r, PGresult *res)
{
    char                        *page;
    size_t                       len;
    ngx_int_t                    rc;
    ngx_govsvc_notice_fields_t   f;
    static ngx_str_t             type = ngx_string("text/html; charset=utf-8");

    f.content = cJSON_ParseWithLength(PQgetvalue(res, 0, 1),
                                      PQgetlength(res, 0, 1));
    if (f.content == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    f.sha256 = PQgetvalue(res, 0, 2);
    f.password = PQgetisnull(res, 0, 4) ? NULL : PQgetvalue(res, 0, 4);

    page = gs_notice_html(PQgetvalue(res, 0, 0), ngx_govsvc_notice_field, &f,
                          &len);
    cJSON_Delete(f.content);

    if (page == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    rc = ngx_govsvc_send(r, NGX_HTTP_OK, &type, (u_char *) page, len);
    free(page);

    return rc;
}


static const char *
ngx_govsvc_notice_field(void *data, const char *name)
{
    ngx_govsvc_notice_fields_t *f = data;

    cJSON  *item;

    if (ngx_strcmp(name, "sha256") == 0) {
        return f->sha256;
    }

    if (ngx_strcmp(name, "query_password") == 0) {
        return f->password;
    }

    item = cJSON_GetObjectItemCaseSensitive(f->content, name);

    return cJSON_IsString(item) ? item->valuestring : NULL;
}


/* the fields, the canonical form they were hashed and signed as, the
 * hash and the signature */

static ngx_int_t
ngx_govsvc_notice_json(ngx_http_request_t *r, PGresult *res)
{
    cJSON      *json, *content;
    ngx_int_t   rc;

    json = cJSON_CreateObject();
    content = cJSON_ParseWithLength(PQgetvalue(res, 0, 1),
                                    PQgetlength(res, 0, 1));

    if (json == NULL || content == NULL) {
        cJSON_Delete(json);
        cJSON_Delete(content);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    cJSON_AddItemToObject(json, "fields", content);

    if (cJSON_AddStringToObject(json, "notice_no", PQgetvalue(res, 0, 8))
           == NULL
        || cJSON_AddStringToObject(json, "kind", PQgetvalue(res, 0, 0))
           == NULL
        || cJSON_AddStringToObject(json, "case_no", PQgetvalue(res, 0, 7))
           == NULL
        || cJSON_AddStringToObject(json, "issued_at", PQgetvalue(res, 0, 9))
           == NULL
        || cJSON_AddStringToObject(json, "canonical", PQgetvalue(res, 0, 1))
           == NULL
        || cJSON_AddStringToObject(json, "sha256", PQgetvalue(res, 0, 2))
           == NULL
        || (PQgetisnull(res, 0, 3)
            ? cJSON_AddNullToObject(json, "signature")
            : cJSON_AddStringToObject(json, "signature",
                                      PQgetvalue(res, 0, 3)))
           == NULL)
    {
        cJSON_Delete(json);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    rc = ngx_govsvc_send_cjson(r, NGX_HTTP_OK, json);
    cJSON_Delete(json);

    return rc;
}


/* ---- GET /api/v1/public/notices/{notice_no}/verify?sha256=HEX ---- */

ngx_int_t
ngx_govsvc_notices_verify(ngx_govsvc_ctx_t *ctx)
{
    char                *hash;
    ngx_uint_t           i;
    const char         **v;
    ngx_http_request_t  *r;

    r = ctx->request;

    v = ngx_pcalloc(r->pool, 2 * sizeof(char *));
    if (v == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ngx_govsvc_notice_no(ctx, &v[0]) != NGX_OK) {
        return ngx_govsvc_send_error(r, NGX_HTTP_NOT_FOUND, "not_found",
                                     "no such notice", NULL);
    }

    hash = ngx_govsvc_arg(r, "sha256");

    for (i = 0; hash && hash[i]; i++) {
        hash[i] = ngx_tolower(hash[i]);

        if (!((hash[i] >= '0' && hash[i] <= '9')
              || (hash[i] >= 'a' && hash[i] <= 'f')))
        {
            break;
        }
    }

    if (hash == NULL || i != 64 || hash[i] != '\0') {
        return ngx_govsvc_send_error(r, NGX_HTTP_UNPROCESSABLE_ENTITY,
                                     "validation_failed",
                                     "sha256 must be 64 hexadecimal digits",
                                     "sha256");
    }

    v[1] = hash;

    return ngx_govsvc_query(ctx,
        "SELECT n.sha256 = $2, n.kind, govsvc_time(n.issued_at),"
        "  n.content->>'issuer', n.signature IS NOT NULL"
        " FROM notices n WHERE n.notice_no = $1",
        2, v, ngx_govsvc_notice_checked, ctx);
}


static void
ngx_govsvc_notice_checked(ngx_govsvc_pg_t *pg, PGresult *res, void *data)
{
    ngx_govsvc_ctx_t *ctx = data;

    cJSON               *json;
    ngx_int_t            rc;
    ngx_http_request_t  *r;

    r = ctx->request;

    ngx_govsvc_pg_close(pg);

    if (ngx_govsvc_pg_result(r, res, &rc) != NGX_OK) {
        goto done;
    }

    if (PQntuples(res) != 1) {
        rc = ngx_govsvc_send_error(r, NGX_HTTP_NOT_FOUND, "not_found",
                                   "no such notice", NULL);
        goto done;
    }

    json = cJSON_CreateObject();

    if (json == NULL
        || cJSON_AddBoolToObject(json, "valid",
                                 PQgetvalue(res, 0, 0)[0] == 't') == NULL
        || cJSON_AddStringToObject(json, "kind", PQgetvalue(res, 0, 1))
           == NULL
        || cJSON_AddStringToObject(json, "issued_at", PQgetvalue(res, 0, 2))
           == NULL
        || cJSON_AddStringToObject(json, "issuer", PQgetvalue(res, 0, 3))
           == NULL
        || cJSON_AddBoolToObject(json, "signed",
                                 PQgetvalue(res, 0, 4)[0] == 't') == NULL)
    {
        cJSON_Delete(json);
        rc = NGX_HTTP_INTERNAL_SERVER_ERROR;
        goto done;
    }

    rc = ngx_govsvc_send_cjson(r, NGX_HTTP_OK, json);
    cJSON_Delete(json);

done:

    ngx_govsvc_finalize(r, rc);
}


/* "430102-SL-2026-000001": digits, capitals and '-' */

static ngx_int_t
ngx_govsvc_notice_no(ngx_govsvc_ctx_t *ctx, const char **notice_no)
{
    u_char      *p;
    ngx_str_t   *s;
    ngx_uint_t   i;

    s = &ctx->params[0];

    if (s->len > NGX_GOVSVC_NOTICE_NO_MAX) {
        return NGX_DECLINED;
    }

    for (i = 0; i < s->len; i++) {
        if (!((s->data[i] >= '0' && s->data[i] <= '9')
              || (s->data[i] >= 'A' && s->data[i] <= 'Z')
              || s->data[i] == '-'))
        {
            return NGX_DECLINED;
        }
    }

    p = ngx_pnalloc(ctx->request->pool, s->len + 1);
    if (p == NULL) {
        return NGX_ERROR;
    }

    ngx_cpystrn(p, s->data, s->len + 1);
    *notice_no = (const char *) p;

    return NGX_OK;
}
