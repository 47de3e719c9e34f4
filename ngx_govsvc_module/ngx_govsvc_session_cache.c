
/*
 * GovSvc: a worker's cache of valid sessions (govsvc_session_cache), so
 * that a busy session is not looked up in PostgreSQL on every request.
 *
 * What may be cached is what PostgreSQL says the moment it changes: the
 * worker keeps one connection that LISTENs on govsvc_auth, where the
 * triggers of sql/0025 tell every ended session, changed user and changed
 * department at the commit of the change.  The cache answers only while
 * that connection is up and listening; it is emptied whenever the
 * connection is lost or made again, since what was said meanwhile is
 * lost.  Before every answer the connection's socket is read (a recv()
 * that finds nothing when nothing was said), so that a logout committed
 * before a request reached this worker is known when that request is
 * checked: the notification leaves PostgreSQL at the commit, before the
 * logout's answer does.  An entry also lives no longer than ttl since
 * PostgreSQL last said yes, and never beyond the session's expiry.
 *
 * A database read that began before something was forgotten must not put
 * back what was forgotten: the cache's epoch counts forgettings, and an
 * entry is stored only if the epoch is the one the read began with.
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>
#include <ngx_http.h>

#include "ngx_govsvc.h"


#define NGX_GOVSVC_SCACHE_BACKOFF_MIN   500
#define NGX_GOVSVC_SCACHE_BACKOFF_MAX   30000


typedef struct {
    ngx_str_node_t            sn;              /* key: the token hash */
    ngx_queue_t               lru;             /* most recent first */
    ngx_msec_t                checked;         /* PostgreSQL said yes */
    time_t                    expires;
    int64_t                   id;
    int64_t                   department;
    ngx_uint_t                roles;
    u_char                    region[7];
    u_char                    hash[64];
    u_char                    csrf_hash[65];
    ngx_str_t                 username;        /* in the same allocation */
    ngx_str_t                 name;
    ngx_str_t                 department_name;
} ngx_govsvc_scache_node_t;


struct ngx_govsvc_scache_s {
    ngx_rbtree_t              tree;
    ngx_rbtree_node_t         sentinel;
    ngx_queue_t               lru;
    ngx_uint_t                n;
    ngx_uint_t                max;
    ngx_msec_t                ttl;
    ngx_uint_t                epoch;
    ngx_log_t                *log;

    /* the LISTEN connection, to the servers of the primary's pool one at
     * a time, from the one that last accepted there */
    ngx_govsvc_pg_pool_t     *pool;
    ngx_uint_t                server;
    ngx_uint_t                tried;
    ngx_msec_t                timeout;
    PGconn                   *conn;
    ngx_connection_t         *c;
    ngx_file_uniq_t           sock;
    ngx_event_t               retry;
    ngx_msec_t                backoff;
    unsigned                  connected:1;
    unsigned                  listening:1;
    unsigned                  failed:1;        /* logged once per outage */
    unsigned                  exiting:1;
};


static void ngx_govsvc_scache_connect(ngx_govsvc_scache_t *sc);
static ngx_int_t ngx_govsvc_scache_bind(ngx_govsvc_scache_t *sc);
static void ngx_govsvc_scache_connect_handler(ngx_event_t *ev);
static void ngx_govsvc_scache_read_handler(ngx_event_t *ev);
static void ngx_govsvc_scache_write_handler(ngx_event_t *ev);
static void ngx_govsvc_scache_retry(ngx_event_t *ev);
static void ngx_govsvc_scache_failed(ngx_govsvc_scache_t *sc,
    const char *why);
static void ngx_govsvc_scache_lost(ngx_govsvc_scache_t *sc, const char *why);
static void ngx_govsvc_scache_close(ngx_govsvc_scache_t *sc);
static ngx_int_t ngx_govsvc_scache_drain(ngx_govsvc_scache_t *sc);
static void ngx_govsvc_scache_heard(ngx_govsvc_scache_t *sc,
    const char *what);
static ngx_int_t ngx_govsvc_scache_copy(ngx_pool_t *pool, ngx_str_t *from,
    ngx_str_t *to);
static ngx_govsvc_scache_node_t *ngx_govsvc_scache_find(
    ngx_govsvc_scache_t *sc, const u_char *hash);
static void ngx_govsvc_scache_drop(ngx_govsvc_scache_t *sc,
    ngx_govsvc_scache_node_t *sn);
static void ngx_govsvc_scache_flush(ngx_govsvc_scache_t *sc);


ngx_govsvc_scache_t *
ngx_govsvc_scache_create(ngx_cycle_t *cycle, ngx_govsvc_main_conf_t *gmcf)
{
    ngx_govsvc_scache_t  *sc;

    sc = ngx_pcalloc(cycle->pool, sizeof(ngx_govsvc_scache_t));
    if (sc == NULL) {
        return NULL;
    }

    ngx_rbtree_init(&sc->tree, &sc->sentinel, ngx_str_rbtree_insert_value);
    ngx_queue_init(&sc->lru);

    sc->max = gmcf->session_cache_max;
    sc->ttl = gmcf->session_cache_ttl;
    sc->log = cycle->log;
    sc->pool = gmcf->pg;
    sc->backoff = NGX_GOVSVC_SCACHE_BACKOFF_MIN;

    sc->retry.handler = ngx_govsvc_scache_retry;
    sc->retry.data = sc;
    sc->retry.log = cycle->log;
    sc->retry.cancelable = 1;

    ngx_govsvc_scache_connect(sc);

    return sc;
}


void
ngx_govsvc_scache_destroy(ngx_govsvc_scache_t *sc)
{
    sc->exiting = 1;

    if (sc->retry.timer_set) {
        ngx_del_timer(&sc->retry);
    }

    ngx_govsvc_scache_close(sc);
    ngx_govsvc_scache_flush(sc);
}


ngx_uint_t
ngx_govsvc_scache_epoch(ngx_govsvc_scache_t *sc)
{
    return sc->epoch;
}


/*
 * The user of the session whose token hashes to hash, copied into u (its
 * strings into pool) with its CSRF token's hash, when it is cached and
 * fresh; NGX_DECLINED otherwise (and always while not listening).
 */

ngx_int_t
ngx_govsvc_scache_get(ngx_govsvc_scache_t *sc, const u_char *hash,
    ngx_govsvc_user_t *u, ngx_pool_t *pool, u_char *csrf_hash)
{
    ngx_govsvc_scache_node_t  *sn;

    if (ngx_govsvc_scache_drain(sc) != NGX_OK) {
        return NGX_DECLINED;
    }

    sn = ngx_govsvc_scache_find(sc, hash);
    if (sn == NULL) {
        return NGX_DECLINED;
    }

    if (ngx_current_msec - sn->checked >= sc->ttl
        || sn->expires <= ngx_time())
    {
        ngx_govsvc_scache_drop(sc, sn);
        return NGX_DECLINED;
    }

    if (ngx_govsvc_scache_copy(pool, &sn->username, &u->username) != NGX_OK
        || ngx_govsvc_scache_copy(pool, &sn->name, &u->name) != NGX_OK
        || ngx_govsvc_scache_copy(pool, &sn->department_name,
                                  &u->department_name)
           != NGX_OK)
    {
        return NGX_DECLINED;
    }

    u->id = sn->id;
    u->department = sn->department;
    u->roles = sn->roles;
    ngx_sprintf(u->id_text, "%L%Z", sn->id);
    ngx_memcpy(u->region, sn->region, sizeof(u->region));
    ngx_memcpy(csrf_hash, sn->csrf_hash, sizeof(sn->csrf_hash));

    ngx_queue_remove(&sn->lru);
    ngx_queue_insert_head(&sc->lru, &sn->lru);

    return NGX_OK;
}


/*
 * What PostgreSQL has just said of the session of u->token_hash, kept
 * unless something was forgotten since epoch (the read may predate it).
 * The strings of u are NUL-terminated.  Failing to keep is not an error:
 * the next request asks PostgreSQL again.
 */

void
ngx_govsvc_scache_put(ngx_govsvc_scache_t *sc, ngx_uint_t epoch,
    const ngx_govsvc_user_t *u, const char *csrf_hash, time_t expires)
{
    u_char                    *p;
    ngx_queue_t               *q;
    ngx_govsvc_scache_node_t  *sn;

    /* what has arrived is heard first: it may forget this very session */
    if (ngx_govsvc_scache_drain(sc) != NGX_OK || epoch != sc->epoch
        || ngx_strlen(csrf_hash) != 64)
    {
        return;
    }

    sn = ngx_govsvc_scache_find(sc, u->token_hash);
    if (sn != NULL) {
        ngx_govsvc_scache_drop(sc, sn);
    }

    if (sc->n >= sc->max) {
        q = ngx_queue_last(&sc->lru);
        ngx_govsvc_scache_drop(sc,
            ngx_queue_data(q, ngx_govsvc_scache_node_t, lru));
    }

    sn = ngx_alloc(sizeof(ngx_govsvc_scache_node_t) + u->username.len
                   + u->name.len + u->department_name.len, sc->log);
    if (sn == NULL) {
        return;
    }

    p = (u_char *) (sn + 1);

    sn->username.data = p;
    sn->username.len = u->username.len;
    p = ngx_cpymem(p, u->username.data, u->username.len);

    sn->name.data = p;
    sn->name.len = u->name.len;
    p = ngx_cpymem(p, u->name.data, u->name.len);

    sn->department_name.data = p;
    sn->department_name.len = u->department_name.len;
    ngx_memcpy(p, u->department_name.data, u->department_name.len);

    ngx_memcpy(sn->hash, u->token_hash, 64);
    ngx_memcpy(sn->csrf_hash, csrf_hash, 65);
    ngx_memcpy(sn->region, u->region, sizeof(sn->region));
    sn->id = u->id;
    sn->department = u->department;
    sn->roles = u->roles;
    sn->expires = expires;
    sn->checked = ngx_current_msec;

    sn->sn.str.data = sn->hash;
    sn->sn.str.len = 64;
    sn->sn.node.key = ngx_crc32_short(sn->hash, 64);

    ngx_rbtree_insert(&sc->tree, &sn->sn.node);
    ngx_queue_insert_head(&sc->lru, &sn->lru);
    sc->n++;
}


/* the session of hash ended here: forgotten at once by this worker (the
 * others hear it from PostgreSQL) */

void
ngx_govsvc_scache_forget(ngx_govsvc_scache_t *sc, const u_char *hash)
{
    ngx_govsvc_scache_node_t  *sn;

    sc->epoch++;

    sn = ngx_govsvc_scache_find(sc, hash);
    if (sn != NULL) {
        ngx_govsvc_scache_drop(sc, sn);
    }
}


/* ---- the LISTEN connection ---- */

static void
ngx_govsvc_scache_connect(ngx_govsvc_scache_t *sc)
{
    ngx_uint_t  n, last;

    ngx_govsvc_pg_servers_of(sc->pool, &n, &last, &sc->timeout);

    if (sc->tried == 0) {
        sc->server = last;
    }

    sc->tried++;
    sc->conn = ngx_govsvc_pg_start_server(sc->pool, sc->server);

    if (sc->conn == NULL || PQstatus(sc->conn) == CONNECTION_BAD
        || PQsetnonblocking(sc->conn, 1) != 0
        || ngx_govsvc_scache_bind(sc) != NGX_OK)
    {
        ngx_govsvc_scache_failed(sc, sc->conn ? PQerrorMessage(sc->conn)
                                              : "out of memory");
        return;
    }

    /* libpq: after PQconnectStart, act as if polling asked for writing */
    if (ngx_add_event(sc->c->write, NGX_WRITE_EVENT, NGX_LEVEL_EVENT)
        != NGX_OK)
    {
        ngx_govsvc_scache_lost(sc, "cannot watch its socket");
        return;
    }

    ngx_add_timer(sc->c->read, sc->timeout);
}


static ngx_int_t
ngx_govsvc_scache_bind(ngx_govsvc_scache_t *sc)
{
    ngx_socket_t       fd;
    ngx_file_info_t    fi;
    ngx_connection_t  *c;

    fd = PQsocket(sc->conn);

    if (fd == (ngx_socket_t) -1 || ngx_fd_info(fd, &fi) == NGX_FILE_ERROR) {
        return NGX_ERROR;
    }

    c = ngx_get_connection(fd, sc->log);
    if (c == NULL) {
        return NGX_ERROR;
    }

    c->data = sc;
    c->read->handler = ngx_govsvc_scache_connect_handler;
    c->write->handler = ngx_govsvc_scache_connect_handler;
    c->read->log = sc->log;
    c->write->log = sc->log;
    c->read->cancelable = 1;

    if (ngx_add_event(c->read, NGX_READ_EVENT, NGX_LEVEL_EVENT) != NGX_OK) {
        ngx_free_connection(c);
        return NGX_ERROR;
    }

    sc->c = c;
    sc->sock = ngx_file_uniq(&fi);

    return NGX_OK;
}


static void
ngx_govsvc_scache_connect_handler(ngx_event_t *ev)
{
    ngx_int_t                  rc;
    ngx_socket_t               fd;
    ngx_file_info_t            fi;
    ngx_connection_t          *c;
    ngx_govsvc_scache_t       *sc;
    PostgresPollingStatusType  st;

    c = ev->data;
    sc = c->data;

    if (ev->timedout) {
        ngx_govsvc_scache_failed(sc, "connect timed out");
        return;
    }

    st = PQconnectPoll(sc->conn);

    if (st == PGRES_POLLING_FAILED) {
        ngx_govsvc_scache_failed(sc, PQerrorMessage(sc->conn));
        return;
    }

    /* libpq may have moved to another socket (the next server of the
     * conninfo), perhaps under the closed one's number */
    fd = PQsocket(sc->conn);

    if (fd != c->fd || ngx_fd_info(fd, &fi) == NGX_FILE_ERROR
        || ngx_file_uniq(&fi) != sc->sock)
    {
        ngx_govsvc_forget_connection(c);
        sc->c = NULL;

        if (ngx_govsvc_scache_bind(sc) != NGX_OK) {
            ngx_govsvc_scache_lost(sc, "cannot watch its new socket");
            return;
        }

        c = sc->c;
        ngx_add_timer(c->read, sc->timeout);
    }

    if (st == PGRES_POLLING_OK) {
        sc->connected = 1;
        sc->tried = 0;

        if (c->read->timer_set) {
            ngx_del_timer(c->read);
        }

        if (c->write->active
            && ngx_del_event(c->write, NGX_WRITE_EVENT, 0) != NGX_OK)
        {
            ngx_govsvc_scache_lost(sc, "cannot watch its socket");
            return;
        }

        c->read->handler = ngx_govsvc_scache_read_handler;
        c->write->handler = ngx_govsvc_scache_write_handler;

        if (!PQsendQuery(sc->conn, "LISTEN govsvc_auth")) {
            ngx_govsvc_scache_lost(sc, PQerrorMessage(sc->conn));
            return;
        }

        ngx_govsvc_scache_write_handler(c->write);
        return;
    }

    if (st == PGRES_POLLING_WRITING) {
        rc = c->write->active ? NGX_OK
                              : ngx_add_event(c->write, NGX_WRITE_EVENT,
                                              NGX_LEVEL_EVENT);
    } else {
        rc = c->write->active ? ngx_del_event(c->write, NGX_WRITE_EVENT, 0)
                              : NGX_OK;
    }

    if (rc != NGX_OK) {
        ngx_govsvc_scache_lost(sc, "cannot watch its socket");
    }
}


/* sends what libpq holds of the LISTEN; write interest only until then */

static void
ngx_govsvc_scache_write_handler(ngx_event_t *ev)
{
    int                   rc;
    ngx_int_t             watch;
    ngx_connection_t     *c;
    ngx_govsvc_scache_t  *sc;

    c = ev->data;
    sc = c->data;

    rc = PQflush(sc->conn);

    if (rc < 0) {
        ngx_govsvc_scache_lost(sc, PQerrorMessage(sc->conn));
        return;
    }

    if (rc == 1) {
        watch = ev->active ? NGX_OK
                           : ngx_add_event(ev, NGX_WRITE_EVENT,
                                           NGX_LEVEL_EVENT);
    } else {
        watch = ev->active ? ngx_del_event(ev, NGX_WRITE_EVENT, 0) : NGX_OK;
    }

    if (watch != NGX_OK) {
        ngx_govsvc_scache_lost(sc, "cannot watch its socket");
    }
}


static void
ngx_govsvc_scache_read_handler(ngx_event_t *ev)
{
    ngx_connection_t     *c;
    ngx_govsvc_scache_t  *sc;

    c = ev->data;
    sc = c->data;

    (void) ngx_govsvc_scache_drain(sc);
}


/*
 * Reads what arrived: the LISTEN's answer (the cache opens, empty) and
 * every notification (forgotten).  NGX_OK when listening afterwards.
 */

static ngx_int_t
ngx_govsvc_scache_drain(ngx_govsvc_scache_t *sc)
{
    PGnotify      *nf;
    PGresult      *res;
    ngx_uint_t     ok;

    if (!sc->connected) {
        return NGX_DECLINED;
    }

    if (!PQconsumeInput(sc->conn)) {
        ngx_govsvc_scache_lost(sc, PQerrorMessage(sc->conn));
        return NGX_DECLINED;
    }

    if (!sc->listening) {
        ok = 0;

        while (!PQisBusy(sc->conn)) {
            res = PQgetResult(sc->conn);
            if (res == NULL) {
                break;
            }

            ok = (PQresultStatus(res) == PGRES_COMMAND_OK);

            if (!ok) {
                ngx_govsvc_scache_lost(sc, PQresultErrorMessage(res));
                PQclear(res);
                return NGX_DECLINED;
            }

            PQclear(res);
        }

        if (!ok) {
            return NGX_DECLINED;
        }

        sc->listening = 1;
        sc->failed = 0;
        sc->backoff = NGX_GOVSVC_SCACHE_BACKOFF_MIN;
        sc->epoch++;

        ngx_log_error(NGX_LOG_INFO, sc->log, 0,
                      "govsvc: the session cache listens to PostgreSQL");
    }

    while ((nf = PQnotifies(sc->conn)) != NULL) {
        ngx_govsvc_scache_heard(sc, nf->extra);
        PQfreemem(nf);
    }

    return NGX_OK;
}


/* "s:HASH", "u:ID" or "*" (sql/0025) */

static void
ngx_govsvc_scache_heard(ngx_govsvc_scache_t *sc, const char *what)
{
    int64_t                    id;
    ngx_queue_t               *q, *next;
    ngx_govsvc_scache_node_t  *sn;

    sc->epoch++;

    if (what[0] == 's' && what[1] == ':' && ngx_strlen(what) == 66) {
        sn = ngx_govsvc_scache_find(sc, (const u_char *) what + 2);
        if (sn != NULL) {
            ngx_govsvc_scache_drop(sc, sn);
        }

        return;
    }

    if (what[0] == 'u' && what[1] == ':') {
        id = ngx_atoof((u_char *) what + 2, ngx_strlen(what + 2));

        if (id > 0) {
            for (q = ngx_queue_head(&sc->lru);
                 q != ngx_queue_sentinel(&sc->lru);
                 q = next)
            {
                next = ngx_queue_next(q);
                sn = ngx_queue_data(q, ngx_govsvc_scache_node_t, lru);

                if (sn->id == id) {
                    ngx_govsvc_scache_drop(sc, sn);
                }
            }

            return;
        }
    }

    /* "*", or anything not understood: everything */
    ngx_govsvc_scache_flush(sc);
}


/* a connect to one server failed: the next, until each was tried */

static void
ngx_govsvc_scache_failed(ngx_govsvc_scache_t *sc, const char *why)
{
    ngx_uint_t  n, last;
    ngx_msec_t  timeout;

    ngx_govsvc_pg_servers_of(sc->pool, &n, &last, &timeout);

    if (sc->tried >= n) {
        sc->tried = 0;
        ngx_govsvc_scache_lost(sc, why);
        return;
    }

    ngx_govsvc_scache_close(sc);
    sc->server++;
    ngx_govsvc_scache_connect(sc);
}


static void
ngx_govsvc_scache_lost(ngx_govsvc_scache_t *sc, const char *why)
{
    ngx_uint_t  level;

    /* once per outage, not once per retry */
    level = sc->failed ? NGX_LOG_INFO : NGX_LOG_WARN;

    ngx_log_error(level, sc->log, 0,
                  "govsvc: the session cache cannot listen to PostgreSQL "
                  "(every session is checked there meanwhile): %s", why);

    sc->failed = 1;

    ngx_govsvc_scache_close(sc);
    ngx_govsvc_scache_flush(sc);

    if (!sc->exiting && !ngx_exiting && !ngx_terminate && !ngx_quit) {
        ngx_add_timer(&sc->retry, sc->backoff);
        sc->backoff = ngx_min(sc->backoff * 2,
                              NGX_GOVSVC_SCACHE_BACKOFF_MAX);
    }
}


static void
ngx_govsvc_scache_retry(ngx_event_t *ev)
{
    ngx_govsvc_scache_connect(ev->data);
}


static void
ngx_govsvc_scache_close(ngx_govsvc_scache_t *sc)
{
    sc->connected = 0;
    sc->listening = 0;
    sc->epoch++;

    if (sc->c != NULL) {
        ngx_govsvc_forget_connection(sc->c);
        sc->c = NULL;
    }

    if (sc->conn != NULL) {
        PQfinish(sc->conn);
        sc->conn = NULL;
    }
}


/* ---- the tree ---- */

/* the request's own copy, NUL-terminated as the session check makes it */

static ngx_int_t
ngx_govsvc_scache_copy(ngx_pool_t *pool, ngx_str_t *from, ngx_str_t *to)
{
    to->data = ngx_pnalloc(pool, from->len + 1);
    if (to->data == NULL) {
        return NGX_ERROR;
    }

    *ngx_cpymem(to->data, from->data, from->len) = '\0';
    to->len = from->len;

    return NGX_OK;
}


static ngx_govsvc_scache_node_t *
ngx_govsvc_scache_find(ngx_govsvc_scache_t *sc, const u_char *hash)
{
    ngx_str_t        key;
    ngx_str_node_t  *n;

    key.data = (u_char *) hash;
    key.len = 64;

    n = ngx_str_rbtree_lookup(&sc->tree, &key, ngx_crc32_short(key.data, 64));

    return (ngx_govsvc_scache_node_t *) n;
}


static void
ngx_govsvc_scache_drop(ngx_govsvc_scache_t *sc, ngx_govsvc_scache_node_t *sn)
{
    ngx_rbtree_delete(&sc->tree, &sn->sn.node);
    ngx_queue_remove(&sn->lru);
    ngx_free(sn);
    sc->n--;
}


static void
ngx_govsvc_scache_flush(ngx_govsvc_scache_t *sc)
{
    sc->epoch++;

    while (!ngx_queue_empty(&sc->lru)) {
        ngx_govsvc_scache_drop(sc, ngx_queue_data(ngx_queue_head(&sc->lru),
                                                  ngx_govsvc_scache_node_t,
                                                  lru));
    }
}
