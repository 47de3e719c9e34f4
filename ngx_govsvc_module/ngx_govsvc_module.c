
/*
 * GovSvc: directives, configuration, worker life cycle and request metrics.
 */


#include "ngx_govsvc.h"
#include "gs_region.h"


static void *ngx_govsvc_create_main_conf(ngx_conf_t *cf);
static char *ngx_govsvc_init_main_conf(ngx_conf_t *cf, void *conf);
static void *ngx_govsvc_create_loc_conf(ngx_conf_t *cf);
static char *ngx_govsvc_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child);
static ngx_int_t ngx_govsvc_postconfiguration(ngx_conf_t *cf);
static ngx_int_t ngx_govsvc_init_process(ngx_cycle_t *cycle);
static void ngx_govsvc_exit_process(ngx_cycle_t *cycle);
static ngx_int_t ngx_govsvc_log_handler(ngx_http_request_t *r);

static ngx_int_t ngx_govsvc_conf_uint(ngx_str_t *param, const char *name,
    ngx_uint_t *out);
static ngx_int_t ngx_govsvc_conf_msec(ngx_str_t *param, const char *name,
    ngx_msec_t *out);
static char *ngx_govsvc_postgres(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_govsvc_session_cache(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_govsvc_redis(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_govsvc_zone(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_govsvc_node(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_govsvc_set_limit(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_govsvc_location(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_govsvc_bench_json(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);


static ngx_conf_num_bounds_t  ngx_govsvc_days_bounds = {
    ngx_conf_check_num_bounds, 0, 365
};


/* the windows of the "N WINDOW" directives (ngx_govsvc_set_limit) */
static size_t  ngx_govsvc_public_window =
    offsetof(ngx_govsvc_main_conf_t, public_window);
static size_t  ngx_govsvc_login_window =
    offsetof(ngx_govsvc_main_conf_t, login_window);
static size_t  ngx_govsvc_public_query_window =
    offsetof(ngx_govsvc_main_conf_t, public_query_window);


static ngx_command_t  ngx_govsvc_commands[] = {

    { ngx_string("govsvc_postgres"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_1MORE,
      ngx_govsvc_postgres,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("govsvc_postgres_read"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_1MORE,
      ngx_govsvc_postgres,
      NGX_HTTP_MAIN_CONF_OFFSET,
      1,                                   /* the read pool */
      NULL },

    { ngx_string("govsvc_redis"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_1MORE,
      ngx_govsvc_redis,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("govsvc_zone"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE2,
      ngx_govsvc_zone,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("govsvc_node"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_govsvc_node,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("govsvc_cache_ttl"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_govsvc_main_conf_t, cache_ttl),
      NULL },

    { ngx_string("govsvc_public_write_limit"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE2,
      ngx_govsvc_set_limit,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_govsvc_main_conf_t, public_limit),
      &ngx_govsvc_public_window },

    { ngx_string("govsvc_session_idle"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_govsvc_main_conf_t, session_idle),
      NULL },

    { ngx_string("govsvc_session_lifetime"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_govsvc_main_conf_t, session_lifetime),
      NULL },

    { ngx_string("govsvc_session_cache"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE12,
      ngx_govsvc_session_cache,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("govsvc_purge_interval"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_govsvc_main_conf_t, purge_interval),
      NULL },

    { ngx_string("govsvc_login_limit"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE2,
      ngx_govsvc_set_limit,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_govsvc_main_conf_t, login_limit),
      &ngx_govsvc_login_window },

    { ngx_string("govsvc_password_threads"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_govsvc_main_conf_t, password_pool_name),
      NULL },

    { ngx_string("govsvc_files"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_govsvc_main_conf_t, files_path),
      NULL },

    { ngx_string("govsvc_upload_max_size"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_off_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_govsvc_main_conf_t, upload_max),
      NULL },

    { ngx_string("govsvc_signing_certificate"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_govsvc_main_conf_t, signing_cert_file),
      NULL },

    { ngx_string("govsvc_signing_certificate_key"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_govsvc_main_conf_t, signing_key_file),
      NULL },

    { ngx_string("govsvc_supervision_phone"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_govsvc_main_conf_t, supervision_phone),
      NULL },

    { ngx_string("govsvc_yellow_days"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_govsvc_main_conf_t, yellow_days),
      &ngx_govsvc_days_bounds },

    { ngx_string("govsvc_abnormal_draft_days"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_govsvc_main_conf_t, draft_stale_days),
      &ngx_govsvc_days_bounds },

    { ngx_string("govsvc_consult_reply_days"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_govsvc_main_conf_t, consult_reply_days),
      &ngx_govsvc_days_bounds },

    { ngx_string("govsvc_rectify_days"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_govsvc_main_conf_t, rectify_days),
      &ngx_govsvc_days_bounds },

    { ngx_string("govsvc_public_query_limit"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE2,
      ngx_govsvc_set_limit,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_govsvc_main_conf_t, public_query_limit),
      &ngx_govsvc_public_query_window },

    { ngx_string("govsvc_card_interval"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_govsvc_main_conf_t, card_interval),
      NULL },

    { ngx_string("govsvc_sync_parent"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_govsvc_sync_parent,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("govsvc_sync_certificate"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_govsvc_main_conf_t, sync_cert),
      NULL },

    { ngx_string("govsvc_sync_certificate_key"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_govsvc_main_conf_t, sync_key),
      NULL },

    { ngx_string("govsvc_sync_trusted_certificate"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_govsvc_main_conf_t, sync_trusted),
      NULL },

    { ngx_string("govsvc_sync_interval"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_govsvc_main_conf_t, sync_interval),
      NULL },

    { ngx_string("govsvc_sync_timeout"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_govsvc_main_conf_t, sync_timeout),
      NULL },

    { ngx_string("govsvc_sync_backoff"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_govsvc_main_conf_t, sync_backoff),
      NULL },

    { ngx_string("govsvc_sync_batch"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_govsvc_main_conf_t, sync_batch),
      NULL },

    { ngx_string("govsvc_api"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_govsvc_location,
      NGX_HTTP_LOC_CONF_OFFSET,
      NGX_GOVSVC_LOC_API,
      NULL },

    { ngx_string("govsvc_sync"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_govsvc_location,
      NGX_HTTP_LOC_CONF_OFFSET,
      NGX_GOVSVC_LOC_SYNC,
      NULL },

    { ngx_string("govsvc_health"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_govsvc_location,
      NGX_HTTP_LOC_CONF_OFFSET,
      NGX_GOVSVC_LOC_HEALTH,
      NULL },

    { ngx_string("govsvc_metrics"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_govsvc_location,
      NGX_HTTP_LOC_CONF_OFFSET,
      NGX_GOVSVC_LOC_METRICS,
      NULL },

    { ngx_string("govsvc_error"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_govsvc_location,
      NGX_HTTP_LOC_CONF_OFFSET,
      NGX_GOVSVC_LOC_ERROR,
      NULL },

    { ngx_string("govsvc_bench_json"),
      NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_govsvc_bench_json,
      NGX_HTTP_LOC_CONF_OFFSET,
      NGX_GOVSVC_LOC_BENCH_JSON,
      NULL },

    { ngx_string("govsvc_bench_sleep"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_govsvc_location,
      NGX_HTTP_LOC_CONF_OFFSET,
      NGX_GOVSVC_LOC_BENCH_SLEEP,
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_govsvc_module_ctx = {
    NULL,                                  /* preconfiguration */
    ngx_govsvc_postconfiguration,          /* postconfiguration */

    ngx_govsvc_create_main_conf,           /* create main configuration */
    ngx_govsvc_init_main_conf,             /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */

    ngx_govsvc_create_loc_conf,            /* create location configuration */
    ngx_govsvc_merge_loc_conf              /* merge location configuration */
};


ngx_module_t  ngx_govsvc_module = {
    NGX_MODULE_V1,
    &ngx_govsvc_module_ctx,                /* module context */
    ngx_govsvc_commands,                   /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    NULL,                                  /* init module */
    ngx_govsvc_init_process,               /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    ngx_govsvc_exit_process,               /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


/* indexed by ngx_govsvc_loc_kind_e */
static ngx_http_handler_pt  ngx_govsvc_loc_handlers[] = {
    NULL,
    ngx_govsvc_api_handler,
    ngx_govsvc_sync_handler,
    ngx_govsvc_health_handler,
    ngx_govsvc_metrics_handler,
    ngx_govsvc_error_handler,
    ngx_govsvc_bench_json_handler,
    ngx_govsvc_bench_sleep_handler
};


/* the last slot stands for every status not listed */
ngx_uint_t  ngx_govsvc_statuses[NGX_GOVSVC_STATUSES] = {
    200, 201, 204, 400, 401, 403, 404, 405, 409, 413, 415, 422, 429,
    500, 503, 0
};


ngx_msec_t  ngx_govsvc_latency_bounds[NGX_GOVSVC_LATENCY_BUCKETS] = {
    1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000
};


/* the shared zone of this cycle, for the metrics of every request */
static ngx_shm_zone_t  *ngx_govsvc_zone_current;


static void *
ngx_govsvc_create_main_conf(ngx_conf_t *cf)
{
    ngx_govsvc_main_conf_t  *gmcf;

    gmcf = ngx_pcalloc(cf->pool, sizeof(ngx_govsvc_main_conf_t));
    if (gmcf == NULL) {
        return NULL;
    }

    gmcf->pg_max = NGX_CONF_UNSET_UINT;
    gmcf->pg_queue = NGX_CONF_UNSET_UINT;
    gmcf->pg_timeout = NGX_CONF_UNSET_MSEC;
    gmcf->pgr_max = NGX_CONF_UNSET_UINT;
    gmcf->pgr_queue = NGX_CONF_UNSET_UINT;
    gmcf->pgr_timeout = NGX_CONF_UNSET_MSEC;
    gmcf->pgr_lag = NGX_CONF_UNSET_MSEC;
    gmcf->redis_port = NGX_CONF_UNSET;
    gmcf->redis_conns = NGX_CONF_UNSET_UINT;
    gmcf->redis_timeout = NGX_CONF_UNSET_MSEC;
    gmcf->cache_ttl = NGX_CONF_UNSET_MSEC;
    gmcf->public_limit = NGX_CONF_UNSET_UINT;
    gmcf->public_window = NGX_CONF_UNSET_MSEC;
    gmcf->session_idle = NGX_CONF_UNSET_MSEC;
    gmcf->session_lifetime = NGX_CONF_UNSET_MSEC;
    gmcf->session_cache_max = NGX_CONF_UNSET_UINT;
    gmcf->session_cache_ttl = NGX_CONF_UNSET_MSEC;
    gmcf->login_limit = NGX_CONF_UNSET_UINT;
    gmcf->login_window = NGX_CONF_UNSET_MSEC;
    gmcf->purge_interval = NGX_CONF_UNSET_MSEC;
    gmcf->upload_max = NGX_CONF_UNSET;
    gmcf->yellow_days = NGX_CONF_UNSET;
    gmcf->consult_reply_days = NGX_CONF_UNSET;
    gmcf->rectify_days = NGX_CONF_UNSET;
    gmcf->public_query_limit = NGX_CONF_UNSET_UINT;
    gmcf->public_query_window = NGX_CONF_UNSET_MSEC;
    gmcf->card_interval = NGX_CONF_UNSET_MSEC;
    gmcf->draft_stale_days = NGX_CONF_UNSET;
    gmcf->sync_interval = NGX_CONF_UNSET_MSEC;
    gmcf->sync_timeout = NGX_CONF_UNSET_MSEC;
    gmcf->sync_backoff = NGX_CONF_UNSET_MSEC;
    gmcf->sync_batch = NGX_CONF_UNSET_UINT;

    return gmcf;
}


static char *
ngx_govsvc_init_main_conf(ngx_conf_t *cf, void *conf)
{
    ngx_govsvc_main_conf_t *gmcf = conf;

    ngx_conf_init_uint_value(gmcf->pg_max, 8);
    ngx_conf_init_uint_value(gmcf->pg_queue, 256);
    ngx_conf_init_msec_value(gmcf->pg_timeout, 5000);
    ngx_conf_init_uint_value(gmcf->pgr_max, 8);
    ngx_conf_init_uint_value(gmcf->pgr_queue, 256);
    ngx_conf_init_msec_value(gmcf->pgr_timeout, 5000);
    ngx_conf_init_msec_value(gmcf->pgr_lag, 5000);

    if (gmcf->pgr_conninfo.len
        && (gmcf->pg_conninfo.len == 0 || gmcf->shm_zone == NULL))
    {
        /* the zone holds the replica's state and the marks of writes */
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"govsvc_postgres_read\" needs "
                           "\"govsvc_postgres\" and \"govsvc_zone\"");
        return NGX_CONF_ERROR;
    }
    ngx_conf_init_value(gmcf->redis_port, 0);
    ngx_conf_init_uint_value(gmcf->redis_conns, 1);
    ngx_conf_init_msec_value(gmcf->redis_timeout, 1000);
    ngx_conf_init_msec_value(gmcf->cache_ttl, 60000);
    ngx_conf_init_uint_value(gmcf->public_limit, 30);
    ngx_conf_init_msec_value(gmcf->public_window, 60000);
    ngx_conf_init_msec_value(gmcf->session_idle, 30 * 60000);
    ngx_conf_init_msec_value(gmcf->session_lifetime, 12 * 3600000);
    ngx_conf_init_uint_value(gmcf->session_cache_max, 0);
    ngx_conf_init_msec_value(gmcf->session_cache_ttl, 5000);
    ngx_conf_init_uint_value(gmcf->login_limit, 5);
    ngx_conf_init_msec_value(gmcf->login_window, 15 * 60000);
    ngx_conf_init_msec_value(gmcf->purge_interval, 10 * 60000);
    ngx_conf_init_value(gmcf->upload_max, 20 * 1024 * 1024);
    ngx_conf_init_value(gmcf->yellow_days, 2);
    ngx_conf_init_value(gmcf->draft_stale_days, 30);
    ngx_conf_init_value(gmcf->consult_reply_days, 5);
    ngx_conf_init_value(gmcf->rectify_days, 10);
    ngx_conf_init_uint_value(gmcf->public_query_limit, 10);
    ngx_conf_init_msec_value(gmcf->public_query_window, 60000);
    ngx_conf_init_msec_value(gmcf->card_interval, 60000);

    if (gmcf->supervision_phone.len == 0) {
        /* the national government service hotline */
        ngx_str_set(&gmcf->supervision_phone, "12345");
    }

    if (ngx_govsvc_notices_init_conf(cf, gmcf) != NGX_CONF_OK
        || ngx_govsvc_sync_init_conf(cf, gmcf) != NGX_CONF_OK)
    {
        return NGX_CONF_ERROR;
    }

    if (gmcf->password_pool_name.len == 0) {
        ngx_str_set(&gmcf->password_pool_name, "default");
    }

#if (NGX_THREADS)
    /* passwords are checked only with a database: an nginx that merely
     * loads the module (Debian's, once the package is installed) must not
     * start the pool's threads */
    if (gmcf->pg_conninfo.len == 0) {
        return NGX_CONF_OK;
    }

    /* "default" needs no thread_pool directive: nginx makes it */
    gmcf->password_pool = ngx_thread_pool_add(cf, &gmcf->password_pool_name);
    if (gmcf->password_pool == NULL) {
        return NGX_CONF_ERROR;
    }
#endif

    return NGX_CONF_OK;
}


static void *
ngx_govsvc_create_loc_conf(ngx_conf_t *cf)
{
    ngx_govsvc_loc_conf_t  *glcf;

    glcf = ngx_pcalloc(cf->pool, sizeof(ngx_govsvc_loc_conf_t));
    if (glcf == NULL) {
        return NULL;
    }

    /* glcf->kind = NGX_GOVSVC_LOC_NONE; handlers are not inherited */

    return glcf;
}


static char *
ngx_govsvc_merge_loc_conf(ngx_conf_t *cf, void *parent, void *child)
{
    return NGX_CONF_OK;
}


static ngx_int_t
ngx_govsvc_postconfiguration(ngx_conf_t *cf)
{
    ngx_http_handler_pt        *h;
    ngx_govsvc_main_conf_t     *gmcf;
    ngx_http_core_main_conf_t  *cmcf;

    gmcf = ngx_http_conf_get_module_main_conf(cf, ngx_govsvc_module);

    ngx_govsvc_zone_current = gmcf->shm_zone;

    if (ngx_govsvc_files_init(cf) != NGX_OK) {
        return NGX_ERROR;
    }

    if (gmcf->shm_zone == NULL) {
        return NGX_OK;
    }

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_LOG_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_govsvc_log_handler;

    return NGX_OK;
}


static ngx_int_t
ngx_govsvc_init_process(ngx_cycle_t *cycle)
{
    ngx_govsvc_main_conf_t  *gmcf;

    gmcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_govsvc_module);
    if (gmcf == NULL) {
        return NGX_OK;
    }

    if (ngx_worker >= NGX_GOVSVC_MAX_WORKERS) {
        ngx_log_error(NGX_LOG_EMERG, cycle->log, 0,
                      "govsvc supports at most %d worker processes",
                      NGX_GOVSVC_MAX_WORKERS);
        return NGX_ERROR;
    }

    if (gmcf->pg_conninfo.len) {
        gmcf->pg = ngx_govsvc_pg_pool_create(cycle, gmcf);
        if (gmcf->pg == NULL) {
            return NGX_ERROR;
        }

        /* one worker is enough: the others would only repeat it */
        if (ngx_worker == 0 && gmcf->purge_interval) {
            ngx_govsvc_purge_start(cycle, gmcf);
        }

        if (gmcf->card_interval) {
            ngx_govsvc_cards_start(cycle, gmcf);
        }

        if (ngx_govsvc_sync_start(cycle, gmcf) != NGX_OK) {
            return NGX_ERROR;
        }

        if (gmcf->pgr_conninfo.len) {
            gmcf->pg_read = ngx_govsvc_pg_read_create(cycle, gmcf);
            if (gmcf->pg_read == NULL) {
                return NGX_ERROR;
            }
        }

        if (gmcf->session_cache_max) {
            gmcf->session_cache = ngx_govsvc_scache_create(cycle, gmcf);
            if (gmcf->session_cache == NULL) {
                return NGX_ERROR;
            }
        }
    }

    if (gmcf->redis_host.len) {
        gmcf->redis = ngx_govsvc_redis_create(cycle, gmcf);
        if (gmcf->redis == NULL) {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


static void
ngx_govsvc_exit_process(ngx_cycle_t *cycle)
{
    ngx_govsvc_main_conf_t  *gmcf;

    gmcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_govsvc_module);
    if (gmcf == NULL) {
        return;
    }

    if (gmcf->redis) {
        ngx_govsvc_redis_destroy(gmcf->redis);
        gmcf->redis = NULL;
    }

    if (gmcf->session_cache) {
        ngx_govsvc_scache_destroy(gmcf->session_cache);
        gmcf->session_cache = NULL;
    }

    /* first: its check may wait in the primary's pool */
    if (gmcf->pg_read) {
        ngx_govsvc_pg_pool_destroy(gmcf->pg_read);
        gmcf->pg_read = NULL;
    }

    if (gmcf->pg) {
        ngx_govsvc_pg_pool_destroy(gmcf->pg);
        gmcf->pg = NULL;
    }

    ngx_govsvc_cards_stop(gmcf);
    ngx_govsvc_sync_stop(gmcf);

    /* after the connections: a purge in flight is their user */
    if (gmcf->purge_pool) {
        ngx_destroy_pool(gmcf->purge_pool);
        gmcf->purge_pool = NULL;
    }
}


ngx_govsvc_metrics_t *
ngx_govsvc_metrics(void)
{
    if (ngx_govsvc_zone_current == NULL
        || ngx_govsvc_zone_current->data == NULL)
    {
        return NULL;
    }

    return ngx_govsvc_shm_metrics(ngx_govsvc_zone_current);
}


ngx_uint_t
ngx_govsvc_status_slot(ngx_uint_t status)
{
    ngx_uint_t  i;

    for (i = 0; i < NGX_GOVSVC_STATUSES - 1; i++) {
        if (ngx_govsvc_statuses[i] == status) {
            return i;
        }
    }

    return NGX_GOVSVC_STATUSES - 1;
}


static ngx_int_t
ngx_govsvc_log_handler(ngx_http_request_t *r)
{
    ngx_msec_t              ms;
    ngx_uint_t              route, status, i;
    ngx_time_t             *tp;
    ngx_govsvc_ctx_t       *ctx;
    ngx_govsvc_metrics_t   *m;
    ngx_govsvc_loc_conf_t  *glcf;

    glcf = ngx_http_get_module_loc_conf(r, ngx_govsvc_module);

    if (glcf->kind == NGX_GOVSVC_LOC_NONE || r != r->main) {
        return NGX_OK;
    }

    m = ngx_govsvc_metrics();
    if (m == NULL) {
        return NGX_OK;
    }

    ctx = ngx_http_get_module_ctx(r, ngx_govsvc_module);

    if (ctx && ctx->route_id < NGX_GOVSVC_ROUTES_MAX) {
        route = ctx->route_id;

    } else {
        /* ids 1.. follow the location kinds; see ngx_govsvc_route_name() */
        route = glcf->kind;
    }

    status = r->err_status ? r->err_status : r->headers_out.status;

    ngx_atomic_fetch_add(&m->requests[route][ngx_govsvc_status_slot(status)],
                         1);

    tp = ngx_timeofday();
    ms = (ngx_msec_t) ((tp->sec - r->start_sec) * 1000
                       + (tp->msec - r->start_msec));

    for (i = 0; i < NGX_GOVSVC_LATENCY_BUCKETS; i++) {
        if (ms <= ngx_govsvc_latency_bounds[i]) {
            break;
        }
    }

    ngx_atomic_fetch_add(&m->latency[i], 1);
    ngx_atomic_fetch_add(&m->latency_sum_ms, ms);
    ngx_atomic_fetch_add(&m->latency_count, 1);

    return NGX_OK;
}


/*
 * "name=VALUE" parameters: NGX_DECLINED when the name is not this one,
 * NGX_ERROR when the value is not a positive number or time.
 */

static ngx_int_t
ngx_govsvc_conf_uint(ngx_str_t *param, const char *name, ngx_uint_t *out)
{
    size_t     len;
    ngx_int_t  n;

    len = ngx_strlen(name);

    if (param->len < len || ngx_strncmp(param->data, name, len) != 0) {
        return NGX_DECLINED;
    }

    n = ngx_atoi(param->data + len, param->len - len);
    if (n <= 0) {
        return NGX_ERROR;
    }

    *out = n;

    return NGX_OK;
}


static ngx_int_t
ngx_govsvc_conf_msec(ngx_str_t *param, const char *name, ngx_msec_t *out)
{
    size_t      len;
    ngx_str_t   s;
    ngx_msec_t  ms;

    len = ngx_strlen(name);

    if (param->len < len || ngx_strncmp(param->data, name, len) != 0) {
        return NGX_DECLINED;
    }

    s.data = param->data + len;
    s.len = param->len - len;

    ms = ngx_parse_time(&s, 0);
    if (ms == (ngx_msec_t) NGX_ERROR || ms == 0) {
        return NGX_ERROR;
    }

    *out = ms;

    return NGX_OK;
}


/*
 * govsvc_postgres "conninfo" [max=N] [queue=N] [timeout=T], and
 * govsvc_postgres_read (cmd->offset 1) with [lag=T] too
 */

static char *
ngx_govsvc_postgres(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_govsvc_main_conf_t *gmcf = conf;

    ngx_int_t    rc;
    ngx_str_t   *value, *conninfo;
    ngx_uint_t   i, *max, *queue;
    ngx_msec_t  *timeout, *lag;

    if (cmd->offset) {
        conninfo = &gmcf->pgr_conninfo;
        max = &gmcf->pgr_max;
        queue = &gmcf->pgr_queue;
        timeout = &gmcf->pgr_timeout;
        lag = &gmcf->pgr_lag;

    } else {
        conninfo = &gmcf->pg_conninfo;
        max = &gmcf->pg_max;
        queue = &gmcf->pg_queue;
        timeout = &gmcf->pg_timeout;
        lag = NULL;
    }

    if (conninfo->data) {
        return "is duplicate";
    }

    value = cf->args->elts;

    conninfo->len = value[1].len;
    conninfo->data = ngx_pnalloc(cf->pool, value[1].len + 1);
    if (conninfo->data == NULL) {
        return NGX_CONF_ERROR;
    }

    (void) ngx_cpystrn(conninfo->data, value[1].data, value[1].len + 1);

    if (ngx_govsvc_pg_check_conninfo(cf, conninfo) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    for (i = 2; i < cf->args->nelts; i++) {
        rc = ngx_govsvc_conf_uint(&value[i], "max=", max);

        if (rc == NGX_DECLINED) {
            rc = ngx_govsvc_conf_uint(&value[i], "queue=", queue);
        }

        if (rc == NGX_DECLINED) {
            rc = ngx_govsvc_conf_msec(&value[i], "timeout=", timeout);
        }

        if (rc == NGX_DECLINED && lag) {
            rc = ngx_govsvc_conf_msec(&value[i], "lag=", lag);
        }

        if (rc != NGX_OK) {
            goto invalid;
        }
    }

    return NGX_CONF_OK;

invalid:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid parameter \"%V\"", &value[i]);

    return NGX_CONF_ERROR;
}


/* govsvc_session_cache N|off [ttl=T] */

static char *
ngx_govsvc_session_cache(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_govsvc_main_conf_t *gmcf = conf;

    ngx_int_t   n;
    ngx_str_t  *value;

    if (gmcf->session_cache_max != NGX_CONF_UNSET_UINT) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (ngx_strcmp(value[1].data, "off") == 0) {
        gmcf->session_cache_max = 0;

    } else {
        n = ngx_atoi(value[1].data, value[1].len);
        if (n <= 0) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid number of sessions \"%V\"",
                               &value[1]);
            return NGX_CONF_ERROR;
        }

        gmcf->session_cache_max = n;
    }

    if (cf->args->nelts == 3
        && (ngx_govsvc_conf_msec(&value[2], "ttl=", &gmcf->session_cache_ttl)
            != NGX_OK
            || gmcf->session_cache_ttl == 0))
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid parameter \"%V\"", &value[2]);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


/* govsvc_redis ADDRESS [conns=N] [timeout=T] */

static char *
ngx_govsvc_redis(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_govsvc_main_conf_t *gmcf = conf;

    ngx_int_t   rc;
    ngx_str_t  *value;
    ngx_uint_t  i;

    if (gmcf->redis_host.data) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (ngx_govsvc_redis_parse_address(cf, &value[1], gmcf) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    for (i = 2; i < cf->args->nelts; i++) {
        rc = ngx_govsvc_conf_uint(&value[i], "conns=", &gmcf->redis_conns);

        if (rc == NGX_DECLINED) {
            rc = ngx_govsvc_conf_msec(&value[i], "timeout=",
                                      &gmcf->redis_timeout);
        }

        if (rc != NGX_OK) {
            goto invalid;
        }
    }

    return NGX_CONF_OK;

invalid:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid parameter \"%V\"", &value[i]);

    return NGX_CONF_ERROR;
}


/* govsvc_zone NAME SIZE */

static char *
ngx_govsvc_zone(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_govsvc_main_conf_t *gmcf = conf;

    ssize_t     size;
    ngx_str_t  *value;

    if (gmcf->shm_zone) {
        return "is duplicate";
    }

    value = cf->args->elts;

    size = ngx_parse_size(&value[2]);
    if (size == NGX_ERROR) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid zone size \"%V\"", &value[2]);
        return NGX_CONF_ERROR;
    }

    gmcf->shm_zone = ngx_govsvc_shm_add(cf, &value[1], (size_t) size);
    if (gmcf->shm_zone == NULL) {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


/* govsvc_node REGION_CODE: this node's GB/T 2260 code */

static char *
ngx_govsvc_node(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_govsvc_main_conf_t *gmcf = conf;

    ngx_str_t  *value;

    if (gmcf->node.data) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (gs_region_level((const char *) value[1].data, value[1].len)
        == GS_REGION_INVALID)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V\" is not a region code (six digits, "
                           "GB/T 2260)", &value[1]);
        return NGX_CONF_ERROR;
    }

    gmcf->node.len = value[1].len;
    gmcf->node.data = ngx_pnalloc(cf->pool, value[1].len + 1);
    if (gmcf->node.data == NULL) {
        return NGX_CONF_ERROR;
    }

    (void) ngx_cpystrn(gmcf->node.data, value[1].data, value[1].len + 1);

    return NGX_CONF_OK;
}


/*
 * "N WINDOW" (govsvc_public_write_limit, govsvc_login_limit,
 * govsvc_public_query_limit): N into the ngx_uint_t at cmd->offset, the
 * window into the ngx_msec_t at the offset cmd->post points to.
 */

static char *
ngx_govsvc_set_limit(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    char  *p = conf;

    ngx_int_t    n;
    ngx_str_t   *value;
    ngx_uint_t  *limit;
    ngx_msec_t  *window;

    limit = (ngx_uint_t *) (p + cmd->offset);
    window = (ngx_msec_t *) (p + *(size_t *) cmd->post);

    if (*limit != NGX_CONF_UNSET_UINT) {
        return "is duplicate";
    }

    value = cf->args->elts;

    n = ngx_atoi(value[1].data, value[1].len);
    *window = ngx_parse_time(&value[2], 0);

    if (n <= 0 || *window == (ngx_msec_t) NGX_ERROR || *window < 1000) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid limit \"%V %V\" (a number, then a "
                           "window of at least 1s)", &value[1], &value[2]);
        return NGX_CONF_ERROR;
    }

    *limit = n;

    return NGX_CONF_OK;
}


static char *
ngx_govsvc_location(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_govsvc_loc_conf_t *glcf = conf;

    ngx_govsvc_main_conf_t    *gmcf;
    ngx_http_core_loc_conf_t  *clcf;

    if (glcf->kind != NGX_GOVSVC_LOC_NONE) {
        return "is duplicate";
    }

    gmcf = ngx_http_conf_get_module_main_conf(cf, ngx_govsvc_module);

    glcf->kind = cmd->offset;

    if ((glcf->kind == NGX_GOVSVC_LOC_API
         || glcf->kind == NGX_GOVSVC_LOC_BENCH_SLEEP)
        && gmcf->pg_conninfo.len == 0)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V\" needs \"govsvc_postgres\" to be set "
                           "before it", &cmd->name);
        return NGX_CONF_ERROR;
    }

    if (glcf->kind == NGX_GOVSVC_LOC_API && gmcf->node.len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"govsvc_api\" needs \"govsvc_node\" to be set "
                           "before it");
        return NGX_CONF_ERROR;
    }

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);
    clcf->handler = ngx_govsvc_loc_handlers[glcf->kind];

    return NGX_CONF_OK;
}


/* govsvc_bench_json SIZE: a fixed JSON body, the benchmarks' ceiling */

static char *
ngx_govsvc_bench_json(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_govsvc_loc_conf_t *glcf = conf;

    ssize_t     size;
    ngx_str_t  *value;

    value = cf->args->elts;

    size = ngx_parse_size(&value[1]);
    if (size < 16 || size > 1024 * 1024) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid size \"%V\" (16 to 1m)", &value[1]);
        return NGX_CONF_ERROR;
    }

    glcf->bench_size = size;

    return ngx_govsvc_location(cf, cmd, conf);
}


/*
 * Frees the nginx side of a socket that a library (libpq, hiredis) owns
 * and closes itself: what ngx_close_connection() does, except close().
 */

void
ngx_govsvc_forget_connection(ngx_connection_t *c)
{
    if (c->read->timer_set) {
        ngx_del_timer(c->read);
    }

    if (c->write->timer_set) {
        ngx_del_timer(c->write);
    }

    /* the fd is about to be closed: no epoll_ctl() needed or wanted */

    if (ngx_del_conn) {
        ngx_del_conn(c, NGX_CLOSE_EVENT);

    } else {
        if (c->read->active || c->read->disabled) {
            ngx_del_event(c->read, NGX_READ_EVENT, NGX_CLOSE_EVENT);
        }

        if (c->write->active || c->write->disabled) {
            ngx_del_event(c->write, NGX_WRITE_EVENT, NGX_CLOSE_EVENT);
        }
    }

    if (c->read->posted) {
        ngx_delete_posted_event(c->read);
    }

    if (c->write->posted) {
        ngx_delete_posted_event(c->write);
    }

    c->read->closed = 1;
    c->write->closed = 1;

    /*
     * ngx_free_connection() still needs c->fd (ngx_cycle->files); the
     * fd of -1 then makes the event loop skip stale events for c.
     */

    ngx_free_connection(c);

    c->fd = (ngx_socket_t) -1;
}
