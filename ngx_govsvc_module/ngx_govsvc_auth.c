
/* STUB: being written */

#include "ngx_govsvc.h"

ngx_int_t
ngx_govsvc_sessions_create(ngx_govsvc_ctx_t *ctx)
{
    return NGX_HTTP_NOT_IMPLEMENTED;
}


ngx_int_t
ngx_govsvc_sessions_cert(ngx_govsvc_ctx_t *ctx)
{
    return NGX_HTTP_NOT_IMPLEMENTED;
}


ngx_int_t
ngx_govsvc_sessions_delete(ngx_govsvc_ctx_t *ctx)
{
    return NGX_HTTP_NOT_IMPLEMENTED;
}


ngx_int_t
ngx_govsvc_me(ngx_govsvc_ctx_t *ctx)
{
    return NGX_HTTP_NOT_IMPLEMENTED;
}


ngx_int_t
ngx_govsvc_authenticate(ngx_govsvc_ctx_t *ctx)
{
    return NGX_HTTP_NOT_IMPLEMENTED;
}


void
ngx_govsvc_actor(ngx_govsvc_ctx_t *ctx, const char **values)
{
}


ngx_int_t
ngx_govsvc_password_hash(ngx_govsvc_ctx_t *ctx, const char *password,
    char *out, ngx_govsvc_password_done_pt done)
{
    return NGX_ERROR;
}


ngx_int_t
ngx_govsvc_password_verify(ngx_govsvc_ctx_t *ctx, const char *password,
    const char *stored, ngx_govsvc_password_done_pt done)
{
    return NGX_ERROR;
}
