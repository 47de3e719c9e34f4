
/*
 * GovSvc: the catalog flows down (三级联动).  Items, departments and the
 * working-day calendar published at a level reach every node below it: a
 * child pulls them from its parent, page by page, from the catalog
 * version it holds.  The page is built, and applied at the child, by
 * sql/0018_sync_catalog.sql.
 */


#include "ngx_govsvc.h"
#include "gs_region.h"


/* a bigint's digits, without overflow */
#define NGX_GOVSVC_VERSION_DIGITS  18


/*
 * GET /sync/v1/catalog?since=N (a child of this node; N, default 0, the
 * version it holds) -> {"since","items","departments","calendar","next",
 * "more"}: at most 500 changes after N, in version order; the child asks
 * again from "next" while "more".
 */

ngx_int_t
ngx_govsvc_sync_catalog(ngx_govsvc_ctx_t *ctx)
{
    char                    *since;
    char                    *peer, parent[7];
    const char             **values;
    ngx_int_t                rc;
    ngx_http_request_t      *r;
    ngx_govsvc_main_conf_t  *gmcf;

    r = ctx->request;
    gmcf = ngx_http_get_module_main_conf(r, ngx_govsvc_module);

    values = ngx_palloc(r->pool, 3 * sizeof(char *));
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
                                     "the catalog flows down to a child "
                                     "node", NULL);
    }

    since = ngx_govsvc_arg(r, "since");

    if (since != NULL
        && (ngx_strlen(since) > NGX_GOVSVC_VERSION_DIGITS
            || !ngx_govsvc_digits(since, ngx_strlen(since))))
    {
        return ngx_govsvc_send_error(r, NGX_HTTP_UNPROCESSABLE_ENTITY,
                                     "validation_failed",
                                     "since must be a catalog version, 0 "
                                     "or more", "since");
    }

    values[0] = (const char *) gmcf->node.data;
    values[1] = peer;
    values[2] = since ? since : "0";

    return ngx_govsvc_json_query(ctx, NGX_HTTP_OK,
        "SELECT govsvc_catalog_page($1, $2, $3::bigint)", 3, values);
}
