
/*
 * GovSvc: PostgreSQL through libpq's asynchronous API on nginx's event
 * loop, with a keep-alive pool per worker.
 *
 * A connection is either connecting, idle (in pool->idle, its read event
 * watching for the server closing it), or busy (a statement in flight, for
 * a request or, when the request went away, for nobody: its result is
 * drained and an open transaction rolled back before it becomes idle).
 * Requests that find no idle connection wait in a bounded FIFO with a
 * timer.  Events are level-triggered: libpq may leave input unread after
 * PQconsumeInput, and an edge would then be lost.
 *
 * Nothing here blocks: connections are started with PQconnectStart (the
 * configuration refuses host names, whose lookup would block) and never
 * cancelled with PQcancel (which blocks); a statement that runs over the
 * timeout costs its connection instead.
 *
 * A conninfo may name several servers (hostaddr=A,B port=P,Q
 * target_session_attrs=read-write: a primary and its standbys).  libpq
 * would try them in turn inside PQconnectPoll, but without a limit of
 * time on each (connect_timeout is the caller's business with
 * PQconnectPoll): a server that hangs, or whose packets vanish, would
 * hold every attempt until the module's timeout and the next server would
 * never be tried.  So the pool starts one connection per server itself,
 * each with its limit (connect_timeout=, else timeout=), beginning with
 * the last server that accepted (after a failover: the new primary).
 * libpq may still move to another socket within one server (SSL refused,
 * tried again in the clear), which usually gets the number just freed;
 * epoll forgot the old socket when it was closed, so the nginx connection
 * is bound anew whenever the socket is another one, by number or inode.
 *
 * govsvc_postgres_read adds a second pool, on a streaming replica, for the
 * heavy reads (ngx_govsvc_read_query).  Every lag/4 (at most 1 s) one
 * worker of the instance (a lease in the shared zone) asks the primary
 * for its WAL position and then the replica whether it has replayed that
 * far: if so, the replica holds everything committed before the moment
 * the first question was sent, which becomes its "fresh" time.  A read
 * goes to the replica while the last check found it reachable, it is
 * fresh within lag, and the user made no write since its fresh time
 * (marks in the shared zone, set before a write runs and again when it
 * has been answered); otherwise, and when the replica fails it, to the
 * primary.  The state is in the shared zone, so that each change is
 * logged once, and in the metrics.
 */


#include "ngx_govsvc.h"

#include <arpa/inet.h>


#define NGX_GOVSVC_PG_BACKOFF_MIN   100
#define NGX_GOVSVC_PG_BACKOFF_MAX   1000
#define NGX_GOVSVC_PG_SESSION       "govsvc_session"
#define NGX_GOVSVC_PG_LSN_LEN       32
#define NGX_GOVSVC_PG_WRITING       600000   /* a pending write's mark */


/*
 * Where the server is in the WAL: replayed (a standby), or inserted (a
 * primary: an asynchronous commit may not be written yet).  The insert
 * position at a page's start is given past the page header (24 bytes, 40
 * at a segment's start, as after pg_basebackup's switch to a new
 * segment), where no standby ever replays to: the header is taken off.
 */
#define NGX_GOVSVC_PG_LSN_SQL                                                \
    "CASE WHEN pg_is_in_recovery() THEN pg_last_wal_replay_lsn()"            \
    " ELSE (SELECT l - CASE"                                                 \
    "   WHEN (l - '0/0')"                                                    \
    "    % pg_size_bytes(current_setting('wal_segment_size')) = 40"          \
    "    THEN 40"                                                            \
    "   WHEN (l - '0/0') % current_setting('wal_block_size')::int = 24"      \
    "    THEN 24"                                                            \
    "   ELSE 0 END"                                                          \
    "  FROM pg_current_wal_insert_lsn() AS l) END"


/* the counters of the pool's kind (ngx_govsvc_metrics_t) */
#define ngx_govsvc_pg_count(pool, field)                                     \
    do {                                                                     \
        if ((pool)->read) {                                                  \
            ngx_govsvc_count(pgr_##field);                                   \
        } else {                                                             \
            ngx_govsvc_count(pg_##field);                                    \
        }                                                                    \
    } while (0)


typedef enum {
    NGX_GOVSVC_PG_CONNECTING = 0,
    NGX_GOVSVC_PG_IDLE,
    NGX_GOVSVC_PG_BUSY
} ngx_govsvc_pg_state_e;


typedef struct {
    ngx_queue_t               queue;       /* pool->idle or pool->active */
    ngx_govsvc_pg_pool_t     *pool;
    PGconn                   *conn;
    ngx_connection_t         *c;
    ngx_uint_t                server;      /* of pool->servers */
    ngx_uint_t                tried;       /* servers tried for it */
    ngx_file_uniq_t           sock;        /* the inode of c's socket */
    ngx_govsvc_pg_state_e     state;
    ngx_govsvc_pg_t          *user;        /* NULL: nobody waits for it */
    PGresult                 *result;
    unsigned                  preparing:1;
    unsigned                  prepared:1;  /* the session check */
} ngx_govsvc_pg_conn_t;


struct ngx_govsvc_pg_pool_s {
    ngx_govsvc_main_conf_t   *gmcf;
    ngx_log_t                *log;
    const char               *name;        /* the server, in messages */
    const char               *conninfo;
    ngx_uint_t                max;
    ngx_uint_t                queue;
    ngx_msec_t                timeout;

    /* the conninfo as keywords and values, and its servers: the host,
     * hostaddr and port values of each (NULL: not given) */
    const char              **keywords;
    const char              **values;
    ngx_int_t                 host_kw;     /* index in keywords, or -1 */
    ngx_int_t                 hostaddr_kw;
    ngx_int_t                 port_kw;
    ngx_int_t                 attrs_kw;    /* target_session_attrs */
    ngx_uint_t                nservers;
    char                    **hosts;
    char                    **hostaddrs;
    char                    **ports;
    ngx_uint_t                nports;      /* 1: one for all */
    ngx_uint_t                server;      /* the last that accepted */
    ngx_uint_t                passes;      /* 2: prefer-standby */
    ngx_msec_t                connect_timeout;
    ngx_queue_t               idle;
    ngx_queue_t               active;      /* connecting and busy */
    ngx_queue_t               waiting;     /* ngx_govsvc_pg_t */
    ngx_uint_t                nconns;
    ngx_uint_t                nconnecting;
    ngx_uint_t                nidle;
    ngx_uint_t                nwaiting;
    ngx_event_t               dispatch;
    ngx_msec_t                down_until;
    ngx_msec_t                backoff;
    unsigned                  down:1;
    unsigned                  read:1;      /* govsvc_postgres_read's */

    /* a read pool's check of its replica: a statement on the primary,
     * then one here */
    ngx_event_t               check;
    ngx_msec_t                check_interval;
    ngx_msec_t                check_sent;
    ngx_govsvc_pg_t          *check_primary;
    ngx_govsvc_pg_t          *check_replica;
    const char               *check_values[1];
    char                      check_lsn[NGX_GOVSVC_PG_LSN_LEN];
    unsigned                  checking:1;
    unsigned                  check_failed:1;  /* its error logged */
};


struct ngx_govsvc_pg_s {
    ngx_log_t                *log;
    ngx_govsvc_pg_pool_t     *pool;
    ngx_govsvc_pg_conn_t     *pc;
    ngx_queue_t               queue;
    ngx_event_t               wait;
    unsigned                  waiting:1;
    unsigned                  closed:1;

    const char               *sql;
    int                       nparams;
    const char *const        *values;
    ngx_govsvc_pg_handler_pt  handler;
    void                     *data;
};


static ngx_govsvc_pg_pool_t *ngx_govsvc_pg_pool_new(ngx_cycle_t *cycle,
    ngx_govsvc_main_conf_t *gmcf, ngx_uint_t read);
static void ngx_govsvc_pg_handle_init(ngx_govsvc_pg_t *pg,
    ngx_govsvc_pg_pool_t *pool, ngx_log_t *log);
static ngx_int_t ngx_govsvc_pg_servers(ngx_cycle_t *cycle,
    ngx_govsvc_pg_pool_t *pool);
static ngx_uint_t ngx_govsvc_pg_split(ngx_pool_t *mem, char *list,
    char ***items);
static char *ngx_govsvc_pg_strdup(ngx_pool_t *mem, const char *s);
static ngx_int_t ngx_govsvc_pg_connect(ngx_govsvc_pg_pool_t *pool);
static ngx_int_t ngx_govsvc_pg_start(ngx_govsvc_pg_conn_t *pc);
static ngx_int_t ngx_govsvc_pg_next(ngx_govsvc_pg_conn_t *pc,
    const char *why);
static ngx_int_t ngx_govsvc_pg_bind(ngx_govsvc_pg_conn_t *pc);
static void ngx_govsvc_pg_unbind(ngx_govsvc_pg_conn_t *pc);
static ngx_uint_t ngx_govsvc_pg_moved(ngx_govsvc_pg_conn_t *pc);
static void ngx_govsvc_pg_connect_handler(ngx_event_t *ev);
static void ngx_govsvc_pg_connected(ngx_govsvc_pg_conn_t *pc);
static void ngx_govsvc_pg_connect_failed(ngx_govsvc_pg_conn_t *pc);
static ngx_int_t ngx_govsvc_pg_send(ngx_govsvc_pg_conn_t *pc,
    const char *sql, int nparams, const char *const *values);
static ngx_int_t ngx_govsvc_pg_flush(ngx_govsvc_pg_conn_t *pc);
static void ngx_govsvc_pg_read_handler(ngx_event_t *ev);
static void ngx_govsvc_pg_write_handler(ngx_event_t *ev);
static void ngx_govsvc_pg_idle_handler(ngx_event_t *ev);
static void ngx_govsvc_pg_done(ngx_govsvc_pg_conn_t *pc);
static void ngx_govsvc_pg_fail(ngx_govsvc_pg_conn_t *pc, const char *why);
static void ngx_govsvc_pg_release(ngx_govsvc_pg_conn_t *pc);
static void ngx_govsvc_pg_free(ngx_govsvc_pg_conn_t *pc);
static void ngx_govsvc_pg_dispatch(ngx_event_t *ev);
static void ngx_govsvc_pg_unwait(ngx_govsvc_pg_t *pg);
static void ngx_govsvc_pg_wait_timeout(ngx_event_t *ev);
static void ngx_govsvc_pg_cleanup(void *data);
static void ngx_govsvc_pg_gauges(ngx_govsvc_pg_pool_t *pool);
static void ngx_govsvc_pg_notice(void *arg, const char *message);

static void ngx_govsvc_pgr_check(ngx_event_t *ev);
static ngx_uint_t ngx_govsvc_pgr_lease(ngx_govsvc_pg_pool_t *rp);
static ngx_int_t ngx_govsvc_pgr_send(ngx_govsvc_pg_pool_t *rp,
    ngx_govsvc_pg_t *pg, ngx_govsvc_pg_pool_t *pool, const char *sql,
    int nparams, ngx_govsvc_pg_handler_pt handler);
static void ngx_govsvc_pgr_primary_done(ngx_govsvc_pg_t *pg, PGresult *res,
    void *data);
static void ngx_govsvc_pgr_replica_done(ngx_govsvc_pg_t *pg, PGresult *res,
    void *data);
static void ngx_govsvc_pgr_verdict(ngx_govsvc_pg_pool_t *rp,
    ngx_int_t reached);
static void ngx_govsvc_pg_writing(ngx_http_request_t *r,
    ngx_govsvc_main_conf_t *gmcf);
static void ngx_govsvc_pg_wrote(void *data);
static void ngx_govsvc_pg_mark(ngx_govsvc_main_conf_t *gmcf, int64_t id,
    ngx_uint_t done, ngx_log_t *log);
static ngx_uint_t ngx_govsvc_pg_wrote_since(ngx_http_request_t *r,
    ngx_govsvc_main_conf_t *gmcf, ngx_govsvc_user_t *u, ngx_msec_t fresh);


ngx_govsvc_pg_pool_t *
ngx_govsvc_pg_pool_create(ngx_cycle_t *cycle, ngx_govsvc_main_conf_t *gmcf)
{
    return ngx_govsvc_pg_pool_new(cycle, gmcf, 0);
}


static ngx_govsvc_pg_pool_t *
ngx_govsvc_pg_pool_new(ngx_cycle_t *cycle, ngx_govsvc_main_conf_t *gmcf,
    ngx_uint_t read)
{
    ngx_govsvc_pg_pool_t  *pool;

    pool = ngx_pcalloc(cycle->pool, sizeof(ngx_govsvc_pg_pool_t));
    if (pool == NULL) {
        return NULL;
    }

    pool->gmcf = gmcf;
    pool->log = cycle->log;
    pool->read = read;

    if (read) {
        pool->name = "PostgreSQL replica";
        pool->conninfo = (const char *) gmcf->pgr_conninfo.data;
        pool->max = gmcf->pgr_max;
        pool->queue = gmcf->pgr_queue;
        pool->timeout = gmcf->pgr_timeout;

    } else {
        pool->name = "PostgreSQL";
        pool->conninfo = (const char *) gmcf->pg_conninfo.data;
        pool->max = gmcf->pg_max;
        pool->queue = gmcf->pg_queue;
        pool->timeout = gmcf->pg_timeout;
    }

    if (ngx_govsvc_pg_servers(cycle, pool) != NGX_OK) {
        return NULL;
    }

    ngx_queue_init(&pool->idle);
    ngx_queue_init(&pool->active);
    ngx_queue_init(&pool->waiting);

    pool->dispatch.handler = ngx_govsvc_pg_dispatch;
    pool->dispatch.data = pool;
    pool->dispatch.log = cycle->log;

    ngx_govsvc_pg_gauges(pool);

    return pool;
}


void
ngx_govsvc_pg_pool_destroy(ngx_govsvc_pg_pool_t *pool)
{
    ngx_queue_t           *q;
    ngx_govsvc_pg_conn_t  *pc;

    if (pool->check.timer_set) {
        ngx_del_timer(&pool->check);
    }

    /* a check in flight: its handle leaves the queue it may wait in */
    if (pool->checking) {
        ngx_govsvc_pg_close(pool->check_primary);
        ngx_govsvc_pg_close(pool->check_replica);
        pool->checking = 0;
    }

    while (!ngx_queue_empty(&pool->idle)) {
        q = ngx_queue_head(&pool->idle);
        pc = ngx_queue_data(q, ngx_govsvc_pg_conn_t, queue);
        ngx_govsvc_pg_free(pc);
    }

    while (!ngx_queue_empty(&pool->active)) {
        q = ngx_queue_head(&pool->active);
        pc = ngx_queue_data(q, ngx_govsvc_pg_conn_t, queue);
        ngx_govsvc_pg_free(pc);
    }

    if (pool->dispatch.posted) {
        ngx_delete_posted_event(&pool->dispatch);
    }
}


ngx_int_t
ngx_govsvc_pg_is_down(ngx_govsvc_pg_pool_t *pool)
{
    return pool->down;
}


ngx_govsvc_pg_t *
ngx_govsvc_pg_open(ngx_http_request_t *r)
{
    ngx_govsvc_pg_t           *pg;
    ngx_http_cleanup_t        *cln;
    ngx_govsvc_main_conf_t    *gmcf;

    gmcf = ngx_http_get_module_main_conf(r, ngx_govsvc_module);

    if (gmcf->pg == NULL) {
        return NULL;
    }

    /* a change by a signed-in user: its heavy reads wait for the replica
     * to hold it */
    if (gmcf->pg_read && !(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        ngx_govsvc_pg_writing(r, gmcf);
    }

    /* the cleanup detaches the handle when the request goes first */
    cln = ngx_http_cleanup_add(r, 0);
    if (cln == NULL) {
        return NULL;
    }

    pg = ngx_govsvc_pg_open_pool(gmcf->pg, r->pool, r->connection->log);
    if (pg == NULL) {
        return NULL;
    }

    cln->handler = ngx_govsvc_pg_cleanup;
    cln->data = pg;

    return pg;
}


ngx_govsvc_pg_t *
ngx_govsvc_pg_open_pool(ngx_govsvc_pg_pool_t *pool, ngx_pool_t *mem,
    ngx_log_t *log)
{
    ngx_govsvc_pg_t  *pg;

    pg = ngx_palloc(mem, sizeof(ngx_govsvc_pg_t));
    if (pg == NULL) {
        return NULL;
    }

    ngx_govsvc_pg_handle_init(pg, pool, log);

    return pg;
}


static void
ngx_govsvc_pg_handle_init(ngx_govsvc_pg_t *pg, ngx_govsvc_pg_pool_t *pool,
    ngx_log_t *log)
{
    ngx_memzero(pg, sizeof(ngx_govsvc_pg_t));

    pg->pool = pool;
    pg->log = log;

    pg->wait.handler = ngx_govsvc_pg_wait_timeout;
    pg->wait.data = pg;
    pg->wait.log = log;
}


ngx_int_t
ngx_govsvc_pg_query(ngx_govsvc_pg_t *pg, const char *sql, int nparams,
    const char *const *values, ngx_govsvc_pg_handler_pt handler, void *data)
{
    ngx_queue_t           *q;
    ngx_govsvc_pg_conn_t  *pc;
    ngx_govsvc_pg_pool_t  *pool;

    pool = pg->pool;

    pg->sql = sql;
    pg->nparams = nparams;
    pg->values = values;
    pg->handler = handler;
    pg->data = data;

    if (pg->pc) {
        /* the next statement of a transaction: same connection or none */

        if (ngx_govsvc_pg_send(pg->pc, sql, nparams, values) != NGX_OK) {
            pc = pg->pc;
            pc->user = NULL;
            pg->pc = NULL;
            ngx_govsvc_pg_free(pc);
            return NGX_DECLINED;
        }

        return NGX_OK;
    }

    if (pool->down && ngx_current_msec < pool->down_until) {
        return NGX_DECLINED;
    }

    while (!ngx_queue_empty(&pool->idle)) {
        q = ngx_queue_head(&pool->idle);
        pc = ngx_queue_data(q, ngx_govsvc_pg_conn_t, queue);

        ngx_queue_remove(q);
        ngx_queue_insert_tail(&pool->active, q);
        pool->nidle--;

        pc->state = NGX_GOVSVC_PG_BUSY;
        pc->user = pg;
        pg->pc = pc;

        if (ngx_govsvc_pg_send(pc, sql, nparams, values) == NGX_OK) {
            ngx_govsvc_pg_gauges(pool);
            return NGX_OK;
        }

        /* the server closed it while it slept: nothing ran, try another */
        pc->user = NULL;
        pg->pc = NULL;
        ngx_govsvc_pg_free(pc);
    }

    if (pool->nwaiting >= pool->queue) {
        ngx_govsvc_pg_count(pool, queue_full);
        ngx_log_error(NGX_LOG_WARN, pg->log, 0,
                      "govsvc: %s wait queue full (%ui)",
                      pool->name, pool->queue);
        return NGX_DECLINED;
    }

    if (pool->nconnecting < pool->nwaiting + 1
        && pool->nconns < pool->max)
    {
        if (ngx_govsvc_pg_connect(pool) != NGX_OK
            && pool->nconns == 0)
        {
            return NGX_DECLINED;
        }
    }

    if (pool->nconns == 0) {
        return NGX_DECLINED;
    }

    ngx_queue_insert_tail(&pool->waiting, &pg->queue);
    pool->nwaiting++;
    pg->waiting = 1;
    ngx_add_timer(&pg->wait, pool->timeout);

    ngx_govsvc_pg_gauges(pool);

    return NGX_OK;
}


void
ngx_govsvc_pg_close(ngx_govsvc_pg_t *pg)
{
    ngx_govsvc_pg_conn_t  *pc;

    if (pg->closed) {
        return;
    }

    pg->closed = 1;
    pg->handler = NULL;

    if (pg->waiting) {
        ngx_govsvc_pg_unwait(pg);
        ngx_govsvc_pg_gauges(pg->pool);
    }

    pc = pg->pc;
    pg->pc = NULL;

    if (pc == NULL) {
        return;
    }

    pc->user = NULL;

    if (pc->state == NGX_GOVSVC_PG_BUSY && PQisBusy(pc->conn)) {
        /* the result is drained, and rolled back, when it comes */
        return;
    }

    ngx_govsvc_pg_release(pc);
}


static void
ngx_govsvc_pg_cleanup(void *data)
{
    ngx_govsvc_pg_t  *pg = data;

    ngx_govsvc_pg_close(pg);
}


/*
 * The servers of the conninfo: libpq's comma-separated lists of host,
 * hostaddr and port, one item each (a single port serves all).  Lists
 * that do not match are left to libpq, as one server.
 */

static ngx_int_t
ngx_govsvc_pg_servers(ngx_cycle_t *cycle, ngx_govsvc_pg_pool_t *pool)
{
    char               *err, *host, *hostaddr, *port;
    ngx_int_t           ms;
    ngx_uint_t          n, nh, na, np, i;
    PQconninfoOption   *opts, *o;

    err = NULL;

    opts = PQconninfoParse(pool->conninfo, &err);
    if (opts == NULL) {
        ngx_log_error(NGX_LOG_EMERG, cycle->log, 0,
                      "govsvc: invalid %s conninfo: %s", pool->name,
                      err ? err : "out of memory");
        PQfreemem(err);
        return NGX_ERROR;
    }

    n = 0;
    for (o = opts; o->keyword; o++) {
        n++;
    }

    pool->keywords = ngx_pcalloc(cycle->pool, (n + 1) * sizeof(char *));
    pool->values = ngx_pcalloc(cycle->pool, (n + 1) * sizeof(char *));
    if (pool->keywords == NULL || pool->values == NULL) {
        PQconninfoFree(opts);
        return NGX_ERROR;
    }

    pool->host_kw = -1;
    pool->hostaddr_kw = -1;
    pool->port_kw = -1;
    pool->attrs_kw = -1;
    pool->passes = 1;
    pool->connect_timeout = pool->timeout;

    host = NULL;
    hostaddr = NULL;
    port = NULL;
    i = 0;

    for (o = opts; o->keyword; o++) {
        if (o->val == NULL) {
            continue;
        }

        pool->keywords[i] = ngx_govsvc_pg_strdup(cycle->pool, o->keyword);
        pool->values[i] = ngx_govsvc_pg_strdup(cycle->pool, o->val);
        if (pool->keywords[i] == NULL || pool->values[i] == NULL) {
            PQconninfoFree(opts);
            return NGX_ERROR;
        }

        if (ngx_strcmp(o->keyword, "host") == 0) {
            pool->host_kw = i;
            host = (char *) pool->values[i];

        } else if (ngx_strcmp(o->keyword, "hostaddr") == 0) {
            pool->hostaddr_kw = i;
            hostaddr = (char *) pool->values[i];

        } else if (ngx_strcmp(o->keyword, "port") == 0) {
            pool->port_kw = i;
            port = (char *) pool->values[i];

        } else if (ngx_strcmp(o->keyword, "target_session_attrs") == 0) {
            pool->attrs_kw = i;

        } else if (ngx_strcmp(o->keyword, "connect_timeout") == 0) {
            ms = ngx_atoi((u_char *) o->val, ngx_strlen(o->val));
            if (ms > 0 && (ngx_msec_t) ms * 1000 < pool->timeout) {
                pool->connect_timeout = (ngx_msec_t) ms * 1000;
            }
        }

        i++;
    }

    PQconninfoFree(opts);

    nh = host ? ngx_govsvc_pg_split(cycle->pool, host, &pool->hosts) : 0;
    na = hostaddr ? ngx_govsvc_pg_split(cycle->pool, hostaddr,
                                        &pool->hostaddrs)
                  : 0;
    np = port ? ngx_govsvc_pg_split(cycle->pool, port, &pool->ports) : 0;

    if ((host && nh == 0) || (hostaddr && na == 0) || (port && np == 0)) {
        return NGX_ERROR;
    }

    n = ngx_max(nh, na);

    if (n < 2 || (nh && nh != n) || (na && na != n) || (np > 1 && np != n))
    {
        /* one server, or lists libpq will judge */
        pool->nservers = 1;
        pool->hosts = NULL;
        pool->hostaddrs = NULL;
        pool->ports = NULL;
        return NGX_OK;
    }

    pool->nservers = n;
    pool->nports = np;

    /* libpq's prefer-standby over the list: a standby if any, else any
     * server; one server at a time that is two passes */
    if (pool->attrs_kw >= 0
        && ngx_strcmp(pool->values[pool->attrs_kw], "prefer-standby") == 0)
    {
        pool->passes = 2;
    }

    return NGX_OK;
}


/* splits a comma-separated list in place; 0 when out of memory */

static ngx_uint_t
ngx_govsvc_pg_split(ngx_pool_t *mem, char *list, char ***items)
{
    char        *p, *copy;
    ngx_uint_t   n, i;

    n = 1;
    for (p = list; *p; p++) {
        n += (*p == ',');
    }

    copy = ngx_govsvc_pg_strdup(mem, list);
    *items = ngx_palloc(mem, n * sizeof(char *));
    if (copy == NULL || *items == NULL) {
        return 0;
    }

    (*items)[0] = copy;

    for (p = copy, i = 1; *p; p++) {
        if (*p == ',') {
            *p = '\0';
            (*items)[i++] = p + 1;
        }
    }

    return n;
}


static char *
ngx_govsvc_pg_strdup(ngx_pool_t *mem, const char *s)
{
    size_t   len;
    u_char  *p;

    len = ngx_strlen(s) + 1;

    p = ngx_pnalloc(mem, len);
    if (p == NULL) {
        return NULL;
    }

    ngx_memcpy(p, s, len);

    return (char *) p;
}


static ngx_int_t
ngx_govsvc_pg_connect(ngx_govsvc_pg_pool_t *pool)
{
    ngx_govsvc_pg_conn_t  *pc;

    pc = ngx_calloc(sizeof(ngx_govsvc_pg_conn_t), pool->log);
    if (pc == NULL) {
        return NGX_ERROR;
    }

    pc->pool = pool;
    pc->state = NGX_GOVSVC_PG_CONNECTING;
    pc->server = pool->server;

    ngx_queue_insert_tail(&pool->active, &pc->queue);
    pool->nconns++;
    pool->nconnecting++;

    ngx_govsvc_pg_count(pool, connects);

    if (ngx_govsvc_pg_start(pc) != NGX_OK) {
        ngx_govsvc_pg_free(pc);

        pool->down = 1;
        pool->backoff = NGX_GOVSVC_PG_BACKOFF_MAX;
        pool->down_until = ngx_current_msec + pool->backoff;
        return NGX_ERROR;
    }

    return NGX_OK;
}


/*
 * Starts pc's connection to its server, or to the next ones while a
 * start fails at once (a refused connect on this machine often does).
 */

static ngx_int_t
ngx_govsvc_pg_start(ngx_govsvc_pg_conn_t *pc)
{
    PGconn                *conn;
    ngx_uint_t             i, level;
    ngx_govsvc_pg_pool_t  *pool;

    pool = pc->pool;

    for ( ;; ) {
        i = pc->server;

        if (pool->passes == 2) {
            pool->values[pool->attrs_kw] = pc->tried < pool->nservers
                                           ? "standby" : "any";
        }

        pc->tried++;

        conn = ngx_govsvc_pg_start_server(pool, i);

        if (conn != NULL && PQstatus(conn) != CONNECTION_BAD) {
            break;
        }

        if (conn == NULL) {
            ngx_log_error(NGX_LOG_ERR, pool->log, 0,
                          "govsvc: cannot start a connection to %s: "
                          "out of memory", pool->name);
            return NGX_ERROR;
        }

        pc->conn = conn;

        if (ngx_govsvc_pg_next(pc, PQerrorMessage(conn)) != NGX_OK) {
            /* one error when PostgreSQL goes away, not one per retry */
            level = pool->down ? NGX_LOG_INFO : NGX_LOG_ERR;
            ngx_log_error(level, pool->log, 0,
                          "govsvc: cannot start a connection to %s: %s",
                          pool->name, PQerrorMessage(conn));
            return NGX_ERROR;
        }
    }

    pc->conn = conn;

    PQsetNoticeProcessor(conn, ngx_govsvc_pg_notice, pool);

    if (PQsetnonblocking(conn, 1) != 0 || ngx_govsvc_pg_bind(pc) != NGX_OK) {
        return NGX_ERROR;
    }

    /* libpq: after PQconnectStart, act as if polling asked for writing */
    if (ngx_add_event(pc->c->write, NGX_WRITE_EVENT, NGX_LEVEL_EVENT)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    ngx_add_timer(pc->c->read, pool->connect_timeout);

    return NGX_OK;
}


/*
 * Starts a connection to the pool's server i (modulo their count; a
 * conninfo of one server is that server) for a caller that drives it
 * (the session cache's LISTEN, or ngx_govsvc_pg_start()).
 */

PGconn *
ngx_govsvc_pg_start_server(ngx_govsvc_pg_pool_t *pool, ngx_uint_t i)
{
    i %= pool->nservers;

    if (pool->hostaddrs) {
        pool->values[pool->hostaddr_kw] = pool->hostaddrs[i];
    }

    if (pool->hosts) {
        pool->values[pool->host_kw] = pool->hosts[i];
    }

    if (pool->ports) {
        pool->values[pool->port_kw] = pool->ports[pool->nports > 1 ? i : 0];
    }

    return PQconnectStartParams(pool->keywords, pool->values, 0);
}


/* the servers of the pool, the one that last accepted, and the limit on
 * connecting to one */

void
ngx_govsvc_pg_servers_of(ngx_govsvc_pg_pool_t *pool, ngx_uint_t *n,
    ngx_uint_t *last, ngx_msec_t *connect_timeout)
{
    *n = pool->nservers;
    *last = pool->server;
    *connect_timeout = pool->connect_timeout;
}


/*
 * pc's server failed (why): drops that attempt and moves pc to the next
 * server; NGX_DECLINED when every server has been tried (pc->conn kept,
 * for its error message).
 */

static ngx_int_t
ngx_govsvc_pg_next(ngx_govsvc_pg_conn_t *pc, const char *why)
{
    ngx_uint_t             i;
    ngx_govsvc_pg_pool_t  *pool;

    pool = pc->pool;

    if (pc->tried >= pool->nservers * pool->passes) {
        return NGX_DECLINED;
    }

    i = pc->server;

    ngx_log_error(NGX_LOG_INFO, pool->log, 0,
                  "govsvc: %s server %ui (%s%s%s) failed, trying the next: "
                  "%s", pool->name, i + 1,
                  pool->hostaddrs ? pool->hostaddrs[i]
                                  : pool->hosts ? pool->hosts[i] : "",
                  pool->ports ? " port " : "",
                  pool->ports ? pool->ports[pool->nports > 1 ? i : 0] : "",
                  why);

    ngx_govsvc_pg_unbind(pc);
    PQfinish(pc->conn);
    pc->conn = NULL;

    pc->server = (i + 1) % pool->nservers;

    return NGX_OK;
}


/* wraps libpq's socket in an nginx connection watched for reading */

static ngx_int_t
ngx_govsvc_pg_bind(ngx_govsvc_pg_conn_t *pc)
{
    ngx_socket_t       fd;
    ngx_file_info_t    fi;
    ngx_connection_t  *c;

    fd = PQsocket(pc->conn);
    if (fd == (ngx_socket_t) -1) {
        return NGX_ERROR;
    }

    if (ngx_fd_info(fd, &fi) == NGX_FILE_ERROR) {
        ngx_log_error(NGX_LOG_ERR, pc->pool->log, ngx_errno,
                      "govsvc: fstat() of a PostgreSQL socket failed");
        return NGX_ERROR;
    }

    c = ngx_get_connection(fd, pc->pool->log);
    if (c == NULL) {
        return NGX_ERROR;
    }

    c->data = pc;
    c->read->handler = ngx_govsvc_pg_connect_handler;
    c->write->handler = ngx_govsvc_pg_connect_handler;
    c->read->log = pc->pool->log;
    c->write->log = pc->pool->log;
    c->log->action = "connecting to PostgreSQL";

    if (ngx_add_event(c->read, NGX_READ_EVENT, NGX_LEVEL_EVENT) != NGX_OK) {
        ngx_free_connection(c);
        c->fd = (ngx_socket_t) -1;
        return NGX_ERROR;
    }

    pc->c = c;
    pc->sock = ngx_file_uniq(&fi);

    return NGX_OK;
}


static void
ngx_govsvc_pg_unbind(ngx_govsvc_pg_conn_t *pc)
{
    if (pc->c) {
        ngx_govsvc_forget_connection(pc->c);
        pc->c = NULL;
    }
}


/* whether libpq's socket is another one than the one pc->c watches */

static ngx_uint_t
ngx_govsvc_pg_moved(ngx_govsvc_pg_conn_t *pc)
{
    ngx_socket_t     fd;
    ngx_file_info_t  fi;

    fd = PQsocket(pc->conn);

    if (fd != pc->c->fd) {
        return 1;
    }

    /* the same number: a new socket if the inode differs (a failed fstat
     * also makes the caller bind again, which reports the error) */
    return ngx_fd_info(fd, &fi) == NGX_FILE_ERROR
           || ngx_file_uniq(&fi) != pc->sock;
}


static void
ngx_govsvc_pg_connect_handler(ngx_event_t *ev)
{
    ngx_int_t                  rc;
    ngx_uint_t                 level;
    ngx_event_t               *wev;
    ngx_connection_t          *c;
    ngx_govsvc_pg_conn_t      *pc;
    PostgresPollingStatusType  st;

    c = ev->data;
    pc = c->data;

    /* one error when PostgreSQL goes away, not one per retry */
    level = pc->pool->down ? NGX_LOG_INFO : NGX_LOG_ERR;

    if (ev->timedout) {
        if (ngx_govsvc_pg_next(pc, "timed out") == NGX_OK) {
            goto next;
        }

        ngx_log_error(level, pc->pool->log, NGX_ETIMEDOUT,
                      "govsvc: %s connect timed out", pc->pool->name);
        ngx_govsvc_pg_connect_failed(pc);
        return;
    }

    st = PQconnectPoll(pc->conn);

    if (st == PGRES_POLLING_FAILED) {
        if (ngx_govsvc_pg_next(pc, PQerrorMessage(pc->conn)) == NGX_OK) {
            goto next;
        }

        ngx_log_error(level, pc->pool->log, 0,
                      "govsvc: %s connection failed: %s",
                      pc->pool->name, PQerrorMessage(pc->conn));
        ngx_govsvc_pg_connect_failed(pc);
        return;
    }

    /* libpq may have moved to another socket: the next server of the
     * conninfo (this one refused, or was not read-write), or SSL refused
     * and the connection tried again in the clear */
    if (ngx_govsvc_pg_moved(pc)) {
        ngx_log_debug1(NGX_LOG_DEBUG_EVENT, pc->pool->log, 0,
                       "govsvc: PostgreSQL connection moved to fd %d",
                       PQsocket(pc->conn));

        ngx_govsvc_pg_unbind(pc);

        if (ngx_govsvc_pg_bind(pc) != NGX_OK) {
            ngx_govsvc_pg_connect_failed(pc);
            return;
        }

        ngx_add_timer(pc->c->read, pc->pool->connect_timeout);
    }

    if (st == PGRES_POLLING_OK) {
        ngx_govsvc_pg_connected(pc);
        return;
    }

    /* level-triggered write interest only while libpq wants to write */
    wev = pc->c->write;

    if (st == PGRES_POLLING_WRITING) {
        rc = wev->active ? NGX_OK
                         : ngx_add_event(wev, NGX_WRITE_EVENT,
                                         NGX_LEVEL_EVENT);

    } else {
        rc = wev->active ? ngx_del_event(wev, NGX_WRITE_EVENT, 0) : NGX_OK;
    }

    if (rc != NGX_OK) {
        ngx_govsvc_pg_connect_failed(pc);
    }

    return;

next:

    if (ngx_govsvc_pg_start(pc) != NGX_OK) {
        ngx_govsvc_pg_connect_failed(pc);
    }
}


static void
ngx_govsvc_pg_connected(ngx_govsvc_pg_conn_t *pc)
{
    ngx_connection_t      *c;
    ngx_govsvc_pg_pool_t  *pool;

    pool = pc->pool;
    c = pc->c;

    if (c->read->timer_set) {
        ngx_del_timer(c->read);
    }

    if (c->write->active
        && ngx_del_event(c->write, NGX_WRITE_EVENT, 0) != NGX_OK)
    {
        ngx_govsvc_pg_connect_failed(pc);
        return;
    }

    c->read->handler = ngx_govsvc_pg_read_handler;
    c->write->handler = ngx_govsvc_pg_write_handler;
    c->log->action = "talking to PostgreSQL";

    pool->nconnecting--;

    if (pool->down) {
        ngx_log_error(NGX_LOG_NOTICE, pool->log, 0,
                      "govsvc: %s is reachable again", pool->name);
    }

    pool->down = 0;
    pool->backoff = 0;
    pool->down_until = 0;

    /* the next connections try this server first */
    pool->server = pc->server;

    pc->state = NGX_GOVSVC_PG_BUSY;

    /*
     * Every authenticated request runs the session check: planned once
     * per connection, it costs a quarter of what it costs planned each
     * time.  Without it (the schema not there yet) it is sent unprepared.
     */
    if (!pool->read
        && PQsendPrepare(pc->conn, NGX_GOVSVC_PG_SESSION,
                         ngx_govsvc_session_sql, 3, NULL)
        && ngx_govsvc_pg_flush(pc) == NGX_OK)
    {
        pc->preparing = 1;
        ngx_add_timer(c->read, pool->timeout);
        return;
    }

    ngx_govsvc_pg_release(pc);
}


static void
ngx_govsvc_pg_connect_failed(ngx_govsvc_pg_conn_t *pc)
{
    ngx_queue_t           *q;
    ngx_govsvc_pg_t       *pg;
    ngx_govsvc_pg_pool_t  *pool;

    pool = pc->pool;

    ngx_govsvc_pg_count(pool, errors);

    pool->backoff = pool->backoff ? ngx_min(pool->backoff * 2,
                                            NGX_GOVSVC_PG_BACKOFF_MAX)
                                  : NGX_GOVSVC_PG_BACKOFF_MIN;
    pool->down_until = ngx_current_msec + pool->backoff;
    pool->down = 1;

    ngx_govsvc_pg_free(pc);

    if (pool->nconns) {
        /* the others may still serve the waiters */
        return;
    }

    while (!ngx_queue_empty(&pool->waiting)) {
        q = ngx_queue_head(&pool->waiting);
        pg = ngx_queue_data(q, ngx_govsvc_pg_t, queue);

        ngx_govsvc_pg_unwait(pg);

        pg->handler(pg, NULL, pg->data);
    }

    ngx_govsvc_pg_gauges(pool);
}


static ngx_int_t
ngx_govsvc_pg_send(ngx_govsvc_pg_conn_t *pc, const char *sql, int nparams,
    const char *const *values)
{
    int  rc;

    if (sql == ngx_govsvc_session_sql && pc->prepared) {
        rc = PQsendQueryPrepared(pc->conn, NGX_GOVSVC_PG_SESSION, nparams,
                                 values, NULL, NULL, 0);

    } else if (nparams) {
        rc = PQsendQueryParams(pc->conn, sql, nparams, NULL, values, NULL,
                               NULL, 0);

    } else {
        /* the simple protocol: BEGIN, COMMIT, ROLLBACK */
        rc = PQsendQuery(pc->conn, sql);
    }

    if (rc == 0) {
        ngx_log_error(NGX_LOG_ERR, pc->pool->log, 0,
                      "govsvc: %s send failed: %s",
                      pc->pool->name, PQerrorMessage(pc->conn));
        return NGX_ERROR;
    }

    pc->state = NGX_GOVSVC_PG_BUSY;
    pc->c->read->handler = ngx_govsvc_pg_read_handler;

    if (ngx_govsvc_pg_flush(pc) != NGX_OK) {
        return NGX_ERROR;
    }

    ngx_add_timer(pc->c->read, pc->pool->timeout);

    return NGX_OK;
}


/* in non-blocking mode a statement may sit partly unsent: loop PQflush
 * on write readiness until it reports 0 */

static ngx_int_t
ngx_govsvc_pg_flush(ngx_govsvc_pg_conn_t *pc)
{
    int                rc;
    ngx_event_t       *wev;

    wev = pc->c->write;

    rc = PQflush(pc->conn);

    if (rc < 0) {
        ngx_log_error(NGX_LOG_ERR, pc->pool->log, 0,
                      "govsvc: %s flush failed: %s",
                      pc->pool->name, PQerrorMessage(pc->conn));
        return NGX_ERROR;
    }

    if (rc == 1 && !wev->active) {
        if (ngx_add_event(wev, NGX_WRITE_EVENT, NGX_LEVEL_EVENT) != NGX_OK) {
            return NGX_ERROR;
        }

    } else if (rc == 0 && wev->active) {
        if (ngx_del_event(wev, NGX_WRITE_EVENT, 0) != NGX_OK) {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


static void
ngx_govsvc_pg_write_handler(ngx_event_t *ev)
{
    ngx_connection_t      *c;
    ngx_govsvc_pg_conn_t  *pc;

    c = ev->data;
    pc = c->data;

    if (ngx_govsvc_pg_flush(pc) != NGX_OK) {
        ngx_govsvc_pg_fail(pc, "write failed");
    }
}


static void
ngx_govsvc_pg_read_handler(ngx_event_t *ev)
{
    PGresult              *res;
    ngx_connection_t      *c;
    ngx_govsvc_pg_conn_t  *pc;

    c = ev->data;
    pc = c->data;

    if (ev->timedout) {
        ngx_govsvc_pg_count(pc->pool, timeouts);
        ngx_govsvc_pg_fail(pc, "statement timed out");
        return;
    }

    if (PQconsumeInput(pc->conn) == 0) {
        ngx_govsvc_pg_fail(pc, PQerrorMessage(pc->conn));
        return;
    }

    while (!PQisBusy(pc->conn)) {
        res = PQgetResult(pc->conn);

        if (res == NULL) {
            ngx_govsvc_pg_done(pc);
            return;
        }

        /* keep the first error, else the last result */
        if (pc->result == NULL
            || PQresultStatus(pc->result) != PGRES_FATAL_ERROR)
        {
            PQclear(pc->result);
            pc->result = res;

        } else {
            PQclear(res);
        }
    }
}


static void
ngx_govsvc_pg_done(ngx_govsvc_pg_conn_t *pc)
{
    PGresult                 *res;
    ngx_govsvc_pg_t          *pg;
    ngx_govsvc_pg_handler_pt  handler;

    if (pc->c->read->timer_set) {
        ngx_del_timer(pc->c->read);
    }

    res = pc->result;
    pc->result = NULL;

    pg = pc->user;

    if (pc->preparing) {
        pc->preparing = 0;
        pc->prepared = (res && PQresultStatus(res) == PGRES_COMMAND_OK);

        if (!pc->prepared) {
            ngx_log_error(NGX_LOG_WARN, pc->pool->log, 0,
                          "govsvc: the session check is sent unprepared: %s",
                          res ? PQresultErrorMessage(res) : "no result");
        }
    }

    if (pg == NULL || pg->handler == NULL) {
        PQclear(res);
        ngx_govsvc_pg_release(pc);
        return;
    }

    if (res && PQresultStatus(res) == PGRES_FATAL_ERROR) {
        ngx_log_error(NGX_LOG_INFO, pc->pool->log, 0,
                      "govsvc: %s: %s", pc->pool->name,
                      PQresultErrorMessage(res));
    }

    /*
     * The handler may send the next statement on this connection, close
     * the handle (which may free the connection), or finalize the
     * request: pc must not be touched afterwards.
     */
    handler = pg->handler;
    handler(pg, res, pg->data);

    PQclear(res);
}


/* the connection is lost for its user: tell it, and drop the connection */

static void
ngx_govsvc_pg_fail(ngx_govsvc_pg_conn_t *pc, const char *why)
{
    ngx_govsvc_pg_t  *pg;

    ngx_log_error(NGX_LOG_ERR, pc->pool->log, 0,
                  "govsvc: %s connection lost: %s", pc->pool->name, why);

    ngx_govsvc_pg_count(pc->pool, errors);

    pg = pc->user;
    pc->user = NULL;

    if (pg) {
        pg->pc = NULL;
    }

    ngx_govsvc_pg_free(pc);

    if (pg && pg->handler) {
        pg->handler(pg, NULL, pg->data);
    }
}


/*
 * A connection nobody holds any more: roll back whatever its user left
 * open, then make it idle and let a waiter have it.
 */

static void
ngx_govsvc_pg_release(ngx_govsvc_pg_conn_t *pc)
{
    ngx_govsvc_pg_pool_t  *pool;

    pool = pc->pool;

    switch (PQtransactionStatus(pc->conn)) {

    case PQTRANS_IDLE:
        break;

    case PQTRANS_INTRANS:
    case PQTRANS_INERROR:
        if (ngx_govsvc_pg_send(pc, "ROLLBACK", 0, NULL) == NGX_OK) {
            return;
        }

        /* fall through */

    default:
        ngx_govsvc_pg_free(pc);
        ngx_post_event(&pool->dispatch, &ngx_posted_events);
        return;
    }

    pc->state = NGX_GOVSVC_PG_IDLE;
    pc->c->read->handler = ngx_govsvc_pg_idle_handler;

    ngx_queue_remove(&pc->queue);
    ngx_queue_insert_head(&pool->idle, &pc->queue);
    pool->nidle++;

    ngx_govsvc_pg_gauges(pool);

    if (pool->nwaiting) {
        ngx_post_event(&pool->dispatch, &ngx_posted_events);
    }
}


/* an idle connection is readable only when the server has something to
 * say: a notice, or that it is closing it */

static void
ngx_govsvc_pg_idle_handler(ngx_event_t *ev)
{
    ngx_connection_t      *c;
    ngx_govsvc_pg_conn_t  *pc;

    c = ev->data;
    pc = c->data;

    if (PQconsumeInput(pc->conn) && PQstatus(pc->conn) == CONNECTION_OK
        && !PQisBusy(pc->conn))
    {
        return;
    }

    ngx_log_error(NGX_LOG_INFO, pc->pool->log, 0,
                  "govsvc: %s closed an idle connection: %s",
                  pc->pool->name, PQerrorMessage(pc->conn));

    ngx_govsvc_pg_free(pc);
}


static void
ngx_govsvc_pg_free(ngx_govsvc_pg_conn_t *pc)
{
    ngx_govsvc_pg_pool_t  *pool;

    pool = pc->pool;

    ngx_queue_remove(&pc->queue);
    pool->nconns--;

    if (pc->state == NGX_GOVSVC_PG_CONNECTING) {
        pool->nconnecting--;

    } else if (pc->state == NGX_GOVSVC_PG_IDLE) {
        pool->nidle--;
    }

    if (pc->user) {
        pc->user->pc = NULL;
    }

    ngx_govsvc_pg_unbind(pc);

    PQclear(pc->result);
    PQfinish(pc->conn);
    ngx_free(pc);

    ngx_govsvc_pg_gauges(pool);
}


/* hands idle connections to waiters, and opens more if they are short */

static void
ngx_govsvc_pg_dispatch(ngx_event_t *ev)
{
    ngx_queue_t           *q;
    ngx_govsvc_pg_t       *pg;
    ngx_govsvc_pg_conn_t  *pc;
    ngx_govsvc_pg_pool_t  *pool;

    pool = ev->data;

    while (!ngx_queue_empty(&pool->waiting) && !ngx_queue_empty(&pool->idle))
    {
        q = ngx_queue_head(&pool->waiting);
        pg = ngx_queue_data(q, ngx_govsvc_pg_t, queue);

        ngx_govsvc_pg_unwait(pg);

        q = ngx_queue_head(&pool->idle);
        pc = ngx_queue_data(q, ngx_govsvc_pg_conn_t, queue);

        ngx_queue_remove(q);
        ngx_queue_insert_tail(&pool->active, q);
        pool->nidle--;

        pc->state = NGX_GOVSVC_PG_BUSY;
        pc->user = pg;
        pg->pc = pc;

        if (ngx_govsvc_pg_send(pc, pg->sql, pg->nparams, pg->values)
            != NGX_OK)
        {
            ngx_govsvc_pg_fail(pc, "cannot send statement");
        }
    }

    while (pool->nwaiting > pool->nconnecting
           && pool->nconns < pool->max
           && !(pool->down && ngx_current_msec < pool->down_until))
    {
        if (ngx_govsvc_pg_connect(pool) != NGX_OK) {
            break;
        }
    }

    ngx_govsvc_pg_gauges(pool);
}


static void
ngx_govsvc_pg_unwait(ngx_govsvc_pg_t *pg)
{
    ngx_queue_remove(&pg->queue);
    pg->pool->nwaiting--;
    pg->waiting = 0;

    if (pg->wait.timer_set) {
        ngx_del_timer(&pg->wait);
    }
}


static void
ngx_govsvc_pg_wait_timeout(ngx_event_t *ev)
{
    ngx_govsvc_pg_t  *pg;

    pg = ev->data;

    ngx_govsvc_pg_unwait(pg);

    ngx_govsvc_pg_count(pg->pool, timeouts);
    ngx_govsvc_pg_gauges(pg->pool);

    ngx_log_error(NGX_LOG_WARN, ev->log, 0,
                  "govsvc: no %s connection within %M ms",
                  pg->pool->name, pg->pool->timeout);

    pg->handler(pg, NULL, pg->data);
}


static void
ngx_govsvc_pg_gauges(ngx_govsvc_pg_pool_t *pool)
{
    ngx_govsvc_metrics_t  *m;

    m = ngx_govsvc_metrics();
    if (m == NULL) {
        return;
    }

    if (pool->read) {
        m->pgr_idle[ngx_worker] = pool->nidle;
        m->pgr_busy[ngx_worker] = pool->nconns - pool->nidle;
        m->pgr_waiting[ngx_worker] = pool->nwaiting;
        return;
    }

    m->pg_idle[ngx_worker] = pool->nidle;
    m->pg_busy[ngx_worker] = pool->nconns - pool->nidle;
    m->pg_waiting[ngx_worker] = pool->nwaiting;
}


static void
ngx_govsvc_pg_notice(void *arg, const char *message)
{
    ngx_govsvc_pg_pool_t  *pool = arg;

    ngx_log_error(NGX_LOG_INFO, pool->log, 0,
                  "govsvc: %s notice: %s", pool->name, message);
}


/* ---- the read pool (govsvc_postgres_read) ---- */

ngx_govsvc_pg_pool_t *
ngx_govsvc_pg_read_create(ngx_cycle_t *cycle, ngx_govsvc_main_conf_t *gmcf)
{
    ngx_govsvc_pg_pool_t  *rp;

    rp = ngx_govsvc_pg_pool_new(cycle, gmcf, 1);
    if (rp == NULL) {
        return NULL;
    }

    rp->check_primary = ngx_palloc(cycle->pool, sizeof(ngx_govsvc_pg_t));
    rp->check_replica = ngx_palloc(cycle->pool, sizeof(ngx_govsvc_pg_t));
    if (rp->check_primary == NULL || rp->check_replica == NULL) {
        return NULL;
    }

    /* a replica that is fine is at most an interval and two round trips
     * behind at a check: a quarter of lag leaves room for both */
    rp->check_interval = ngx_max(ngx_min(gmcf->pgr_lag / 4, 1000), 50);

    rp->check.handler = ngx_govsvc_pgr_check;
    rp->check.data = rp;
    rp->check.log = cycle->log;
    rp->check.cancelable = 1;

    /* the first check at once: reads go to the primary until it is done */
    ngx_add_timer(&rp->check, 1);

    return rp;
}


static void
ngx_govsvc_pgr_check(ngx_event_t *ev)
{
    ngx_govsvc_pg_pool_t  *rp;

    rp = ev->data;

    if (ngx_exiting || ngx_terminate) {
        return;
    }

    ngx_add_timer(ev, rp->check_interval);

    if (rp->checking || !ngx_govsvc_pgr_lease(rp)) {
        return;
    }

    /* before the primary is asked: what it has by the time it answers
     * was committed no later than this */
    rp->check_sent = ngx_current_msec;

    if (ngx_govsvc_pgr_send(rp, rp->check_primary, rp->gmcf->pg,
                            "SELECT " NGX_GOVSVC_PG_LSN_SQL "::text", 0,
                            ngx_govsvc_pgr_primary_done)
        != NGX_OK)
    {
        /* the primary is away: nothing to measure the replica against */
        ngx_govsvc_pgr_verdict(rp, NGX_DECLINED);
    }
}


/* one worker of the instance checks per interval: the one that makes the
 * lease counter 1 (a full zone lets every worker check) */

static ngx_uint_t
ngx_govsvc_pgr_lease(ngx_govsvc_pg_pool_t *rp)
{
    int64_t     n;
    ngx_str_t   key = ngx_string("govsvc:pgr:lease");
    ngx_msec_t  ttl;

    if (rp->gmcf->shm_zone == NULL) {
        return 1;
    }

    ttl = rp->check_interval - rp->check_interval / 10;

    if (ngx_govsvc_shm_incr(rp->gmcf->shm_zone, &key, 1, ttl, &n, NULL)
        != NGX_OK)
    {
        return 1;
    }

    return n == 1;
}


static ngx_int_t
ngx_govsvc_pgr_send(ngx_govsvc_pg_pool_t *rp, ngx_govsvc_pg_t *pg,
    ngx_govsvc_pg_pool_t *pool, const char *sql, int nparams,
    ngx_govsvc_pg_handler_pt handler)
{
    ngx_govsvc_pg_handle_init(pg, pool, rp->log);

    if (ngx_govsvc_pg_query(pg, sql, nparams, rp->check_values, handler, rp)
        != NGX_OK)
    {
        ngx_govsvc_pg_close(pg);
        return NGX_DECLINED;
    }

    rp->checking = 1;

    return NGX_OK;
}


static void
ngx_govsvc_pgr_primary_done(ngx_govsvc_pg_t *pg, PGresult *res, void *data)
{
    ngx_govsvc_pg_pool_t *rp = data;

    ngx_uint_t  ok;

    ok = res != NULL && PQresultStatus(res) == PGRES_TUPLES_OK
         && PQntuples(res) == 1 && !PQgetisnull(res, 0, 0)
         && PQgetlength(res, 0, 0) < NGX_GOVSVC_PG_LSN_LEN;

    if (ok) {
        ngx_cpystrn((u_char *) rp->check_lsn, (u_char *) PQgetvalue(res, 0, 0),
                    NGX_GOVSVC_PG_LSN_LEN);

    } else if (res && !rp->check_failed) {
        ngx_log_error(NGX_LOG_ERR, rp->log, 0,
                      "govsvc: the replica check failed on the primary: %s",
                      PQresultErrorMessage(res));
        rp->check_failed = 1;
    }

    ngx_govsvc_pg_close(pg);
    rp->checking = 0;

    if (!ok) {
        ngx_govsvc_pgr_verdict(rp, NGX_DECLINED);
        return;
    }

    rp->check_values[0] = rp->check_lsn;

    if (ngx_govsvc_pgr_send(rp, rp->check_replica, rp,
                            "SELECT " NGX_GOVSVC_PG_LSN_SQL " >= $1::pg_lsn",
                            1, ngx_govsvc_pgr_replica_done)
        != NGX_OK)
    {
        ngx_govsvc_pgr_verdict(rp, NGX_ERROR);
    }
}


static void
ngx_govsvc_pgr_replica_done(ngx_govsvc_pg_t *pg, PGresult *res, void *data)
{
    ngx_govsvc_pg_pool_t *rp = data;

    ngx_int_t              reached;
    ngx_govsvc_metrics_t  *m;

    if (res != NULL && PQresultStatus(res) == PGRES_TUPLES_OK
        && PQntuples(res) == 1)
    {
        reached = NGX_OK;

        m = ngx_govsvc_metrics();

        /* replayed that far: it holds what was committed before then */
        if (m && PQgetvalue(res, 0, 0)[0] == 't'
            && rp->check_sent > (ngx_msec_t) m->pgr_fresh)
        {
            m->pgr_fresh = rp->check_sent;
        }

        rp->check_failed = 0;

    } else {
        /* a statement that fails (not a lost connection, which the pool
         * logs): once until it works again */
        if (res && !rp->check_failed) {
            ngx_log_error(NGX_LOG_ERR, rp->log, 0,
                          "govsvc: the replica check failed: %s",
                          PQresultErrorMessage(res));
            rp->check_failed = 1;
        }

        reached = NGX_ERROR;
    }

    ngx_govsvc_pg_close(pg);
    rp->checking = 0;

    ngx_govsvc_pgr_verdict(rp, reached);
}


/*
 * The replica's new state: reached NGX_OK (it answered), NGX_ERROR (it did
 * not) or NGX_DECLINED (the primary did not: only its age can tell).  A
 * change is logged by the worker that makes it, once.
 */

static void
ngx_govsvc_pgr_verdict(ngx_govsvc_pg_pool_t *rp, ngx_int_t reached)
{
    ngx_msec_t             age, lag;
    ngx_atomic_uint_t      old, state;
    ngx_govsvc_metrics_t  *m;

    m = ngx_govsvc_metrics();
    if (m == NULL) {
        return;
    }

    lag = rp->gmcf->pgr_lag;
    old = m->pgr_state;
    age = m->pgr_fresh ? ngx_govsvc_pg_age((ngx_msec_t) m->pgr_fresh)
                       : NGX_MAX_INT32_VALUE;

    if (reached == NGX_ERROR) {
        state = NGX_GOVSVC_PGR_DOWN;

    } else if (age > lag) {
        state = (reached == NGX_OK || old == NGX_GOVSVC_PGR_OK)
                ? NGX_GOVSVC_PGR_LAGGING : old;

    } else {
        state = reached == NGX_OK ? NGX_GOVSVC_PGR_OK : old;
    }

    if (state == old || !ngx_atomic_cmp_set(&m->pgr_state, old, state)) {
        return;
    }

    switch (state) {

    case NGX_GOVSVC_PGR_OK:
        ngx_log_error(NGX_LOG_WARN, rp->log, 0,
                      "govsvc: the PostgreSQL replica serves the heavy "
                      "reads%s (at most %M ms behind the primary)",
                      old == NGX_GOVSVC_PGR_UNCHECKED ? "" : " again", age);
        break;

    case NGX_GOVSVC_PGR_LAGGING:
        ngx_log_error(NGX_LOG_WARN, rp->log, 0,
                      "govsvc: the PostgreSQL replica is more than %M ms "
                      "behind the primary: the heavy reads go to the "
                      "primary", lag);
        break;

    default: /* NGX_GOVSVC_PGR_DOWN */
        ngx_log_error(NGX_LOG_WARN, rp->log, 0,
                      "govsvc: the PostgreSQL replica cannot be reached: "
                      "the heavy reads go to the primary");
        break;
    }
}


/* how long ago, by this worker's clock, another worker's time was: their
 * cached times differ by up to an event loop's turn either way */

ngx_msec_t
ngx_govsvc_pg_age(ngx_msec_t then)
{
    return ngx_current_msec > then ? ngx_current_msec - then : 0;
}


ngx_govsvc_pg_t *
ngx_govsvc_pg_open_read(ngx_http_request_t *r, ngx_govsvc_user_t *u)
{
    ngx_msec_t               fresh;
    ngx_govsvc_pg_t         *pg;
    ngx_http_cleanup_t      *cln;
    ngx_govsvc_metrics_t    *m;
    ngx_govsvc_main_conf_t  *gmcf;

    gmcf = ngx_http_get_module_main_conf(r, ngx_govsvc_module);

    m = ngx_govsvc_metrics();

    if (gmcf->pg_read == NULL || m == NULL) {
        return NULL;
    }

    switch (m->pgr_state) {

    case NGX_GOVSVC_PGR_OK:
        break;

    case NGX_GOVSVC_PGR_LAGGING:
        ngx_atomic_fetch_add(&m->pgr_lagging, 1);
        return NULL;

    default:
        ngx_atomic_fetch_add(&m->pgr_down, 1);
        return NULL;
    }

    fresh = (ngx_msec_t) m->pgr_fresh;

    /* no check for a while (the checking worker busy or gone), or none
     * since a write went unmarked */
    if (ngx_govsvc_pg_age(fresh) > gmcf->pgr_lag
        || fresh <= (ngx_msec_t) m->pgr_blind)
    {
        ngx_atomic_fetch_add(&m->pgr_lagging, 1);
        return NULL;
    }

    if (ngx_govsvc_pg_wrote_since(r, gmcf, u, fresh)) {
        ngx_atomic_fetch_add(&m->pgr_own_write, 1);
        return NULL;
    }

    cln = ngx_http_cleanup_add(r, 0);
    if (cln == NULL) {
        return NULL;
    }

    pg = ngx_govsvc_pg_open_pool(gmcf->pg_read, r->pool, r->connection->log);
    if (pg == NULL) {
        return NULL;
    }

    cln->handler = ngx_govsvc_pg_cleanup;
    cln->data = pg;

    ngx_atomic_fetch_add(&m->pgr_replica, 1);

    return pg;
}


/*
 * The marks of writes, "govsvc:rw:USER_ID" in the shared zone: "w" from
 * the request's first statement, then, when the request is freed (its
 * answer sent), the time (ngx_current_msec, one clock for every worker)
 * for as long as the replica may be behind it.
 */

typedef struct {
    ngx_govsvc_main_conf_t   *gmcf;
    int64_t                   id;
} ngx_govsvc_pg_write_t;


static void
ngx_govsvc_pg_writing(ngx_http_request_t *r, ngx_govsvc_main_conf_t *gmcf)
{
    ngx_govsvc_ctx_t       *ctx;
    ngx_pool_cleanup_t     *cln;
    ngx_govsvc_pg_write_t  *w;

    ctx = ngx_http_get_module_ctx(r, ngx_govsvc_module);

    /* not signed in, or the session check itself */
    if (ctx == NULL || ctx->user == NULL || ctx->user->id == 0) {
        return;
    }

    for (cln = r->pool->cleanup; cln; cln = cln->next) {
        if (cln->handler == ngx_govsvc_pg_wrote) {
            return;
        }
    }

    cln = ngx_pool_cleanup_add(r->pool, sizeof(ngx_govsvc_pg_write_t));
    if (cln == NULL) {
        return;
    }

    w = cln->data;
    w->gmcf = gmcf;
    w->id = ctx->user->id;

    cln->handler = ngx_govsvc_pg_wrote;

    ngx_govsvc_pg_mark(gmcf, w->id, 0, r->connection->log);
}


static void
ngx_govsvc_pg_wrote(void *data)
{
    ngx_govsvc_pg_write_t *w = data;

    ngx_govsvc_pg_mark(w->gmcf, w->id, 1, ngx_cycle->log);
}


static void
ngx_govsvc_pg_mark(ngx_govsvc_main_conf_t *gmcf, int64_t id,
    ngx_uint_t done, ngx_log_t *log)
{
    u_char                 buf[NGX_INT64_LEN + 1], kbuf[64];
    ngx_str_t              key, value;
    ngx_msec_t             ttl;
    ngx_govsvc_metrics_t  *m;

    key.data = kbuf;
    key.len = ngx_snprintf(kbuf, sizeof(kbuf), "govsvc:rw:%L", id) - kbuf;

    if (done) {
        value.data = buf;
        value.len = ngx_sprintf(buf, "%M", ngx_current_msec) - buf;
        ttl = gmcf->pgr_lag + 1000;

    } else {
        ngx_str_set(&value, "w");
        ttl = NGX_GOVSVC_PG_WRITING;
    }

    if (ngx_govsvc_shm_set(gmcf->shm_zone, &key, &value, ttl) == NGX_OK) {
        return;
    }

    /* unmarked, the user might read from the replica what it has not
     * replayed yet: every heavy read goes to the primary until the
     * replica has been checked again */
    ngx_log_error(NGX_LOG_WARN, log, 0,
                  "govsvc: a write could not be marked in the zone: the "
                  "heavy reads go to the primary for a while");

    m = ngx_govsvc_metrics();
    if (m) {
        m->pgr_blind = ngx_current_msec;
    }
}


/* whether u wrote at or after fresh, or is writing (the zone cannot tell:
 * yes) */

static ngx_uint_t
ngx_govsvc_pg_wrote_since(ngx_http_request_t *r,
    ngx_govsvc_main_conf_t *gmcf, ngx_govsvc_user_t *u, ngx_msec_t fresh)
{
    u_char     kbuf[64];
    ngx_int_t  rc, n;
    ngx_str_t  key, value;

    if (u == NULL || u->id == 0) {
        return 0;
    }

    key.data = kbuf;
    key.len = ngx_snprintf(kbuf, sizeof(kbuf), "govsvc:rw:%L", u->id) - kbuf;

    rc = ngx_govsvc_shm_get(gmcf->shm_zone, &key, r->pool, &value);

    if (rc == NGX_DECLINED) {
        return 0;
    }

    if (rc != NGX_OK) {
        return 1;
    }

    n = ngx_atoi(value.data, value.len);

    return n == NGX_ERROR || (ngx_msec_t) n >= fresh;
}


/*
 * libpq looks host names up with a blocking call: accept only Unix socket
 * directories and IP literals in host, or any host with hostaddr set.
 */

ngx_int_t
ngx_govsvc_pg_check_conninfo(ngx_conf_t *cf, ngx_str_t *conninfo)
{
    char               *err, *h, *next;
    u_char              buf[16];
    ngx_int_t           rc;
    PQconninfoOption   *opts, *o;
    const char         *host, *hostaddr;

    err = NULL;

    opts = PQconninfoParse((const char *) conninfo->data, &err);
    if (opts == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid PostgreSQL conninfo: %s",
                           err ? err : "out of memory");
        PQfreemem(err);
        return NGX_ERROR;
    }

    host = NULL;
    hostaddr = NULL;

    for (o = opts; o->keyword; o++) {
        if (o->val == NULL || o->val[0] == '\0') {
            continue;
        }

        if (ngx_strcmp(o->keyword, "host") == 0) {
            host = o->val;

        } else if (ngx_strcmp(o->keyword, "hostaddr") == 0) {
            hostaddr = o->val;
        }
    }

    rc = NGX_OK;

    if (host && hostaddr == NULL) {
        for (h = (char *) host; h && *h; h = next) {
            next = strchr(h, ',');
            if (next) {
                *next++ = '\0';
            }

            if (h[0] == '/' || h[0] == '@'
                || inet_pton(AF_INET, h, buf) == 1
                || inet_pton(AF_INET6, h, buf) == 1)
            {
                continue;
            }

            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "PostgreSQL host \"%s\" is a name: libpq "
                               "would look it up with a blocking call; give "
                               "an IP address, a socket directory, or "
                               "hostaddr=", h);
            rc = NGX_ERROR;
            break;
        }
    }

    PQconninfoFree(opts);

    return rc;
}
