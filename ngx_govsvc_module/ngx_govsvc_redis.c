
/*
 * GovSvc: the Redis cache, hiredis 0.14 asynchronous contexts driven by
 * nginx events.
 *
 * Each worker keeps redis_conns connection slots.  A slot dials, sends a
 * PING, and only when the PING is answered takes commands; a lost, refused
 * or timed out connection is redialled after a backoff of 100 ms doubling
 * up to 1 s.  Commands go round-robin to the ready slots and fail at once
 * when there is none.  Every command has a timer; a command that times out
 * brings its connection down, since whatever stalled it stalls the rest.
 *
 * hiredis 0.14 ownership rules this file relies on:
 *
 *   - redisAsyncFree() called outside a reply callback frees at once: it
 *     runs every pending reply callback with a NULL reply, then the
 *     ev.cleanup hook, then onDisconnect (only if the context had
 *     connected), then closes the socket.  Called inside a reply callback
 *     (REDIS_IN_CALLBACK) it only sets REDIS_FREEING, and the free happens
 *     once the callback has returned.
 *   - onConnect and onDisconnect run without REDIS_IN_CALLBACK, so the
 *     context must never be freed from them.  After onConnect(REDIS_ERR)
 *     hiredis frees the context itself.
 *   - A context may be freed inside redisAsyncHandleRead() or
 *     redisAsyncHandleWrite(): nothing may be touched after they return.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>
#include <ngx_http.h>

#include "ngx_govsvc.h"


#define NGX_GOVSVC_REDIS_BACKOFF_MIN   100
#define NGX_GOVSVC_REDIS_BACKOFF_MAX   1000
#define NGX_GOVSVC_REDIS_TIMEOUT       1000   /* when none is configured */
#define NGX_GOVSVC_REDIS_PORT          6379


typedef struct ngx_govsvc_redis_conn_s  ngx_govsvc_redis_conn_t;

struct ngx_govsvc_redis_conn_s {
    ngx_govsvc_redis_t           *redis;
    redisAsyncContext            *ac;          /* NULL while down */
    ngx_connection_t             *connection;  /* the events of ac's fd */

    /* connect (and PING) timeout while dialling, backoff while down */
    ngx_event_t                   timer;

    ngx_log_t                     log;
    ngx_msec_t                    backoff;
    ngx_uint_t                    index;

    unsigned                      ready:1;     /* PING answered */
};


struct ngx_govsvc_redis_s {
    ngx_govsvc_redis_conn_t      *conns;
    ngx_uint_t                    nconns;
    ngx_uint_t                    next;        /* round-robin position */
    ngx_uint_t                    nready;
    ngx_uint_t                    pending;
    ngx_queue_t                   commands;    /* outstanding records */

    char                         *host;        /* IP or socket path */
    int                           port;        /* 0: Unix socket */
    ngx_msec_t                    timeout;

    ngx_str_t                     addr_text;
    u_char                        addr[NGX_SOCKADDR_STRLEN + 1];

    unsigned                      down_logged:1;
    unsigned                      destroying:1;
};


struct ngx_govsvc_redis_cmd_s {
    ngx_govsvc_redis_handler_pt   handler;
    void                         *data;
    ngx_govsvc_redis_conn_t      *conn;
    ngx_event_t                   timer;
    ngx_queue_t                   queue;

    /* the handler was called or the command cancelled */
    unsigned                      done:1;
};


static void ngx_govsvc_redis_connect(ngx_govsvc_redis_conn_t *conn);
static void ngx_govsvc_redis_timer_handler(ngx_event_t *ev);
static void ngx_govsvc_redis_retry(ngx_govsvc_redis_conn_t *conn);
static void ngx_govsvc_redis_down(ngx_govsvc_redis_conn_t *conn);
static ngx_uint_t ngx_govsvc_redis_down_level(ngx_govsvc_redis_t *redis);
static void ngx_govsvc_redis_gauges(ngx_govsvc_redis_t *redis);
static ngx_govsvc_redis_conn_t *ngx_govsvc_redis_pick(
    ngx_govsvc_redis_t *redis);

static void ngx_govsvc_redis_on_connect(const redisAsyncContext *ac,
    int status);
static void ngx_govsvc_redis_on_disconnect(const redisAsyncContext *ac,
    int status);
static void ngx_govsvc_redis_pong(redisAsyncContext *ac, void *r,
    void *privdata);
static void ngx_govsvc_redis_reply(redisAsyncContext *ac, void *r,
    void *privdata);
static void ngx_govsvc_redis_cmd_timeout(ngx_event_t *ev);

static void ngx_govsvc_redis_read_handler(ngx_event_t *rev);
static void ngx_govsvc_redis_write_handler(ngx_event_t *wev);
static void ngx_govsvc_redis_add_read(void *data);
static void ngx_govsvc_redis_del_read(void *data);
static void ngx_govsvc_redis_add_write(void *data);
static void ngx_govsvc_redis_del_write(void *data);
static void ngx_govsvc_redis_cleanup(void *data);

static u_char *ngx_govsvc_redis_log_error(ngx_log_t *log, u_char *buf,
    size_t len);


/* per-worker life */

ngx_govsvc_redis_t *
ngx_govsvc_redis_create(ngx_cycle_t *cycle, ngx_govsvc_main_conf_t *gmcf)
{
    u_char                   *p;
    ngx_uint_t                i, n;
    ngx_govsvc_redis_t       *redis;
    ngx_govsvc_redis_conn_t  *conn;

    if (gmcf->redis_host.len == 0) {
        return NULL;
    }

    n = gmcf->redis_conns;

    if (n == 0 || n == NGX_CONF_UNSET_UINT) {
        n = 1;
    }

    redis = ngx_calloc(sizeof(ngx_govsvc_redis_t), cycle->log);
    if (redis == NULL) {
        return NULL;
    }

    redis->conns = ngx_calloc(n * sizeof(ngx_govsvc_redis_conn_t),
                              cycle->log);
    if (redis->conns == NULL) {
        ngx_free(redis);
        return NULL;
    }

    redis->nconns = n;
    ngx_queue_init(&redis->commands);

    redis->host = (char *) gmcf->redis_host.data;
    redis->port = (int) gmcf->redis_port;

    redis->timeout = gmcf->redis_timeout;

    if (redis->timeout == 0 || redis->timeout == NGX_CONF_UNSET_MSEC) {
        redis->timeout = NGX_GOVSVC_REDIS_TIMEOUT;
    }

    if (redis->port == 0) {
        p = ngx_snprintf(redis->addr, NGX_SOCKADDR_STRLEN, "unix:%s",
                         redis->host);

    } else if (ngx_strchr(redis->host, ':')) {
        p = ngx_snprintf(redis->addr, NGX_SOCKADDR_STRLEN, "[%s]:%d",
                         redis->host, redis->port);

    } else {
        p = ngx_snprintf(redis->addr, NGX_SOCKADDR_STRLEN, "%s:%d",
                         redis->host, redis->port);
    }

    redis->addr_text.data = redis->addr;
    redis->addr_text.len = p - redis->addr;

    ngx_govsvc_redis_gauges(redis);

    for (i = 0; i < n; i++) {
        conn = &redis->conns[i];

        conn->redis = redis;
        conn->index = i;
        conn->backoff = NGX_GOVSVC_REDIS_BACKOFF_MIN;

        conn->log = *cycle->log;
        conn->log.handler = ngx_govsvc_redis_log_error;
        conn->log.data = conn;
        conn->log.action = NULL;

        conn->timer.handler = ngx_govsvc_redis_timer_handler;
        conn->timer.data = conn;
        conn->timer.log = &conn->log;
        conn->timer.cancelable = 1;

        ngx_govsvc_redis_connect(conn);
    }

    return redis;
}


void
ngx_govsvc_redis_destroy(ngx_govsvc_redis_t *redis)
{
    ngx_uint_t                i;
    ngx_queue_t              *q;
    ngx_govsvc_redis_cmd_t   *cmd;
    ngx_govsvc_redis_conn_t  *conn;

    if (redis == NULL) {
        return;
    }

    /*
     * Called from exit_process, never from inside a hiredis callback, so
     * every redisAsyncFree() below completes before it returns.  The
     * handlers of outstanding commands are not called: the rest of the
     * module is being torn down too.
     */

    redis->destroying = 1;

    for (q = ngx_queue_head(&redis->commands);
         q != ngx_queue_sentinel(&redis->commands);
         q = ngx_queue_next(q))
    {
        cmd = ngx_queue_data(q, ngx_govsvc_redis_cmd_t, queue);

        cmd->done = 1;

        if (cmd->timer.timer_set) {
            ngx_del_timer(&cmd->timer);
        }
    }

    for (i = 0; i < redis->nconns; i++) {
        conn = &redis->conns[i];

        if (conn->timer.timer_set) {
            ngx_del_timer(&conn->timer);
        }

        if (conn->ac) {
            /* frees the command records through ngx_govsvc_redis_reply() */
            redisAsyncFree(conn->ac);
        }
    }

    redis->nready = 0;
    redis->pending = 0;
    ngx_govsvc_redis_gauges(redis);

    ngx_free(redis->conns);
    ngx_free(redis);
}


/* connecting */

static void
ngx_govsvc_redis_connect(ngx_govsvc_redis_conn_t *conn)
{
    ngx_uint_t           level;
    ngx_connection_t    *c;
    redisAsyncContext   *ac;
    ngx_govsvc_redis_t  *redis;

    redis = conn->redis;

    conn->log.action = "connecting to redis";
    conn->log.connection = 0;

    /*
     * The address is an IP literal or a socket path (see
     * ngx_govsvc_redis_parse_address()), so the getaddrinfo() inside
     * redisAsyncConnect() does not block on DNS.
     */

    if (redis->port) {
        ac = redisAsyncConnect(redis->host, redis->port);

    } else {
        ac = redisAsyncConnectUnix(redis->host);
    }

    if (ac == NULL) {
        ngx_log_error(NGX_LOG_ALERT, &conn->log, 0,
                      "redisAsyncConnect() failed: out of memory");
        ngx_govsvc_redis_retry(conn);
        return;
    }

    if (ac->err) {
        /* refused at once: a loopback or Unix socket with no listener */
        level = ngx_govsvc_redis_down_level(redis);

        ngx_log_error(level, &conn->log, 0,
                      "connect() to redis failed (%s)", ac->c.errstr);
        redisAsyncFree(ac);
        ngx_govsvc_redis_retry(conn);
        return;
    }

    c = ngx_get_connection(ac->c.fd, &conn->log);
    if (c == NULL) {
        redisAsyncFree(ac);
        ngx_govsvc_redis_retry(conn);
        return;
    }

    c->data = conn;
    c->log = &conn->log;
    c->read->log = &conn->log;
    c->write->log = &conn->log;
    c->read->handler = ngx_govsvc_redis_read_handler;
    c->write->handler = ngx_govsvc_redis_write_handler;
    c->number = ngx_atomic_fetch_add(ngx_connection_counter, 1);

    conn->log.connection = c->number;

    conn->ac = ac;
    conn->connection = c;

    ac->data = conn;

    ac->ev.data = conn;
    ac->ev.addRead = ngx_govsvc_redis_add_read;
    ac->ev.delRead = ngx_govsvc_redis_del_read;
    ac->ev.addWrite = ngx_govsvc_redis_add_write;
    ac->ev.delWrite = ngx_govsvc_redis_del_write;
    ac->ev.cleanup = ngx_govsvc_redis_cleanup;

    /* this adds the write event: writability means connect() completed */
    redisAsyncSetConnectCallback(ac, ngx_govsvc_redis_on_connect);
    redisAsyncSetDisconnectCallback(ac, ngx_govsvc_redis_on_disconnect);

    /* covers both the TCP connect and the PING */
    ngx_add_timer(&conn->timer, redis->timeout);

    ngx_log_debug2(NGX_LOG_DEBUG_EVENT, &conn->log, 0,
                   "redis connect fd:%d slot:%ui", c->fd, conn->index);
}


static void
ngx_govsvc_redis_timer_handler(ngx_event_t *ev)
{
    ngx_uint_t                level;
    ngx_govsvc_redis_conn_t  *conn;

    conn = ev->data;

    if (conn->ac == NULL) {
        /* the backoff has passed */
        ngx_govsvc_redis_connect(conn);
        return;
    }

    if (conn->ready) {
        return;
    }

    level = ngx_govsvc_redis_down_level(conn->redis);

    ngx_log_error(level, &conn->log, NGX_ETIMEDOUT,
                  "redis did not answer in %M ms", conn->redis->timeout);

    /*
     * A timer handler runs outside any hiredis callback: the context is
     * freed at once, and ngx_govsvc_redis_cleanup() schedules the retry.
     */

    redisAsyncFree(conn->ac);
}


static void
ngx_govsvc_redis_retry(ngx_govsvc_redis_conn_t *conn)
{
    if (conn->redis->destroying) {
        return;
    }

    if (conn->timer.timer_set) {
        ngx_del_timer(&conn->timer);
    }

    ngx_log_debug2(NGX_LOG_DEBUG_EVENT, &conn->log, 0,
                   "redis slot:%ui retry in %M ms",
                   conn->index, conn->backoff);

    ngx_add_timer(&conn->timer, conn->backoff);

    conn->backoff = ngx_min(conn->backoff * 2, NGX_GOVSVC_REDIS_BACKOFF_MAX);
}


static void
ngx_govsvc_redis_on_connect(const redisAsyncContext *ac, int status)
{
    ngx_uint_t                level;
    ngx_govsvc_redis_conn_t  *conn;

    conn = ac->data;

    if (status != REDIS_OK) {
        /* hiredis frees the context right after this returns */
        level = ngx_govsvc_redis_down_level(conn->redis);

        ngx_log_error(level, &conn->log, 0,
                      "connect() to redis failed (%s)", ac->c.errstr);
        return;
    }

    /*
     * The connection is only used once Redis answers: a stopped or
     * loading server may accept connections and not serve them.
     */

    conn->log.action = "pinging redis";

    if (redisAsyncCommand(conn->ac, ngx_govsvc_redis_pong, conn, "PING")
        != REDIS_OK)
    {
        /* not freed here (no REDIS_IN_CALLBACK): the timer closes it */
        ngx_log_error(NGX_LOG_ALERT, &conn->log, 0,
                      "redisAsyncCommand(PING) failed");
    }
}


static void
ngx_govsvc_redis_pong(redisAsyncContext *ac, void *r, void *privdata)
{
    ngx_uint_t                level;
    redisReply               *reply;
    ngx_govsvc_redis_t       *redis;
    ngx_govsvc_redis_conn_t  *conn;

    reply = r;
    conn = privdata;
    redis = conn->redis;

    if (reply == NULL) {
        /* the context is being freed; the cleanup hook does the rest */
        return;
    }

    if (reply->type == REDIS_REPLY_ERROR) {
        level = ngx_govsvc_redis_down_level(redis);

        ngx_log_error(level, &conn->log, 0,
                      "redis is not ready: \"%*s\"",
                      reply->len, reply->str);

        /* inside a reply callback: hiredis frees it once we return */
        redisAsyncFree(ac);
        return;
    }

    if (conn->timer.timer_set) {
        ngx_del_timer(&conn->timer);
    }

    conn->backoff = NGX_GOVSVC_REDIS_BACKOFF_MIN;
    conn->ready = 1;
    redis->nready++;

    ngx_govsvc_redis_gauges(redis);

    if (redis->down_logged) {
        redis->down_logged = 0;
        ngx_log_error(NGX_LOG_NOTICE, &conn->log, 0,
                      "redis connection restored");
    }

    ngx_log_debug1(NGX_LOG_DEBUG_EVENT, &conn->log, 0,
                   "redis slot:%ui ready", conn->index);
}


static void
ngx_govsvc_redis_on_disconnect(const redisAsyncContext *ac, int status)
{
    ngx_uint_t                level;
    ngx_govsvc_redis_conn_t  *conn;

    /*
     * Called after the cleanup hook and only for a context that had
     * connected; REDIS_OK means we freed it ourselves and said why.
     */

    if (status == REDIS_OK) {
        return;
    }

    conn = ac->data;

    level = ngx_govsvc_redis_down_level(conn->redis);

    ngx_log_error(level, &conn->log, 0,
                  "redis connection lost (%s)", ac->c.errstr);
}


static void
ngx_govsvc_redis_down(ngx_govsvc_redis_conn_t *conn)
{
    if (!conn->ready) {
        return;
    }

    conn->ready = 0;
    conn->redis->nready--;

    ngx_govsvc_redis_gauges(conn->redis);
}


/*
 * The first failure after Redis was reachable is an error; retries while
 * it stays away are only information, so a dead Redis does not flood the
 * log.  ngx_govsvc_redis_pong() logs the way back.
 */

static ngx_uint_t
ngx_govsvc_redis_down_level(ngx_govsvc_redis_t *redis)
{
    /* not an argument of ngx_log_error(): the macro evaluates it twice */

    if (redis->down_logged) {
        return NGX_LOG_INFO;
    }

    redis->down_logged = 1;

    return NGX_LOG_ERR;
}


static void
ngx_govsvc_redis_gauges(ngx_govsvc_redis_t *redis)
{
    ngx_govsvc_metrics_t  *m;

    m = ngx_govsvc_metrics();

    if (m == NULL || ngx_worker >= NGX_GOVSVC_MAX_WORKERS) {
        return;
    }

    m->redis_up[ngx_worker] = (redis->nready > 0);
    m->redis_pending[ngx_worker] = redis->pending;
}


/* commands */

ngx_govsvc_redis_cmd_t *
ngx_govsvc_redis_command(ngx_govsvc_redis_t *redis,
    ngx_govsvc_redis_handler_pt handler, void *data,
    int argc, const char **argv, const size_t *argvlen)
{
    ngx_govsvc_redis_cmd_t   *cmd;
    ngx_govsvc_redis_conn_t  *conn;

    if (redis == NULL) {
        return NULL;
    }

    conn = ngx_govsvc_redis_pick(redis);
    if (conn == NULL) {
        goto failed;
    }

    cmd = ngx_alloc(sizeof(ngx_govsvc_redis_cmd_t), &conn->log);
    if (cmd == NULL) {
        goto failed;
    }

    ngx_memzero(cmd, sizeof(ngx_govsvc_redis_cmd_t));

    cmd->handler = handler;
    cmd->data = data;
    cmd->conn = conn;

    cmd->timer.handler = ngx_govsvc_redis_cmd_timeout;
    cmd->timer.data = cmd;
    cmd->timer.log = &conn->log;

    /*
     * Appends to the output buffer and asks for the write event; hiredis
     * never calls back from inside redisAsyncCommandArgv().
     */

    if (redisAsyncCommandArgv(conn->ac, ngx_govsvc_redis_reply, cmd,
                              argc, argv, argvlen)
        != REDIS_OK)
    {
        ngx_log_error(NGX_LOG_ERR, &conn->log, 0,
                      "redisAsyncCommandArgv() failed");
        ngx_free(cmd);
        goto failed;
    }

    /*
     * Not cancelable: a gracefully exiting worker waits for the answer,
     * which takes at most the timeout.
     */

    ngx_add_timer(&cmd->timer, redis->timeout);

    ngx_queue_insert_tail(&redis->commands, &cmd->queue);
    redis->pending++;

    ngx_govsvc_redis_gauges(redis);

    return cmd;

failed:

    ngx_govsvc_count(redis_errors);

    return NULL;
}


static ngx_govsvc_redis_conn_t *
ngx_govsvc_redis_pick(ngx_govsvc_redis_t *redis)
{
    ngx_uint_t                i, n;
    ngx_govsvc_redis_conn_t  *conn;

    for (i = 0; i < redis->nconns; i++) {
        n = (redis->next + i) % redis->nconns;
        conn = &redis->conns[n];

        /*
         * A context hiredis is tearing down (whose pending callbacks are
         * being run with NULL replies) refuses new commands.
         */

        if (!conn->ready
            || conn->ac == NULL
            || (conn->ac->c.flags & (REDIS_DISCONNECTING|REDIS_FREEING)))
        {
            continue;
        }

        redis->next = (n + 1) % redis->nconns;

        return conn;
    }

    return NULL;
}


/*
 * The only place a record is freed.  hiredis calls it exactly once per
 * command: with the reply, or with NULL when the context is freed.
 */

static void
ngx_govsvc_redis_reply(redisAsyncContext *ac, void *r, void *privdata)
{
    redisReply               *reply;
    ngx_govsvc_redis_t       *redis;
    ngx_govsvc_redis_cmd_t   *cmd;
    ngx_govsvc_redis_conn_t  *conn;

    reply = r;
    cmd = privdata;
    conn = cmd->conn;
    redis = conn->redis;

    if (cmd->timer.timer_set) {
        ngx_del_timer(&cmd->timer);
    }

    ngx_queue_remove(&cmd->queue);
    redis->pending--;

    if (reply == NULL) {
        /* the context is going away: no new commands on it */
        ngx_govsvc_redis_down(conn);
    }

    ngx_govsvc_redis_gauges(redis);

    if (!cmd->done) {
        cmd->done = 1;

        if (reply == NULL) {
            ngx_govsvc_count(redis_errors);
        }

        /*
         * done is set first so that a cancel from inside the handler is
         * harmless; the handler may also issue new commands (hiredis
         * defers any free of this context while we are in its callback).
         */

        cmd->handler(reply, cmd->data);
    }

    ngx_free(cmd);
}


static void
ngx_govsvc_redis_cmd_timeout(ngx_event_t *ev)
{
    void                         *data;
    ngx_uint_t                    level;
    redisAsyncContext            *ac;
    ngx_govsvc_redis_t           *redis;
    ngx_govsvc_redis_cmd_t       *cmd;
    ngx_govsvc_redis_conn_t      *conn;
    ngx_govsvc_redis_handler_pt   handler;

    cmd = ev->data;
    conn = cmd->conn;
    redis = conn->redis;
    ac = conn->ac;

    ngx_govsvc_count(redis_timeouts);

    conn->log.action = "waiting for redis";

    level = ngx_govsvc_redis_down_level(redis);

    ngx_log_error(level, &conn->log, NGX_ETIMEDOUT,
                  "redis command timed out after %M ms, "
                  "closing the connection", redis->timeout);

    /* the record stays until hiredis calls back with NULL below */

    handler = cmd->done ? NULL : cmd->handler;
    data = cmd->data;
    cmd->done = 1;

    /* commands issued from the handler must go elsewhere */
    ngx_govsvc_redis_down(conn);

    if (handler) {
        handler(NULL, data);
    }

    /*
     * A timer runs outside hiredis callbacks, so the free is immediate:
     * the pending callbacks (this record's included) get NULL, then the
     * cleanup hook schedules the reconnect.  redisAsyncDisconnect() would
     * not do: it waits for the replies a stuck Redis never sends.
     */

    if (ac && conn->ac == ac) {
        redisAsyncFree(ac);
    }
}


void
ngx_govsvc_redis_cancel(ngx_govsvc_redis_cmd_t *cmd)
{
    if (cmd == NULL || cmd->done) {
        return;
    }

    /* hiredis still holds the record and frees it in its callback */

    cmd->done = 1;
    cmd->handler = NULL;
    cmd->data = NULL;

    if (cmd->timer.timer_set) {
        ngx_del_timer(&cmd->timer);
    }
}


ngx_int_t
ngx_govsvc_redis_is_up(ngx_govsvc_redis_t *redis)
{
    return (redis != NULL && redis->nready > 0);
}


/* the adapter: hiredis' event hooks on an nginx connection */

static void
ngx_govsvc_redis_read_handler(ngx_event_t *rev)
{
    ngx_connection_t         *c;
    ngx_govsvc_redis_conn_t  *conn;

    c = rev->data;
    conn = c->data;

    conn->log.action = "reading from redis";

    /* may free the context and c: touch neither afterwards */
    redisAsyncHandleRead(conn->ac);
}


static void
ngx_govsvc_redis_write_handler(ngx_event_t *wev)
{
    ngx_connection_t         *c;
    ngx_govsvc_redis_conn_t  *conn;

    c = wev->data;
    conn = c->data;

    if (conn->ac->c.flags & REDIS_CONNECTED) {
        conn->log.action = "writing to redis";

    } else {
        conn->log.action = "connecting to redis";
    }

    /* may free the context and c: touch neither afterwards */
    redisAsyncHandleWrite(conn->ac);
}


/*
 * Level-triggered events: hiredis reads at most 16 KB per call and turns
 * the write interest on and off as its buffer fills and empties.  The
 * hooks must be idempotent.
 */

static void
ngx_govsvc_redis_add_read(void *data)
{
    ngx_govsvc_redis_conn_t *conn = data;

    ngx_connection_t  *c;

    c = conn->connection;

    if (c == NULL || c->read->active) {
        return;
    }

    /* a failure is logged by the event module; the timers end the rest */
    (void) ngx_add_event(c->read, NGX_READ_EVENT, NGX_LEVEL_EVENT);
}


static void
ngx_govsvc_redis_del_read(void *data)
{
    ngx_govsvc_redis_conn_t *conn = data;

    ngx_connection_t  *c;

    c = conn->connection;

    if (c == NULL || !c->read->active) {
        return;
    }

    (void) ngx_del_event(c->read, NGX_READ_EVENT, NGX_LEVEL_EVENT);
}


static void
ngx_govsvc_redis_add_write(void *data)
{
    ngx_govsvc_redis_conn_t *conn = data;

    ngx_connection_t  *c;

    c = conn->connection;

    if (c == NULL || c->write->active) {
        return;
    }

    (void) ngx_add_event(c->write, NGX_WRITE_EVENT, NGX_LEVEL_EVENT);
}


static void
ngx_govsvc_redis_del_write(void *data)
{
    ngx_govsvc_redis_conn_t *conn = data;

    ngx_connection_t  *c;

    c = conn->connection;

    if (c == NULL || !c->write->active) {
        return;
    }

    (void) ngx_del_event(c->write, NGX_WRITE_EVENT, NGX_LEVEL_EVENT);
}


/*
 * Called by hiredis while it frees the context, after the pending reply
 * callbacks and before onDisconnect and close() of the socket.  Frees the
 * nginx side only; the fd is closed by hiredis.
 */

static void
ngx_govsvc_redis_cleanup(void *data)
{
    ngx_govsvc_redis_conn_t *conn = data;

    ngx_connection_t   *c;
    redisAsyncContext  *ac;

    c = conn->connection;
    ac = conn->ac;

    if (ac) {
        /* no hook may reach the freed connection from here on */
        ac->ev.addRead = NULL;
        ac->ev.delRead = NULL;
        ac->ev.addWrite = NULL;
        ac->ev.delWrite = NULL;
        ac->ev.cleanup = NULL;
        ac->ev.data = NULL;
    }

    conn->ac = NULL;
    conn->connection = NULL;

    if (c) {
        ngx_govsvc_forget_connection(c);
    }

    if (conn->timer.timer_set) {
        ngx_del_timer(&conn->timer);
    }

    ngx_govsvc_redis_down(conn);

    ngx_govsvc_redis_retry(conn);
}


static u_char *
ngx_govsvc_redis_log_error(ngx_log_t *log, u_char *buf, size_t len)
{
    u_char                   *p;
    ngx_govsvc_redis_conn_t  *conn;

    p = buf;

    if (log->action) {
        p = ngx_snprintf(buf, len, " while %s", log->action);
        len -= p - buf;
        buf = p;
    }

    conn = log->data;

    p = ngx_snprintf(buf, len, ", redis: %V, slot: %ui",
                     &conn->redis->addr_text, conn->index);

    return p;
}


/* configuration */

ngx_int_t
ngx_govsvc_redis_parse_address(ngx_conf_t *cf, ngx_str_t *addr,
    ngx_govsvc_main_conf_t *gmcf)
{
    u_char      *p, *last, *colon;
    size_t       n;
    ngx_int_t    port;
    ngx_str_t    host;
    ngx_addr_t   a;

    p = addr->data;
    last = p + addr->len;

    if (addr->len >= 5 && ngx_strncasecmp(p, (u_char *) "unix:", 5) == 0) {
        host.data = p + 5;
        host.len = addr->len - 5;

        if (host.len == 0 || host.data[0] != '/') {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "redis address \"%V\" needs an absolute "
                               "socket path, as in unix:/run/redis.sock",
                               addr);
            return NGX_ERROR;
        }

#if (NGX_HAVE_UNIX_DOMAIN)
        if (host.len >= sizeof(((struct sockaddr_un *) 0)->sun_path)) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "redis socket path in \"%V\" is too long",
                               addr);
            return NGX_ERROR;
        }
#endif

        port = 0;
        goto done;
    }

    if (addr->len && *p == '[') {
        colon = ngx_strlchr(p, last, ']');

        if (colon == NULL) {
            goto invalid;
        }

        host.data = p + 1;
        host.len = colon - host.data;
        p = colon + 1;

        if (p == last) {
            port = NGX_GOVSVC_REDIS_PORT;

        } else if (*p == ':') {
            p++;
            port = ngx_atoi(p, last - p);

        } else {
            goto invalid;
        }

    } else {
        colon = NULL;
        n = 0;

        for (p = addr->data; p < last; p++) {
            if (*p == ':') {
                colon = p;
                n++;
            }
        }

        if (n > 1) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "redis address \"%V\": write an IPv6 "
                               "address in brackets, as in [::1]:6379",
                               addr);
            return NGX_ERROR;
        }

        host.data = addr->data;

        if (colon) {
            host.len = colon - host.data;
            p = colon + 1;
            port = ngx_atoi(p, last - p);

        } else {
            host.len = addr->len;
            port = NGX_GOVSVC_REDIS_PORT;
        }
    }

    if (port == NGX_ERROR || port < 1 || port > 65535) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid port in redis address \"%V\"", addr);
        return NGX_ERROR;
    }

    if (host.len == 0) {
        goto invalid;
    }

    switch (ngx_parse_addr(cf->pool, &a, host.data, host.len)) {

    case NGX_OK:
        break;

    case NGX_DECLINED:
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "redis address \"%V\" is not an IP address: "
                           "host names are refused because hiredis would "
                           "resolve them with a blocking getaddrinfo() "
                           "in the worker; give an IP literal such as "
                           "127.0.0.1:6379 or [::1]:6379, or unix:/path",
                           addr);
        return NGX_ERROR;

    default: /* NGX_ERROR */
        return NGX_ERROR;
    }

done:

    gmcf->redis_host.data = ngx_pnalloc(cf->pool, host.len + 1);
    if (gmcf->redis_host.data == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(gmcf->redis_host.data, host.data, host.len);
    gmcf->redis_host.data[host.len] = '\0';
    gmcf->redis_host.len = host.len;

    gmcf->redis_port = port;

    return NGX_OK;

invalid:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid redis address \"%V\": expected IP:PORT, "
                       "[IPv6]:PORT or unix:/path", addr);
    return NGX_ERROR;
}
