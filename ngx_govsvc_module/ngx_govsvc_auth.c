
/*
 * GovSvc: sessions, password and certificate login, and the check that
 * runs before every route that is not public.
 *
 * A session token is 256 random bits handed out once; PostgreSQL keeps
 * only its SHA-256 and is asked on every request, so a logout, a disabled
 * user or an unbound certificate takes effect on the very next request of
 * every worker of every instance.  Password hashing costs a few hundred
 * milliseconds of CPU and runs in a thread pool, never on the event loop.
 */


#include "ngx_govsvc.h"
#include "gs_password.h"

#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <openssl/x509.h>


#define NGX_GOVSVC_TOKEN_BYTES   32
#define NGX_GOVSVC_TOKEN_LEN     43          /* base64url, no padding */
#define NGX_GOVSVC_PASSWORD_GUARD  10000     /* ms */


typedef struct {
    ngx_govsvc_ctx_t             *ctx;
    const char                   *password;
    const char                   *stored;     /* NULL: hash, else verify */
    char                         *out;
    u_char                        salt[GS_PASSWORD_SALT_LEN];
    ngx_int_t                     rc;
    ngx_govsvc_password_done_pt   done;
    ngx_event_t                   guard;
} ngx_govsvc_password_task_t;


typedef struct {
    const char                   *username;
    const char                   *password;
    char                          user_id[NGX_INT64_LEN + 1];
    char                          cert[SHA256_DIGEST_LENGTH * 2 + 1];
    u_char                        token[NGX_GOVSVC_TOKEN_LEN + 1];
    u_char                        csrf[NGX_GOVSVC_TOKEN_LEN + 1];
    const char                   *values[9];
    const char                   *code;       /* of a failure */
    const char                   *message;
    ngx_uint_t                    status;
    ngx_uint_t                    active;
} ngx_govsvc_login_t;


static void ngx_govsvc_auth_result(ngx_govsvc_pg_t *pg, PGresult *res,
    void *data);
static ngx_int_t ngx_govsvc_auth_token(ngx_http_request_t *r,
    ngx_str_t *token, ngx_uint_t *cookie);
static ngx_int_t ngx_govsvc_auth_admit(ngx_govsvc_ctx_t *ctx,
    const char *csrf_hash);
static ngx_int_t ngx_govsvc_auth_csrf(ngx_http_request_t *r,
    const char *csrf_hash);
static ngx_uint_t ngx_govsvc_auth_roles(const char *list);
static char *ngx_govsvc_auth_copy(ngx_pool_t *pool, const char *s,
    ngx_str_t *str);

static ngx_int_t ngx_govsvc_login_limited(ngx_govsvc_ctx_t *ctx,
    ngx_govsvc_login_t *lg, ngx_int_t *rc);
static void ngx_govsvc_login_user(ngx_govsvc_pg_t *pg, PGresult *res,
    void *data);
static void ngx_govsvc_login_checked(ngx_govsvc_ctx_t *ctx, ngx_int_t rc);
static void ngx_govsvc_login_cert_user(ngx_govsvc_pg_t *pg, PGresult *res,
    void *data);
static ngx_int_t ngx_govsvc_login_open(ngx_govsvc_ctx_t *ctx,
    ngx_govsvc_login_t *lg, const char *via);
static void ngx_govsvc_login_opened(ngx_govsvc_pg_t *pg, PGresult *res,
    void *data);
static ngx_int_t ngx_govsvc_login_failed(ngx_govsvc_ctx_t *ctx,
    ngx_govsvc_login_t *lg, ngx_uint_t status, const char *code,
    const char *message);
static void ngx_govsvc_login_failure_logged(ngx_govsvc_pg_t *pg,
    PGresult *res, void *data);
static ngx_int_t ngx_govsvc_login_key(ngx_govsvc_ctx_t *ctx,
    ngx_govsvc_login_t *lg, ngx_uint_t by_user, ngx_str_t *key);
static void ngx_govsvc_sessions_deleted(ngx_govsvc_pg_t *pg, PGresult *res,
    void *data);
static ngx_int_t ngx_govsvc_set_cookie(ngx_http_request_t *r, u_char *token,
    time_t max_age);
static ngx_int_t ngx_govsvc_random_token(u_char *out);
static void ngx_govsvc_sha256_hex(const u_char *data, size_t len, u_char *out);
static ngx_int_t ngx_govsvc_no_content(ngx_http_request_t *r);
static char *ngx_govsvc_interval(ngx_pool_t *pool, ngx_msec_t ms);

static void ngx_govsvc_password_thread(void *data, ngx_log_t *log);
static void ngx_govsvc_password_event(ngx_event_t *ev);
static void ngx_govsvc_password_guard(ngx_event_t *ev);
static ngx_int_t ngx_govsvc_password_post(ngx_govsvc_ctx_t *ctx,
    const char *password, const char *stored, char *out,
    ngx_govsvc_password_done_pt done);


const char  *ngx_govsvc_role_names[NGX_GOVSVC_NROLES] = {
    "clerk", "handler", "reviewer", "approver", "supervisor", "admin"
};


/*
 * One statement: the session, if it is valid, with its user and
 * department; the last-seen time is refreshed at most every $3 so that a
 * busy session does not write on every request.
 */

const char  ngx_govsvc_session_sql[] =
    "WITH s AS ("
    "  SELECT token_hash, user_id, csrf_hash, cert_sha256, expires_at"
    "  FROM sessions"
    "  WHERE token_hash = $1 AND revoked_at IS NULL AND expires_at > now()"
    "    AND last_seen_at > now() - $2::interval),"
    " t AS (UPDATE sessions SET last_seen_at = now() FROM s"
    "  WHERE sessions.token_hash = s.token_hash"
    "    AND sessions.last_seen_at < now() - $3::interval)"
    " SELECT u.id, u.username, u.name, array_to_string(u.roles, ','),"
    "  u.department, d.name, d.region, s.csrf_hash,"
    "  extract(epoch FROM s.expires_at)::bigint"
    " FROM s JOIN users u ON u.id = s.user_id"
    "  JOIN departments d ON d.id = u.department"
    " WHERE u.active AND (s.cert_sha256 IS NULL OR EXISTS ("
    "  SELECT 1 FROM user_certificates c"
    "  WHERE c.sha256 = s.cert_sha256 AND c.user_id = u.id))";


ngx_int_t
ngx_govsvc_authenticate(ngx_govsvc_ctx_t *ctx)
{
    u_char                  *hash;
    u_char                   csrf_hash[65];
    ngx_str_t                token;
    ngx_uint_t               cookie;
    const char             **values;
    ngx_msec_t               touch;
    ngx_http_request_t      *r;
    ngx_govsvc_main_conf_t  *gmcf;

    r = ctx->request;
    gmcf = ngx_http_get_module_main_conf(r, ngx_govsvc_module);

    if (ngx_govsvc_auth_token(r, &token, &cookie) != NGX_OK) {
        return ngx_govsvc_send_error(r, NGX_HTTP_UNAUTHORIZED,
                                     "unauthenticated",
                                     "sign in first", NULL);
    }

    ctx->user = ngx_pcalloc(r->pool, sizeof(ngx_govsvc_user_t));
    values = ngx_palloc(r->pool, 3 * sizeof(char *));
    if (ctx->user == NULL || values == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    hash = ctx->user->token_hash;
    ngx_govsvc_sha256_hex(token.data, token.len, hash);
    ctx->user->cookie = cookie;

    if (gmcf->session_cache) {
        if (ngx_govsvc_scache_get(gmcf->session_cache, hash, ctx->user,
                                  r->pool, csrf_hash)
            == NGX_OK)
        {
            return ngx_govsvc_auth_admit(ctx, (char *) csrf_hash);
        }

        ctx->user->cache_epoch = ngx_govsvc_scache_epoch(gmcf->session_cache);
    }

    /* refresh last-seen a tenth of the idle time, between 1 s and 60 s */
    touch = ngx_min(ngx_max(gmcf->session_idle / 10, 1000), 60000);

    values[0] = (const char *) hash;
    values[1] = ngx_govsvc_interval(r->pool, gmcf->session_idle);
    values[2] = ngx_govsvc_interval(r->pool, touch);

    if (values[1] == NULL || values[2] == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_govsvc_query(ctx, ngx_govsvc_session_sql, 3, values,
                            ngx_govsvc_auth_result, ctx);
}


static void
ngx_govsvc_auth_result(ngx_govsvc_pg_t *pg, PGresult *res, void *data)
{
    ngx_govsvc_ctx_t *ctx = data;

    ngx_int_t                rc;
    ngx_govsvc_user_t       *u;
    ngx_http_request_t      *r;
    ngx_govsvc_main_conf_t  *gmcf;

    r = ctx->request;
    u = ctx->user;
    gmcf = ngx_http_get_module_main_conf(r, ngx_govsvc_module);

    ngx_govsvc_pg_close(pg);
    ctx->pg = NULL;

    if (ngx_govsvc_pg_result(r, res, &rc) != NGX_OK) {
        goto done;
    }

    if (PQntuples(res) != 1) {
        ctx->user = NULL;
        rc = ngx_govsvc_send_error(r, NGX_HTTP_UNAUTHORIZED,
                                   "unauthenticated",
                                   "the session has ended; sign in again",
                                   NULL);
        goto done;
    }

    u->id = ngx_atoof((u_char *) PQgetvalue(res, 0, 0),
                      PQgetlength(res, 0, 0));
    u->department = ngx_atoof((u_char *) PQgetvalue(res, 0, 4),
                              PQgetlength(res, 0, 4));
    u->roles = ngx_govsvc_auth_roles(PQgetvalue(res, 0, 3));

    ngx_cpystrn(u->id_text, (u_char *) PQgetvalue(res, 0, 0),
                sizeof(u->id_text));
    ngx_cpystrn(u->region, (u_char *) PQgetvalue(res, 0, 6),
                sizeof(u->region));

    if (ngx_govsvc_auth_copy(r->pool, PQgetvalue(res, 0, 1), &u->username)
        == NULL
        || ngx_govsvc_auth_copy(r->pool, PQgetvalue(res, 0, 2), &u->name)
           == NULL
        || ngx_govsvc_auth_copy(r->pool, PQgetvalue(res, 0, 5),
                                &u->department_name)
           == NULL)
    {
        rc = NGX_HTTP_INTERNAL_SERVER_ERROR;
        goto done;
    }

    if (gmcf->session_cache) {
        ngx_govsvc_scache_put(gmcf->session_cache, u->cache_epoch, u,
                              PQgetvalue(res, 0, 7),
                              (time_t) ngx_atotm((u_char *)
                                                 PQgetvalue(res, 0, 8),
                                                 PQgetlength(res, 0, 8)));
    }

    rc = ngx_govsvc_auth_admit(ctx, PQgetvalue(res, 0, 7));

done:

    ngx_govsvc_finalize(r, rc);
}


/* the session is valid: its CSRF token on a change by cookie, the route's
 * roles, then the route */

static ngx_int_t
ngx_govsvc_auth_admit(ngx_govsvc_ctx_t *ctx, const char *csrf_hash)
{
    ngx_http_request_t  *r;

    r = ctx->request;

    if (ctx->user->cookie && !(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))
        && ngx_govsvc_auth_csrf(r, csrf_hash) != NGX_OK)
    {
        return ngx_govsvc_send_error(r, NGX_HTTP_FORBIDDEN, "csrf_failed",
                                     "X-CSRF-Token is missing or wrong",
                                     NULL);
    }

    if (!(ctx->user->roles & ctx->route->roles)) {
        return ngx_govsvc_send_error(r, NGX_HTTP_FORBIDDEN, "forbidden",
                                     "your roles do not allow this", NULL);
    }

    return ctx->route->handler(ctx);
}


/* the bearer token, or else the session cookie */

static ngx_int_t
ngx_govsvc_auth_token(ngx_http_request_t *r, ngx_str_t *token,
    ngx_uint_t *cookie)
{
    ngx_str_t  *auth;
    static ngx_str_t  name = ngx_string("govsvc_session");

    *cookie = 0;

    if (r->headers_in.authorization) {
        auth = &r->headers_in.authorization->value;

        if (auth->len <= sizeof("Bearer ") - 1
            || ngx_strncasecmp(auth->data, (u_char *) "Bearer ",
                               sizeof("Bearer ") - 1) != 0)
        {
            return NGX_DECLINED;
        }

        token->data = auth->data + sizeof("Bearer ") - 1;
        token->len = auth->len - (sizeof("Bearer ") - 1);

    } else if (ngx_http_parse_multi_header_lines(&r->headers_in.cookies,
                                                 &name, token)
               != NGX_DECLINED)
    {
        *cookie = 1;

    } else {
        return NGX_DECLINED;
    }

    return token->len == NGX_GOVSVC_TOKEN_LEN ? NGX_OK : NGX_DECLINED;
}


static ngx_int_t
ngx_govsvc_auth_csrf(ngx_http_request_t *r, const char *csrf_hash)
{
    u_char       hash[65];
    const char  *token;

    token = ngx_govsvc_header(r, "X-CSRF-Token");
    if (token == NULL) {
        return NGX_DECLINED;
    }

    ngx_govsvc_sha256_hex((u_char *) token, ngx_strlen(token), hash);

    return CRYPTO_memcmp(hash, csrf_hash, 64) == 0 ? NGX_OK : NGX_DECLINED;
}


static ngx_uint_t
ngx_govsvc_auth_roles(const char *list)
{
    size_t      len;
    ngx_uint_t  i, roles;

    roles = 0;

    while (*list) {
        len = strcspn(list, ",");

        for (i = 0; i < NGX_GOVSVC_NROLES; i++) {
            if (ngx_strlen(ngx_govsvc_role_names[i]) == len
                && ngx_strncmp(list, ngx_govsvc_role_names[i], len) == 0)
            {
                roles |= (ngx_uint_t) 1 << i;
            }
        }

        list += len;
        if (*list == ',') {
            list++;
        }
    }

    return roles;
}


static char *
ngx_govsvc_auth_copy(ngx_pool_t *pool, const char *s, ngx_str_t *str)
{
    str->len = ngx_strlen(s);
    str->data = ngx_pnalloc(pool, str->len + 1);
    if (str->data == NULL) {
        return NULL;
    }

    ngx_memcpy(str->data, s, str->len + 1);

    return (char *) str->data;
}


void
ngx_govsvc_actor(ngx_govsvc_ctx_t *ctx, const char **values)
{
    u_char              *addr;
    ngx_connection_t    *c;

    c = ctx->request->connection;

    addr = ngx_pnalloc(ctx->request->pool, c->addr_text.len + 1);
    if (addr) {
        ngx_cpystrn(addr, c->addr_text.data, c->addr_text.len + 1);
    }

    values[0] = ctx->user ? (const char *) ctx->user->id_text : NULL;
    values[1] = ctx->user ? (const char *) ctx->user->username.data
                          : "anonymous";
    values[2] = addr ? (const char *) addr : "-";
}


/*
 * POST /api/v1/sessions {"username","password"}: failures are counted per
 * username and per address in the shared zone (429 past the limit), and
 * an unknown username costs the same hashing as a known one.
 */

ngx_int_t
ngx_govsvc_sessions_create(ngx_govsvc_ctx_t *ctx)
{
    cJSON               *item;
    ngx_int_t            rc;
    ngx_http_request_t  *r;
    ngx_govsvc_login_t  *lg;

    r = ctx->request;

    lg = ngx_pcalloc(r->pool, sizeof(ngx_govsvc_login_t));
    if (lg == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->data = lg;

    item = cJSON_GetObjectItemCaseSensitive(ctx->body, "username");
    if (!cJSON_IsString(item) || item->valuestring[0] == '\0'
        || ngx_strlen(item->valuestring) > 64)
    {
        return ngx_govsvc_send_error(r, NGX_HTTP_UNPROCESSABLE_ENTITY,
                                     "validation_failed",
                                     "a username is required", "username");
    }

    lg->username = item->valuestring;

    item = cJSON_GetObjectItemCaseSensitive(ctx->body, "password");
    if (!cJSON_IsString(item)
        || ngx_strlen(item->valuestring) > GS_PASSWORD_MAX_LEN)
    {
        return ngx_govsvc_send_error(r, NGX_HTTP_UNPROCESSABLE_ENTITY,
                                     "validation_failed",
                                     "a password is required", "password");
    }

    lg->password = item->valuestring;

    if (ngx_govsvc_login_limited(ctx, lg, &rc) != NGX_OK) {
        return rc;
    }

    lg->values[0] = lg->username;

    return ngx_govsvc_query(ctx,
            "SELECT id, password_hash, active FROM users"
            " WHERE username = $1",
            1, lg->values, ngx_govsvc_login_user, ctx);
}


/* NGX_OK: go on; NGX_DECLINED: *rc is the 429 already answered */

static ngx_int_t
ngx_govsvc_login_limited(ngx_govsvc_ctx_t *ctx, ngx_govsvc_login_t *lg,
    ngx_int_t *rc)
{
    int64_t                  count;
    ngx_str_t                key, value;
    ngx_uint_t               by_user;
    ngx_msec_t               left;
    ngx_http_request_t      *r;
    ngx_govsvc_main_conf_t  *gmcf;

    r = ctx->request;
    gmcf = ngx_http_get_module_main_conf(r, ngx_govsvc_module);

    if (gmcf->shm_zone == NULL) {
        return NGX_OK;
    }

    for (by_user = 0; by_user < 2; by_user++) {
        if (ngx_govsvc_login_key(ctx, lg, by_user, &key) != NGX_OK) {
            *rc = NGX_HTTP_INTERNAL_SERVER_ERROR;
            return NGX_DECLINED;
        }

        /* reading adds 0: the window starts with the first failure */
        if (ngx_govsvc_shm_get(gmcf->shm_zone, &key, r->pool, &value)
            != NGX_OK)
        {
            continue;
        }

        count = ngx_atoof(value.data, value.len);
        if (count < (int64_t) gmcf->login_limit) {
            continue;
        }

        if (ngx_govsvc_shm_incr(gmcf->shm_zone, &key, 0, gmcf->login_window,
                                &count, &left)
            != NGX_OK)
        {
            continue;
        }

        *rc = ngx_govsvc_send_rate_limited(r, left,
                                           "too many failed sign-ins; "
                                           "try later");
        return NGX_DECLINED;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_govsvc_login_key(ngx_govsvc_ctx_t *ctx, ngx_govsvc_login_t *lg,
    ngx_uint_t by_user, ngx_str_t *key)
{
    size_t               len;
    ngx_http_request_t  *r;

    r = ctx->request;

    len = sizeof("lf:u:") - 1 + (by_user ? ngx_strlen(lg->username)
                                         : r->connection->addr_text.len);

    key->data = ngx_pnalloc(r->pool, len);
    if (key->data == NULL) {
        return NGX_ERROR;
    }

    if (by_user) {
        key->len = ngx_sprintf(key->data, "lf:u:%s", lg->username)
                   - key->data;

    } else {
        key->len = ngx_sprintf(key->data, "lf:a:%V",
                               &r->connection->addr_text)
                   - key->data;
    }

    return NGX_OK;
}


static void
ngx_govsvc_login_user(ngx_govsvc_pg_t *pg, PGresult *res, void *data)
{
    ngx_govsvc_ctx_t *ctx = data;

    ngx_int_t            rc;
    ngx_str_t            copy;
    const char          *stored;
    ngx_http_request_t  *r;
    ngx_govsvc_login_t  *lg;

    r = ctx->request;
    lg = ctx->data;

    ngx_govsvc_pg_close(pg);
    ctx->pg = NULL;

    if (ngx_govsvc_pg_result(r, res, &rc) != NGX_OK) {
        ngx_govsvc_finalize(r, rc);
        return;
    }

    /* no such user, or no password: check against the dummy all the same */
    stored = gs_password_dummy;

    if (PQntuples(res) == 1 && !PQgetisnull(res, 0, 1)) {
        ngx_cpystrn((u_char *) lg->user_id, (u_char *) PQgetvalue(res, 0, 0),
                    sizeof(lg->user_id));
        lg->active = (PQgetvalue(res, 0, 2)[0] == 't');

        stored = ngx_govsvc_auth_copy(r->pool, PQgetvalue(res, 0, 1), &copy);
        if (stored == NULL) {
            ngx_govsvc_finalize(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
            return;
        }
    }

    if (ngx_govsvc_password_verify(ctx, lg->password, stored,
                                   ngx_govsvc_login_checked)
        != NGX_OK)
    {
        ngx_govsvc_finalize(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
    }

    /* the request stays counted for the thread's answer */
}


static void
ngx_govsvc_login_checked(ngx_govsvc_ctx_t *ctx, ngx_int_t rc)
{
    ngx_govsvc_login_t  *lg;

    lg = ctx->data;

    if (rc == NGX_OK && lg->user_id[0] && lg->active) {
        rc = ngx_govsvc_login_open(ctx, lg, "password");

    } else {
        if (rc == NGX_ERROR) {
            /* the user learns what any failure tells; the operator more */
            ngx_log_error(NGX_LOG_ERR, ctx->request->connection->log, 0,
                          "govsvc: the stored password hash of user \"%s\""
                          " is malformed", lg->username);
        }

        rc = ngx_govsvc_login_failed(ctx, lg, NGX_HTTP_UNAUTHORIZED,
                                     "bad_credentials",
                                     "wrong username or password");
    }

    ngx_govsvc_finalize(ctx->request, rc);
}


/* POST /api/v1/sessions/cert: the TLS client certificate nginx verified */

ngx_int_t
ngx_govsvc_sessions_cert(ngx_govsvc_ctx_t *ctx)
{
    X509                *cert;
    u_char               md[EVP_MAX_MD_SIZE];
    unsigned             n;
    ngx_http_request_t  *r;
    ngx_govsvc_login_t  *lg;

    r = ctx->request;

    lg = ngx_pcalloc(r->pool, sizeof(ngx_govsvc_login_t));
    if (lg == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->data = lg;
    lg->username = "-";

    cert = NULL;

    if (r->connection->ssl
        && SSL_get_verify_result(r->connection->ssl->connection)
           == X509_V_OK)
    {
        cert = SSL_get_peer_certificate(r->connection->ssl->connection);
    }

    if (cert == NULL) {
        return ngx_govsvc_send_error(r, NGX_HTTP_UNAUTHORIZED,
                                     "certificate_required",
                                     "present a client certificate", NULL);
    }

    n = 0;
    if (X509_digest(cert, EVP_sha256(), md, &n) != 1 || n != 32) {
        X509_free(cert);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    X509_free(cert);

    ngx_hex_dump((u_char *) lg->cert, md, n);
    lg->values[0] = lg->cert;

    return ngx_govsvc_query(ctx,
            "SELECT u.id, u.username FROM user_certificates c"
            " JOIN users u ON u.id = c.user_id"
            " WHERE c.sha256 = $1 AND u.active",
            1, lg->values, ngx_govsvc_login_cert_user, ctx);
}


static void
ngx_govsvc_login_cert_user(ngx_govsvc_pg_t *pg, PGresult *res, void *data)
{
    ngx_govsvc_ctx_t *ctx = data;

    ngx_int_t            rc;
    ngx_http_request_t  *r;
    ngx_govsvc_login_t  *lg;

    r = ctx->request;
    lg = ctx->data;

    ngx_govsvc_pg_close(pg);
    ctx->pg = NULL;

    if (ngx_govsvc_pg_result(r, res, &rc) != NGX_OK) {
        /* answered: 503, or the statement's error */

    } else if (PQntuples(res) != 1) {
        rc = ngx_govsvc_login_failed(ctx, lg, NGX_HTTP_UNAUTHORIZED,
                                     "certificate_unknown",
                                     "this certificate is not bound to a "
                                     "user");

    } else {
        ngx_cpystrn((u_char *) lg->user_id, (u_char *) PQgetvalue(res, 0, 0),
                    sizeof(lg->user_id));
        rc = ngx_govsvc_login_open(ctx, lg, "certificate");
    }

    ngx_govsvc_finalize(r, rc);
}


/*
 * Opens the session, with its audit entry, in one statement; the answer
 * carries the token, which is never stored, ahead of what PostgreSQL
 * returns about the user.
 */

static ngx_int_t
ngx_govsvc_login_open(ngx_govsvc_ctx_t *ctx, ngx_govsvc_login_t *lg,
    const char *via)
{
    u_char                  *p;
    u_char                   token_hash[65], csrf_hash[65];
    ngx_http_request_t      *r;
    ngx_govsvc_main_conf_t  *gmcf;

    r = ctx->request;
    gmcf = ngx_http_get_module_main_conf(r, ngx_govsvc_module);

    if (ngx_govsvc_random_token(lg->token) != NGX_OK
        || ngx_govsvc_random_token(lg->csrf) != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_govsvc_sha256_hex(lg->token, NGX_GOVSVC_TOKEN_LEN, token_hash);
    ngx_govsvc_sha256_hex(lg->csrf, NGX_GOVSVC_TOKEN_LEN, csrf_hash);

    p = ngx_pnalloc(r->pool, 2 * 65);
    if (p == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_memcpy(p, token_hash, 65);
    ngx_memcpy(p + 65, csrf_hash, 65);

    ngx_govsvc_actor(ctx, lg->values);    /* [2] is the address */

    lg->values[0] = (const char *) p;
    lg->values[1] = (const char *) p + 65;
    lg->values[3] = lg->user_id;
    lg->values[4] = lg->cert[0] ? lg->cert : NULL;
    lg->values[5] = ngx_govsvc_interval(r->pool, gmcf->session_lifetime);
    lg->values[6] = via;

    if (lg->values[5] == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_govsvc_query(ctx,
            "WITH s AS (INSERT INTO sessions (token_hash, csrf_hash, user_id,"
            "   cert_sha256, address, expires_at)"
            "  VALUES ($1, $2, $4::bigint, $5, $3, now() + $6::interval)"
            "  RETURNING expires_at),"
            " u AS (SELECT u.*, d.name AS dname, d.region FROM users u"
            "  JOIN departments d ON d.id = u.department"
            "  WHERE u.id = $4::bigint),"
            " a AS (SELECT govsvc_audit_append(u.id, u.username, $3, 'login',"
            "  'user:' || u.id, jsonb_build_object('via', $7::text)) FROM u)"
            " SELECT json_build_object('expires_at', to_char(s.expires_at"
            "  AT TIME ZONE 'Asia/Shanghai',"
            "  'YYYY-MM-DD\"T\"HH24:MI:SS\"+08:00\"'),"
            "  'user', json_build_object('id', u.id, 'username', u.username,"
            "  'name', u.name, 'roles', u.roles, 'department',"
            "  json_build_object('id', u.department, 'name', u.dname),"
            "  'region', u.region)),"
            "  extract(epoch FROM s.expires_at - now())::bigint"
            " FROM s, u, a",
            7, lg->values, ngx_govsvc_login_opened, ctx);
}


static void
ngx_govsvc_login_opened(ngx_govsvc_pg_t *pg, PGresult *res, void *data)
{
    ngx_govsvc_ctx_t *ctx = data;

    u_char              *body, *p;
    size_t               len;
    ngx_int_t            rc;
    ngx_http_request_t  *r;
    ngx_govsvc_login_t  *lg;

    r = ctx->request;
    lg = ctx->data;

    ngx_govsvc_pg_close(pg);
    ctx->pg = NULL;

    if (ngx_govsvc_pg_result(r, res, &rc) != NGX_OK) {
        goto done;
    }

    if (PQntuples(res) != 1) {
        rc = NGX_HTTP_INTERNAL_SERVER_ERROR;
        goto done;
    }

    /* {"token":"…","csrf_token":"…", + PostgreSQL's object without "{" */
    len = sizeof("{\"token\":\"\",\"csrf_token\":\"\",") - 1
          + 2 * NGX_GOVSVC_TOKEN_LEN + PQgetlength(res, 0, 0) - 1;

    body = ngx_pnalloc(r->pool, len);
    if (body == NULL) {
        rc = NGX_HTTP_INTERNAL_SERVER_ERROR;
        goto done;
    }

    p = ngx_sprintf(body, "{\"token\":\"%s\",\"csrf_token\":\"%s\",",
                    lg->token, lg->csrf);
    p = ngx_cpymem(p, PQgetvalue(res, 0, 0) + 1, PQgetlength(res, 0, 0) - 1);

    if (ngx_govsvc_set_cookie(r, lg->token,
                              ngx_atotm((u_char *) PQgetvalue(res, 0, 1),
                                        PQgetlength(res, 0, 1)))
        != NGX_OK)
    {
        rc = NGX_HTTP_INTERNAL_SERVER_ERROR;
        goto done;
    }

    rc = ngx_govsvc_send_json(r, NGX_HTTP_CREATED, body, p - body);

done:

    ngx_govsvc_finalize(r, rc);
}


/* counts the failure, writes its audit entry, then answers */

static ngx_int_t
ngx_govsvc_login_failed(ngx_govsvc_ctx_t *ctx, ngx_govsvc_login_t *lg,
    ngx_uint_t status, const char *code, const char *message)
{
    int64_t                  count;
    ngx_str_t                key;
    ngx_uint_t               by_user;
    ngx_msec_t               left;
    ngx_http_request_t      *r;
    ngx_govsvc_main_conf_t  *gmcf;

    r = ctx->request;
    gmcf = ngx_http_get_module_main_conf(r, ngx_govsvc_module);

    for (by_user = 0; gmcf->shm_zone && by_user < 2; by_user++) {
        if (ngx_govsvc_login_key(ctx, lg, by_user, &key) == NGX_OK) {
            (void) ngx_govsvc_shm_incr(gmcf->shm_zone, &key, 1,
                                       gmcf->login_window, &count, &left);
        }
    }

    lg->status = status;
    lg->code = code;
    lg->message = message;

    ngx_govsvc_actor(ctx, lg->values);    /* [2] is the address */
    lg->values[3] = lg->username;
    lg->values[4] = lg->cert[0] ? lg->cert : "";
    lg->values[5] = code;

    /* PostgreSQL away: the 503 tells no more than the 401 would */
    return ngx_govsvc_query(ctx,
               "SELECT govsvc_audit_append($1::bigint, $2, $3,"
               " 'login_failed', 'user:' || $4, jsonb_build_object("
               " 'reason', $6::text, 'certificate', nullif($5, '')))",
               6, lg->values, ngx_govsvc_login_failure_logged, ctx);
}


static void
ngx_govsvc_login_failure_logged(ngx_govsvc_pg_t *pg, PGresult *res,
    void *data)
{
    ngx_govsvc_ctx_t *ctx = data;

    ngx_http_request_t  *r;
    ngx_govsvc_login_t  *lg;

    r = ctx->request;
    lg = ctx->data;

    ngx_govsvc_pg_close(pg);
    ctx->pg = NULL;

    if (res == NULL || PQresultStatus(res) != PGRES_TUPLES_OK) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "govsvc: a failed sign-in could not be audited");
    }

    ngx_govsvc_finalize(r, ngx_govsvc_send_error(r, lg->status, lg->code,
                                                 lg->message, NULL));
}


/* DELETE /api/v1/sessions/current */

ngx_int_t
ngx_govsvc_sessions_delete(ngx_govsvc_ctx_t *ctx)
{
    const char         **values;
    ngx_http_request_t  *r;

    r = ctx->request;

    values = ngx_palloc(r->pool, 4 * sizeof(char *));
    if (values == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_govsvc_actor(ctx, values);
    values[3] = (const char *) ctx->user->token_hash;

    return ngx_govsvc_query(ctx,
            "WITH s AS (UPDATE sessions SET revoked_at = now()"
            "  WHERE token_hash = $4 AND revoked_at IS NULL"
            "  RETURNING user_id)"
            " SELECT govsvc_audit_append($1::bigint, $2, $3, 'logout',"
            "  'user:' || s.user_id, '{}') FROM s",
            4, values, ngx_govsvc_sessions_deleted, ctx);
}


static void
ngx_govsvc_sessions_deleted(ngx_govsvc_pg_t *pg, PGresult *res, void *data)
{
    ngx_govsvc_ctx_t *ctx = data;

    ngx_int_t                rc;
    ngx_http_request_t      *r;
    ngx_govsvc_main_conf_t  *gmcf;

    r = ctx->request;
    gmcf = ngx_http_get_module_main_conf(r, ngx_govsvc_module);

    ngx_govsvc_pg_close(pg);
    ctx->pg = NULL;

    /* this worker at once; the others when PostgreSQL tells them, which
     * it did at the commit, before this answer */
    if (gmcf->session_cache) {
        ngx_govsvc_scache_forget(gmcf->session_cache, ctx->user->token_hash);
    }

    if (ngx_govsvc_pg_result(r, res, &rc) != NGX_OK) {
        /* answered: 503, or the statement's error */

    } else if (ngx_govsvc_set_cookie(r, (u_char *) "", 0) != NGX_OK) {
        rc = NGX_HTTP_INTERNAL_SERVER_ERROR;

    } else {
        rc = ngx_govsvc_no_content(r);
    }

    ngx_govsvc_finalize(r, rc);
}


/* GET /api/v1/me: what the session check already read */

ngx_int_t
ngx_govsvc_me(ngx_govsvc_ctx_t *ctx)
{
    cJSON              *me, *roles, *dept;
    ngx_int_t           rc;
    ngx_uint_t          i;
    ngx_govsvc_user_t  *u;

    u = ctx->user;

    me = cJSON_CreateObject();
    roles = cJSON_AddArrayToObject(me, "roles");
    dept = cJSON_CreateObject();

    if (me == NULL || roles == NULL || dept == NULL
        || cJSON_AddNumberToObject(me, "id", (double) u->id) == NULL
        || cJSON_AddStringToObject(me, "username",
                                   (char *) u->username.data) == NULL
        || cJSON_AddStringToObject(me, "name", (char *) u->name.data) == NULL
        || cJSON_AddNumberToObject(dept, "id", (double) u->department)
           == NULL
        || cJSON_AddStringToObject(dept, "name",
                                   (char *) u->department_name.data) == NULL
        || cJSON_AddStringToObject(me, "region", (char *) u->region) == NULL)
    {
        cJSON_Delete(me);
        cJSON_Delete(dept);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    cJSON_AddItemToObject(me, "department", dept);

    for (i = 0; i < NGX_GOVSVC_NROLES; i++) {
        if (u->roles & ((ngx_uint_t) 1 << i)) {
            cJSON_AddItemToArray(roles,
                cJSON_CreateString(ngx_govsvc_role_names[i]));
        }
    }

    rc = ngx_govsvc_send_cjson(ctx->request, NGX_HTTP_OK, me);

    cJSON_Delete(me);

    return rc;
}


/*
 * GET /api/v1/me/colleagues: the active users of the caller's department,
 * the ones a reply may name as its replier (回复人); names and roles only.
 */

ngx_int_t
ngx_govsvc_me_colleagues(ngx_govsvc_ctx_t *ctx)
{
    const char  **values;

    values = ngx_palloc(ctx->request->pool, sizeof(const char *));
    if (values == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    values[0] = (const char *) ctx->user->id_text;

    return ngx_govsvc_json_query(ctx, NGX_HTTP_OK,
        "SELECT json_build_object('items', coalesce(json_agg("
        "  json_build_object('id', u.id, 'name', u.name, 'roles', u.roles)"
        "  ORDER BY u.name, u.id), '[]'))"
        " FROM users me JOIN users u ON u.department = me.department"
        " WHERE me.id = $1::bigint AND u.active",
        1, values);
}


static ngx_int_t
ngx_govsvc_set_cookie(ngx_http_request_t *r, u_char *token, time_t max_age)
{
    ngx_table_elt_t  *h;

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    h->hash = 1;
    ngx_str_set(&h->key, "Set-Cookie");

    h->value.data = ngx_pnalloc(r->pool, sizeof("govsvc_session=; Path=/; "
                                "Max-Age=; HttpOnly; Secure; "
                                "SameSite=Strict") - 1
                                + NGX_GOVSVC_TOKEN_LEN + NGX_TIME_T_LEN);
    if (h->value.data == NULL) {
        return NGX_ERROR;
    }

    h->value.len = ngx_sprintf(h->value.data,
                               "govsvc_session=%s; Path=/; Max-Age=%T; "
                               "HttpOnly; Secure; SameSite=Strict",
                               token, max_age)
                   - h->value.data;

    return NGX_OK;
}


/* 256 bits from OpenSSL's CSPRNG, base64url without padding */

static ngx_int_t
ngx_govsvc_random_token(u_char *out)
{
    u_char     raw[NGX_GOVSVC_TOKEN_BYTES];
    ngx_str_t  src, dst;

    if (RAND_bytes(raw, sizeof(raw)) != 1) {
        ngx_log_error(NGX_LOG_ALERT, ngx_cycle->log, 0,
                      "govsvc: RAND_bytes() failed");
        return NGX_ERROR;
    }

    src.data = raw;
    src.len = sizeof(raw);
    dst.data = out;

    ngx_encode_base64url(&dst, &src);
    out[dst.len] = '\0';

    return NGX_OK;
}


static void
ngx_govsvc_sha256_hex(const u_char *data, size_t len, u_char *out)
{
    u_char  md[SHA256_DIGEST_LENGTH];

    SHA256(data, len, md);
    ngx_hex_dump(out, md, sizeof(md));
    out[64] = '\0';
}


static ngx_int_t
ngx_govsvc_no_content(ngx_http_request_t *r)
{
    r->headers_out.status = NGX_HTTP_NO_CONTENT;
    r->headers_out.content_length_n = 0;
    r->header_only = 1;

    return ngx_http_send_header(r);
}


/* "N milliseconds" for PostgreSQL's interval input */

static char *
ngx_govsvc_interval(ngx_pool_t *pool, ngx_msec_t ms)
{
    u_char  *p;

    p = ngx_pnalloc(pool, NGX_INT_T_LEN + sizeof(" milliseconds"));
    if (p == NULL) {
        return NULL;
    }

    ngx_sprintf(p, "%M milliseconds%Z", ms);

    return (char *) p;
}


/*
 * Password hashing in the thread pool.  The request is kept alive the way
 * nginx's copy filter keeps it: r->main->blocked stops it from being freed
 * while the thread reads the password and writes the answer.
 */

ngx_int_t
ngx_govsvc_password_hash(ngx_govsvc_ctx_t *ctx, const char *password,
    char *out, ngx_govsvc_password_done_pt done)
{
    return ngx_govsvc_password_post(ctx, password, NULL, out, done);
}


ngx_int_t
ngx_govsvc_password_verify(ngx_govsvc_ctx_t *ctx, const char *password,
    const char *stored, ngx_govsvc_password_done_pt done)
{
    return ngx_govsvc_password_post(ctx, password, stored, NULL, done);
}


static ngx_int_t
ngx_govsvc_password_post(ngx_govsvc_ctx_t *ctx, const char *password,
    const char *stored, char *out, ngx_govsvc_password_done_pt done)
{
#if (NGX_THREADS)
    ngx_thread_task_t           *task;
    ngx_http_request_t          *r;
    ngx_govsvc_main_conf_t      *gmcf;
    ngx_govsvc_password_task_t  *t;

    r = ctx->request;
    gmcf = ngx_http_get_module_main_conf(r, ngx_govsvc_module);

    task = ngx_thread_task_alloc(r->pool,
                                 sizeof(ngx_govsvc_password_task_t));
    if (task == NULL) {
        return NGX_ERROR;
    }

    t = task->ctx;
    t->ctx = ctx;
    t->password = password;
    t->stored = stored;
    t->out = out;
    t->done = done;

    if (stored == NULL && RAND_bytes(t->salt, sizeof(t->salt)) != 1) {
        ngx_log_error(NGX_LOG_ALERT, r->connection->log, 0,
                      "govsvc: RAND_bytes() failed");
        return NGX_ERROR;
    }

    task->handler = ngx_govsvc_password_thread;
    task->event.handler = ngx_govsvc_password_event;
    task->event.data = task;

    if (ngx_thread_task_post(gmcf->password_pool, task) != NGX_OK) {
        return NGX_ERROR;
    }

    /*
     * A worker that is shutting down exits once no timer is left; nothing
     * else marks a request waiting for the thread pool, so this timer
     * keeps the worker until the hash is done and the answer sent.
     */
    t->guard.handler = ngx_govsvc_password_guard;
    t->guard.log = r->connection->log;
    ngx_add_timer(&t->guard, NGX_GOVSVC_PASSWORD_GUARD);

    r->main->blocked++;
    r->aio = 1;

    return NGX_OK;
#else
    return NGX_ERROR;
#endif
}


#if (NGX_THREADS)

static void
ngx_govsvc_password_thread(void *data, ngx_log_t *log)
{
    ngx_govsvc_password_task_t *t = data;

    int  rc;

    if (t->stored) {
        rc = gs_password_verify(t->password, ngx_strlen(t->password),
                                t->stored);
        t->rc = (rc == 1) ? NGX_OK : (rc == 0 ? NGX_DECLINED : NGX_ERROR);
        return;
    }

    rc = gs_password_hash(t->password, ngx_strlen(t->password), t->salt,
                          sizeof(t->salt), GS_PASSWORD_ITERATIONS, t->out,
                          NGX_GOVSVC_PASSWORD_HASH_LEN);
    t->rc = (rc == 0) ? NGX_OK : NGX_ERROR;
}


static void
ngx_govsvc_password_event(ngx_event_t *ev)
{
    ngx_thread_task_t           *task;
    ngx_http_request_t          *r;
    ngx_govsvc_password_task_t  *t;

    task = ev->data;
    t = task->ctx;
    r = t->ctx->request;

    if (t->guard.timer_set) {
        ngx_del_timer(&t->guard);
    }

    r->main->blocked--;
    r->aio = 0;

    if (r->connection->error) {
        /* the client went away meanwhile: its cleanups have run */
        ngx_govsvc_finalize(r, NGX_HTTP_CLIENT_CLOSED_REQUEST);
        return;
    }

    t->done(t->ctx, t->rc);
}


/* the hash is still running: wait on */

static void
ngx_govsvc_password_guard(ngx_event_t *ev)
{
    ngx_add_timer(ev, NGX_GOVSVC_PASSWORD_GUARD);
}

#endif
