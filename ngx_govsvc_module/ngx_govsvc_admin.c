
/* STUB: being written */

#include "ngx_govsvc.h"

ngx_int_t
ngx_govsvc_departments_list(ngx_govsvc_ctx_t *ctx)
{
    return NGX_HTTP_NOT_IMPLEMENTED;
}


ngx_int_t
ngx_govsvc_departments_create(ngx_govsvc_ctx_t *ctx)
{
    return NGX_HTTP_NOT_IMPLEMENTED;
}


ngx_int_t
ngx_govsvc_departments_get(ngx_govsvc_ctx_t *ctx)
{
    return NGX_HTTP_NOT_IMPLEMENTED;
}


ngx_int_t
ngx_govsvc_departments_update(ngx_govsvc_ctx_t *ctx)
{
    return NGX_HTTP_NOT_IMPLEMENTED;
}


ngx_int_t
ngx_govsvc_users_list(ngx_govsvc_ctx_t *ctx)
{
    return NGX_HTTP_NOT_IMPLEMENTED;
}


ngx_int_t
ngx_govsvc_users_create(ngx_govsvc_ctx_t *ctx)
{
    return NGX_HTTP_NOT_IMPLEMENTED;
}


ngx_int_t
ngx_govsvc_users_get(ngx_govsvc_ctx_t *ctx)
{
    return NGX_HTTP_NOT_IMPLEMENTED;
}


ngx_int_t
ngx_govsvc_users_update(ngx_govsvc_ctx_t *ctx)
{
    return NGX_HTTP_NOT_IMPLEMENTED;
}


ngx_int_t
ngx_govsvc_users_password(ngx_govsvc_ctx_t *ctx)
{
    return NGX_HTTP_NOT_IMPLEMENTED;
}


ngx_int_t
ngx_govsvc_users_cert_bind(ngx_govsvc_ctx_t *ctx)
{
    return NGX_HTTP_NOT_IMPLEMENTED;
}


ngx_int_t
ngx_govsvc_users_cert_unbind(ngx_govsvc_ctx_t *ctx)
{
    return NGX_HTTP_NOT_IMPLEMENTED;
}


ngx_int_t
ngx_govsvc_calendar_put(ngx_govsvc_ctx_t *ctx)
{
    return NGX_HTTP_NOT_IMPLEMENTED;
}


ngx_int_t
ngx_govsvc_calendar_delete(ngx_govsvc_ctx_t *ctx)
{
    return NGX_HTTP_NOT_IMPLEMENTED;
}


