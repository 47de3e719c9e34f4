
/*
 * GovSvc: e-supervision (电子监察): warnings, yellow and red cards (issued
 * by a timer and by supervisors, answered by departments), statistics.
 */


#include "ngx_govsvc.h"


/* issue 6 (helper): the handlers below are placeholders until then */

static ngx_int_t
ngx_govsvc_supervision_todo(ngx_govsvc_ctx_t *ctx)
{
    return ngx_govsvc_send_error(ctx->request, NGX_HTTP_NOT_FOUND,
                                 "not_found", "not yet", NULL);
}

ngx_int_t ngx_govsvc_supervision_warnings(ngx_govsvc_ctx_t *ctx)
{ return ngx_govsvc_supervision_todo(ctx); }
ngx_int_t ngx_govsvc_supervision_stats(ngx_govsvc_ctx_t *ctx)
{ return ngx_govsvc_supervision_todo(ctx); }
ngx_int_t ngx_govsvc_cards_issue(ngx_govsvc_ctx_t *ctx)
{ return ngx_govsvc_supervision_todo(ctx); }
ngx_int_t ngx_govsvc_cards_revoke(ngx_govsvc_ctx_t *ctx)
{ return ngx_govsvc_supervision_todo(ctx); }
ngx_int_t ngx_govsvc_cards_respond(ngx_govsvc_ctx_t *ctx)
{ return ngx_govsvc_supervision_todo(ctx); }
ngx_int_t ngx_govsvc_cards_list(ngx_govsvc_ctx_t *ctx)
{ return ngx_govsvc_supervision_todo(ctx); }

void
ngx_govsvc_cards_start(ngx_cycle_t *cycle, ngx_govsvc_main_conf_t *gmcf)
{
}

void
ngx_govsvc_cards_stop(ngx_govsvc_main_conf_t *gmcf)
{
}
