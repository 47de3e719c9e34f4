
/*
 * GovSvc: administration (role admin, checked before these handlers run):
 * departments, users, their passwords and client certificates, and the
 * working-day calendar.
 *
 * Each change is one SQL statement that also appends its audit entry
 * (govsvc_audit_append), so that the change and its record commit
 * together in one round trip.  Reads and answers are built by PostgreSQL
 * (json_build_object, json_agg); the password hash never leaves it.
 */


#include "ngx_govsvc.h"
#include "gs_calendar.h"
#include "gs_password.h"
#include "gs_utf8.h"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>


#define NGX_GOVSVC_ADMIN_LIST_MAX      500
#define NGX_GOVSVC_ADMIN_NVALUES       10
#define NGX_GOVSVC_ADMIN_ID_LEN        18      /* digits: fits a bigint */
#define NGX_GOVSVC_SUBJECT_MAX         1024


/* a request's state; values[0..2] are the actor, for the audit entry */

typedef struct {
    ngx_govsvc_ctx_t         *ctx;
    ngx_uint_t                status;          /* the answer on success */
    const char               *fk_field;        /* 23503: 422 on it, or 404 */
    const char               *sql;
    int                       nparams;
    ngx_uint_t                hash_slot;       /* values[] of the hash */
    const char               *values[NGX_GOVSVC_ADMIN_NVALUES];
    const char               *password;
    const char               *old_password;
    ngx_str_t                 cache;           /* Redis key to drop */
    ngx_str_t                 answer;          /* sent once it is dropped */
    ngx_govsvc_redis_cmd_t   *cmd;
    char                      id[NGX_GOVSVC_ADMIN_ID_LEN + 1];
    char                      ref[NGX_GOVSVC_ADMIN_ID_LEN + 1];
    char                      sha256[EVP_MAX_MD_SIZE * 2 + 1];
    char                      date[11];
    char                      not_after[32];
    char                      hash[NGX_GOVSVC_PASSWORD_HASH_LEN];
} ngx_govsvc_admin_t;


static ngx_govsvc_admin_t *ngx_govsvc_admin_new(ngx_govsvc_ctx_t *ctx);
static ngx_int_t ngx_govsvc_admin_start(ngx_govsvc_admin_t *ad,
    ngx_uint_t status, const char *sql, int nparams);
static ngx_int_t ngx_govsvc_admin_query(ngx_govsvc_admin_t *ad);
static void ngx_govsvc_admin_result(ngx_govsvc_pg_t *pg, PGresult *res,
    void *data);
static ngx_int_t ngx_govsvc_admin_db_error(ngx_govsvc_admin_t *ad,
    PGresult *res);
static ngx_int_t ngx_govsvc_admin_list(ngx_govsvc_ctx_t *ctx,
    const char *sql);
static ngx_int_t ngx_govsvc_admin_get(ngx_govsvc_ctx_t *ctx,
    const char *sql);
static ngx_int_t ngx_govsvc_admin_id(ngx_str_t *param, char *out);
static ngx_int_t ngx_govsvc_admin_ref(cJSON *obj, const char *name,
    char *out, ngx_uint_t required, const char **field);
static const char *ngx_govsvc_admin_phone(cJSON *obj, const char **field);
static const char *ngx_govsvc_admin_roles(ngx_http_request_t *r,
    cJSON *obj, ngx_uint_t required, const char **field);
static const char *ngx_govsvc_admin_bool(cJSON *obj, const char *name,
    const char **field);
static const char *ngx_govsvc_admin_password(cJSON *obj, const char *name,
    ngx_uint_t check, const char **field);
static ngx_int_t ngx_govsvc_admin_invalid(ngx_http_request_t *r,
    const char *field);
static ngx_int_t ngx_govsvc_admin_not_found(ngx_http_request_t *r);
static ngx_int_t ngx_govsvc_admin_forbidden(ngx_http_request_t *r);
static ngx_int_t ngx_govsvc_admin_no_content(ngx_http_request_t *r);
static void ngx_govsvc_admin_fail(ngx_http_request_t *r);
static void ngx_govsvc_admin_hash(ngx_govsvc_admin_t *ad);
static void ngx_govsvc_admin_hashed(ngx_govsvc_ctx_t *ctx, ngx_int_t rc);
static void ngx_govsvc_admin_stored(ngx_govsvc_pg_t *pg, PGresult *res,
    void *data);
static void ngx_govsvc_admin_verified(ngx_govsvc_ctx_t *ctx, ngx_int_t rc);
static ngx_int_t ngx_govsvc_admin_cert_parse(ngx_govsvc_admin_t *ad,
    ngx_str_t *pem, const char **subject);
static ngx_int_t ngx_govsvc_admin_calendar_day(ngx_govsvc_admin_t *ad);
static ngx_int_t ngx_govsvc_admin_uncache(ngx_govsvc_admin_t *ad,
    PGresult *res);
static void ngx_govsvc_admin_uncached(redisReply *reply, void *data);
static void ngx_govsvc_admin_uncache_cleanup(void *data);
static ngx_int_t ngx_govsvc_admin_answer(ngx_govsvc_admin_t *ad);


#define NGX_GOVSVC_DEPARTMENT_JSON(t)                                        \
    "json_build_object('id', " t ".id, 'name', " t ".name,"                  \
    " 'region', " t ".region, 'phone', " t ".phone)"

#define NGX_GOVSVC_USER_JSON(t)                                              \
    "json_build_object('id', " t ".id, 'username', " t ".username,"          \
    " 'name', " t ".name, 'department', " t ".department,"                   \
    " 'roles', " t ".roles, 'active', " t ".active)"

/* $1 cursor (the last id shown), $2 limit */
#define NGX_GOVSVC_PAGE(table, columns, json)                                \
    "WITH page AS (SELECT " columns " FROM " table                           \
    "  WHERE id > $1::bigint ORDER BY id LIMIT $2::int + 1),"                \
    " shown AS (SELECT * FROM page ORDER BY id LIMIT $2::int)"               \
    " SELECT json_build_object("                                             \
    "  'items', coalesce((SELECT json_agg(" json " ORDER BY s.id)"           \
    "     FROM shown s), '[]'),"                                             \
    "  'next_cursor', CASE WHEN (SELECT count(*) FROM page) > $2::int"       \
    "     THEN (SELECT max(id) FROM shown)::text END)"


/* ---- departments ---- */

/* GET /api/v1/departments?limit=&cursor= */

ngx_int_t
ngx_govsvc_departments_list(ngx_govsvc_ctx_t *ctx)
{
    return ngx_govsvc_admin_list(ctx,
        NGX_GOVSVC_PAGE("departments", "id, name, region, phone",
                        NGX_GOVSVC_DEPARTMENT_JSON("s")));
}


/* POST /api/v1/departments {"name","region","phone"?} */

ngx_int_t
ngx_govsvc_departments_create(ngx_govsvc_ctx_t *ctx)
{
    size_t               i;
    const char          *field, *region;
    ngx_govsvc_admin_t  *ad;

    ad = ngx_govsvc_admin_new(ctx);
    if (ad == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    field = NULL;

    ad->values[4] = ngx_govsvc_text(ctx->body, "name", 100, 1, &field);
    region = ngx_govsvc_text(ctx->body, "region", 6, 1, &field);
    ad->values[5] = ngx_govsvc_admin_phone(ctx->body, &field);

    if (field == NULL) {
        for (i = 0; i < 6; i++) {
            if (region[i] < '0' || region[i] > '9') {
                break;
            }
        }

        if (i != 6 || region[6] != '\0') {
            field = "region";
        }
    }

    if (field) {
        return ngx_govsvc_admin_invalid(ctx->request, field);
    }

    ad->values[3] = region;
    ad->fk_field = "region";          /* no such region */

    return ngx_govsvc_admin_start(ad, NGX_HTTP_CREATED,
        "WITH d AS (INSERT INTO departments (region, name, phone)"
        "  VALUES ($4, $5, $6) RETURNING id, name, region, phone),"
        " a AS (SELECT govsvc_audit_append($1::bigint, $2, $3,"
        "  'department.create', 'department:' || d.id,"
        "  jsonb_build_object('name', d.name, 'region', d.region,"
        "   'phone', d.phone)) FROM d)"
        " SELECT " NGX_GOVSVC_DEPARTMENT_JSON("d") " FROM d, a",
        6);
}


/* GET /api/v1/departments/{id} */

ngx_int_t
ngx_govsvc_departments_get(ngx_govsvc_ctx_t *ctx)
{
    return ngx_govsvc_admin_get(ctx,
        "SELECT " NGX_GOVSVC_DEPARTMENT_JSON("d")
        " FROM departments d WHERE d.id = $1::bigint");
}


/*
 * PUT /api/v1/departments/{id} {"name"?, "phone"?}: a member left out
 * keeps its value, "phone": null clears it.  The region is not changed:
 * users and cases of the department belong to its node.  Other members
 * are ignored (a client may send back what it read); a PUT that changes
 * nothing writes no audit entry.
 */

ngx_int_t
ngx_govsvc_departments_update(ngx_govsvc_ctx_t *ctx)
{
    const char          *field;
    ngx_govsvc_admin_t  *ad;

    ad = ngx_govsvc_admin_new(ctx);
    if (ad == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ngx_govsvc_admin_id(&ctx->params[0], ad->id) != NGX_OK) {
        return ngx_govsvc_admin_not_found(ctx->request);
    }

    field = NULL;

    ad->values[3] = ad->id;
    ad->values[4] = ngx_govsvc_text(ctx->body, "name", 100, 0, &field);
    ad->values[5] = ngx_govsvc_admin_phone(ctx->body, &field);
    ad->values[6] = cJSON_GetObjectItemCaseSensitive(ctx->body, "phone")
                    ? "t" : "f";

    if (field) {
        return ngx_govsvc_admin_invalid(ctx->request, field);
    }

    return ngx_govsvc_admin_start(ad, NGX_HTTP_OK,
        "WITH o AS (SELECT id, name, phone FROM departments"
        "  WHERE id = $4::bigint FOR UPDATE),"
        " d AS (UPDATE departments SET name = coalesce($5, o.name),"
        "  phone = CASE WHEN $7::boolean THEN $6 ELSE o.phone END,"
        "  updated_at = now() FROM o WHERE departments.id = o.id"
        "  RETURNING departments.id, departments.name,"
        "  departments.region, departments.phone),"
        " a AS (SELECT govsvc_audit_append($1::bigint, $2, $3,"
        "  'department.update', 'department:' || d.id,"
        "  jsonb_strip_nulls(jsonb_build_object("
        "   'name', CASE WHEN d.name <> o.name THEN d.name END,"
        "   'phone', CASE WHEN d.phone IS DISTINCT FROM o.phone"
        "    THEN coalesce(d.phone, '') END))) FROM d, o"
        "  WHERE d.name <> o.name OR d.phone IS DISTINCT FROM o.phone)"
        " SELECT " NGX_GOVSVC_DEPARTMENT_JSON("d")
        " FROM d LEFT JOIN a ON true",
        7);
}


/* ---- users ---- */

/* GET /api/v1/users?limit=&cursor= */

ngx_int_t
ngx_govsvc_users_list(ngx_govsvc_ctx_t *ctx)
{
    return ngx_govsvc_admin_list(ctx,
        NGX_GOVSVC_PAGE("users",
                        "id, username, name, department, roles, active",
                        NGX_GOVSVC_USER_JSON("s")));
}


/*
 * POST /api/v1/users {"username","name","department","roles":[...],
 * "active"?, "password"}: the password is hashed in the thread pool, then
 * the user is inserted.
 */

ngx_int_t
ngx_govsvc_users_create(ngx_govsvc_ctx_t *ctx)
{
    size_t               i;
    const char          *field, *username;
    ngx_http_request_t  *r;
    ngx_govsvc_admin_t  *ad;

    r = ctx->request;

    ad = ngx_govsvc_admin_new(ctx);
    if (ad == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    field = NULL;

    username = ngx_govsvc_text(ctx->body, "username", 64, 1, &field);

    for (i = 0; username && username[i]; i++) {
        if (!((username[i] >= 'A' && username[i] <= 'Z')
              || (username[i] >= 'a' && username[i] <= 'z')
              || (username[i] >= '0' && username[i] <= '9')
              || username[i] == '_' || username[i] == '.'
              || username[i] == '-'))
        {
            if (field == NULL) {
                field = "username";
            }

            break;
        }
    }

    ad->values[3] = username;
    ad->values[4] = ngx_govsvc_text(ctx->body, "name", 50, 1, &field);

    if (ngx_govsvc_admin_ref(ctx->body, "department", ad->ref, 1, &field)
        == NGX_OK)
    {
        ad->values[5] = ad->ref;
    }

    ad->values[6] = ngx_govsvc_admin_roles(r, ctx->body, 1, &field);
    ad->values[7] = ngx_govsvc_admin_bool(ctx->body, "active", &field);
    ad->password = ngx_govsvc_admin_password(ctx->body, "password", 1,
                                             &field);

    if (field) {
        return ngx_govsvc_admin_invalid(r, field);
    }

    if (ad->values[6] == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ad->values[7] == NULL) {
        ad->values[7] = "t";
    }

    ad->status = NGX_HTTP_CREATED;
    ad->fk_field = "department";
    ad->hash_slot = 8;
    ad->nparams = 9;
    ad->sql =
        "WITH u AS (INSERT INTO users (username, name, department, roles,"
        "  active, password_hash)"
        "  VALUES ($4, $5, $6::bigint, $7::text[], $8::boolean, $9)"
        "  RETURNING id, username, name, department, roles, active),"
        " a AS (SELECT govsvc_audit_append($1::bigint, $2, $3,"
        "  'user.create', 'user:' || u.id,"
        "  jsonb_build_object('username', u.username, 'department',"
        "   u.department, 'roles', to_jsonb(u.roles), 'active', u.active))"
        "  FROM u)"
        " SELECT " NGX_GOVSVC_USER_JSON("u") " FROM u, a";

    r->main->count++;

    ngx_govsvc_admin_hash(ad);

    return NGX_DONE;
}


/* GET /api/v1/users/{id} */

ngx_int_t
ngx_govsvc_users_get(ngx_govsvc_ctx_t *ctx)
{
    return ngx_govsvc_admin_get(ctx,
        "SELECT " NGX_GOVSVC_USER_JSON("u")
        " FROM users u WHERE u.id = $1::bigint");
}


/*
 * PUT /api/v1/users/{id} {"name"?, "department"?, "roles"?, "active"?}:
 * a member left out keeps its value.  The audit entry lists what changed
 * (none when nothing did); it is user.disable when "active" goes false.  A disabled user's
 * sessions stop at once: the session check reads users.active on every
 * request.
 */

ngx_int_t
ngx_govsvc_users_update(ngx_govsvc_ctx_t *ctx)
{
    cJSON               *roles;
    const char          *field;
    ngx_http_request_t  *r;
    ngx_govsvc_admin_t  *ad;

    r = ctx->request;

    ad = ngx_govsvc_admin_new(ctx);
    if (ad == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ngx_govsvc_admin_id(&ctx->params[0], ad->id) != NGX_OK) {
        return ngx_govsvc_admin_not_found(r);
    }

    field = NULL;

    ad->values[3] = ad->id;
    ad->values[4] = ngx_govsvc_text(ctx->body, "name", 50, 0, &field);

    if (ngx_govsvc_admin_ref(ctx->body, "department", ad->ref, 0, &field)
        == NGX_OK)
    {
        ad->values[5] = ad->ref;
    }

    ad->values[6] = ngx_govsvc_admin_roles(r, ctx->body, 0, &field);
    ad->values[7] = ngx_govsvc_admin_bool(ctx->body, "active", &field);

    if (field) {
        return ngx_govsvc_admin_invalid(r, field);
    }

    roles = cJSON_GetObjectItemCaseSensitive(ctx->body, "roles");

    if (ad->values[6] == NULL && roles && !cJSON_IsNull(roles)) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;      /* out of memory */
    }

    ad->fk_field = "department";

    return ngx_govsvc_admin_start(ad, NGX_HTTP_OK,
        "WITH o AS (SELECT id, name, department, roles, active FROM users"
        "  WHERE id = $4::bigint FOR UPDATE),"
        " u AS (UPDATE users SET name = coalesce($5, o.name),"
        "  department = coalesce($6::bigint, o.department),"
        "  roles = coalesce($7::text[], o.roles),"
        "  active = coalesce($8::boolean, o.active),"
        "  updated_at = now() FROM o WHERE users.id = o.id"
        "  RETURNING users.id, users.username, users.name,"
        "  users.department, users.roles, users.active),"
        " a AS (SELECT govsvc_audit_append($1::bigint, $2, $3,"
        "  CASE WHEN o.active AND NOT u.active THEN 'user.disable'"
        "   ELSE 'user.update' END, 'user:' || u.id,"
        "  jsonb_strip_nulls(jsonb_build_object("
        "   'name', CASE WHEN u.name <> o.name THEN u.name END,"
        "   'department', CASE WHEN u.department <> o.department"
        "    THEN u.department END,"
        "   'roles', CASE WHEN u.roles <> o.roles"
        "    THEN to_jsonb(u.roles) END,"
        "   'active', CASE WHEN u.active <> o.active THEN u.active END)))"
        "  FROM u, o WHERE u.name <> o.name"
        "   OR u.department <> o.department OR u.roles <> o.roles"
        "   OR u.active <> o.active)"
        " SELECT " NGX_GOVSVC_USER_JSON("u") " FROM u LEFT JOIN a ON true",
        8);
}


/*
 * POST /api/v1/users/{id}/password {"password", "old_password"?} -> 204.
 *
 * An admin sets anyone's; any other user only their own, and only with
 * the right old password (403 otherwise).  A new password ends every
 * other session of the user in the same statement (UPDATE sessions SET
 * revoked_at): whoever may have learnt the old one is out at once, while
 * the session that made the change stays signed in.
 */

ngx_int_t
ngx_govsvc_users_password(ngx_govsvc_ctx_t *ctx)
{
    int64_t              id;
    ngx_uint_t           admin;
    const char          *field;
    ngx_http_request_t  *r;
    ngx_govsvc_admin_t  *ad;

    r = ctx->request;

    ad = ngx_govsvc_admin_new(ctx);
    if (ad == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ngx_govsvc_admin_id(&ctx->params[0], ad->id) != NGX_OK) {
        return ngx_govsvc_admin_not_found(r);
    }

    id = ngx_atoof((u_char *) ad->id, ngx_strlen(ad->id));
    admin = ctx->user->roles & NGX_GOVSVC_ROLE_ADMIN;

    if (!admin && ctx->user->id != id) {
        return ngx_govsvc_admin_forbidden(r);
    }

    field = NULL;

    ad->password = ngx_govsvc_admin_password(ctx->body, "password", 1,
                                             &field);
    if (!admin) {
        ad->old_password = ngx_govsvc_admin_password(ctx->body,
                                                     "old_password", 0,
                                                     &field);
    }

    if (field) {
        return ngx_govsvc_admin_invalid(r, field);
    }

    ad->values[3] = ad->id;
    ad->values[5] = (const char *) ctx->user->token_hash;
    ad->status = NGX_HTTP_NO_CONTENT;
    ad->hash_slot = 4;
    ad->nparams = 6;
    ad->sql =
        "WITH u AS (UPDATE users SET password_hash = $5,"
        "  updated_at = now() WHERE id = $4::bigint RETURNING id),"
        " s AS (UPDATE sessions SET revoked_at = now()"
        "  WHERE user_id IN (SELECT id FROM u) AND revoked_at IS NULL"
        "  AND token_hash <> $6 RETURNING 1),"
        " a AS (SELECT govsvc_audit_append($1::bigint, $2, $3,"
        "  'user.password', 'user:' || u.id,"
        "  jsonb_build_object('sessions_ended', (SELECT count(*) FROM s)))"
        "  FROM u)"
        " SELECT '{}'::json FROM u, a";

    if (admin) {
        r->main->count++;
        ngx_govsvc_admin_hash(ad);
        return NGX_DONE;
    }

    /* the user itself: the old password first */

    return ngx_govsvc_query(ctx,
            "SELECT password_hash FROM users"
            " WHERE id = $1::bigint AND active AND password_hash IS NOT NULL",
            1, &ad->values[3], ngx_govsvc_admin_stored, ad);
}


static void
ngx_govsvc_admin_stored(ngx_govsvc_pg_t *pg, PGresult *res, void *data)
{
    ngx_govsvc_admin_t *ad = data;

    u_char              *stored;
    ngx_int_t            rc;
    ngx_http_request_t  *r;

    r = ad->ctx->request;

    ngx_govsvc_pg_close(pg);

    if (ngx_govsvc_pg_result(r, res, &rc) != NGX_OK) {
        /* answered: 503, or the statement's error */

    } else if (PQntuples(res) == 0 || PQgetisnull(res, 0, 0)) {
        rc = ngx_govsvc_admin_forbidden(r);

    } else {
        /* res is the driver's: copy the hash out of it */
        stored = ngx_pnalloc(r->pool, PQgetlength(res, 0, 0) + 1);
        if (stored == NULL) {
            ngx_govsvc_admin_fail(r);
            return;
        }

        (void) ngx_cpystrn(stored, (u_char *) PQgetvalue(res, 0, 0),
                           PQgetlength(res, 0, 0) + 1);

        if (ngx_govsvc_password_verify(ad->ctx, ad->old_password,
                                       (const char *) stored,
                                       ngx_govsvc_admin_verified)
            != NGX_OK)
        {
            ngx_govsvc_admin_fail(r);
        }

        return;
    }

    ngx_govsvc_finalize(r, rc);
}


static void
ngx_govsvc_admin_verified(ngx_govsvc_ctx_t *ctx, ngx_int_t rc)
{
    if (rc == NGX_DECLINED) {
        ngx_govsvc_finalize(ctx->request,
                            ngx_govsvc_admin_forbidden(ctx->request));
        return;
    }

    if (rc != NGX_OK) {
        ngx_govsvc_admin_fail(ctx->request);
        return;
    }

    ngx_govsvc_admin_hash(ctx->data);
}


/* ---- certificates ---- */

/*
 * POST /api/v1/users/{id}/certificates, one PEM certificate: bound by the
 * SHA-256 of its DER encoding.  409 duplicate when it is bound already
 * (to this user or another).
 */

ngx_int_t
ngx_govsvc_users_cert_bind(ngx_govsvc_ctx_t *ctx)
{
    ngx_int_t            rc;
    const char          *subject;
    ngx_http_request_t  *r;
    ngx_govsvc_admin_t  *ad;

    r = ctx->request;

    ad = ngx_govsvc_admin_new(ctx);
    if (ad == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ngx_govsvc_admin_id(&ctx->params[0], ad->id) != NGX_OK) {
        return ngx_govsvc_admin_not_found(r);
    }

    rc = ngx_govsvc_admin_cert_parse(ad, &ctx->raw, &subject);

    if (rc == NGX_DECLINED) {
        return ngx_govsvc_admin_invalid(r, "certificate");
    }

    if (rc != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ad->values[3] = ad->id;
    ad->values[4] = ad->sha256;
    ad->values[5] = subject;
    ad->values[6] = ad->not_after[0] ? ad->not_after : NULL;

    return ngx_govsvc_admin_start(ad, NGX_HTTP_CREATED,
        "WITH c AS (INSERT INTO user_certificates (sha256, user_id,"
        "  subject, not_after)"
        "  SELECT $5, id, $6, $7::timestamptz FROM users"
        "  WHERE id = $4::bigint"
        "  RETURNING sha256, user_id, subject, not_after),"
        " a AS (SELECT govsvc_audit_append($1::bigint, $2, $3,"
        "  'certificate.bind', 'certificate:' || c.sha256,"
        "  jsonb_build_object('user', c.user_id, 'subject', c.subject))"
        "  FROM c)"
        " SELECT json_build_object('sha256', c.sha256,"
        "  'subject', c.subject,"
        "  'not_after', to_char(c.not_after AT TIME ZONE 'Asia/Shanghai',"
        "   'YYYY-MM-DD\"T\"HH24:MI:SS\"+08:00\"'),"
        "  'user', c.user_id) FROM c, a",
        7);
}


/*
 * DELETE /api/v1/users/{id}/certificates/{sha256} -> 204, 404 when it is
 * not bound to that user.  The session check requires the binding, so
 * sessions opened with it end at once; they are also marked revoked here,
 * so that binding the certificate again does not bring them back.
 */

ngx_int_t
ngx_govsvc_users_cert_unbind(ngx_govsvc_ctx_t *ctx)
{
    size_t               i;
    u_char               c;
    ngx_str_t           *sha;
    ngx_http_request_t  *r;
    ngx_govsvc_admin_t  *ad;

    r = ctx->request;

    ad = ngx_govsvc_admin_new(ctx);
    if (ad == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ngx_govsvc_admin_id(&ctx->params[0], ad->id) != NGX_OK) {
        return ngx_govsvc_admin_not_found(r);
    }

    sha = &ctx->params[1];

    if (sha->len != 64) {
        return ngx_govsvc_admin_not_found(r);
    }

    for (i = 0; i < 64; i++) {
        c = ngx_tolower(sha->data[i]);

        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
            return ngx_govsvc_admin_not_found(r);
        }

        ad->sha256[i] = c;
    }

    ad->sha256[64] = '\0';

    ad->values[3] = ad->id;
    ad->values[4] = ad->sha256;

    return ngx_govsvc_admin_start(ad, NGX_HTTP_NO_CONTENT,
        "WITH c AS (DELETE FROM user_certificates"
        "  WHERE sha256 = $5 AND user_id = $4::bigint"
        "  RETURNING sha256, user_id, subject),"
        " s AS (UPDATE sessions SET revoked_at = now()"
        "  WHERE cert_sha256 IN (SELECT sha256 FROM c)"
        "  AND revoked_at IS NULL RETURNING 1),"
        " a AS (SELECT govsvc_audit_append($1::bigint, $2, $3,"
        "  'certificate.unbind', 'certificate:' || c.sha256,"
        "  jsonb_build_object('user', c.user_id, 'subject', c.subject,"
        "   'sessions_ended', (SELECT count(*) FROM s))) FROM c)"
        " SELECT '{}'::json FROM c, a",
        5);
}


/*
 * The certificate of a PEM body: NGX_OK (ad->sha256, ad->not_after and
 * *subject set), NGX_DECLINED when the body is not exactly one readable
 * certificate, NGX_ERROR.  The subject is RFC 2253, one line of UTF-8
 * (names are often Chinese).
 */

static ngx_int_t
ngx_govsvc_admin_cert_parse(ngx_govsvc_admin_t *ad, ngx_str_t *pem,
    const char **subject)
{
    int                  n;
    BIO                 *in, *out;
    X509                *x;
    u_char              *p, *end, *s;
    long                 len;
    char                *rest;
    struct tm            tm;
    ngx_int_t            rc;
    unsigned int         mdlen;
    unsigned char        md[EVP_MAX_MD_SIZE];
    const ASN1_TIME     *t;
    static const char    begin[] = "-----BEGIN CERTIFICATE-----";

    p = pem->data;
    end = pem->data + pem->len;

    while (p < end && (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')) {
        p++;
    }

    if ((size_t) (end - p) < sizeof(begin) - 1
        || ngx_strncmp(p, begin, sizeof(begin) - 1) != 0
        || pem->len > INT_MAX)
    {
        return NGX_DECLINED;
    }

    in = BIO_new_mem_buf(pem->data, (int) pem->len);
    out = BIO_new(BIO_s_mem());
    x = NULL;

    if (in == NULL || out == NULL) {
        rc = NGX_ERROR;
        goto done;
    }

    x = PEM_read_bio_X509(in, NULL, NULL, NULL);
    if (x == NULL) {
        rc = NGX_DECLINED;
        goto done;
    }

    /* nothing but white space may follow: no second certificate, no key */

    len = BIO_get_mem_data(in, &rest);

    for (n = 0; n < len; n++) {
        if (rest[n] != ' ' && rest[n] != '\t' && rest[n] != '\r'
            && rest[n] != '\n')
        {
            rc = NGX_DECLINED;
            goto done;
        }
    }

    if (X509_digest(x, EVP_sha256(), md, &mdlen) != 1) {
        rc = NGX_ERROR;
        goto done;
    }

    *ngx_hex_dump((u_char *) ad->sha256, md, mdlen) = '\0';

    if (X509_NAME_print_ex(out, X509_get_subject_name(x), 0,
                           XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB)
        < 0)
    {
        rc = NGX_DECLINED;
        goto done;
    }

    len = BIO_get_mem_data(out, &rest);

    if (len < 0 || len > NGX_GOVSVC_SUBJECT_MAX
        || !gs_utf8_valid_text((u_char *) rest, len))
    {
        rc = NGX_DECLINED;
        goto done;
    }

    s = ngx_pnalloc(ad->ctx->request->pool, len + 1);
    if (s == NULL) {
        rc = NGX_ERROR;
        goto done;
    }

    ngx_memcpy(s, rest, len);
    s[len] = '\0';
    *subject = (const char *) s;

    t = X509_get0_notAfter(x);

    if (t == NULL || ASN1_TIME_to_tm(t, &tm) != 1
        || tm.tm_year + 1900 > 9999)
    {
        rc = NGX_DECLINED;
        goto done;
    }

    ngx_sprintf((u_char *) ad->not_after, "%04d-%02d-%02dT%02d:%02d:%02dZ%Z",
                tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                tm.tm_hour, tm.tm_min, tm.tm_sec);

    rc = NGX_OK;

done:

    if (rc != NGX_OK) {
        ERR_clear_error();
    }

    X509_free(x);
    BIO_free(in);
    BIO_free(out);

    return rc;
}


/* ---- calendar ---- */

/*
 * PUT /api/v1/calendar/{date} {"kind":"holiday"|"workday","name"?}.
 *
 * After the change the year's cached answer (govsvc:calendar:YEAR) is
 * dropped from Redis, fire and forget: if Redis is away at that moment,
 * the cached year stays stale until govsvc_cache_ttl runs out.
 */

ngx_int_t
ngx_govsvc_calendar_put(ngx_govsvc_ctx_t *ctx)
{
    const char          *field, *kind, *name;
    ngx_int_t            rc;
    ngx_govsvc_admin_t  *ad;

    ad = ngx_govsvc_admin_new(ctx);
    if (ad == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    rc = ngx_govsvc_admin_calendar_day(ad);

    if (rc == NGX_DECLINED) {
        return ngx_govsvc_admin_invalid(ctx->request, "date");
    }

    if (rc != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    field = NULL;

    kind = ngx_govsvc_text(ctx->body, "kind", 7, 1, &field);
    name = ngx_govsvc_text(ctx->body, "name", 50, 0, &field);

    if (field == NULL && ngx_strcmp(kind, "holiday") != 0
        && ngx_strcmp(kind, "workday") != 0)
    {
        field = "kind";
    }

    if (field) {
        return ngx_govsvc_admin_invalid(ctx->request, field);
    }

    ad->values[3] = ad->date;
    ad->values[4] = kind;
    ad->values[5] = name ? name : "";

    return ngx_govsvc_admin_start(ad, NGX_HTTP_OK,
        "WITH c AS (INSERT INTO calendar_days (day, kind, name)"
        "  VALUES ($4::date, $5, $6)"
        "  ON CONFLICT (day) DO UPDATE SET kind = EXCLUDED.kind,"
        "  name = EXCLUDED.name, updated_at = now()"
        "  RETURNING day, kind, name),"
        " a AS (SELECT govsvc_audit_append($1::bigint, $2, $3,"
        "  'calendar.set', 'calendar:' || c.day,"
        "  jsonb_build_object('kind', c.kind, 'name', c.name)) FROM c)"
        " SELECT json_build_object('date', c.day, 'kind', c.kind,"
        "  'name', c.name) FROM c, a",
        6);
}


/* DELETE /api/v1/calendar/{date} -> 204, 404 when the day is not listed */

ngx_int_t
ngx_govsvc_calendar_delete(ngx_govsvc_ctx_t *ctx)
{
    ngx_int_t            rc;
    ngx_govsvc_admin_t  *ad;

    ad = ngx_govsvc_admin_new(ctx);
    if (ad == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    rc = ngx_govsvc_admin_calendar_day(ad);

    if (rc == NGX_DECLINED) {
        return ngx_govsvc_admin_invalid(ctx->request, "date");
    }

    if (rc != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ad->values[3] = ad->date;

    return ngx_govsvc_admin_start(ad, NGX_HTTP_NO_CONTENT,
        "WITH c AS (DELETE FROM calendar_days WHERE day = $4::date"
        "  RETURNING day, kind, name),"
        " a AS (SELECT govsvc_audit_append($1::bigint, $2, $3,"
        "  'calendar.delete', 'calendar:' || c.day,"
        "  jsonb_build_object('kind', c.kind, 'name', c.name)) FROM c)"
        " SELECT '{}'::json FROM c, a",
        4);
}


/* the {date} of the path into ad->date, and the year's cache key:
 * NGX_OK, NGX_DECLINED (not a date) or NGX_ERROR */

static ngx_int_t
ngx_govsvc_admin_calendar_day(ngx_govsvc_admin_t *ad)
{
    int                  y, m, d;
    gs_date_t            date;
    ngx_http_request_t  *r;

    r = ad->ctx->request;

    if (gs_date_parse((const char *) ad->ctx->params[0].data,
                      ad->ctx->params[0].len, &date)
        != 0)
    {
        return NGX_DECLINED;
    }

    gs_date_format(date, ad->date);
    gs_date_to_ymd(date, &y, &m, &d);

    ad->cache.data = ngx_pnalloc(r->pool, sizeof("govsvc:calendar:") + 4);
    if (ad->cache.data == NULL) {
        return NGX_ERROR;
    }

    ad->cache.len = ngx_sprintf(ad->cache.data, "govsvc:calendar:%d", y)
                    - ad->cache.data;

    return NGX_OK;
}


/*
 * After a change of what Redis caches: a tombstone in place of the key for
 * govsvc_cache_ttl (fills are SET NX, so a fill from a read that raced the
 * change cannot land), and the answer only once Redis has it, so that the
 * next read anywhere misses.  NGX_DONE: the answer waits for Redis;
 * NGX_DECLINED: answer now (no Redis, or Redis away: the entry then stays
 * stale until govsvc_cache_ttl, logged).
 */

static ngx_int_t
ngx_govsvc_admin_uncache(ngx_govsvc_admin_t *ad, PGresult *res)
{
    u_char                   ttl[NGX_INT_T_LEN];
    const char              *argv[5];
    size_t                   argvlen[5];
    ngx_http_request_t      *r;
    ngx_pool_cleanup_t      *cln;
    ngx_govsvc_main_conf_t  *gmcf;

    r = ad->ctx->request;
    gmcf = ngx_http_get_module_main_conf(r, ngx_govsvc_module);

    if (gmcf->redis == NULL) {
        return NGX_DECLINED;
    }

    ad->answer.len = PQgetlength(res, 0, 0);
    ad->answer.data = ngx_pnalloc(r->pool, ad->answer.len);
    cln = ngx_pool_cleanup_add(r->pool, 0);

    if (ad->answer.data == NULL || cln == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(ad->answer.data, PQgetvalue(res, 0, 0), ad->answer.len);

    argv[0] = "SET";
    argvlen[0] = 3;
    argv[1] = (const char *) ad->cache.data;
    argvlen[1] = ad->cache.len;
    argv[2] = "";
    argvlen[2] = 0;
    argv[3] = "PX";
    argvlen[3] = 2;
    argv[4] = (const char *) ttl;
    argvlen[4] = ngx_sprintf(ttl, "%M", gmcf->cache_ttl) - ttl;

    ad->cmd = ngx_govsvc_redis_command(gmcf->redis,
                                       ngx_govsvc_admin_uncached, ad,
                                       5, argv, argvlen);
    if (ad->cmd == NULL) {
        ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                      "govsvc: could not drop \"%V\" from Redis; it stays "
                      "stale until govsvc_cache_ttl", &ad->cache);
        return NGX_DECLINED;
    }

    cln->handler = ngx_govsvc_admin_uncache_cleanup;
    cln->data = ad;

    r->main->count++;

    return NGX_DONE;
}


static void
ngx_govsvc_admin_uncached(redisReply *reply, void *data)
{
    ngx_govsvc_admin_t *ad = data;

    ngx_http_request_t  *r;

    ad->cmd = NULL;
    r = ad->ctx->request;

    if (reply == NULL || reply->type == REDIS_REPLY_ERROR) {
        ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                      "govsvc: could not drop \"%V\" from Redis; it stays "
                      "stale until govsvc_cache_ttl", &ad->cache);
    }

    ngx_govsvc_finalize(r, ngx_govsvc_admin_answer(ad));
}


static void
ngx_govsvc_admin_uncache_cleanup(void *data)
{
    ngx_govsvc_admin_t *ad = data;

    if (ad->cmd) {
        ngx_govsvc_redis_cancel(ad->cmd);
        ad->cmd = NULL;
    }
}


/* the answer of a change that succeeded: ad->answer, or 204 */

static ngx_int_t
ngx_govsvc_admin_answer(ngx_govsvc_admin_t *ad)
{
    if (ad->status == NGX_HTTP_NO_CONTENT) {
        return ngx_govsvc_admin_no_content(ad->ctx->request);
    }

    return ngx_govsvc_send_json(ad->ctx->request, ad->status,
                                ad->answer.data, ad->answer.len);
}


/* ---- shared steps ---- */

static ngx_govsvc_admin_t *
ngx_govsvc_admin_new(ngx_govsvc_ctx_t *ctx)
{
    ngx_govsvc_admin_t  *ad;

    ad = ngx_pcalloc(ctx->request->pool, sizeof(ngx_govsvc_admin_t));
    if (ad == NULL) {
        return NULL;
    }

    ad->ctx = ctx;
    ctx->data = ad;

    ngx_govsvc_actor(ctx, ad->values);

    return ad;
}


/* from a handler: sends the statement and keeps the request */

static ngx_int_t
ngx_govsvc_admin_start(ngx_govsvc_admin_t *ad, ngx_uint_t status,
    const char *sql, int nparams)
{
    ngx_int_t            rc;
    ngx_http_request_t  *r;

    r = ad->ctx->request;

    ad->status = status;
    ad->sql = sql;
    ad->nparams = nparams;

    rc = ngx_govsvc_admin_query(ad);

    if (rc == NGX_ERROR) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (rc == NGX_DECLINED) {
        return ngx_govsvc_send_unavailable(r, "the database is unavailable");
    }

    r->main->count++;

    return NGX_DONE;
}


static ngx_int_t
ngx_govsvc_admin_query(ngx_govsvc_admin_t *ad)
{
    ad->ctx->pg = ngx_govsvc_pg_open(ad->ctx->request);
    if (ad->ctx->pg == NULL) {
        return NGX_ERROR;
    }

    if (ngx_govsvc_pg_query(ad->ctx->pg, ad->sql, ad->nparams, ad->values,
                            ngx_govsvc_admin_result, ad)
        != NGX_OK)
    {
        return NGX_DECLINED;
    }

    return NGX_OK;
}


static void
ngx_govsvc_admin_result(ngx_govsvc_pg_t *pg, PGresult *res, void *data)
{
    ngx_govsvc_admin_t *ad = data;

    ngx_int_t            rc;
    ngx_http_request_t  *r;

    r = ad->ctx->request;

    ngx_govsvc_pg_close(pg);

    if (res == NULL) {
        rc = ngx_govsvc_send_unavailable(r, "the database is unavailable");

    } else if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        rc = ngx_govsvc_admin_db_error(ad, res);

    } else if (PQntuples(res) == 0 || PQgetisnull(res, 0, 0)) {
        rc = ngx_govsvc_admin_not_found(r);

    } else {
        rc = ad->cache.len ? ngx_govsvc_admin_uncache(ad, res) : NGX_DECLINED;

        if (rc == NGX_ERROR) {
            rc = NGX_HTTP_INTERNAL_SERVER_ERROR;

        } else if (rc == NGX_DECLINED) {
            ad->answer.data = (u_char *) PQgetvalue(res, 0, 0);
            ad->answer.len = PQgetlength(res, 0, 0);
            rc = ngx_govsvc_admin_answer(ad);
        }
    }

    ngx_govsvc_finalize(r, rc);
}


/* a reference that does not exist: 422 on the field that holds it, or
 * 404 when it came in the path; the rest as ngx_govsvc_db_error() */

static ngx_int_t
ngx_govsvc_admin_db_error(ngx_govsvc_admin_t *ad, PGresult *res)
{
    const char          *state;
    ngx_http_request_t  *r;

    r = ad->ctx->request;
    state = PQresultErrorField(res, PG_DIAG_SQLSTATE);

    if (state && ngx_strcmp(state, "23503") == 0) {
        if (ad->fk_field) {
            return ngx_govsvc_admin_invalid(r, ad->fk_field);
        }

        return ngx_govsvc_admin_not_found(r);
    }

    return ngx_govsvc_db_error(r, res);
}


/* lists: $1 cursor (the last id shown), $2 limit */

static ngx_int_t
ngx_govsvc_admin_list(ngx_govsvc_ctx_t *ctx, const char *sql)
{
    char                *s;
    ngx_int_t            n;
    ngx_str_t            cursor;
    ngx_http_request_t  *r;
    ngx_govsvc_admin_t  *ad;

    r = ctx->request;

    ad = ngx_govsvc_admin_new(ctx);
    if (ad == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    s = ngx_govsvc_arg(r, "cursor");

    if (s == NULL) {
        ad->values[3] = "0";

    } else {
        cursor.data = (u_char *) s;
        cursor.len = ngx_strlen(s);

        if (ngx_govsvc_admin_id(&cursor, ad->ref) != NGX_OK) {
            return ngx_govsvc_send_error(r, NGX_HTTP_BAD_REQUEST,
                                         "invalid_request",
                                         "cursor is not one this list gave",
                                         "cursor");
        }

        ad->values[3] = ad->ref;
    }

    s = ngx_govsvc_arg(r, "limit");

    if (s == NULL) {
        ad->values[4] = "50";

    } else {
        n = ngx_atoi((u_char *) s, ngx_strlen(s));

        if (n < 1 || n > NGX_GOVSVC_ADMIN_LIST_MAX) {
            return ngx_govsvc_send_error(r, NGX_HTTP_BAD_REQUEST,
                                         "invalid_request",
                                         "limit must be 1 to 500", "limit");
        }

        ad->values[4] = s;
    }

    ad->status = NGX_HTTP_OK;
    ad->sql = sql;
    ad->nparams = 2;

    return ngx_govsvc_query(ctx, sql, 2, &ad->values[3],
                            ngx_govsvc_admin_result, ad);
}


/* one row by the {id} of the path: $1 */

static ngx_int_t
ngx_govsvc_admin_get(ngx_govsvc_ctx_t *ctx, const char *sql)
{
    const char  **values;
    u_char       *id;

    id = ngx_pnalloc(ctx->request->pool, NGX_GOVSVC_ADMIN_ID_LEN + 1);
    values = ngx_palloc(ctx->request->pool, sizeof(char *));
    if (id == NULL || values == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ngx_govsvc_admin_id(&ctx->params[0], (char *) id) != NGX_OK) {
        return ngx_govsvc_admin_not_found(ctx->request);
    }

    values[0] = (const char *) id;

    return ngx_govsvc_json_query(ctx, NGX_HTTP_OK, sql, 1, values);
}


/* a positive integer that fits a bigint, as text without leading zeros */

static ngx_int_t
ngx_govsvc_admin_id(ngx_str_t *param, char *out)
{
    size_t  i;

    if (param->len == 0 || param->len > NGX_GOVSVC_ADMIN_ID_LEN
        || param->data[0] == '0')
    {
        return NGX_DECLINED;
    }

    for (i = 0; i < param->len; i++) {
        if (param->data[i] < '0' || param->data[i] > '9') {
            return NGX_DECLINED;
        }

        out[i] = param->data[i];
    }

    out[i] = '\0';

    return NGX_OK;
}


/* a positive integer member (an id) into out: NGX_OK, or NGX_DECLINED
 * when absent or at fault (*field set) */

static ngx_int_t
ngx_govsvc_admin_ref(cJSON *obj, const char *name, char *out,
    ngx_uint_t required, const char **field)
{
    cJSON  *item;

    item = cJSON_GetObjectItemCaseSensitive(obj, name);

    if (item == NULL || cJSON_IsNull(item)) {
        if (required && *field == NULL) {
            *field = name;
        }

        return NGX_DECLINED;
    }

    if (!cJSON_IsNumber(item) || item->valuedouble < 1
        || item->valuedouble > 9007199254740991.0
        || item->valuedouble != (double) (int64_t) item->valuedouble)
    {
        if (*field == NULL) {
            *field = name;
        }

        return NGX_DECLINED;
    }

    ngx_sprintf((u_char *) out, "%L%Z", (int64_t) item->valuedouble);

    return NGX_OK;
}


/* "phone": optional, digits, '-', '+' and spaces, at most 32 */

static const char *
ngx_govsvc_admin_phone(cJSON *obj, const char **field)
{
    size_t       i;
    const char  *phone, *before;

    before = *field;
    phone = ngx_govsvc_text(obj, "phone", 32, 0, field);

    if (phone == NULL || before != *field) {
        return NULL;
    }

    for (i = 0; phone[i]; i++) {
        if ((phone[i] < '0' || phone[i] > '9') && phone[i] != '-'
            && phone[i] != '+' && phone[i] != ' ')
        {
            if (*field == NULL) {
                *field = "phone";
            }

            return NULL;
        }
    }

    return phone;
}


/*
 * "roles": a non-empty array of role names without repeats, as a
 * PostgreSQL array literal in the canonical order of
 * ngx_govsvc_role_names (the names are our own, never the client's text).
 * NULL when absent (not allowed when required), at fault (*field set), or
 * out of memory.
 */

static const char *
ngx_govsvc_admin_roles(ngx_http_request_t *r, cJSON *obj,
    ngx_uint_t required, const char **field)
{
    u_char      *lit, *p;
    cJSON       *roles, *item;
    ngx_uint_t   i, mask, bit;

    roles = cJSON_GetObjectItemCaseSensitive(obj, "roles");

    if (roles == NULL || cJSON_IsNull(roles)) {
        if (required && *field == NULL) {
            *field = "roles";
        }

        return NULL;
    }

    if (!cJSON_IsArray(roles) || cJSON_GetArraySize(roles) == 0) {
        goto invalid;
    }

    mask = 0;

    cJSON_ArrayForEach(item, roles) {
        if (!cJSON_IsString(item)) {
            goto invalid;
        }

        for (i = 0; i < NGX_GOVSVC_NROLES; i++) {
            if (ngx_strcmp(item->valuestring, ngx_govsvc_role_names[i]) == 0)
            {
                break;
            }
        }

        bit = (ngx_uint_t) 1 << i;

        if (i == NGX_GOVSVC_NROLES || (mask & bit)) {
            goto invalid;
        }

        mask |= bit;
    }

    lit = ngx_pnalloc(r->pool, 128);
    if (lit == NULL) {
        return NULL;
    }

    p = lit;
    *p++ = '{';

    for (i = 0; i < NGX_GOVSVC_NROLES; i++) {
        if (mask & ((ngx_uint_t) 1 << i)) {
            if (p != lit + 1) {
                *p++ = ',';
            }

            p = ngx_cpymem(p, ngx_govsvc_role_names[i],
                           ngx_strlen(ngx_govsvc_role_names[i]));
        }
    }

    *p++ = '}';
    *p = '\0';

    return (const char *) lit;

invalid:

    if (*field == NULL) {
        *field = "roles";
    }

    return NULL;
}


/* a boolean member as "t" or "f"; NULL when absent or at fault */

static const char *
ngx_govsvc_admin_bool(cJSON *obj, const char *name, const char **field)
{
    cJSON  *item;

    item = cJSON_GetObjectItemCaseSensitive(obj, name);

    if (item == NULL || cJSON_IsNull(item)) {
        return NULL;
    }

    if (!cJSON_IsBool(item)) {
        if (*field == NULL) {
            *field = name;
        }

        return NULL;
    }

    return cJSON_IsTrue(item) ? "t" : "f";
}


/*
 * A password member, required: with check, one the policy of
 * gs_password_acceptable() takes (8 to 256 bytes of text); without, any
 * non-empty string (an old password is compared, not judged).
 */

static const char *
ngx_govsvc_admin_password(cJSON *obj, const char *name, ngx_uint_t check,
    const char **field)
{
    size_t   len;
    cJSON   *item;

    item = cJSON_GetObjectItemCaseSensitive(obj, name);

    if (item == NULL || !cJSON_IsString(item)) {
        goto invalid;
    }

    len = ngx_strlen(item->valuestring);

    if (check ? !gs_password_acceptable(item->valuestring, len)
              : (len == 0 || len > GS_PASSWORD_MAX_LEN))
    {
        goto invalid;
    }

    return item->valuestring;

invalid:

    if (*field == NULL) {
        *field = name;
    }

    return NULL;
}


/* ---- passwords, off the event loop ---- */

/* the request is kept already (r->main->count++); ends it on failure */

static void
ngx_govsvc_admin_hash(ngx_govsvc_admin_t *ad)
{
    if (ngx_govsvc_password_hash(ad->ctx, ad->password, ad->hash,
                                 ngx_govsvc_admin_hashed)
        != NGX_OK)
    {
        ngx_govsvc_admin_fail(ad->ctx->request);
    }
}


static void
ngx_govsvc_admin_hashed(ngx_govsvc_ctx_t *ctx, ngx_int_t rc)
{
    ngx_int_t            qrc;
    ngx_http_request_t  *r;
    ngx_govsvc_admin_t  *ad;

    ad = ctx->data;
    r = ctx->request;

    if (rc != NGX_OK) {
        ngx_govsvc_admin_fail(r);
        return;
    }

    ad->values[ad->hash_slot] = ad->hash;

    qrc = ngx_govsvc_admin_query(ad);

    if (qrc == NGX_ERROR) {
        ngx_govsvc_admin_fail(r);

    } else if (qrc == NGX_DECLINED) {
        ngx_govsvc_finalize(r, ngx_govsvc_send_unavailable(r,
                                         "the database is unavailable"));
    }
}


/* ---- answers ---- */

static ngx_int_t
ngx_govsvc_admin_invalid(ngx_http_request_t *r, const char *field)
{
    return ngx_govsvc_send_error(r, NGX_HTTP_UNPROCESSABLE_ENTITY,
                                 "validation_failed",
                                 "a field is missing or invalid", field);
}


static ngx_int_t
ngx_govsvc_admin_not_found(ngx_http_request_t *r)
{
    return ngx_govsvc_send_error(r, NGX_HTTP_NOT_FOUND, "not_found",
                                 "no such resource", NULL);
}


static ngx_int_t
ngx_govsvc_admin_forbidden(ngx_http_request_t *r)
{
    return ngx_govsvc_send_error(r, NGX_HTTP_FORBIDDEN, "forbidden",
                                 "not allowed", NULL);
}


static ngx_int_t
ngx_govsvc_admin_no_content(ngx_http_request_t *r)
{
    r->headers_out.status = NGX_HTTP_NO_CONTENT;
    r->headers_out.content_length_n = 0;
    r->header_only = 1;

    return ngx_http_send_header(r);
}


/* a kept request that cannot go on: 500 and the end of it */

static void
ngx_govsvc_admin_fail(ngx_http_request_t *r)
{
    ngx_govsvc_finalize(r, ngx_govsvc_send_error(r,
                                NGX_HTTP_INTERNAL_SERVER_ERROR, "internal",
                                "the request failed; it was logged and "
                                "nothing was written", NULL));
}
