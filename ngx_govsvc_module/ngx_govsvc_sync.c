
/*
 * GovSvc: node to node (三级联动) under /sync/v1.  A peer is known by its
 * verified client certificate alone: the development CA (and a
 * production one) names the node's region in a subjectAltName URI
 * "urn:govsvc:node:CODE"; a header or a body never says who is asking.
 * A node talks to its parent and its children: a county to its city, a
 * city to its province and its counties.
 */


#include "ngx_govsvc.h"
#include "gs_region.h"

#include <openssl/x509v3.h>


#define NGX_GOVSVC_NODE_URI  "urn:govsvc:node:"
/* a bigint's digits, without overflow */
#define NGX_GOVSVC_VERSION_DIGITS  18


typedef struct {
    const char               *values[3];
    char                      peer[7];
    char                      parent[7];
    char                      subtree[7];
} ngx_govsvc_sync_t;


static ngx_int_t ngx_govsvc_sync_down(ngx_govsvc_ctx_t *ctx,
    const char *sql);
static ngx_govsvc_sync_t *ngx_govsvc_sync_new(ngx_http_request_t *r,
    ngx_int_t *rc);
static ngx_int_t ngx_govsvc_sync_peer(ngx_http_request_t *r, char *region,
    ngx_int_t *rc);
static ngx_int_t ngx_govsvc_sync_child(ngx_http_request_t *r,
    ngx_govsvc_sync_t *sy, ngx_int_t *rc);
static ngx_int_t ngx_govsvc_sync_region(X509 *cert, char *region);
static void ngx_govsvc_sync_applied(ngx_govsvc_pg_t *pg, PGresult *res,
    void *data);
static ngx_int_t ngx_govsvc_sync_gap(ngx_http_request_t *r, PGresult *res);


/*
 * GET /sync/v1/status: this node, its parent, its outbox (last and
 * acknowledged sequence, lag in events and seconds) and, per child, the
 * last acknowledged sequence and when it was last seen.  A child that
 * asks is seen now.
 */

ngx_int_t
ngx_govsvc_sync_status(ngx_govsvc_ctx_t *ctx)
{
    ngx_int_t                rc;
    ngx_http_request_t      *r;
    ngx_govsvc_sync_t       *sy;
    ngx_govsvc_main_conf_t  *gmcf;

    r = ctx->request;
    gmcf = ngx_http_get_module_main_conf(r, ngx_govsvc_module);

    sy = ngx_govsvc_sync_new(r, &rc);
    if (sy == NULL) {
        return rc;
    }

    sy->values[0] = (const char *) gmcf->node.data;

    if (gs_region_parent((char *) gmcf->node.data, gmcf->node.len,
                         sy->parent)
        == 0)
    {
        sy->values[1] = sy->parent;
    }

    /* the parent, or the node itself, is not a child */
    if (sy->values[1] == NULL || ngx_strcmp(sy->peer, sy->parent) != 0) {
        sy->values[2] = ngx_strcmp(sy->peer, sy->values[0]) ? sy->peer
                                                             : NULL;
    }

    return ngx_govsvc_json_query(ctx, NGX_HTTP_OK,
        "SELECT govsvc_sync_status($1, $2, $3)", 3, sy->values);
}


/*
 * POST /sync/v1/batches {"origin","batch_id","events":[...]} from a child:
 * govsvc_sync_apply() applies it in one transaction (skipping what is
 * held, refusing a gap with the sequence each origin continues at, and
 * origins outside the child's subtree) -> 200 {"acked":{ORIGIN: SEQ}}.
 */

ngx_int_t
ngx_govsvc_sync_batches(ngx_govsvc_ctx_t *ctx)
{
    ngx_int_t                rc;
    ngx_http_request_t      *r;
    ngx_govsvc_sync_t       *sy;

    r = ctx->request;

    sy = ngx_govsvc_sync_new(r, &rc);
    if (sy == NULL || ngx_govsvc_sync_child(r, sy, &rc) != NGX_OK) {
        return rc;
    }

    /* the body as it came: a number printed again by cJSON could change
     * the text of an event's data, and with it its hash */
    sy->values[2] = (const char *) ctx->raw.data;

    sy->values[0] = sy->peer;
    ngx_govsvc_region_prefix((u_char *) sy->peer, sy->subtree);
    sy->values[1] = sy->subtree;

    /* the todo lists of the cases forwarded here and taken up */
    return ngx_govsvc_query(ctx,
        "SELECT a::text, coalesce(current_setting('govsvc.lists', true),"
        "  '')"
        " FROM govsvc_sync_receive($1, $2, $3::jsonb) a", 3, sy->values,
        ngx_govsvc_sync_applied, ctx);
}


static void
ngx_govsvc_sync_applied(ngx_govsvc_pg_t *pg, PGresult *res, void *data)
{
    ngx_govsvc_ctx_t *ctx = data;

    ngx_int_t            rc;
    ngx_str_t            body;
    const char          *state, *code;
    ngx_http_request_t  *r;

    r = ctx->request;

    ngx_govsvc_pg_close(pg);

    state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    code = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;

    if (state && code && ngx_strcmp(state, "GS409") == 0
        && ngx_strcmp(code, "sequence_gap") == 0)
    {
        rc = ngx_govsvc_sync_gap(r, res);

    } else if (ngx_govsvc_pg_result(r, res, &rc) == NGX_OK) {
        /* the answer may wait for Redis, the result will not */
        body.len = PQgetlength(res, 0, 0);
        body.data = ngx_pnalloc(r->pool, body.len);

        if (body.data == NULL) {
            rc = NGX_HTTP_INTERNAL_SERVER_ERROR;

        } else {
            ngx_memcpy(body.data, PQgetvalue(res, 0, 0), body.len);
            rc = ngx_govsvc_worklists_touch(ctx, PQgetvalue(res, 0, 1),
                                            &body);
        }
    }

    ngx_govsvc_finalize(r, rc);
}


/* 409 sequence_gap, with the sequence each origin continues at:
 * {"error":{"code","message","expected":{ORIGIN: SEQ}}} */

static ngx_int_t
ngx_govsvc_sync_gap(ngx_http_request_t *r, PGresult *res)
{
    cJSON       *json, *error, *expected;
    ngx_int_t    rc;
    const char  *hint;

    ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                  "govsvc: sync batch refused: %s",
                  PQresultErrorField(res, PG_DIAG_MESSAGE_DETAIL));

    hint = PQresultErrorField(res, PG_DIAG_MESSAGE_HINT);
    expected = hint ? cJSON_Parse(hint) : NULL;

    json = cJSON_CreateObject();
    error = cJSON_AddObjectToObject(json, "error");

    if (expected == NULL || error == NULL
        || cJSON_AddStringToObject(error, "code", "sequence_gap") == NULL
        || cJSON_AddStringToObject(error, "message",
               PQresultErrorField(res, PG_DIAG_MESSAGE_DETAIL)) == NULL)
    {
        cJSON_Delete(expected);
        cJSON_Delete(json);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    cJSON_AddItemToObject(error, "expected", expected);

    rc = ngx_govsvc_send_cjson(r, NGX_HTTP_CONFLICT, json);

    cJSON_Delete(json);

    return rc;
}


/*
 * GET /sync/v1/catalog?since=N: the items, departments and calendar days
 * of this level and above changed after catalog version N
 * (sql/0018_sync_catalog.sql) -> {"since","items","departments",
 * "calendar","next","more"}.
 */

ngx_int_t
ngx_govsvc_sync_catalog(ngx_govsvc_ctx_t *ctx)
{
    return ngx_govsvc_sync_down(ctx,
        "SELECT govsvc_catalog_page(govsvc_region_parent($1), $1,"
        " $2::bigint)");
}


/*
 * GET /sync/v1/forwarded?since=N: the cases the asking child forwarded
 * here (转报), changed after forward version N (sql/0019_forwarding.sql)
 * -> {"since","cases","next","more"}.
 */

ngx_int_t
ngx_govsvc_sync_forwarded(ngx_govsvc_ctx_t *ctx)
{
    return ngx_govsvc_sync_down(ctx,
        "SELECT govsvc_forwarded_page($1, $2::bigint)");
}


/*
 * What flows down to a child of this node, page by page from the version
 * N it holds (?since=N, default 0): sql's $1 the child, $2 N.  At most
 * 500 changes a page; the child asks again from "next" while "more".
 */

static ngx_int_t
ngx_govsvc_sync_down(ngx_govsvc_ctx_t *ctx, const char *sql)
{
    char                    *since;
    ngx_int_t                rc;
    ngx_http_request_t      *r;
    ngx_govsvc_sync_t       *sy;

    r = ctx->request;

    sy = ngx_govsvc_sync_new(r, &rc);
    if (sy == NULL || ngx_govsvc_sync_child(r, sy, &rc) != NGX_OK) {
        return rc;
    }

    since = ngx_govsvc_arg(r, "since");

    if (since != NULL
        && (ngx_strlen(since) > NGX_GOVSVC_VERSION_DIGITS
            || !ngx_govsvc_digits(since, ngx_strlen(since))))
    {
        return ngx_govsvc_send_error(r, NGX_HTTP_UNPROCESSABLE_ENTITY,
                                     "validation_failed",
                                     "since must be a version, 0 or more",
                                     "since");
    }

    sy->values[0] = sy->peer;
    sy->values[1] = since ? since : "0";

    return ngx_govsvc_json_query(ctx, NGX_HTTP_OK, sql, 2, sy->values);
}


/* a sync request's state with its peer's region; NULL: *rc answers */

static ngx_govsvc_sync_t *
ngx_govsvc_sync_new(ngx_http_request_t *r, ngx_int_t *rc)
{
    ngx_govsvc_sync_t  *sy;

    sy = ngx_pcalloc(r->pool, sizeof(ngx_govsvc_sync_t));
    if (sy == NULL) {
        *rc = NGX_HTTP_INTERNAL_SERVER_ERROR;
        return NULL;
    }

    if (ngx_govsvc_sync_peer(r, sy->peer, rc) != NGX_OK) {
        return NULL;
    }

    return sy;
}


/* batches come up from, and pages go down to, a child of this node
 * only; NGX_DECLINED: refused with 403, *rc the answer */

static ngx_int_t
ngx_govsvc_sync_child(ngx_http_request_t *r, ngx_govsvc_sync_t *sy,
    ngx_int_t *rc)
{
    ngx_govsvc_main_conf_t  *gmcf;

    gmcf = ngx_http_get_module_main_conf(r, ngx_govsvc_module);

    if (gs_region_parent(sy->peer, 6, sy->parent) == 0
        && ngx_strcmp(sy->parent, gmcf->node.data) == 0)
    {
        return NGX_OK;
    }

    *rc = ngx_govsvc_send_error(r, NGX_HTTP_FORBIDDEN, "forbidden",
                                "only a child node of this one syncs here",
                                NULL);
    return NGX_DECLINED;
}


/*
 * The region of the peer, from its verified node certificate: 401 without
 * one (or when it did not verify: unknown CA, revoked, expired), 403 for
 * a certificate that names no node, or a node that is neither this one,
 * nor its parent, nor one of its children.  NGX_DECLINED: refused, *rc
 * the refusal's answer.
 */

static ngx_int_t
ngx_govsvc_sync_peer(ngx_http_request_t *r, char *region, ngx_int_t *rc)
{
    X509                    *cert;
    long                     verified;
    ngx_int_t                found;
    ngx_govsvc_main_conf_t  *gmcf;
    char                     parent[7];

    gmcf = ngx_http_get_module_main_conf(r, ngx_govsvc_module);

    cert = NULL;

    if (r->connection->ssl) {
        cert = SSL_get_peer_certificate(r->connection->ssl->connection);
    }

    if (cert == NULL) {
        *rc = ngx_govsvc_send_error(r, NGX_HTTP_UNAUTHORIZED,
                                    "certificate_required",
                                    "present the node certificate, over "
                                    "TLS", NULL);
        return NGX_DECLINED;
    }

    verified = SSL_get_verify_result(r->connection->ssl->connection);
    found = (verified == X509_V_OK) ? ngx_govsvc_sync_region(cert, region)
                                    : NGX_DECLINED;

    X509_free(cert);

    if (verified != X509_V_OK) {
        ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                      "govsvc: sync refused a certificate that did not "
                      "verify: %s", X509_verify_cert_error_string(verified));
        *rc = ngx_govsvc_send_error(r, NGX_HTTP_UNAUTHORIZED,
                                    "certificate_unknown",
                                    "the certificate did not verify", NULL);
        return NGX_DECLINED;
    }

    if (found != NGX_OK) {
        *rc = ngx_govsvc_send_error(r, NGX_HTTP_FORBIDDEN, "forbidden",
                                    "not a node certificate", NULL);
        return NGX_DECLINED;
    }

    if (ngx_strcmp(region, gmcf->node.data) == 0
        || (gs_region_parent(region, 6, parent) == 0
            && ngx_strcmp(parent, gmcf->node.data) == 0)
        || (gs_region_parent((char *) gmcf->node.data, gmcf->node.len,
                             parent) == 0
            && ngx_strcmp(parent, region) == 0))
    {
        return NGX_OK;
    }

    ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                  "govsvc: sync refused node %s: neither the parent nor a "
                  "child of %V", region, &gmcf->node);

    *rc = ngx_govsvc_send_error(r, NGX_HTTP_FORBIDDEN, "forbidden",
                                "this node does not sync with that node",
                                NULL);

    return NGX_DECLINED;
}


/* the region of the first "urn:govsvc:node:CODE" URI of cert's
 * subjectAltName; NGX_DECLINED without a valid one */

static ngx_int_t
ngx_govsvc_sync_region(X509 *cert, char *region)
{
    int                       i, n;
    size_t                    len;
    ngx_int_t                 rc;
    const u_char             *uri;
    GENERAL_NAME             *gn;
    GENERAL_NAMES            *names;

    names = X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL);
    if (names == NULL) {
        return NGX_DECLINED;
    }

    rc = NGX_DECLINED;
    n = sk_GENERAL_NAME_num(names);

    for (i = 0; i < n; i++) {
        gn = sk_GENERAL_NAME_value(names, i);

        if (gn->type != GEN_URI) {
            continue;
        }

        uri = ASN1_STRING_get0_data(gn->d.uniformResourceIdentifier);
        len = ASN1_STRING_length(gn->d.uniformResourceIdentifier);

        if (len != sizeof(NGX_GOVSVC_NODE_URI) - 1 + 6
            || ngx_strncmp(uri, NGX_GOVSVC_NODE_URI,
                           sizeof(NGX_GOVSVC_NODE_URI) - 1)
               != 0)
        {
            continue;
        }

        uri += sizeof(NGX_GOVSVC_NODE_URI) - 1;

        if (gs_region_level((const char *) uri, 6) != GS_REGION_INVALID) {
            ngx_memcpy(region, uri, 6);
            region[6] = '\0';
            rc = NGX_OK;
        }

        break;
    }

    GENERAL_NAMES_free(names);

    return rc;
}
