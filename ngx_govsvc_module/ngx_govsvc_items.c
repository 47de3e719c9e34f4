
/* STUB: being written */

#include "ngx_govsvc.h"

ngx_int_t
ngx_govsvc_items_list(ngx_govsvc_ctx_t *ctx)
{
    return NGX_HTTP_NOT_IMPLEMENTED;
}


ngx_int_t
ngx_govsvc_items_get(ngx_govsvc_ctx_t *ctx)
{
    return NGX_HTTP_NOT_IMPLEMENTED;
}


ngx_int_t
ngx_govsvc_items_create(ngx_govsvc_ctx_t *ctx)
{
    return NGX_HTTP_NOT_IMPLEMENTED;
}


ngx_int_t
ngx_govsvc_items_update(ngx_govsvc_ctx_t *ctx)
{
    return NGX_HTTP_NOT_IMPLEMENTED;
}


