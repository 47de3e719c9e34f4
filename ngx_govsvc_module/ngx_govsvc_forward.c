
/*
 * GovSvc: forwarding (转报, 三级联动).  A case whose item is decided above
 * this node is forwarded by the action "forward" and taken up by the
 * parent when its event arrives (sql/0019_forwarding.sql); the parent's
 * case then flows back down: a child pulls the changes of the cases it
 * forwarded, page by page, from the forward version it holds.
 */


#include "ngx_govsvc.h"
#include "gs_region.h"


/* a bigint's digits, without overflow */
#define NGX_GOVSVC_FORWARD_DIGITS  18


/*
 * GET /sync/v1/forwarded?since=N (a child of this node; N, default 0, the
 * forward version it holds) -> {"since","cases","next","more"}: the cases
 * that child forwarded here, changed after N, at most 500 in version
 * order; the child asks again from "next" while "more".
 */

ngx_int_t
ngx_govsvc_sync_forwarded(ngx_govsvc_ctx_t *ctx)
{
    char                    *since, *peer, parent[7];
    const char             **values;
    ngx_int_t                rc;
    ngx_http_request_t      *r;
    ngx_govsvc_main_conf_t  *gmcf;

    r = ctx->request;
    gmcf = ngx_http_get_module_main_conf(r, ngx_govsvc_module);

    values = ngx_palloc(r->pool, 2 * sizeof(char *));
    peer = ngx_pnalloc(r->pool, 7);
    if (values == NULL || peer == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ngx_govsvc_sync_peer(r, peer, &rc) != NGX_OK) {
        return rc;
    }

    if (gs_region_parent(peer, 6, parent) != 0
        || ngx_strcmp(parent, gmcf->node.data) != 0)
    {
        return ngx_govsvc_send_error(r, NGX_HTTP_FORBIDDEN, "forbidden",
                                     "forwarded cases answer the child "
                                     "node that forwarded them", NULL);
    }

    since = ngx_govsvc_arg(r, "since");

    if (since != NULL
        && (ngx_strlen(since) > NGX_GOVSVC_FORWARD_DIGITS
            || !ngx_govsvc_digits(since, ngx_strlen(since))))
    {
        return ngx_govsvc_send_error(r, NGX_HTTP_UNPROCESSABLE_ENTITY,
                                     "validation_failed",
                                     "since must be a forward version, 0 "
                                     "or more", "since");
    }

    values[0] = peer;
    values[1] = since ? since : "0";

    return ngx_govsvc_json_query(ctx, NGX_HTTP_OK,
        "SELECT govsvc_forwarded_page($1, $2::bigint)", 2, values);
}
