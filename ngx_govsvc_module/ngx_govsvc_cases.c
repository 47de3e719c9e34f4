
/* STUB: being written */

#include "ngx_govsvc.h"

ngx_int_t
ngx_govsvc_cases_create(ngx_govsvc_ctx_t *ctx)
{
    return NGX_HTTP_NOT_IMPLEMENTED;
}


ngx_int_t
ngx_govsvc_cases_get(ngx_govsvc_ctx_t *ctx)
{
    return NGX_HTTP_NOT_IMPLEMENTED;
}


ngx_int_t
ngx_govsvc_cases_patch(ngx_govsvc_ctx_t *ctx)
{
    return NGX_HTTP_NOT_IMPLEMENTED;
}


