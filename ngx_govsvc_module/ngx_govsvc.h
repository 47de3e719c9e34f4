
/*
 * GovSvc nginx glue: types shared by the module's files.
 *
 * Per-worker state (the PostgreSQL pool, the Redis connections) hangs off
 * the main configuration and is created in init_process; state every
 * worker needs at once (key/value entries, counters, metrics) lives in the
 * shared zone of govsvc_zone.
 */


#ifndef _NGX_GOVSVC_H_INCLUDED_
#define _NGX_GOVSVC_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <libpq-fe.h>
#include <hiredis.h>
#include <async.h>
#include <cJSON.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "gs_calendar.h"


#define NGX_GOVSVC_JSON_DEPTH         32
#define NGX_GOVSVC_MAX_PARAMS         4
#define NGX_GOVSVC_MAX_WORKERS        64


typedef struct ngx_govsvc_pg_pool_s   ngx_govsvc_pg_pool_t;
typedef struct ngx_govsvc_pg_s        ngx_govsvc_pg_t;
typedef struct ngx_govsvc_sync_client_s  ngx_govsvc_sync_client_t;
typedef struct ngx_govsvc_redis_s     ngx_govsvc_redis_t;
typedef struct ngx_govsvc_redis_cmd_s ngx_govsvc_redis_cmd_t;
typedef struct ngx_govsvc_ctx_s       ngx_govsvc_ctx_t;
typedef struct ngx_govsvc_route_s     ngx_govsvc_route_t;
typedef struct ngx_govsvc_user_s      ngx_govsvc_user_t;
typedef struct ngx_govsvc_scache_s    ngx_govsvc_scache_t;

/* see ngx_govsvc_pg_query() */
typedef void (*ngx_govsvc_pg_handler_pt)(ngx_govsvc_pg_t *pg,
    PGresult *res, void *data);


#ifndef NGX_HTTP_UNPROCESSABLE_ENTITY
#define NGX_HTTP_UNPROCESSABLE_ENTITY 422
#endif


/* which handler a location runs */
typedef enum {
    NGX_GOVSVC_LOC_NONE = 0,
    NGX_GOVSVC_LOC_API,
    NGX_GOVSVC_LOC_SYNC,
    NGX_GOVSVC_LOC_HEALTH,
    NGX_GOVSVC_LOC_METRICS,
    NGX_GOVSVC_LOC_ERROR,
    NGX_GOVSVC_LOC_BENCH_JSON,
    NGX_GOVSVC_LOC_BENCH_SLEEP
} ngx_govsvc_loc_kind_e;


typedef struct {
    /* govsvc_postgres "conninfo" max=N queue=N timeout=T */
    ngx_str_t                 pg_conninfo;
    ngx_uint_t                pg_max;
    ngx_uint_t                pg_queue;
    ngx_msec_t                pg_timeout;

    /* govsvc_postgres_read "conninfo" max=N queue=N timeout=T lag=T: a
     * streaming replica for the heavy reads (ngx_govsvc_read_query) */
    ngx_str_t                 pgr_conninfo;
    ngx_uint_t                pgr_max;
    ngx_uint_t                pgr_queue;
    ngx_msec_t                pgr_timeout;
    ngx_msec_t                pgr_lag;

    /* govsvc_redis ADDRESS conns=N timeout=T (ADDRESS: IP:PORT or unix:PATH) */
    ngx_str_t                 redis_host;      /* IP or socket path, NUL-ended */
    ngx_int_t                 redis_port;      /* 0 for a Unix socket */
    ngx_uint_t                redis_conns;
    ngx_msec_t                redis_timeout;

    /* govsvc_zone NAME SIZE */
    ngx_shm_zone_t           *shm_zone;

    /* govsvc_node REGION_CODE */
    ngx_str_t                 node;

    /* govsvc_cache_ttl TIME */
    ngx_msec_t                cache_ttl;

    /* govsvc_public_write_limit N WINDOW */
    ngx_uint_t                public_limit;
    ngx_msec_t                public_window;

    /* govsvc_session_idle, govsvc_session_lifetime */
    ngx_msec_t                session_idle;
    ngx_msec_t                session_lifetime;

    /* govsvc_session_cache N [ttl=T]: per worker, 0 off */
    ngx_uint_t                session_cache_max;
    ngx_msec_t                session_cache_ttl;
    ngx_govsvc_scache_t      *session_cache;

    /* govsvc_login_limit N WINDOW */
    ngx_uint_t                login_limit;
    ngx_msec_t                login_window;

    /* govsvc_password_threads POOL */
    ngx_str_t                 password_pool_name;
#if (NGX_THREADS)
    ngx_thread_pool_t        *password_pool;
#endif

    /* govsvc_files PATH: the content-addressed store of material files */
    ngx_str_t                 files_path;
    /* govsvc_upload_max_size SIZE */
    off_t                     upload_max;

    /* govsvc_signing_certificate, _key: the node's notice signer */
    ngx_str_t                 signing_cert_file;
    ngx_str_t                 signing_key_file;
    X509                     *signing_cert;
    EVP_PKEY                 *signing_key;

    /* govsvc_supervision_phone: printed on every notice */
    ngx_str_t                 supervision_phone;

    /* govsvc_yellow_days N: a case is yellow with at most N working days
     * left; govsvc_abnormal_draft_days N: a draft older than N days is
     * abnormal (逾期不来办理) */
    ngx_int_t                 yellow_days;
    ngx_int_t                 draft_stale_days;

    /* govsvc_consult_reply_days N: a consultation's reply limit in
     * working days; govsvc_rectify_days N: a bad rating's rectification
     * limit; govsvc_public_query_limit N WINDOW: public case queries per
     * address */
    ngx_int_t                 consult_reply_days;
    ngx_int_t                 rectify_days;
    ngx_uint_t                public_query_limit;
    ngx_msec_t                public_query_window;

    /* govsvc_card_interval: how often automatic yellow and red cards are
     * issued (0: never) */
    ngx_msec_t                card_interval;
    ngx_event_t               card_timer;
    ngx_pool_t               *card_pool;      /* of the run in flight */

    /* govsvc_purge_interval: ended sessions, old Idempotency-Keys */
    ngx_msec_t                purge_interval;
    ngx_event_t               purge;
    ngx_pool_t               *purge_pool;     /* of the purge in flight */

    /* govsvc_sync_parent https://HOST[:PORT], govsvc_sync_certificate,
     * _certificate_key (the node certificate presented to the parent),
     * govsvc_sync_trusted_certificate (what the parent's must chain to),
     * govsvc_sync_interval, _timeout, _backoff (the longest wait after
     * failures), govsvc_sync_batch (events per batch) */
    ngx_url_t                *sync_parent;
    ngx_str_t                 sync_cert;
    ngx_str_t                 sync_key;
    ngx_str_t                 sync_trusted;
    ngx_msec_t                sync_interval;
    ngx_msec_t                sync_timeout;
    ngx_msec_t                sync_backoff;
    ngx_uint_t                sync_batch;
    ngx_ssl_t                *sync_ssl;

    /* per-worker state, built in init_process */
    ngx_govsvc_sync_client_t *sync_client;
    ngx_govsvc_pg_pool_t     *pg;
    ngx_govsvc_pg_pool_t     *pg_read;         /* govsvc_postgres_read */
    ngx_govsvc_redis_t       *redis;
} ngx_govsvc_main_conf_t;


typedef struct {
    ngx_govsvc_loc_kind_e     kind;
    size_t                    bench_size;      /* govsvc_bench_json SIZE */
} ngx_govsvc_loc_conf_t;


/*
 * The metrics block at the head of the shared zone.  Counters are bumped
 * with ngx_atomic_fetch_add and never reset; gauges are per worker slot
 * (ngx_worker) so that a respawned worker overwrites its predecessor's.
 */

#define NGX_GOVSVC_ROUTES_MAX         96
#define NGX_GOVSVC_STATUSES           16     /* see ngx_govsvc_status_slot */
#define NGX_GOVSVC_LATENCY_BUCKETS    12

typedef struct {
    ngx_atomic_t              requests[NGX_GOVSVC_ROUTES_MAX]
                                      [NGX_GOVSVC_STATUSES];
    ngx_atomic_t              latency[NGX_GOVSVC_LATENCY_BUCKETS + 1];
    ngx_atomic_t              latency_sum_ms;
    ngx_atomic_t              latency_count;

    ngx_atomic_t              pg_busy[NGX_GOVSVC_MAX_WORKERS];
    ngx_atomic_t              pg_idle[NGX_GOVSVC_MAX_WORKERS];
    ngx_atomic_t              pg_waiting[NGX_GOVSVC_MAX_WORKERS];
    ngx_atomic_t              pg_connects;
    ngx_atomic_t              pg_errors;       /* connect or query failures */
    ngx_atomic_t              pg_timeouts;
    ngx_atomic_t              pg_queue_full;

    ngx_atomic_t              redis_up[NGX_GOVSVC_MAX_WORKERS];
    ngx_atomic_t              redis_pending[NGX_GOVSVC_MAX_WORKERS];
    ngx_atomic_t              redis_errors;
    ngx_atomic_t              redis_timeouts;

    ngx_atomic_t              cache_hits;
    ngx_atomic_t              cache_misses;
    ngx_atomic_t              cache_bypasses;

    /* set when a worklist change could not reach Redis: the next worker
     * that reaches it bumps the worklists' epoch first */
    ngx_atomic_t              worklists_dirty;
    ngx_atomic_t              rate_limited;

    /* the link to the parent: rounds, and when the parent last held
     * everything this node had (unix time; 0: not yet) */
    ngx_atomic_t              sync_rounds;
    ngx_atomic_t              sync_failures;
    ngx_atomic_t              sync_events;     /* acknowledged */
    ngx_atomic_t              sync_caught_up;

    /* the read pool (govsvc_postgres_read): its connections and errors;
     * the replica's state (ngx_govsvc_pgr_state_e) and the time
     * (ngx_current_msec) as of which it held all the primary had, both
     * written by the worker that checks it; where the heavy reads went */
    ngx_atomic_t              pgr_busy[NGX_GOVSVC_MAX_WORKERS];
    ngx_atomic_t              pgr_idle[NGX_GOVSVC_MAX_WORKERS];
    ngx_atomic_t              pgr_waiting[NGX_GOVSVC_MAX_WORKERS];
    ngx_atomic_t              pgr_connects;
    ngx_atomic_t              pgr_errors;
    ngx_atomic_t              pgr_timeouts;
    ngx_atomic_t              pgr_queue_full;
    ngx_atomic_t              pgr_state;
    ngx_atomic_t              pgr_fresh;
    ngx_atomic_t              pgr_blind;        /* a write went unmarked */
    ngx_atomic_t              pgr_replica;      /* reads it served */
    ngx_atomic_t              pgr_lagging;      /* sent to the primary: */
    ngx_atomic_t              pgr_down;
    ngx_atomic_t              pgr_own_write;
    ngx_atomic_t              pgr_failed;       /* retried there */
} ngx_govsvc_metrics_t;


/* the replica's state as the checking worker last saw it */
typedef enum {
    NGX_GOVSVC_PGR_UNCHECKED = 0,
    NGX_GOVSVC_PGR_OK,
    NGX_GOVSVC_PGR_LAGGING,
    NGX_GOVSVC_PGR_DOWN
} ngx_govsvc_pgr_state_e;


/* bumps a counter of the metrics block, when a zone is configured */
#define ngx_govsvc_count(field)                                              \
    do {                                                                     \
        ngx_govsvc_metrics_t  *m_ = ngx_govsvc_metrics();                    \
        if (m_) {                                                            \
            ngx_atomic_fetch_add(&m_->field, 1);                             \
        }                                                                    \
    } while (0)


/* route ids below this are the location kinds (unmatched requests) */
#define NGX_GOVSVC_ROUTE_BASE         8


/* ---- ngx_govsvc_module.c ---- */

extern ngx_module_t  ngx_govsvc_module;

ngx_govsvc_metrics_t *ngx_govsvc_metrics(void);
ngx_uint_t ngx_govsvc_status_slot(ngx_uint_t status);
void ngx_govsvc_forget_connection(ngx_connection_t *c);
extern ngx_uint_t  ngx_govsvc_statuses[NGX_GOVSVC_STATUSES];
extern ngx_msec_t  ngx_govsvc_latency_bounds[NGX_GOVSVC_LATENCY_BUCKETS];


/* ---- ngx_govsvc_http.c: requests and answers ---- */

/*
 * A request's state while it waits on PostgreSQL or Redis.  Allocated in
 * r->pool; the drivers never point at it directly but through handles
 * whose cleanup detaches them when the request goes away first.
 */

struct ngx_govsvc_ctx_s {
    ngx_http_request_t       *request;
    const ngx_govsvc_route_t *route;
    ngx_uint_t                route_id;        /* metrics label index */
    ngx_str_t                 params[NGX_GOVSVC_MAX_PARAMS];
    ngx_uint_t                nparams;
    cJSON                    *body;            /* freed by a pool cleanup */
    ngx_str_t                 raw;             /* the body, NUL after */
    ngx_govsvc_user_t        *user;            /* NULL: not signed in */
    ngx_govsvc_pg_t          *pg;
    ngx_uint_t                step;            /* handler's own progress */
    ngx_uint_t                status;          /* of ngx_govsvc_json_query */
    void                     *data;            /* handler's own state */
};


typedef ngx_int_t (*ngx_govsvc_handler_pt)(ngx_govsvc_ctx_t *ctx);

#define NGX_GOVSVC_BODY_JSON      0x01      /* needs a JSON object body */
#define NGX_GOVSVC_PUBLIC_WRITE   0x02      /* counts against public limit */
#define NGX_GOVSVC_BODY_PEM       0x04      /* application/x-pem-file body,
                                               in ctx->raw */
#define NGX_GOVSVC_BODY_FILE      0x08      /* an upload, streamed to a
                                               file (ngx_govsvc_files.c) */

/* roles; a route with roles 0 is public, any other needs a session of a
 * user holding one of them (deny by default) */
#define NGX_GOVSVC_ROLE_CLERK       0x01
#define NGX_GOVSVC_ROLE_HANDLER     0x02
#define NGX_GOVSVC_ROLE_REVIEWER    0x04
#define NGX_GOVSVC_ROLE_APPROVER    0x08
#define NGX_GOVSVC_ROLE_SUPERVISOR  0x10
#define NGX_GOVSVC_ROLE_ADMIN       0x20
#define NGX_GOVSVC_ROLE_ANY         0x3f    /* any signed-in user */
#define NGX_GOVSVC_NROLES           6

struct ngx_govsvc_route_s {
    ngx_uint_t                method;          /* NGX_HTTP_GET, ... */
    const char               *pattern;         /* "/api/v1/regions/{}" */
    ngx_govsvc_handler_pt     handler;
    ngx_uint_t                flags;
    ngx_uint_t                roles;           /* 0: public */
    const char               *name;            /* metrics label */
};


/* the signed-in user of a request, filled by ngx_govsvc_authenticate */
struct ngx_govsvc_user_s {
    int64_t                   id;
    ngx_uint_t                roles;
    int64_t                   department;
    u_char                    id_text[NGX_INT64_LEN + 1];
    u_char                    region[7];
    u_char                    token_hash[65];  /* of the session */
    ngx_uint_t                cache_epoch;     /* when it was looked up */
    ngx_str_t                 username;
    ngx_str_t                 name;
    ngx_str_t                 department_name;
    unsigned                  cookie:1;        /* came with the cookie */
};


extern const char  *ngx_govsvc_role_names[NGX_GOVSVC_NROLES];

/* the per-request session check: every PostgreSQL connection prepares it
 * when it connects (ngx_govsvc_pg.c) */
extern const char   ngx_govsvc_session_sql[];


ngx_int_t ngx_govsvc_dispatch(ngx_http_request_t *r,
    const ngx_govsvc_route_t *routes, ngx_uint_t nroutes,
    ngx_uint_t route_base);

ngx_int_t ngx_govsvc_send(ngx_http_request_t *r, ngx_uint_t status,
    ngx_str_t *type, const u_char *body, size_t len);
ngx_int_t ngx_govsvc_send_json(ngx_http_request_t *r, ngx_uint_t status,
    const u_char *json, size_t len);
ngx_int_t ngx_govsvc_send_cjson(ngx_http_request_t *r, ngx_uint_t status,
    cJSON *json);
ngx_int_t ngx_govsvc_send_error(ngx_http_request_t *r, ngx_uint_t status,
    const char *code, const char *message, const char *field);
ngx_int_t ngx_govsvc_send_unavailable(ngx_http_request_t *r,
    const char *what);
ngx_int_t ngx_govsvc_send_rate_limited(ngx_http_request_t *r,
    ngx_msec_t left, const char *message);

/* lists' query strings (ngx_govsvc_http.c): a filter's domain, the
 * limit, the 400 naming the parameter at fault */
#define NGX_GOVSVC_LIST_LIMIT_MAX  500
ngx_int_t ngx_govsvc_arg_filter(ngx_http_request_t *r, const char *name,
    size_t max, const char *pattern, const char **out, const char **bad);
ngx_int_t ngx_govsvc_arg_limit(ngx_http_request_t *r, const char **limit,
    const char **bad);
ngx_int_t ngx_govsvc_send_bad_arg(ngx_http_request_t *r, const char *name);
ngx_uint_t ngx_govsvc_digits(const char *s, size_t len);
void ngx_govsvc_region_prefix(const u_char *region, char *out);
ngx_int_t ngx_govsvc_path_id(ngx_govsvc_ctx_t *ctx, char *id);

/* adds a response header; key and value must outlive the request */
ngx_int_t ngx_govsvc_add_header(ngx_http_request_t *r, const char *key,
    u_char *value, size_t len);

/* sends sql on a new PostgreSQL handle, ctx->pg, and keeps the request
 * for handler(pg, res, data); NGX_DONE, or the 503 already answered */
ngx_int_t ngx_govsvc_query(ngx_govsvc_ctx_t *ctx, const char *sql,
    int nparams, const char *const *values, ngx_govsvc_pg_handler_pt handler,
    void *data);

/* the same for a heavy read-only statement: on the replica of
 * govsvc_postgres_read when it is fresh enough and the user wrote nothing
 * since, else (and when it fails there) on the primary */
ngx_int_t ngx_govsvc_read_query(ngx_govsvc_ctx_t *ctx, const char *sql,
    int nparams, const char *const *values, ngx_govsvc_pg_handler_pt handler,
    void *data);
/* ngx_govsvc_json_query() through ngx_govsvc_read_query() */
ngx_int_t ngx_govsvc_json_read_query(ngx_govsvc_ctx_t *ctx,
    ngx_uint_t status, const char *sql, int nparams, const char **values);

/* NGX_OK when res holds rows; otherwise NGX_DECLINED with *rc the
 * answer given: 503 when PostgreSQL was lost, or the statement's error */
ngx_int_t ngx_govsvc_pg_result(ngx_http_request_t *r, PGresult *res,
    ngx_int_t *rc);

/* runs a statement that returns one JSON value and answers it with
 * status (404 when no row); NGX_DONE or an answer already given */
ngx_int_t ngx_govsvc_json_query(ngx_govsvc_ctx_t *ctx, ngx_uint_t status,
    const char *sql, int nparams, const char **values);
/* the handler of ngx_govsvc_json_query(), data the ctx: for those that
 * look at the result first */
void ngx_govsvc_json_result(ngx_govsvc_pg_t *pg, PGresult *res, void *data);

/* answers a failed statement: constraint violations are the client's
 * (409 duplicate, 422 validation_failed), the rest 500 internal */
ngx_int_t ngx_govsvc_db_error(ngx_http_request_t *r, PGresult *res);

/* values[0..2] = actor id (NULL when anonymous), actor name, client
 * address: the first three parameters of govsvc_audit_append() */
void ngx_govsvc_actor(ngx_govsvc_ctx_t *ctx, const char **values);

/* ends a request that was kept alive with r->main->count++ */
void ngx_govsvc_finalize(ngx_http_request_t *r, ngx_int_t rc);

/* a JSON string member, checked: NULL when absent, or (the first fault
 * found, in *field) when required, not a string, empty, holding NUL or
 * invalid UTF-8, or longer than max characters */
const char *ngx_govsvc_text(cJSON *obj, const char *name, size_t max,
    ngx_uint_t required, const char **field);

/* NUL-terminated copy of a request header's value, or NULL when absent */
const char *ngx_govsvc_header(ngx_http_request_t *r, const char *name);

/* NUL-terminated copy of a query argument, or NULL when absent */
char *ngx_govsvc_arg(ngx_http_request_t *r, const char *name);


/* ---- ngx_govsvc_pg.c: PostgreSQL, per-worker pool, never blocking ---- */

ngx_govsvc_pg_pool_t *ngx_govsvc_pg_pool_create(ngx_cycle_t *cycle,
    ngx_govsvc_main_conf_t *gmcf);
void ngx_govsvc_pg_pool_destroy(ngx_govsvc_pg_pool_t *pool);
/* a connection to server i of the pool's conninfo, for a caller that
 * drives it itself; the servers, the one that last accepted, and the
 * limit on connecting to one */
PGconn *ngx_govsvc_pg_start_server(ngx_govsvc_pg_pool_t *pool, ngx_uint_t i);
void ngx_govsvc_pg_servers_of(ngx_govsvc_pg_pool_t *pool, ngx_uint_t *n,
    ngx_uint_t *last, ngx_msec_t *connect_timeout);

/* a request's handle; the connection is taken on the first query */
ngx_govsvc_pg_t *ngx_govsvc_pg_open(ngx_http_request_t *r);
/* a handle of no request, allocated in mem: close it before mem goes */
ngx_govsvc_pg_t *ngx_govsvc_pg_open_pool(ngx_govsvc_pg_pool_t *pool,
    ngx_pool_t *mem, ngx_log_t *log);

/*
 * NGX_OK: handler will be called; NGX_DECLINED: PostgreSQL is away or the
 * queue is full, answer 503 at once.  The handler gets res == NULL when
 * the connection failed or timed out (the caller answers 503); otherwise
 * res is the statement's last result, or its first error, owned by the
 * driver and cleared after the handler returns.  It is always called from
 * the event loop, never from inside ngx_govsvc_pg_query().
 */
ngx_int_t ngx_govsvc_pg_query(ngx_govsvc_pg_t *pg, const char *sql,
    int nparams, const char *const *values,
    ngx_govsvc_pg_handler_pt handler, void *data);

/* gives the connection back; an open transaction is rolled back first */
void ngx_govsvc_pg_close(ngx_govsvc_pg_t *pg);

/* "ok" or "down": whether the pool could reach the server lately */
ngx_int_t ngx_govsvc_pg_is_down(ngx_govsvc_pg_pool_t *pool);

/* the read pool of govsvc_postgres_read, with its replica check */
ngx_govsvc_pg_pool_t *ngx_govsvc_pg_read_create(ngx_cycle_t *cycle,
    ngx_govsvc_main_conf_t *gmcf);
/* ngx_current_msec - then, or 0 when then is later (another worker's) */
ngx_msec_t ngx_govsvc_pg_age(ngx_msec_t then);
/* a handle on the replica for a heavy read of u, or NULL when the read
 * must go to the primary (no read pool, the replica away or behind, or u
 * wrote since what it holds); counted in the metrics either way */
ngx_govsvc_pg_t *ngx_govsvc_pg_open_read(ngx_http_request_t *r,
    ngx_govsvc_user_t *u);

ngx_int_t ngx_govsvc_pg_check_conninfo(ngx_conf_t *cf, ngx_str_t *conninfo);


/* ---- ngx_govsvc_redis.c: Redis cache, hiredis async on nginx events ---- */

/* reply == NULL: error, disconnect or timeout; the reply is owned by
 * hiredis and only valid during the call */
typedef void (*ngx_govsvc_redis_handler_pt)(redisReply *reply, void *data);

ngx_govsvc_redis_t *ngx_govsvc_redis_create(ngx_cycle_t *cycle,
    ngx_govsvc_main_conf_t *gmcf);
void ngx_govsvc_redis_destroy(ngx_govsvc_redis_t *redis);

/* NULL: Redis is away (fail fast, do without it); otherwise the handler
 * is called exactly once, later, unless cancelled first */
ngx_govsvc_redis_cmd_t *ngx_govsvc_redis_command(ngx_govsvc_redis_t *redis,
    ngx_govsvc_redis_handler_pt handler, void *data,
    int argc, const char **argv, const size_t *argvlen);

/* the handler will not be called; safe to call until it has been */
void ngx_govsvc_redis_cancel(ngx_govsvc_redis_cmd_t *cmd);

/* whether at least one connection is established */
ngx_int_t ngx_govsvc_redis_is_up(ngx_govsvc_redis_t *redis);

ngx_int_t ngx_govsvc_redis_parse_address(ngx_conf_t *cf, ngx_str_t *addr,
    ngx_govsvc_main_conf_t *gmcf);


/* ---- ngx_govsvc_shm.c: key/value with expiry and counters ---- */

ngx_shm_zone_t *ngx_govsvc_shm_add(ngx_conf_t *cf, ngx_str_t *name,
    size_t size);

/* NGX_OK, NGX_DECLINED (absent or expired) or NGX_ERROR */
ngx_int_t ngx_govsvc_shm_get(ngx_shm_zone_t *zone, ngx_str_t *key,
    ngx_pool_t *pool, ngx_str_t *value);
/* ttl 0: no expiry.  NGX_ERROR when the zone is full even after expiry */
ngx_int_t ngx_govsvc_shm_set(ngx_shm_zone_t *zone, ngx_str_t *key,
    ngx_str_t *value, ngx_msec_t ttl);
ngx_int_t ngx_govsvc_shm_del(ngx_shm_zone_t *zone, ngx_str_t *key);
/* adds delta to the counter (created at 0 with ttl if absent); *value is
 * the new value and *ttl_left what remains of its life in ms */
ngx_int_t ngx_govsvc_shm_incr(ngx_shm_zone_t *zone, ngx_str_t *key,
    int64_t delta, ngx_msec_t ttl, int64_t *value, ngx_msec_t *ttl_left);

ngx_govsvc_metrics_t *ngx_govsvc_shm_metrics(ngx_shm_zone_t *zone);


/* ---- ngx_govsvc_auth.c: sessions, passwords, certificates ---- */

/*
 * Authenticates ctx's request (bearer token or cookie) and checks the
 * route's roles and, for a cookie on an unsafe method, X-CSRF-Token; then
 * runs the route's handler.  Returns like a handler.
 */
ngx_int_t ngx_govsvc_authenticate(ngx_govsvc_ctx_t *ctx);

/*
 * Password hashing off the event loop, in the thread pool of
 * govsvc_password_threads.  The caller is already asynchronous (it did
 * r->main->count++); done runs on the event loop with NGX_OK (hashed, or
 * the password matches), NGX_DECLINED (does not match) or NGX_ERROR.
 * out must hold NGX_GOVSVC_PASSWORD_HASH_LEN bytes and stay valid.
 */
#define NGX_GOVSVC_PASSWORD_HASH_LEN  128

typedef void (*ngx_govsvc_password_done_pt)(ngx_govsvc_ctx_t *ctx,
    ngx_int_t rc);

ngx_int_t ngx_govsvc_password_hash(ngx_govsvc_ctx_t *ctx,
    const char *password, char *out, ngx_govsvc_password_done_pt done);
ngx_int_t ngx_govsvc_password_verify(ngx_govsvc_ctx_t *ctx,
    const char *password, const char *stored,
    ngx_govsvc_password_done_pt done);


/* ---- ngx_govsvc_api.c and ngx_govsvc_ops.c: handlers ---- */

ngx_int_t ngx_govsvc_api_handler(ngx_http_request_t *r);
ngx_int_t ngx_govsvc_sync_handler(ngx_http_request_t *r);
ngx_int_t ngx_govsvc_health_handler(ngx_http_request_t *r);
ngx_int_t ngx_govsvc_metrics_handler(ngx_http_request_t *r);
ngx_int_t ngx_govsvc_error_handler(ngx_http_request_t *r);
ngx_int_t ngx_govsvc_bench_json_handler(ngx_http_request_t *r);
ngx_int_t ngx_govsvc_bench_sleep_handler(ngx_http_request_t *r);

/* arms worker 0's periodic purge */
void ngx_govsvc_purge_start(ngx_cycle_t *cycle, ngx_govsvc_main_conf_t *gmcf);

/* route names for metrics labels, by route id */
const char *ngx_govsvc_route_name(ngx_uint_t id);
extern ngx_uint_t  ngx_govsvc_nroute_names;

ngx_int_t ngx_govsvc_sessions_create(ngx_govsvc_ctx_t *ctx);
ngx_int_t ngx_govsvc_sessions_cert(ngx_govsvc_ctx_t *ctx);
ngx_int_t ngx_govsvc_sessions_delete(ngx_govsvc_ctx_t *ctx);
ngx_int_t ngx_govsvc_me(ngx_govsvc_ctx_t *ctx);
ngx_int_t ngx_govsvc_me_colleagues(ngx_govsvc_ctx_t *ctx);


/* ---- ngx_govsvc_session_cache.c: a worker's valid sessions ---- */

ngx_govsvc_scache_t *ngx_govsvc_scache_create(ngx_cycle_t *cycle,
    ngx_govsvc_main_conf_t *gmcf);
void ngx_govsvc_scache_destroy(ngx_govsvc_scache_t *sc);
/* counts what was forgotten: a read begun at one epoch stores only if
 * it is still the epoch */
ngx_uint_t ngx_govsvc_scache_epoch(ngx_govsvc_scache_t *sc);
ngx_int_t ngx_govsvc_scache_get(ngx_govsvc_scache_t *sc, const u_char *hash,
    ngx_govsvc_user_t *u, ngx_pool_t *pool, u_char *csrf_hash);
void ngx_govsvc_scache_put(ngx_govsvc_scache_t *sc, ngx_uint_t epoch,
    const ngx_govsvc_user_t *u, const char *csrf_hash, time_t expires);
void ngx_govsvc_scache_forget(ngx_govsvc_scache_t *sc, const u_char *hash);


/* ---- ngx_govsvc_items.c: the catalog of service items (事项) ---- */

ngx_int_t ngx_govsvc_items_list(ngx_govsvc_ctx_t *ctx);
ngx_int_t ngx_govsvc_items_get(ngx_govsvc_ctx_t *ctx);
ngx_int_t ngx_govsvc_items_create(ngx_govsvc_ctx_t *ctx);
ngx_int_t ngx_govsvc_items_update(ngx_govsvc_ctx_t *ctx);


/* ---- ngx_govsvc_cases.c: registering and reading cases (办件) ---- */

ngx_int_t ngx_govsvc_cases_create(ngx_govsvc_ctx_t *ctx);
ngx_int_t ngx_govsvc_cases_get(ngx_govsvc_ctx_t *ctx);
ngx_int_t ngx_govsvc_cases_patch(ngx_govsvc_ctx_t *ctx);
ngx_int_t ngx_govsvc_cases_act(ngx_govsvc_ctx_t *ctx);

/* the {case_no} of the path, NUL-terminated: NGX_DECLINED when it is not
 * 20 digits */
ngx_int_t ngx_govsvc_case_no(ngx_govsvc_ctx_t *ctx, const char **case_no);

/* whether u may see a case of the department and region in columns col
 * and col + 1 of res's first row: its department's staff, supervisors of
 * its region or above */
ngx_uint_t ngx_govsvc_case_visible(ngx_govsvc_user_t *u, PGresult *res,
    int col);

/* a calendar from govsvc_calendar_from()'s text; days allocated in pool */
ngx_int_t ngx_govsvc_calendar_load(ngx_pool_t *pool, const char *text,
    gs_calendar_t *cal);
/* today in China (+08:00), where every time limit is counted */
gs_date_t ngx_govsvc_today(void);


/* keeps value under key in Redis for govsvc_cache_ttl, if Redis is
 * configured (keep: only if the key is not there); not waited for */
void ngx_govsvc_cache_put(ngx_http_request_t *r, ngx_str_t *key,
    const char *value, size_t len, ngx_uint_t keep);


/* ---- ngx_govsvc_lists.c: worklists (cached in Redis), unified query,
 * abnormal cases ---- */

ngx_int_t ngx_govsvc_worklist_get(ngx_govsvc_ctx_t *ctx);
ngx_int_t ngx_govsvc_cases_list(ngx_govsvc_ctx_t *ctx);
ngx_int_t ngx_govsvc_abnormal_list(ngx_govsvc_ctx_t *ctx);
/* after a transition: bumps the worklists it changed (lists: the
 * space-separated names govsvc_case_act() returned), then answers body
 * with 200 */
ngx_int_t ngx_govsvc_worklists_touch(ngx_govsvc_ctx_t *ctx,
    const char *lists, ngx_str_t *body);


/* ---- ngx_govsvc_public.c: consultations, the public case query,
 * ratings and rectification tasks ---- */

ngx_int_t ngx_govsvc_consult_create(ngx_govsvc_ctx_t *ctx);
ngx_int_t ngx_govsvc_consult_list(ngx_govsvc_ctx_t *ctx);
ngx_int_t ngx_govsvc_consult_get(ngx_govsvc_ctx_t *ctx);
ngx_int_t ngx_govsvc_consult_reply(ngx_govsvc_ctx_t *ctx);
ngx_int_t ngx_govsvc_public_consult_list(ngx_govsvc_ctx_t *ctx);
ngx_int_t ngx_govsvc_public_consult_get(ngx_govsvc_ctx_t *ctx);
ngx_int_t ngx_govsvc_public_case(ngx_govsvc_ctx_t *ctx);
ngx_int_t ngx_govsvc_public_evaluate(ngx_govsvc_ctx_t *ctx);
ngx_int_t ngx_govsvc_rectifications_list(ngx_govsvc_ctx_t *ctx);
ngx_int_t ngx_govsvc_rectifications_answer(ngx_govsvc_ctx_t *ctx);


/* ---- ngx_govsvc_supervision.c: warnings, cards, statistics ---- */

ngx_int_t ngx_govsvc_supervision_warnings(ngx_govsvc_ctx_t *ctx);
ngx_int_t ngx_govsvc_supervision_stats(ngx_govsvc_ctx_t *ctx);
ngx_int_t ngx_govsvc_cards_issue(ngx_govsvc_ctx_t *ctx);
ngx_int_t ngx_govsvc_cards_revoke(ngx_govsvc_ctx_t *ctx);
ngx_int_t ngx_govsvc_cards_respond(ngx_govsvc_ctx_t *ctx);
ngx_int_t ngx_govsvc_cards_list(ngx_govsvc_ctx_t *ctx);
/* arms this worker's automatic-card timer (every worker; the shared zone
 * decides which one runs), and frees what a run in flight holds */
void ngx_govsvc_cards_start(ngx_cycle_t *cycle, ngx_govsvc_main_conf_t *gmcf);
void ngx_govsvc_cards_stop(ngx_govsvc_main_conf_t *gmcf);


/* ---- ngx_govsvc_sync.c: node to node (三级联动) ---- */

ngx_int_t ngx_govsvc_sync_status(ngx_govsvc_ctx_t *ctx);
ngx_int_t ngx_govsvc_sync_batches(ngx_govsvc_ctx_t *ctx);
ngx_int_t ngx_govsvc_sync_catalog(ngx_govsvc_ctx_t *ctx);
ngx_int_t ngx_govsvc_sync_forwarded(ngx_govsvc_ctx_t *ctx);


/* ---- ngx_govsvc_sync_client.c: the push to the parent, the pull ---- */

char *ngx_govsvc_sync_parent(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
/* defaults, and the TLS context of the link when a parent is set */
char *ngx_govsvc_sync_init_conf(ngx_conf_t *cf, ngx_govsvc_main_conf_t *gmcf);
/* arms this worker's sync timer (every worker; the shared zone decides
 * which one runs a round), and ends what a round in flight holds */
ngx_int_t ngx_govsvc_sync_start(ngx_cycle_t *cycle,
    ngx_govsvc_main_conf_t *gmcf);
void ngx_govsvc_sync_stop(ngx_govsvc_main_conf_t *gmcf);


/* ---- ngx_govsvc_notices.c: notices, signed; the case's outcomes ---- */

char *ngx_govsvc_notices_init_conf(ngx_conf_t *cf,
    ngx_govsvc_main_conf_t *gmcf);
ngx_int_t ngx_govsvc_notices_create(ngx_govsvc_ctx_t *ctx);
ngx_int_t ngx_govsvc_notices_get(ngx_govsvc_ctx_t *ctx);
ngx_int_t ngx_govsvc_notices_verify(ngx_govsvc_ctx_t *ctx);


/* ---- ngx_govsvc_files.c: material uploads and downloads ---- */

/* installs the request body filter that hashes and sniffs uploads */
ngx_int_t ngx_govsvc_files_init(ngx_conf_t *cf);
ngx_int_t ngx_govsvc_files_upload(ngx_govsvc_ctx_t *ctx);
ngx_int_t ngx_govsvc_files_get(ngx_govsvc_ctx_t *ctx);


/* ---- ngx_govsvc_admin.c: administration (role admin) ---- */

ngx_int_t ngx_govsvc_departments_list(ngx_govsvc_ctx_t *ctx);
ngx_int_t ngx_govsvc_departments_create(ngx_govsvc_ctx_t *ctx);
ngx_int_t ngx_govsvc_departments_get(ngx_govsvc_ctx_t *ctx);
ngx_int_t ngx_govsvc_departments_update(ngx_govsvc_ctx_t *ctx);
ngx_int_t ngx_govsvc_users_list(ngx_govsvc_ctx_t *ctx);
ngx_int_t ngx_govsvc_users_create(ngx_govsvc_ctx_t *ctx);
ngx_int_t ngx_govsvc_users_get(ngx_govsvc_ctx_t *ctx);
ngx_int_t ngx_govsvc_users_update(ngx_govsvc_ctx_t *ctx);
ngx_int_t ngx_govsvc_users_password(ngx_govsvc_ctx_t *ctx);
ngx_int_t ngx_govsvc_users_cert_bind(ngx_govsvc_ctx_t *ctx);
ngx_int_t ngx_govsvc_users_cert_unbind(ngx_govsvc_ctx_t *ctx);
ngx_int_t ngx_govsvc_calendar_put(ngx_govsvc_ctx_t *ctx);
ngx_int_t ngx_govsvc_calendar_delete(ngx_govsvc_ctx_t *ctx);


#endif /* _NGX_GOVSVC_H_INCLUDED_ */
