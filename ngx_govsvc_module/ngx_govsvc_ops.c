
/*
 * GovSvc: /healthz, /metrics, the JSON error page, and the benchmark-only
 * handlers.
 */


#include "ngx_govsvc.h"


typedef struct {
    ngx_http_request_t       *request;
    ngx_govsvc_redis_cmd_t   *cmd;
    ngx_uint_t                pending;
    ngx_uint_t                pg_ok;
    ngx_uint_t                redis_ok;
    ngx_uint_t                redis_on;
} ngx_govsvc_health_t;


static void ngx_govsvc_health_pg(ngx_govsvc_pg_t *pg, PGresult *res,
    void *data);
static void ngx_govsvc_health_redis(redisReply *reply, void *data);
static void ngx_govsvc_health_cleanup(void *data);
static ngx_int_t ngx_govsvc_health_answer(ngx_govsvc_health_t *h);
static void ngx_govsvc_bench_sleep_done(ngx_govsvc_pg_t *pg, PGresult *res,
    void *data);
static ngx_int_t ngx_govsvc_metrics_wanted(ngx_http_request_t *r);
static ngx_uint_t ngx_govsvc_cert_refused(ngx_http_request_t *r);
static void ngx_govsvc_purge(ngx_event_t *ev);
static void ngx_govsvc_purged(ngx_govsvc_pg_t *pg, PGresult *res,
    void *data);


/*
 * GET /healthz: one round trip to each store, in parallel.  200 "ok", 200
 * "degraded" while Redis is away (the API still serves), 503 while
 * PostgreSQL is away.
 */

ngx_int_t
ngx_govsvc_health_handler(ngx_http_request_t *r)
{
    const char              *argv[1];
    size_t                   argvlen[1];
    ngx_govsvc_pg_t         *pg;
    ngx_pool_cleanup_t      *cln;
    ngx_govsvc_health_t     *h;
    ngx_govsvc_main_conf_t  *gmcf;

    if (ngx_govsvc_metrics_wanted(r) != NGX_OK) {
        return NGX_HTTP_NOT_ALLOWED;
    }

    gmcf = ngx_http_get_module_main_conf(r, ngx_govsvc_module);

    cln = ngx_pool_cleanup_add(r->pool, sizeof(ngx_govsvc_health_t));
    if (cln == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    h = cln->data;
    ngx_memzero(h, sizeof(ngx_govsvc_health_t));
    h->request = r;
    cln->handler = ngx_govsvc_health_cleanup;

    h->pending = 1;

    pg = ngx_govsvc_pg_open(r);

    if (pg && ngx_govsvc_pg_query(pg, "SELECT 1", 0, NULL,
                                  ngx_govsvc_health_pg, h)
              == NGX_OK)
    {
        h->pending++;
    }

    if (gmcf->redis) {
        h->redis_on = 1;

        argv[0] = "PING";
        argvlen[0] = 4;

        h->cmd = ngx_govsvc_redis_command(gmcf->redis,
                                          ngx_govsvc_health_redis, h,
                                          1, argv, argvlen);
        if (h->cmd) {
            h->pending++;
        }
    }

    if (--h->pending == 0) {
        return ngx_govsvc_health_answer(h);
    }

    r->main->count++;

    return NGX_DONE;
}


static void
ngx_govsvc_health_pg(ngx_govsvc_pg_t *pg, PGresult *res, void *data)
{
    ngx_govsvc_health_t *h = data;

    h->pg_ok = (res && PQresultStatus(res) == PGRES_TUPLES_OK);

    ngx_govsvc_pg_close(pg);

    if (--h->pending == 0) {
        ngx_govsvc_finalize(h->request, ngx_govsvc_health_answer(h));
    }
}


static void
ngx_govsvc_health_redis(redisReply *reply, void *data)
{
    ngx_govsvc_health_t *h = data;

    h->cmd = NULL;
    h->redis_ok = (reply && reply->type == REDIS_REPLY_STATUS);

    if (--h->pending == 0) {
        ngx_govsvc_finalize(h->request, ngx_govsvc_health_answer(h));
    }
}


static void
ngx_govsvc_health_cleanup(void *data)
{
    ngx_govsvc_health_t *h = data;

    if (h->cmd) {
        ngx_govsvc_redis_cancel(h->cmd);
        h->cmd = NULL;
    }
}


static ngx_int_t
ngx_govsvc_health_answer(ngx_govsvc_health_t *h)
{
    u_char      buf[128], *p;
    const char *status, *redis;

    redis = !h->redis_on ? "off" : (h->redis_ok ? "ok" : "down");

    if (!h->pg_ok) {
        status = "down";

    } else {
        status = (h->redis_on && !h->redis_ok) ? "degraded" : "ok";
    }

    p = ngx_snprintf(buf, sizeof(buf),
                     "{\"status\":\"%s\",\"postgres\":\"%s\","
                     "\"redis\":\"%s\"}",
                     status, h->pg_ok ? "ok" : "down", redis);

    return ngx_govsvc_send_json(h->request,
                                h->pg_ok ? NGX_HTTP_OK
                                         : NGX_HTTP_SERVICE_UNAVAILABLE,
                                buf, p - buf);
}


static ngx_int_t
ngx_govsvc_metrics_wanted(ngx_http_request_t *r)
{
    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        return NGX_DECLINED;
    }

    return ngx_http_discard_request_body(r);
}


/* GET /metrics: Prometheus text format, summed over every worker */

#define ngx_govsvc_metrics_line(fmt, ...)                                    \
    p = ngx_slprintf(p, last, fmt, __VA_ARGS__)


ngx_int_t
ngx_govsvc_metrics_handler(ngx_http_request_t *r)
{
    u_char                  *p, *last, *buf;
    size_t                   size;
    ngx_msec_t               age;
    ngx_uint_t               i, j, busy, idle, waiting, rup, rpend;
    static ngx_str_t         type =
        ngx_string("text/plain; version=0.0.4; charset=utf-8");

    ngx_atomic_uint_t        n, cum, state;
    ngx_govsvc_metrics_t    *m;
    ngx_govsvc_main_conf_t  *gmcf;

    if (ngx_govsvc_metrics_wanted(r) != NGX_OK) {
        return NGX_HTTP_NOT_ALLOWED;
    }

    m = ngx_govsvc_metrics();
    if (m == NULL) {
        return ngx_govsvc_send_error(r, NGX_HTTP_NOT_FOUND, "not_found",
                                     "metrics need govsvc_zone", NULL);
    }

    size = 6144 + ngx_govsvc_nroute_names * NGX_GOVSVC_STATUSES * 96;

    buf = ngx_pnalloc(r->pool, size);
    if (buf == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = buf;
    last = buf + size;

    ngx_govsvc_metrics_line("%s",
        "# HELP govsvc_requests_total Requests by route and status.\n"
        "# TYPE govsvc_requests_total counter\n");

    for (i = 1; i < ngx_govsvc_nroute_names; i++) {
        for (j = 0; j < NGX_GOVSVC_STATUSES; j++) {
            n = m->requests[i][j];
            if (n == 0) {
                continue;
            }

            if (ngx_govsvc_statuses[j]) {
                ngx_govsvc_metrics_line(
                    "govsvc_requests_total{route=\"%s\",status=\"%ui\"} "
                    "%uA\n", ngx_govsvc_route_name(i),
                    ngx_govsvc_statuses[j], n);

            } else {
                ngx_govsvc_metrics_line(
                    "govsvc_requests_total{route=\"%s\",status=\"other\"} "
                    "%uA\n", ngx_govsvc_route_name(i), n);
            }
        }
    }

    ngx_govsvc_metrics_line("%s",
        "# HELP govsvc_request_duration_seconds Time to answer.\n"
        "# TYPE govsvc_request_duration_seconds histogram\n");

    cum = 0;

    for (i = 0; i < NGX_GOVSVC_LATENCY_BUCKETS; i++) {
        cum += m->latency[i];
        ngx_govsvc_metrics_line(
            "govsvc_request_duration_seconds_bucket{le=\"%ui.%03ui\"} %uA\n",
            ngx_govsvc_latency_bounds[i] / 1000,
            ngx_govsvc_latency_bounds[i] % 1000, cum);
    }

    cum += m->latency[NGX_GOVSVC_LATENCY_BUCKETS];

    ngx_govsvc_metrics_line(
        "govsvc_request_duration_seconds_bucket{le=\"+Inf\"} %uA\n"
        "govsvc_request_duration_seconds_sum %uA.%03uA\n"
        "govsvc_request_duration_seconds_count %uA\n",
        cum, m->latency_sum_ms / 1000, m->latency_sum_ms % 1000,
        m->latency_count);

    busy = idle = waiting = rup = rpend = 0;

    for (i = 0; i < NGX_GOVSVC_MAX_WORKERS; i++) {
        busy += m->pg_busy[i];
        idle += m->pg_idle[i];
        waiting += m->pg_waiting[i];
        rup += m->redis_up[i];
        rpend += m->redis_pending[i];
    }

    ngx_govsvc_metrics_line(
        "# HELP govsvc_pg_connections PostgreSQL connections of all "
        "workers.\n"
        "# TYPE govsvc_pg_connections gauge\n"
        "govsvc_pg_connections{state=\"busy\"} %ui\n"
        "govsvc_pg_connections{state=\"idle\"} %ui\n"
        "# TYPE govsvc_pg_waiting gauge\n"
        "govsvc_pg_waiting %ui\n"
        "# TYPE govsvc_pg_connects_total counter\n"
        "govsvc_pg_connects_total %uA\n"
        "# TYPE govsvc_pg_errors_total counter\n"
        "govsvc_pg_errors_total %uA\n"
        "# TYPE govsvc_pg_timeouts_total counter\n"
        "govsvc_pg_timeouts_total %uA\n"
        "# TYPE govsvc_pg_queue_full_total counter\n"
        "govsvc_pg_queue_full_total %uA\n",
        busy, idle, waiting, m->pg_connects, m->pg_errors, m->pg_timeouts,
        m->pg_queue_full);

    ngx_govsvc_metrics_line(
        "# HELP govsvc_redis_up Workers with a live Redis connection.\n"
        "# TYPE govsvc_redis_up gauge\n"
        "govsvc_redis_up %ui\n"
        "# TYPE govsvc_redis_pending gauge\n"
        "govsvc_redis_pending %ui\n"
        "# TYPE govsvc_redis_errors_total counter\n"
        "govsvc_redis_errors_total %uA\n"
        "# TYPE govsvc_redis_timeouts_total counter\n"
        "govsvc_redis_timeouts_total %uA\n"
        "# TYPE govsvc_cache_hits_total counter\n"
        "govsvc_cache_hits_total %uA\n"
        "# TYPE govsvc_cache_misses_total counter\n"
        "govsvc_cache_misses_total %uA\n"
        "# TYPE govsvc_cache_bypasses_total counter\n"
        "govsvc_cache_bypasses_total %uA\n"
        "# TYPE govsvc_rate_limited_total counter\n"
        "govsvc_rate_limited_total %uA\n",
        rup, rpend, m->redis_errors, m->redis_timeouts, m->cache_hits,
        m->cache_misses, m->cache_bypasses, m->rate_limited);

    gmcf = ngx_http_get_module_main_conf(r, ngx_govsvc_module);

    if (gmcf->pgr_conninfo.len) {
        busy = idle = waiting = 0;

        for (i = 0; i < NGX_GOVSVC_MAX_WORKERS; i++) {
            busy += m->pgr_busy[i];
            idle += m->pgr_idle[i];
            waiting += m->pgr_waiting[i];
        }

        state = m->pgr_state;
        age = m->pgr_fresh ? ngx_govsvc_pg_age((ngx_msec_t) m->pgr_fresh)
                           : 0;

        ngx_govsvc_metrics_line(
            "# HELP govsvc_pg_replica_up Whether the heavy reads go to the "
            "replica of govsvc_postgres_read (1) or to the primary (0).\n"
            "# TYPE govsvc_pg_replica_up gauge\n"
            "govsvc_pg_replica_up %d\n"
            "# HELP govsvc_pg_replica_state The replica as last checked.\n"
            "# TYPE govsvc_pg_replica_state gauge\n"
            "govsvc_pg_replica_state{state=\"unchecked\"} %d\n"
            "govsvc_pg_replica_state{state=\"ok\"} %d\n"
            "govsvc_pg_replica_state{state=\"lagging\"} %d\n"
            "govsvc_pg_replica_state{state=\"down\"} %d\n"
            "# HELP govsvc_pg_replica_lag_seconds At most this far behind "
            "the primary (since it last held all the primary had).\n"
            "# TYPE govsvc_pg_replica_lag_seconds gauge\n"
            "govsvc_pg_replica_lag_seconds %M.%03M\n"
            "# HELP govsvc_pg_reads_total Heavy reads by the server that "
            "served them, and why not the replica.\n"
            "# TYPE govsvc_pg_reads_total counter\n"
            "govsvc_pg_reads_total{server=\"replica\",reason=\"fresh\"} "
            "%uA\n"
            "govsvc_pg_reads_total{server=\"primary\",reason=\"lagging\"} "
            "%uA\n"
            "govsvc_pg_reads_total{server=\"primary\",reason=\"down\"} "
            "%uA\n"
            "govsvc_pg_reads_total{server=\"primary\","
            "reason=\"own_write\"} %uA\n"
            "govsvc_pg_reads_total{server=\"primary\",reason=\"failed\"} "
            "%uA\n"
            "# TYPE govsvc_pg_replica_connections gauge\n"
            "govsvc_pg_replica_connections{state=\"busy\"} %ui\n"
            "govsvc_pg_replica_connections{state=\"idle\"} %ui\n"
            "# TYPE govsvc_pg_replica_waiting gauge\n"
            "govsvc_pg_replica_waiting %ui\n"
            "# TYPE govsvc_pg_replica_connects_total counter\n"
            "govsvc_pg_replica_connects_total %uA\n"
            "# TYPE govsvc_pg_replica_errors_total counter\n"
            "govsvc_pg_replica_errors_total %uA\n"
            "# TYPE govsvc_pg_replica_timeouts_total counter\n"
            "govsvc_pg_replica_timeouts_total %uA\n"
            "# TYPE govsvc_pg_replica_queue_full_total counter\n"
            "govsvc_pg_replica_queue_full_total %uA\n",
            state == NGX_GOVSVC_PGR_OK && age <= gmcf->pgr_lag,
            state == NGX_GOVSVC_PGR_UNCHECKED, state == NGX_GOVSVC_PGR_OK,
            state == NGX_GOVSVC_PGR_LAGGING, state == NGX_GOVSVC_PGR_DOWN,
            age / 1000, age % 1000,
            m->pgr_replica, m->pgr_lagging, m->pgr_down, m->pgr_own_write,
            m->pgr_failed, busy, idle, waiting, m->pgr_connects,
            m->pgr_errors, m->pgr_timeouts, m->pgr_queue_full);
    }

    if (m->sync_caught_up) {
        ngx_govsvc_metrics_line(
            "# HELP govsvc_sync_behind_seconds Since the parent last held "
            "every event of this node and its children.\n"
            "# TYPE govsvc_sync_behind_seconds gauge\n"
            "govsvc_sync_behind_seconds %T\n"
            "# TYPE govsvc_sync_rounds_total counter\n"
            "govsvc_sync_rounds_total{result=\"ok\"} %uA\n"
            "govsvc_sync_rounds_total{result=\"failed\"} %uA\n"
            "# TYPE govsvc_sync_events_total counter\n"
            "govsvc_sync_events_total %uA\n",
            ngx_max(ngx_time() - (time_t) m->sync_caught_up, 0),
            m->sync_rounds, m->sync_failures, m->sync_events);
    }

    return ngx_govsvc_send(r, NGX_HTTP_OK, &type, buf, p - buf);
}


/*
 * The location of "error_page ... /.govsvc/error": nginx's own errors (a
 * body over client_max_body_size, a bad request line, a refused client
 * certificate, ...) in the JSON form of api.md.  r->err_status holds the
 * original status.
 */

ngx_int_t
ngx_govsvc_error_handler(ngx_http_request_t *r)
{
    ngx_uint_t   status;
    const char  *code, *message;

    status = r->err_status ? r->err_status : NGX_HTTP_INTERNAL_SERVER_ERROR;

    /*
     * error_page turns nginx's 495 (a client certificate that failed
     * verification, such as a revoked one) into 400: ask OpenSSL.
     */
    if (status == NGX_HTTP_BAD_REQUEST && ngx_govsvc_cert_refused(r)) {
        r->err_status = NGX_HTTP_UNAUTHORIZED;
        return ngx_govsvc_send_error(r, NGX_HTTP_UNAUTHORIZED,
                                     "certificate_unknown",
                                     "the client certificate is not valid "
                                     "or is revoked", NULL);
    }

    switch (status) {

    case NGX_HTTP_REQUEST_ENTITY_TOO_LARGE:
        code = "too_large";
        message = "the body is larger than allowed";
        break;

    case NGX_HTTP_NOT_FOUND:
        code = "not_found";
        message = "no such resource";
        break;

    case NGX_HTTP_NOT_ALLOWED:
        code = "method_not_allowed";
        message = "method not allowed here";
        break;

    case NGX_HTTP_REQUEST_TIME_OUT:
        code = "invalid_request";
        message = "the request was not received in time";
        break;

    case NGX_HTTP_REQUEST_URI_TOO_LARGE:
    case NGX_HTTP_REQUEST_HEADER_TOO_LARGE:
        code = "too_large";
        message = "the request line or headers are too large";
        status = (status == NGX_HTTP_REQUEST_HEADER_TOO_LARGE)
                 ? NGX_HTTP_BAD_REQUEST : status;
        break;

    case NGX_HTTP_BAD_GATEWAY:
    case NGX_HTTP_SERVICE_UNAVAILABLE:
    case NGX_HTTP_GATEWAY_TIME_OUT:
        code = "unavailable";
        message = "the service is unavailable";
        break;

    default:
        if (status >= 500) {
            code = "internal";
            message = "the request failed; it was logged";

        } else {
            code = "invalid_request";
            message = "the request is malformed";
        }
    }

    r->err_status = status;

    /* the body, if any, is already being discarded by nginx */
    return ngx_govsvc_send_error(r, status, code, message, NULL);
}


static ngx_uint_t
ngx_govsvc_cert_refused(ngx_http_request_t *r)
{
#if (NGX_HTTP_SSL)
    X509  *cert;
    long   rc;

    if (r->connection->ssl == NULL) {
        return 0;
    }

    cert = SSL_get_peer_certificate(r->connection->ssl->connection);
    if (cert == NULL) {
        return 0;
    }

    X509_free(cert);

    rc = SSL_get_verify_result(r->connection->ssl->connection);

    return rc != X509_V_OK;
#else
    return 0;
#endif
}


/* benchmark ceiling: a fixed JSON body of govsvc_bench_json SIZE bytes */

ngx_int_t
ngx_govsvc_bench_json_handler(ngx_http_request_t *r)
{
    u_char                 *body, *p;
    size_t                  size;
    ngx_govsvc_loc_conf_t  *glcf;

    if (ngx_http_discard_request_body(r) != NGX_OK) {
        return NGX_HTTP_BAD_REQUEST;
    }

    glcf = ngx_http_get_module_loc_conf(r, ngx_govsvc_module);
    size = glcf->bench_size;

    body = ngx_pnalloc(r->pool, size);
    if (body == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = ngx_cpymem(body, "{\"items\":\"", sizeof("{\"items\":\"") - 1);
    ngx_memset(p, 'x', size - (p - body) - 2);
    body[size - 2] = '"';
    body[size - 1] = '}';

    return ngx_govsvc_send_json(r, NGX_HTTP_OK, body, size);
}


/* benchmark only: a request held inside PostgreSQL, ?s=SECONDS (<= 10) */

ngx_int_t
ngx_govsvc_bench_sleep_handler(ngx_http_request_t *r)
{
    char              *s;
    double             secs;
    const char       **values;
    ngx_govsvc_pg_t   *pg;

    if (ngx_http_discard_request_body(r) != NGX_OK) {
        return NGX_HTTP_BAD_REQUEST;
    }

    s = ngx_govsvc_arg(r, "s");
    secs = s ? strtod(s, NULL) : 2.0;

    if (!(secs >= 0 && secs <= 10)) {
        return ngx_govsvc_send_error(r, NGX_HTTP_BAD_REQUEST,
                                     "invalid_request",
                                     "s must be 0 to 10 seconds", "s");
    }

    values = ngx_palloc(r->pool, sizeof(char *));
    if (values == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    values[0] = s ? s : "2";

    pg = ngx_govsvc_pg_open(r);

    if (pg == NULL
        || ngx_govsvc_pg_query(pg,
               "SELECT json_build_object('slept', $1::float8)"
               " FROM pg_sleep($1::float8)",
               1, values, ngx_govsvc_bench_sleep_done, r)
           != NGX_OK)
    {
        return ngx_govsvc_send_unavailable(r, "the database is unavailable");
    }

    r->main->count++;

    return NGX_DONE;
}


static void
ngx_govsvc_bench_sleep_done(ngx_govsvc_pg_t *pg, PGresult *res, void *data)
{
    ngx_http_request_t *r = data;

    ngx_int_t  rc;

    ngx_govsvc_pg_close(pg);

    if (res == NULL || PQresultStatus(res) != PGRES_TUPLES_OK) {
        rc = ngx_govsvc_send_unavailable(r, "the database is unavailable");

    } else {
        rc = ngx_govsvc_send_json(r, NGX_HTTP_OK,
                                  (u_char *) PQgetvalue(res, 0, 0),
                                  PQgetlength(res, 0, 0));
    }

    ngx_govsvc_finalize(r, rc);
}


/*
 * Worker 0 deletes, every govsvc_purge_interval, what nothing will read
 * again: sessions ended a day ago, Idempotency-Keys older than their 24
 * hours.  The audit log keeps the sign-ins and sign-outs.
 */

void
ngx_govsvc_purge_start(ngx_cycle_t *cycle, ngx_govsvc_main_conf_t *gmcf)
{
    gmcf->purge.handler = ngx_govsvc_purge;
    gmcf->purge.data = gmcf;
    gmcf->purge.log = cycle->log;
    gmcf->purge.cancelable = 1;

    ngx_add_timer(&gmcf->purge, gmcf->purge_interval);
}


static void
ngx_govsvc_purge(ngx_event_t *ev)
{
    ngx_pool_t              *pool;
    ngx_govsvc_pg_t         *pg;
    ngx_govsvc_main_conf_t  *gmcf;

    gmcf = ev->data;

    if (ngx_exiting || ngx_terminate) {
        return;
    }

    pool = ngx_create_pool(512, ev->log);
    if (pool == NULL) {
        ngx_add_timer(ev, gmcf->purge_interval);
        return;
    }

    pg = ngx_govsvc_pg_open_pool(gmcf->pg, pool, ev->log);

    if (pg == NULL
        || ngx_govsvc_pg_query(pg,
               "WITH s AS (DELETE FROM sessions"
               "  WHERE expires_at < now() - interval '1 day'"
               "   OR revoked_at < now() - interval '1 day' RETURNING 1),"
               " k AS (DELETE FROM idempotency_keys"
               "  WHERE created_at < now() - interval '24 hours' RETURNING 1)"
               " SELECT (SELECT count(*) FROM s), (SELECT count(*) FROM k)",
               0, NULL, ngx_govsvc_purged, gmcf)
           != NGX_OK)
    {
        /* PostgreSQL is away: next time */
        if (pg) {
            ngx_govsvc_pg_close(pg);
        }

        ngx_destroy_pool(pool);
        ngx_add_timer(ev, gmcf->purge_interval);
        return;
    }

    gmcf->purge_pool = pool;
}


static void
ngx_govsvc_purged(ngx_govsvc_pg_t *pg, PGresult *res, void *data)
{
    ngx_govsvc_main_conf_t *gmcf = data;

    if (res && PQresultStatus(res) == PGRES_TUPLES_OK) {
        ngx_log_error(NGX_LOG_INFO, gmcf->purge.log, 0,
                      "govsvc: purged %s ended sessions and %s old "
                      "Idempotency-Keys", PQgetvalue(res, 0, 0),
                      PQgetvalue(res, 0, 1));

    } else {
        ngx_log_error(NGX_LOG_WARN, gmcf->purge.log, 0,
                      "govsvc: the purge failed: %s",
                      res ? PQresultErrorMessage(res) : "no connection");
    }

    ngx_govsvc_pg_close(pg);
    ngx_destroy_pool(gmcf->purge_pool);
    gmcf->purge_pool = NULL;

    if (!ngx_exiting && !ngx_terminate) {
        ngx_add_timer(&gmcf->purge, gmcf->purge_interval);
    }
}
