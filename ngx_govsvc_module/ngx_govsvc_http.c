
/*
 * GovSvc: routing, request bodies and JSON answers.
 *
 * The order of checks for a request is fixed: path (404), method (405),
 * media type (415), body size (413, by client_max_body_size), UTF-8, depth
 * and JSON syntax (400), the public write limit (429), then the route's
 * handler.  An upload (NGX_GOVSVC_BODY_FILE) is the exception: its handler
 * runs, after authentication, with the body still unread.
 */


#include "ngx_govsvc.h"
#include "gs_json.h"
#include "gs_query.h"
#include "gs_region.h"
#include "gs_utf8.h"


static ngx_uint_t ngx_govsvc_media_type(ngx_http_request_t *r,
    const char *type);
static ngx_int_t ngx_govsvc_match(const char *pattern, ngx_str_t *uri,
    ngx_govsvc_ctx_t *ctx);
static void ngx_govsvc_body_handler(ngx_http_request_t *r);
static ngx_int_t ngx_govsvc_parse_body(ngx_http_request_t *r,
    ngx_govsvc_ctx_t *ctx, ngx_int_t *rc);
static ngx_int_t ngx_govsvc_public_limit(ngx_http_request_t *r,
    ngx_int_t *rc);
static ngx_int_t ngx_govsvc_run(ngx_http_request_t *r,
    ngx_govsvc_ctx_t *ctx);
static void ngx_govsvc_cjson_cleanup(void *data);


ngx_int_t
ngx_govsvc_dispatch(ngx_http_request_t *r, const ngx_govsvc_route_t *routes,
    ngx_uint_t nroutes, ngx_uint_t route_base)
{
    ngx_int_t                  rc;
    ngx_uint_t                 i, allowed;
    ngx_table_elt_t           *h;
    ngx_govsvc_ctx_t          *ctx;
    ngx_govsvc_loc_conf_t     *glcf;

    glcf = ngx_http_get_module_loc_conf(r, ngx_govsvc_module);

    ctx = ngx_pcalloc(r->pool, sizeof(ngx_govsvc_ctx_t));
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->request = r;
    ctx->route_id = glcf->kind;
    ngx_http_set_ctx(r, ctx, ngx_govsvc_module);

    allowed = 0;

    for (i = 0; i < nroutes; i++) {
        if (ngx_govsvc_match(routes[i].pattern, &r->uri, ctx) != NGX_OK) {
            continue;
        }

        if (routes[i].method & r->method) {
            ctx->route = &routes[i];
            ctx->route_id = route_base + i;
            break;
        }

        allowed |= routes[i].method;
    }

    if (ctx->route == NULL) {
        if (ngx_http_discard_request_body(r) != NGX_OK) {
            return NGX_HTTP_BAD_REQUEST;
        }

        if (allowed == 0) {
            return ngx_govsvc_send_error(r, NGX_HTTP_NOT_FOUND, "not_found",
                                         "no such resource", NULL);
        }

        h = ngx_list_push(&r->headers_out.headers);
        if (h == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        h->hash = 1;
        ngx_str_set(&h->key, "Allow");
        h->value.data = ngx_pnalloc(r->pool, sizeof("GET, POST, PUT, DELETE"));
        if (h->value.data == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        h->value.len = ngx_sprintf(h->value.data, "%s%s%s%s",
                           (allowed & NGX_HTTP_GET) ? "GET, " : "",
                           (allowed & NGX_HTTP_POST) ? "POST, " : "",
                           (allowed & NGX_HTTP_PUT) ? "PUT, " : "",
                           (allowed & NGX_HTTP_DELETE) ? "DELETE, " : "")
                       - h->value.data - 2;

        return ngx_govsvc_send_error(r, NGX_HTTP_NOT_ALLOWED,
                                     "method_not_allowed",
                                     "method not allowed here", NULL);
    }

    /* every argument read later is then UTF-8 without NUL (core/gs_query):
     * a NUL would cut what the module reads short of what was sent */
    if (gs_query_check(r->args.data, r->args.len) != GS_QUERY_OK) {
        if (ngx_http_discard_request_body(r) != NGX_OK) {
            return NGX_HTTP_BAD_REQUEST;
        }

        return ngx_govsvc_send_error(r, NGX_HTTP_BAD_REQUEST,
                                     "invalid_request",
                                     "the query string is not UTF-8 "
                                     "with well-formed escapes", NULL);
    }

    if (ctx->route->flags & NGX_GOVSVC_BODY_FILE) {
        /*
         * An upload: its handler reads the body itself, after
         * authentication and its own checks; an answer given before
         * that discards it (ngx_govsvc_send)
         */
        return ngx_govsvc_run(r, ctx);
    }

    if (!(ctx->route->flags & (NGX_GOVSVC_BODY_JSON|NGX_GOVSVC_BODY_PEM))) {
        if (ngx_http_discard_request_body(r) != NGX_OK) {
            return NGX_HTTP_BAD_REQUEST;
        }

        return ngx_govsvc_run(r, ctx);
    }

    if (!ngx_govsvc_media_type(r, (ctx->route->flags & NGX_GOVSVC_BODY_PEM)
                                  ? "application/x-pem-file"
                                  : "application/json"))
    {
        if (ngx_http_discard_request_body(r) != NGX_OK) {
            return NGX_HTTP_BAD_REQUEST;
        }

        return ngx_govsvc_send_error(r, NGX_HTTP_UNSUPPORTED_MEDIA_TYPE,
                                     "unsupported_media_type",
                                     (ctx->route->flags & NGX_GOVSVC_BODY_PEM)
                                     ? "the body must be "
                                       "application/x-pem-file"
                                     : "the body must be application/json",
                                     NULL);
    }

    /* a body is parsed whole: keep it in one memory buffer */
    r->request_body_in_single_buf = 1;

    rc = ngx_http_read_client_request_body(r, ngx_govsvc_body_handler);

    if (rc >= NGX_HTTP_SPECIAL_RESPONSE) {
        return rc;
    }

    return NGX_DONE;
}


/* whether Content-Type is type, parameters (charset=...) aside */

static ngx_uint_t
ngx_govsvc_media_type(ngx_http_request_t *r, const char *type)
{
    size_t      len;
    ngx_str_t  *ct;

    if (r->headers_in.content_type == NULL) {
        return 0;
    }

    ct = &r->headers_in.content_type->value;
    len = ngx_strlen(type);

    return ct->len >= len
           && ngx_strncasecmp(ct->data, (u_char *) type, len) == 0
           && (ct->len == len || ct->data[len] == ';' || ct->data[len] == ' ');
}


/* "/api/v1/regions/{}": each {} takes one non-empty path segment */

static ngx_int_t
ngx_govsvc_match(const char *pattern, ngx_str_t *uri, ngx_govsvc_ctx_t *ctx)
{
    u_char      *p, *end, *start;
    const char  *q;
    ngx_uint_t   n;

    p = uri->data;
    end = uri->data + uri->len;
    q = pattern;
    n = 0;

    while (*q) {
        if (q[0] == '{' && q[1] == '}') {
            start = p;

            while (p < end && *p != '/') {
                p++;
            }

            if (p == start || n == NGX_GOVSVC_MAX_PARAMS) {
                return NGX_DECLINED;
            }

            ctx->params[n].data = start;
            ctx->params[n].len = p - start;
            n++;
            q += 2;
            continue;
        }

        if (p == end || *p != (u_char) *q) {
            return NGX_DECLINED;
        }

        p++;
        q++;
    }

    if (p != end) {
        return NGX_DECLINED;
    }

    ctx->nparams = n;

    return NGX_OK;
}


static void
ngx_govsvc_body_handler(ngx_http_request_t *r)
{
    ngx_int_t          rc;
    ngx_govsvc_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_govsvc_module);

    if (ngx_govsvc_parse_body(r, ctx, &rc) == NGX_OK) {
        rc = ngx_govsvc_run(r, ctx);
    }

    ngx_http_finalize_request(r, rc);
}


/* NGX_OK: ctx->body holds the object; NGX_DECLINED: *rc is the answer */

static ngx_int_t
ngx_govsvc_parse_body(ngx_http_request_t *r, ngx_govsvc_ctx_t *ctx,
    ngx_int_t *rc)
{
    u_char              *data, *p;
    size_t               len;
    ssize_t              n;
    ngx_buf_t           *b;
    ngx_chain_t         *cl;
    const char          *code, *message;
    gs_json_scan_e       scan;
    ngx_pool_cleanup_t  *cln;

    code = "invalid_json";

    if (r->request_body == NULL || r->request_body->bufs == NULL) {
        message = "the body is empty";
        goto invalid;
    }

    len = 0;

    for (cl = r->request_body->bufs; cl; cl = cl->next) {
        len += ngx_buf_size(cl->buf);
    }

    data = ngx_pnalloc(r->pool, len + 1);
    if (data == NULL) {
        goto failed;
    }

    p = data;

    for (cl = r->request_body->bufs; cl; cl = cl->next) {
        b = cl->buf;

        if (b->in_file) {
            /*
             * Only when client_body_buffer_size is below the body: a read
             * of a file nginx has just written, served by the page cache.
             */
            n = ngx_read_file(b->file, p, b->file_last - b->file_pos,
                              b->file_pos);
            if (n != b->file_last - b->file_pos) {
                goto failed;
            }

            p += n;
            continue;
        }

        p = ngx_cpymem(p, b->pos, b->last - b->pos);
    }

    *p = '\0';

    ctx->raw.data = data;
    ctx->raw.len = len;

    if (ctx->route->flags & NGX_GOVSVC_BODY_PEM) {
        return NGX_OK;
    }

    scan = gs_json_scan(data, len, NGX_GOVSVC_JSON_DEPTH);

    if (scan == GS_JSON_BAD_UTF8) {
        message = "the body is not valid UTF-8";
        goto invalid;
    }

    if (scan == GS_JSON_TOO_DEEP) {
        message = "the body is nested too deeply";
        goto invalid;
    }

    if (scan == GS_JSON_CONTROL) {
        message = "a string holds a control character";
        goto invalid;
    }

    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        goto failed;
    }

    ctx->body = cJSON_ParseWithLength((const char *) data, len);

    if (ctx->body == NULL) {
        message = "the body is not valid JSON";
        goto invalid;
    }

    cln->handler = ngx_govsvc_cjson_cleanup;
    cln->data = ctx->body;

    if (!cJSON_IsObject(ctx->body)) {
        code = "invalid_request";
        message = "the body must be a JSON object";
        goto invalid;
    }

    return NGX_OK;

invalid:

    *rc = ngx_govsvc_send_error(r, NGX_HTTP_BAD_REQUEST, code, message, NULL);
    return NGX_DECLINED;

failed:

    *rc = NGX_HTTP_INTERNAL_SERVER_ERROR;
    return NGX_DECLINED;
}


static void
ngx_govsvc_cjson_cleanup(void *data)
{
    cJSON_Delete(data);
}


static ngx_int_t
ngx_govsvc_run(ngx_http_request_t *r, ngx_govsvc_ctx_t *ctx)
{
    ngx_int_t  rc;

    if ((ctx->route->flags & NGX_GOVSVC_PUBLIC_WRITE)
        && ngx_govsvc_public_limit(r, &rc) != NGX_OK)
    {
        return rc;
    }

    if (ctx->route->roles) {
        return ngx_govsvc_authenticate(ctx);
    }

    return ctx->route->handler(ctx);
}


/*
 * A fixed window per client address, counted in the shared zone so that
 * every worker sees the same count.
 */

static ngx_int_t
ngx_govsvc_public_limit(ngx_http_request_t *r, ngx_int_t *rc)
{
    u_char                   buf[NGX_SOCKADDR_STRLEN + 8];
    int64_t                  count;
    ngx_str_t                key;
    ngx_msec_t               left;
    ngx_govsvc_main_conf_t  *gmcf;

    gmcf = ngx_http_get_module_main_conf(r, ngx_govsvc_module);

    if (gmcf->shm_zone == NULL) {
        return NGX_OK;
    }

    key.data = buf;
    key.len = ngx_snprintf(buf, sizeof(buf), "pw:%V",
                           &r->connection->addr_text)
              - buf;

    if (ngx_govsvc_shm_incr(gmcf->shm_zone, &key, 1, gmcf->public_window,
                            &count, &left)
        != NGX_OK)
    {
        /* a full zone must not shut the public out; say so in the log */
        ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                      "govsvc zone full: public write limit not applied");
        return NGX_OK;
    }

    if (count <= (int64_t) gmcf->public_limit) {
        return NGX_OK;
    }

    *rc = ngx_govsvc_send_rate_limited(r, left,
                                       "too many requests from this address");

    return NGX_DECLINED;
}


/* 429 rate_limited, with Retry-After: the seconds left of the window */

ngx_int_t
ngx_govsvc_send_rate_limited(ngx_http_request_t *r, ngx_msec_t left,
    const char *message)
{
    ngx_table_elt_t  *h;

    ngx_govsvc_count(rate_limited);

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    h->hash = 1;
    ngx_str_set(&h->key, "Retry-After");
    h->value.data = ngx_pnalloc(r->pool, NGX_TIME_T_LEN);
    if (h->value.data == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    h->value.len = ngx_sprintf(h->value.data, "%M", (left + 999) / 1000)
                   - h->value.data;

    return ngx_govsvc_send_error(r, NGX_HTTP_TOO_MANY_REQUESTS,
                                 "rate_limited", message, NULL);
}


ngx_int_t
ngx_govsvc_send_json(ngx_http_request_t *r, ngx_uint_t status,
    const u_char *json, size_t len)
{
    static ngx_str_t  type = ngx_string("application/json");

    return ngx_govsvc_send(r, status, &type, json, len);
}


ngx_int_t
ngx_govsvc_send(ngx_http_request_t *r, ngx_uint_t status, ngx_str_t *type,
    const u_char *json, size_t len)
{
    ngx_int_t          rc;
    ngx_buf_t         *b;
    ngx_chain_t        out;
    ngx_govsvc_ctx_t  *ctx;

    /* an upload answered before its body was read (401, 403, 413, 415,
     * 422, ...): the body is discarded, so that keep-alive stays right */
    ctx = ngx_http_get_module_ctx(r, ngx_govsvc_module);

    if (ctx && ctx->route && (ctx->route->flags & NGX_GOVSVC_BODY_FILE)
        && r->request_body == NULL
        && ngx_http_discard_request_body(r) != NGX_OK)
    {
        r->keepalive = 0;
    }

    r->headers_out.status = status;
    r->headers_out.content_length_n = len;
    r->headers_out.content_type = *type;
    r->headers_out.content_type_len = type->len;
    r->headers_out.content_type_lowcase = NULL;

    if (len == 0 || r->header_only || r->method == NGX_HTTP_HEAD) {
        r->header_only = 1;
        return ngx_http_send_header(r);
    }

    b = ngx_create_temp_buf(r->pool, len);
    if (b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    b->last = ngx_cpymem(b->last, json, len);
    b->last_buf = (r == r->main) ? 1 : 0;
    b->last_in_chain = 1;

    out.buf = b;
    out.next = NULL;

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK) {
        return rc;
    }

    return ngx_http_output_filter(r, &out);
}


ngx_int_t
ngx_govsvc_send_cjson(ngx_http_request_t *r, ngx_uint_t status, cJSON *json)
{
    char       *text;
    ngx_int_t   rc;

    text = cJSON_PrintUnformatted(json);
    if (text == NULL) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "govsvc: out of memory printing JSON");
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    rc = ngx_govsvc_send_json(r, status, (u_char *) text, ngx_strlen(text));

    cJSON_free(text);

    return rc;
}


ngx_int_t
ngx_govsvc_send_error(ngx_http_request_t *r, ngx_uint_t status,
    const char *code, const char *message, const char *field)
{
    cJSON      *root, *err;
    ngx_int_t   rc;
    ngx_uint_t  level;

    /* client mistakes are routine: info; the server's own are logged
     * where they happen, with their cause */
    level = (status >= 500) ? NGX_LOG_WARN : NGX_LOG_INFO;

    ngx_log_error(level, r->connection->log, 0,
                  "govsvc: %ui %s: %s%s%s", status, code, message,
                  field ? ", field " : "", field ? field : "");

    root = cJSON_CreateObject();
    err = cJSON_AddObjectToObject(root, "error");

    if (err == NULL
        || cJSON_AddStringToObject(err, "code", code) == NULL
        || cJSON_AddStringToObject(err, "message", message) == NULL
        || (field && cJSON_AddStringToObject(err, "field", field) == NULL))
    {
        cJSON_Delete(root);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    rc = ngx_govsvc_send_cjson(r, status, root);

    cJSON_Delete(root);

    return rc;
}


ngx_int_t
ngx_govsvc_send_unavailable(ngx_http_request_t *r, const char *what)
{
    return ngx_govsvc_send_error(r, NGX_HTTP_SERVICE_UNAVAILABLE,
                                 "unavailable", what, NULL);
}


/*
 * A filter of a list's query string: absent or empty is NULL (*out);
 * otherwise UTF-8 text of at most max characters and, by pattern: NULL
 * free text, "#" a positive number, "date" YYYY-MM-DD, "case_no" 20
 * digits, "region" a region code (*out its prefix, ngx_govsvc_region_
 * prefix()), or one of pattern's space-separated words.  NGX_DECLINED,
 * *bad = name, when it is none of these.
 */

ngx_int_t
ngx_govsvc_arg_filter(ngx_http_request_t *r, const char *name, size_t max,
    const char *pattern, const char **out, const char **bad)
{
    char        *s, *w;
    size_t       len, chars;
    gs_date_t    date;
    ngx_uint_t   ok;

    s = ngx_govsvc_arg(r, name);

    if (s == NULL || s[0] == '\0') {
        *out = NULL;
        return NGX_OK;
    }

    len = ngx_strlen(s);
    ok = gs_utf8_valid_text((u_char *) s, len);

    for (w = s, chars = 0; ok && *w; w++) {
        chars += (*w & 0xC0) != 0x80;
    }

    ok = ok && chars <= max;

    if (ok && pattern == NULL) {
        /* free text */

    } else if (ok && ngx_strcmp(pattern, "#") == 0) {
        ok = (ngx_govsvc_digits(s, len) && s[0] != '0' && len < NGX_INT64_LEN);

    } else if (ok && ngx_strcmp(pattern, "date") == 0) {
        ok = (gs_date_parse(s, len, &date) == 0);

    } else if (ok && ngx_strcmp(pattern, "case_no") == 0) {
        ok = (len == 20 && ngx_govsvc_digits(s, len));

    } else if (ok && ngx_strcmp(pattern, "region") == 0) {
        ok = (gs_region_level(s, len) != GS_REGION_INVALID);

        if (ok) {
            ngx_govsvc_region_prefix((u_char *) s, s);
        }

    } else if (ok) {
        w = ngx_strstr(pattern, s);
        ok = (w != NULL && (w == pattern || w[-1] == ' ')
              && (w[len] == '\0' || w[len] == ' '));
    }

    if (!ok) {
        *bad = name;
        return NGX_DECLINED;
    }

    *out = s;

    return NGX_OK;
}


/* "limit": 50 when absent, else 1 to 500; NGX_DECLINED, *bad set */

ngx_int_t
ngx_govsvc_arg_limit(ngx_http_request_t *r, const char **limit,
    const char **bad)
{
    char       *s;
    ngx_int_t   n;

    s = ngx_govsvc_arg(r, "limit");

    if (s == NULL) {
        *limit = "50";
        return NGX_OK;
    }

    n = ngx_atoi((u_char *) s, ngx_strlen(s));

    if (n < 1 || n > NGX_GOVSVC_LIST_LIMIT_MAX) {
        *bad = "limit";
        return NGX_DECLINED;
    }

    *limit = s;

    return NGX_OK;
}


ngx_int_t
ngx_govsvc_send_bad_arg(ngx_http_request_t *r, const char *name)
{
    return ngx_govsvc_send_error(r, NGX_HTTP_BAD_REQUEST, "invalid_request",
                                 "a query parameter is not one this list "
                                 "takes", name);
}


ngx_uint_t
ngx_govsvc_digits(const char *s, size_t len)
{
    size_t  i;

    for (i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return 0;
        }
    }

    return len > 0;
}


/* the first {} of the path as a row id (1 to 18 digits, no leading zero),
 * NUL-terminated into id (NGX_INT64_LEN + 1 bytes); NGX_DECLINED when it
 * cannot be one */

ngx_int_t
ngx_govsvc_path_id(ngx_govsvc_ctx_t *ctx, char *id)
{
    ngx_str_t  *s;

    s = &ctx->params[0];

    if (s->len == 0 || s->len > NGX_INT64_LEN - 1 || s->data[0] == '0'
        || !ngx_govsvc_digits((char *) s->data, s->len))
    {
        return NGX_DECLINED;
    }

    ngx_cpystrn((u_char *) id, s->data, s->len + 1);

    return NGX_OK;
}


/* the prefix every code below region shares: "430000" -> "43", "430100"
 * -> "4301", a county as it is; out has room for 7 bytes (may be region) */

void
ngx_govsvc_region_prefix(const u_char *region, char *out)
{
    size_t  len;

    len = 6;
    while (len > 2 && region[len - 1] == '0' && region[len - 2] == '0') {
        len -= 2;
    }

    ngx_memmove(out, region, len);
    out[len] = '\0';
}


/* key and value must outlive the request: literals or its pool */

ngx_int_t
ngx_govsvc_add_header(ngx_http_request_t *r, const char *key, u_char *value,
    size_t len)
{
    ngx_table_elt_t  *h;

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    h->hash = 1;
    h->key.data = (u_char *) key;
    h->key.len = ngx_strlen(key);
    h->value.data = value;
    h->value.len = len;

    return NGX_OK;
}


ngx_int_t
ngx_govsvc_query(ngx_govsvc_ctx_t *ctx, const char *sql, int nparams,
    const char *const *values, ngx_govsvc_pg_handler_pt handler, void *data)
{
    ngx_http_request_t  *r;

    r = ctx->request;

    ctx->pg = ngx_govsvc_pg_open(r);
    if (ctx->pg == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ngx_govsvc_pg_query(ctx->pg, sql, nparams, values, handler, data)
        != NGX_OK)
    {
        return ngx_govsvc_send_unavailable(r, "the database is unavailable");
    }

    r->main->count++;

    return NGX_DONE;
}


/* a heavy read on the replica, kept to be sent again to the primary */
typedef struct {
    ngx_govsvc_ctx_t         *ctx;
    const char               *sql;
    int                       nparams;
    const char *const        *values;
    ngx_govsvc_pg_handler_pt  handler;
    void                     *data;
} ngx_govsvc_read_t;


static void ngx_govsvc_read_result(ngx_govsvc_pg_t *pg, PGresult *res,
    void *data);


ngx_int_t
ngx_govsvc_read_query(ngx_govsvc_ctx_t *ctx, const char *sql, int nparams,
    const char *const *values, ngx_govsvc_pg_handler_pt handler, void *data)
{
    ngx_govsvc_pg_t     *pg;
    ngx_govsvc_read_t   *rd;
    ngx_http_request_t  *r;

    r = ctx->request;

    pg = ngx_govsvc_pg_open_read(r, ctx->user);
    if (pg == NULL) {
        return ngx_govsvc_query(ctx, sql, nparams, values, handler, data);
    }

    rd = ngx_palloc(r->pool, sizeof(ngx_govsvc_read_t));
    if (rd == NULL) {
        ngx_govsvc_pg_close(pg);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    rd->ctx = ctx;
    rd->sql = sql;
    rd->nparams = nparams;
    rd->values = values;
    rd->handler = handler;
    rd->data = data;

    if (ngx_govsvc_pg_query(pg, sql, nparams, values, ngx_govsvc_read_result,
                            rd)
        != NGX_OK)
    {
        /* the replica's pool is away or full: the primary */
        ngx_govsvc_pg_close(pg);
        ngx_govsvc_count(pgr_failed);

        return ngx_govsvc_query(ctx, sql, nparams, values, handler, data);
    }

    ctx->pg = pg;
    r->main->count++;

    return NGX_DONE;
}


/*
 * The replica's answer, or the statement sent again to the primary when
 * the replica was lost, timed out, cancelled it for a conflict with
 * recovery (40001) or is shutting down (57P..)
 */

static void
ngx_govsvc_read_result(ngx_govsvc_pg_t *pg, PGresult *res, void *data)
{
    ngx_govsvc_read_t *rd = data;

    const char          *state;
    ngx_govsvc_ctx_t    *ctx;
    ngx_http_request_t  *r;

    if (res != NULL) {
        state = PQresultStatus(res) == PGRES_FATAL_ERROR
                ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;

        if (state == NULL
            || (ngx_strcmp(state, "40001") != 0
                && ngx_strncmp(state, "57P", 3) != 0))
        {
            rd->handler(pg, res, rd->data);
            return;
        }
    }

    ctx = rd->ctx;
    r = ctx->request;

    ngx_govsvc_pg_close(pg);
    ngx_govsvc_count(pgr_failed);

    ctx->pg = ngx_govsvc_pg_open(r);

    if (ctx->pg == NULL) {
        ngx_govsvc_finalize(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    if (ngx_govsvc_pg_query(ctx->pg, rd->sql, rd->nparams, rd->values,
                            rd->handler, rd->data)
        != NGX_OK)
    {
        ngx_govsvc_finalize(r, ngx_govsvc_send_unavailable(r,
                                         "the database is unavailable"));
    }
}


ngx_int_t
ngx_govsvc_json_read_query(ngx_govsvc_ctx_t *ctx, ngx_uint_t status,
    const char *sql, int nparams, const char **values)
{
    ctx->status = status;

    return ngx_govsvc_read_query(ctx, sql, nparams, values,
                                 ngx_govsvc_json_result, ctx);
}


ngx_int_t
ngx_govsvc_pg_result(ngx_http_request_t *r, PGresult *res, ngx_int_t *rc)
{
    if (res == NULL) {
        *rc = ngx_govsvc_send_unavailable(r, "the database is unavailable");
        return NGX_DECLINED;
    }

    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        *rc = ngx_govsvc_db_error(r, res);
        return NGX_DECLINED;
    }

    return NGX_OK;
}


void
ngx_govsvc_finalize(ngx_http_request_t *r, ngx_int_t rc)
{
    ngx_connection_t  *c;

    c = r->connection;

    ngx_http_finalize_request(r, rc);
    ngx_http_run_posted_requests(c);
}


char *
ngx_govsvc_arg(ngx_http_request_t *r, const char *name)
{
    u_char     *dst, *src;
    ngx_str_t   value;

    if (ngx_http_arg(r, (u_char *) name, ngx_strlen(name), &value)
        != NGX_OK)
    {
        return NULL;
    }

    dst = ngx_pnalloc(r->pool, value.len + 1);
    if (dst == NULL) {
        return NULL;
    }

    src = value.data;
    value.data = dst;
    ngx_unescape_uri(&dst, &src, value.len, NGX_UNESCAPE_URI);
    *dst = '\0';

    return (char *) value.data;
}


/*
 * A string member as a NUL-terminated C string: NULL when absent (or the
 * first fault found, in *field, when it is required, not a string, empty,
 * holds NUL, or is longer than max characters).
 */

const char *
ngx_govsvc_text(cJSON *obj, const char *name, size_t max,
    ngx_uint_t required, const char **field)
{
    u_char  *p;
    size_t   len, chars;
    cJSON   *item;

    item = obj ? cJSON_GetObjectItemCaseSensitive(obj, name) : NULL;

    if (item == NULL || cJSON_IsNull(item)) {
        if (required && *field == NULL) {
            *field = name;
        }

        return NULL;
    }

    if (!cJSON_IsString(item)) {
        goto invalid;
    }

    len = ngx_strlen(item->valuestring);

    if (len == 0 || !gs_utf8_valid_text((u_char *) item->valuestring, len)) {
        goto invalid;
    }

    chars = 0;
    for (p = (u_char *) item->valuestring; *p; p++) {
        chars += (*p & 0xC0) != 0x80;
    }

    if (chars > max) {
        goto invalid;
    }

    return item->valuestring;

invalid:

    if (*field == NULL) {
        *field = name;
    }

    return NULL;
}


/* a request header's value as a C string, or NULL */

const char *
ngx_govsvc_header(ngx_http_request_t *r, const char *name)
{
    u_char           *v;
    size_t            len;
    ngx_uint_t        i;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h;

    len = ngx_strlen(name);
    part = &r->headers_in.headers.part;
    h = part->elts;

    for (i = 0; /* void */; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                return NULL;
            }

            part = part->next;
            h = part->elts;
            i = 0;
        }

        if (h[i].key.len == len
            && ngx_strncasecmp(h[i].key.data, (u_char *) name, len) == 0)
        {
            break;
        }
    }

    v = ngx_pnalloc(r->pool, h[i].value.len + 1);
    if (v == NULL) {
        return NULL;
    }

    ngx_cpystrn(v, h[i].value.data, h[i].value.len + 1);

    return (const char *) v;
}
