
/*
 * GovSvc: this node's side of the link to its parent (三级联动).  A timer
 * that one worker of one nginx of the node runs at a time (a lease in the
 * shared zone picks the worker, a lease row in PostgreSQL the instance)
 * pushes to the parent what it has not acknowledged yet: this node's
 * outbox and the events held from its children, origin, sequence and hash
 * unchanged (POST /sync/v1/batches); then it pulls the catalog published
 * above (GET /sync/v1/catalog) and the results of the cases this node
 * forwarded (GET /sync/v1/forwarded).  nginx's own event-driven connections
 * carry them, over TLS with the node certificate, one request per
 * connection, the way nginx's OCSP stapling asks its responder.  A failed
 * round waits longer each time, with jitter, up to govsvc_sync_backoff.
 */


#include "ngx_govsvc.h"
#include "gs_region.h"

#include <openssl/x509v3.h>


#define NGX_GOVSVC_SYNC_ANSWER_MIN    16384
#define NGX_GOVSVC_SYNC_ANSWER_MAX    (16 * 1024 * 1024)
/* pages one round applies before it lets the push go again */
#define NGX_GOVSVC_SYNC_PAGES         16
/* the catalog, the results of forwarded cases */
#define NGX_GOVSVC_SYNC_PULLS         2


typedef void (*ngx_govsvc_sync_answer_pt)(ngx_govsvc_sync_client_t *cl,
    ngx_uint_t status, u_char *body, size_t len);


struct ngx_govsvc_sync_client_s {
    ngx_govsvc_main_conf_t       *gmcf;
    ngx_log_t                    *log;

    ngx_event_t                   timer;      /* the next round */
    ngx_event_t                   deadline;   /* the exchange in flight */
    ngx_pool_t                   *pool;       /* the round's; NULL: idle */

    ngx_peer_connection_t         peer;
    ngx_ssl_session_t            *session;    /* to resume with */
    ngx_buf_t                    *out;
    ngx_buf_t                    *in;
    ngx_govsvc_sync_answer_pt     answer;
    const char                   *doing;      /* for the log */

    ngx_uint_t                    failures;   /* pushes in a row */
    ngx_uint_t                    pull;       /* the pull in flight */
    ngx_uint_t                    pull_failures[NGX_GOVSVC_SYNC_PULLS];
    ngx_msec_t                    pull_after[NGX_GOVSVC_SYNC_PULLS];
    ngx_uint_t                    pages;
    unsigned                      pushed:1;
    unsigned                      elsewhere:1; /* another instance's turn */

    char                          node[7];
    char                          parent[7];
    /* this instance among those of the node: host and configuration */
    char                         *holder;
};


static void ngx_govsvc_sync_tick(ngx_event_t *ev);
static ngx_uint_t ngx_govsvc_sync_lease(ngx_govsvc_sync_client_t *cl,
    ngx_uint_t take);
static void ngx_govsvc_sync_caught_up(time_t when);
static void ngx_govsvc_sync_round_end(ngx_govsvc_sync_client_t *cl,
    ngx_int_t rc);
static ngx_msec_t ngx_govsvc_sync_backoff(ngx_govsvc_sync_client_t *cl,
    ngx_uint_t failures);
static ngx_int_t ngx_govsvc_sync_sql(ngx_govsvc_sync_client_t *cl,
    const char *sql, int n, const char **values,
    ngx_govsvc_pg_handler_pt handler);
static ngx_int_t ngx_govsvc_sync_answered(ngx_govsvc_sync_client_t *cl,
    u_char *value, size_t len);
static u_char *ngx_govsvc_sync_value(ngx_govsvc_sync_client_t *cl,
    ngx_govsvc_pg_t *pg, PGresult *res, size_t *len);

static void ngx_govsvc_sync_leased(ngx_govsvc_pg_t *pg, PGresult *res,
    void *data);
static void ngx_govsvc_sync_push(ngx_govsvc_sync_client_t *cl);
static void ngx_govsvc_sync_pending(ngx_govsvc_pg_t *pg, PGresult *res,
    void *data);
static void ngx_govsvc_sync_pushed(ngx_govsvc_sync_client_t *cl,
    ngx_uint_t status, u_char *body, size_t len);
static void ngx_govsvc_sync_recorded(ngx_govsvc_pg_t *pg, PGresult *res,
    void *data);
static void ngx_govsvc_sync_pull(ngx_govsvc_sync_client_t *cl);
static void ngx_govsvc_sync_pull_end(ngx_govsvc_sync_client_t *cl,
    ngx_int_t rc);
static void ngx_govsvc_sync_since(ngx_govsvc_pg_t *pg, PGresult *res,
    void *data);
static void ngx_govsvc_sync_pulled(ngx_govsvc_sync_client_t *cl,
    ngx_uint_t status, u_char *body, size_t len);
static void ngx_govsvc_sync_applied(ngx_govsvc_pg_t *pg, PGresult *res,
    void *data);
static void ngx_govsvc_sync_calendar(ngx_govsvc_sync_client_t *cl,
    cJSON *years);
static void ngx_govsvc_sync_cache_reply(redisReply *reply, void *data);

static ngx_int_t ngx_govsvc_sync_exchange(ngx_govsvc_sync_client_t *cl,
    const char *method, ngx_str_t *path, u_char *body, size_t len,
    ngx_govsvc_sync_answer_pt answer);
static void ngx_govsvc_sync_connected(ngx_event_t *ev);
static void ngx_govsvc_sync_handshaked(ngx_connection_t *c);
static void ngx_govsvc_sync_save_session(ngx_connection_t *c);
static ngx_int_t ngx_govsvc_sync_verify(ngx_connection_t *c,
    ngx_str_t *host);
static void ngx_govsvc_sync_send(ngx_event_t *wev);
static void ngx_govsvc_sync_recv(ngx_event_t *rev);
static ngx_int_t ngx_govsvc_sync_parse(ngx_buf_t *b, ngx_uint_t *status,
    u_char **body, size_t *len);
static void ngx_govsvc_sync_timedout(ngx_event_t *ev);
static void ngx_govsvc_sync_failed(ngx_govsvc_sync_client_t *cl,
    const char *why);
static void ngx_govsvc_sync_finish(ngx_govsvc_sync_client_t *cl,
    ngx_uint_t status, u_char *body, size_t len);
static void ngx_govsvc_sync_close(ngx_govsvc_sync_client_t *cl);
static void ngx_govsvc_sync_idle(ngx_event_t *ev);


/* ---- configuration ---- */

/* govsvc_sync_parent https://HOST[:PORT]: resolved once, here */

char *
ngx_govsvc_sync_parent(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_govsvc_main_conf_t *gmcf = conf;

    u_char     *host;
    ngx_str_t  *value;
    ngx_url_t  *u;

    if (gmcf->sync_parent) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (value[1].len <= sizeof("https://") - 1
        || ngx_strncasecmp(value[1].data, (u_char *) "https://",
                           sizeof("https://") - 1)
           != 0)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"govsvc_sync_parent\" takes an https:// URL, "
                           "not \"%V\"", &value[1]);
        return NGX_CONF_ERROR;
    }

    u = ngx_pcalloc(cf->pool, sizeof(ngx_url_t));
    if (u == NULL) {
        return NGX_CONF_ERROR;
    }

    u->url.data = value[1].data + sizeof("https://") - 1;
    u->url.len = value[1].len - (sizeof("https://") - 1);
    u->default_port = 443;

    if (ngx_parse_url(cf->pool, u) != NGX_OK) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "%s in \"%V\"",
                           u->err ? u->err : "invalid URL", &value[1]);
        return NGX_CONF_ERROR;
    }

    if (u->naddrs == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "no address for \"%V\"",
                           &value[1]);
        return NGX_CONF_ERROR;
    }

    /* SNI and the certificate check want the host as a C string */
    host = ngx_pnalloc(cf->pool, u->host.len + 1);
    if (host == NULL) {
        return NGX_CONF_ERROR;
    }

    (void) ngx_cpystrn(host, u->host.data, u->host.len + 1);
    u->host.data = host;

    gmcf->sync_parent = u;

    return NGX_CONF_OK;
}


/* the TLS context of the link to the parent: the node certificate, and
 * the authorities the parent's server certificate must chain to */

char *
ngx_govsvc_sync_init_conf(ngx_conf_t *cf, ngx_govsvc_main_conf_t *gmcf)
{
    char                 parent[7];
    ngx_pool_cleanup_t  *cln;

    ngx_conf_init_msec_value(gmcf->sync_interval, 1000);
    ngx_conf_init_msec_value(gmcf->sync_timeout, 10000);
    ngx_conf_init_msec_value(gmcf->sync_backoff, 60000);
    ngx_conf_init_uint_value(gmcf->sync_batch, 500);

    if (gmcf->sync_parent == NULL) {
        return NGX_CONF_OK;
    }

    if (gmcf->node.len == 0
        || gs_region_parent((char *) gmcf->node.data, gmcf->node.len,
                            parent)
           != 0)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"govsvc_sync_parent\" needs \"govsvc_node\" "
                           "to name a city or a county");
        return NGX_CONF_ERROR;
    }

    if (gmcf->sync_batch < 1 || gmcf->sync_batch > 1000) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"govsvc_sync_batch\" must be 1 to 1000");
        return NGX_CONF_ERROR;
    }

    if (gmcf->sync_cert.len == 0 || gmcf->sync_key.len == 0
        || gmcf->sync_trusted.len == 0)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"govsvc_sync_parent\" needs "
                           "\"govsvc_sync_certificate\", "
                           "\"govsvc_sync_certificate_key\" and "
                           "\"govsvc_sync_trusted_certificate\"");
        return NGX_CONF_ERROR;
    }

    gmcf->sync_ssl = ngx_pcalloc(cf->pool, sizeof(ngx_ssl_t));
    if (gmcf->sync_ssl == NULL) {
        return NGX_CONF_ERROR;
    }

    gmcf->sync_ssl->log = cf->log;

    if (ngx_ssl_create(gmcf->sync_ssl, NGX_SSL_TLSv1_2|NGX_SSL_TLSv1_3,
                       NULL)
        != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    cln = ngx_pool_cleanup_add(cf->pool, 0);
    if (cln == NULL) {
        ngx_ssl_cleanup_ctx(gmcf->sync_ssl);
        return NGX_CONF_ERROR;
    }

    cln->handler = ngx_ssl_cleanup_ctx;
    cln->data = gmcf->sync_ssl;

    /* a round resumes the last round's TLS session: one handshake's CPU
     * less on both sides for every exchange */
    if (ngx_ssl_certificate(cf, gmcf->sync_ssl, &gmcf->sync_cert,
                            &gmcf->sync_key, NULL)
        != NGX_OK
        || ngx_ssl_trusted_certificate(cf, gmcf->sync_ssl,
                                       &gmcf->sync_trusted, 4)
           != NGX_OK
        || ngx_ssl_client_session_cache(cf, gmcf->sync_ssl, 1) != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


/* ---- the rounds ---- */

ngx_int_t
ngx_govsvc_sync_start(ngx_cycle_t *cycle, ngx_govsvc_main_conf_t *gmcf)
{
    ngx_govsvc_sync_client_t  *cl;

    /* without a zone to hold the lease worker 0 pushes alone */
    if (gmcf->sync_parent == NULL
        || (gmcf->shm_zone == NULL && ngx_worker != 0))
    {
        return NGX_OK;
    }

    cl = ngx_pcalloc(cycle->pool, sizeof(ngx_govsvc_sync_client_t));
    if (cl == NULL) {
        return NGX_ERROR;
    }

    cl->gmcf = gmcf;
    cl->log = cycle->log;

    ngx_memcpy(cl->node, gmcf->node.data, 6);
    (void) gs_region_parent(cl->node, 6, cl->parent);

    /* the host and the configuration file: the same after a restart,
     * which then takes its lease back at once */
    cl->holder = ngx_pnalloc(cycle->pool,
                             cycle->hostname.len + 1 + cycle->conf_file.len
                             + 1);
    if (cl->holder == NULL) {
        return NGX_ERROR;
    }

    ngx_sprintf((u_char *) cl->holder, "%V:%V%Z", &cycle->hostname,
                &cycle->conf_file);

    cl->timer.handler = ngx_govsvc_sync_tick;
    cl->timer.data = cl;
    cl->timer.log = cycle->log;
    cl->timer.cancelable = 1;

    cl->deadline.handler = ngx_govsvc_sync_timedout;
    cl->deadline.data = cl;
    cl->deadline.log = cycle->log;
    cl->deadline.cancelable = 1;

    gmcf->sync_client = cl;

    /* the metric counts from the start of the first nginx with a parent */
    ngx_govsvc_sync_caught_up(0);

    /* workers start at once: spread their first ticks */
    ngx_add_timer(&cl->timer,
                  gmcf->sync_interval / 2
                  + (ngx_msec_t) ngx_random() % (gmcf->sync_interval / 2 + 1));

    return NGX_OK;
}


void
ngx_govsvc_sync_stop(ngx_govsvc_main_conf_t *gmcf)
{
    ngx_govsvc_sync_client_t  *cl;

    cl = gmcf->sync_client;
    if (cl == NULL) {
        return;
    }

    if (cl->timer.timer_set) {
        ngx_del_timer(&cl->timer);
    }

    ngx_govsvc_sync_close(cl);

    if (cl->session) {
        ngx_ssl_free_session(cl->session);
        cl->session = NULL;
    }

    /* after the PostgreSQL connections: a round in flight is their user */
    if (cl->pool) {
        ngx_destroy_pool(cl->pool);
        cl->pool = NULL;
        (void) ngx_govsvc_sync_lease(cl, 0);
    }

    gmcf->sync_client = NULL;
}


static void
ngx_govsvc_sync_tick(ngx_event_t *ev)
{
    ngx_govsvc_sync_client_t *cl = ev->data;

    u_char       *ms;
    const char  **v;

    if (ngx_exiting || ngx_terminate) {
        return;
    }

    if (cl->pool != NULL || !ngx_govsvc_sync_lease(cl, 1)) {
        ngx_add_timer(&cl->timer, cl->gmcf->sync_interval);
        return;
    }

    cl->pool = ngx_create_pool(4096, cl->log);
    if (cl->pool == NULL) {
        ngx_govsvc_sync_round_end(cl, NGX_ERROR);
        return;
    }

    cl->pushed = 0;
    cl->elsewhere = 0;
    cl->pages = 0;
    cl->pull = 0;

    v = ngx_palloc(cl->pool, 2 * sizeof(const char *));
    ms = ngx_pnalloc(cl->pool, NGX_INT_T_LEN + 1);

    if (v == NULL || ms == NULL) {
        ngx_govsvc_sync_round_end(cl, NGX_ERROR);
        return;
    }

    /* long enough for a round: the push and two pulls, each at most a
     * timeout, and a few intervals between them */
    ngx_sprintf(ms, "%M%Z", 3 * cl->gmcf->sync_timeout
                            + 3 * cl->gmcf->sync_interval);
    v[0] = cl->holder;
    v[1] = (const char *) ms;

    if (ngx_govsvc_sync_sql(cl, "SELECT govsvc_sync_lease($1, $2::int)", 2,
                            v, ngx_govsvc_sync_leased)
        != NGX_OK)
    {
        ngx_govsvc_sync_round_end(cl, NGX_ERROR);
    }
}


/* another instance of this node holds the round: this one waits */

static void
ngx_govsvc_sync_leased(ngx_govsvc_pg_t *pg, PGresult *res, void *data)
{
    ngx_govsvc_sync_client_t *cl = data;

    u_char  *held;
    size_t   len;

    held = ngx_govsvc_sync_value(cl, pg, res, &len);

    if (held == NULL) {
        ngx_govsvc_sync_round_end(cl, NGX_ERROR);
        return;
    }

    if (held[0] != 't') {
        /* the lag is the holder's to show */
        ngx_govsvc_sync_caught_up(ngx_time());
        cl->elsewhere = 1;
        ngx_govsvc_sync_round_end(cl, NGX_OK);
        return;
    }

    ngx_govsvc_sync_push(cl);
}


/* the parent holds everything as of when (0: keep an earlier time, or
 * take now if there is none) */

static void
ngx_govsvc_sync_caught_up(time_t when)
{
    ngx_govsvc_metrics_t  *m;

    m = ngx_govsvc_metrics();
    if (m == NULL) {
        return;
    }

    if (when) {
        m->sync_caught_up = when;

    } else {
        (void) ngx_atomic_cmp_set(&m->sync_caught_up, 0, ngx_time());
    }
}


/*
 * The lease: a counter in the shared zone that the worker making it 1
 * holds until its round ends, or until it dies and the counter expires.
 * Two rounds at once would only send the same events twice (the parent
 * skips what it holds), so a full zone lets every worker run.
 */

static ngx_uint_t
ngx_govsvc_sync_lease(ngx_govsvc_sync_client_t *cl, ngx_uint_t take)
{
    int64_t          n;
    ngx_str_t        key = ngx_string("govsvc:sync:lease");
    ngx_shm_zone_t  *zone;

    zone = cl->gmcf->shm_zone;

    if (zone == NULL) {
        return 1;
    }

    if (!take) {
        (void) ngx_govsvc_shm_del(zone, &key);
        return 1;
    }

    if (ngx_govsvc_shm_incr(zone, &key, 1, 4 * cl->gmcf->sync_timeout, &n,
                            NULL)
        != NGX_OK)
    {
        return 1;
    }

    return n == 1;
}


/*
 * A round that sent events is followed at once by the next, until the
 * outbox is drained; after a failed push the next waits longer.
 */

static void
ngx_govsvc_sync_round_end(ngx_govsvc_sync_client_t *cl, ngx_int_t rc)
{
    ngx_msec_t  delay;

    if (cl->pool) {
        ngx_destroy_pool(cl->pool);
        cl->pool = NULL;
    }

    (void) ngx_govsvc_sync_lease(cl, 0);

    if (rc == NGX_OK) {
        if (!cl->elsewhere) {
            ngx_govsvc_count(sync_rounds);
        }

        cl->failures = 0;
        delay = cl->pushed ? 1 : cl->gmcf->sync_interval;

    } else {
        ngx_govsvc_count(sync_failures);
        delay = ngx_govsvc_sync_backoff(cl, ++cl->failures);
    }

    if (!ngx_exiting && !ngx_terminate) {
        ngx_add_timer(&cl->timer, delay);
    }
}


/*
 * interval * 2^(failures - 1), at most govsvc_sync_backoff, of which a
 * random half to all: the jitter keeps the children of a parent that
 * comes back from all knocking at once.
 */

static ngx_msec_t
ngx_govsvc_sync_backoff(ngx_govsvc_sync_client_t *cl, ngx_uint_t failures)
{
    ngx_msec_t  delay;

    delay = cl->gmcf->sync_interval << ngx_min(failures - 1, 16);
    delay = ngx_min(delay, cl->gmcf->sync_backoff);

    return delay / 2 + (ngx_msec_t) ngx_random() % (delay / 2 + 1);
}


/* a statement of the round; NGX_ERROR when PostgreSQL is away */

static ngx_int_t
ngx_govsvc_sync_sql(ngx_govsvc_sync_client_t *cl, const char *sql, int n,
    const char **values, ngx_govsvc_pg_handler_pt handler)
{
    ngx_govsvc_pg_t  *pg;

    pg = ngx_govsvc_pg_open_pool(cl->gmcf->pg, cl->pool, cl->log);
    if (pg == NULL) {
        return NGX_ERROR;
    }

    if (ngx_govsvc_pg_query(pg, sql, n, values, handler, cl) != NGX_OK) {
        ngx_govsvc_pg_close(pg);
        return NGX_ERROR;
    }

    return NGX_OK;
}


/*
 * The one value a round's statement answers, copied into the round's
 * pool and NUL-terminated, and the connection given back.  NULL with
 * *len 0: SQL NULL; NULL with *len 1: the statement failed (logged).
 */

static u_char *
ngx_govsvc_sync_value(ngx_govsvc_sync_client_t *cl, ngx_govsvc_pg_t *pg,
    PGresult *res, size_t *len)
{
    u_char  *p;

    *len = 1;
    p = NULL;

    if (res == NULL || PQresultStatus(res) != PGRES_TUPLES_OK
        || PQntuples(res) != 1)
    {
        ngx_log_error(NGX_LOG_ERR, cl->log, 0,
                      "govsvc: sync with the parent: %s",
                      res ? PQresultErrorMessage(res) : "no connection");

    } else if (PQgetisnull(res, 0, 0)) {
        *len = 0;

    } else {
        *len = PQgetlength(res, 0, 0);
        p = ngx_pnalloc(cl->pool, *len + 1);

        if (p != NULL) {
            ngx_memcpy(p, PQgetvalue(res, 0, 0), *len);
            p[*len] = '\0';
        }
    }

    ngx_govsvc_pg_close(pg);

    return p;
}


/*
 * govsvc_sync_answered()'s JSON: logs what a restore from an older backup
 * (of this node or of one below) did, and returns the count of events
 * acknowledged for the first time, or NGX_ERROR.
 */

static ngx_int_t
ngx_govsvc_sync_answered(ngx_govsvc_sync_client_t *cl, u_char *value,
    size_t len)
{
    char       *text;
    cJSON      *json, *moved, *renumbered, *diverged, *collided;
    ngx_int_t   n;

    json = cJSON_ParseWithLength((const char *) value, len);

    moved = cJSON_GetObjectItemCaseSensitive(json, "moved");
    renumbered = cJSON_GetObjectItemCaseSensitive(json, "renumbered");
    diverged = cJSON_GetObjectItemCaseSensitive(json, "diverged");
    collided = cJSON_GetObjectItemCaseSensitive(json, "collided");

    if (!cJSON_IsNumber(moved) || !cJSON_IsNumber(renumbered)
        || !cJSON_IsObject(diverged) || !cJSON_IsArray(collided))
    {
        ngx_log_error(NGX_LOG_ERR, cl->log, 0,
                      "govsvc: sync with the parent: unexpected record "
                      "of its answer: %*s", ngx_min(len, 512), value);
        cJSON_Delete(json);
        return NGX_ERROR;
    }

    n = (ngx_int_t) moved->valuedouble;

    if (renumbered->valuedouble > 0) {
        ngx_log_error(NGX_LOG_WARN, cl->log, 0,
                      "govsvc: the parent holds other events under numbers "
                      "this node gave again (restored from an older "
                      "backup?): %i of its events were numbered again after "
                      "the parent's and go up with the next round (see "
                      "DEPLOYMENT.md, Backup and restore)",
                      (ngx_int_t) renumbered->valuedouble);

    } else if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(json, "ahead")))
    {
        /* a parent that acknowledges what it holds, not what it was
         * sent: events numbered again may have been skipped there */
        ngx_log_error(NGX_LOG_ALERT, cl->log, 0,
                      "govsvc: the parent holds events of this node beyond "
                      "its outbox (restored from an older backup?): those "
                      "numbered again since the restore may have been "
                      "skipped there and exist only here; the outbox now "
                      "numbers on after the parent's (see DEPLOYMENT.md, "
                      "Backup and restore)");
    }

    if (collided->child != NULL) {
        text = cJSON_PrintUnformatted(collided);

        ngx_log_error(NGX_LOG_ALERT, cl->log, 0,
                      "govsvc: cases registered since this node was "
                      "restored took numbers the parent holds for cases "
                      "lost with the restore: %s; the parent shows the "
                      "lost ones under them (see DEPLOYMENT.md, Backup and "
                      "restore); the numbering now goes on after the "
                      "parent's", text ? text : "?");
        cJSON_free(text);
    }

    if (diverged->child != NULL) {
        text = cJSON_PrintUnformatted(diverged);

        ngx_log_error(NGX_LOG_ALERT, cl->log, 0,
                      "govsvc: the parent holds other events than this node "
                      "relayed, of origin:first number %s: that node was "
                      "restored from an older backup after this one "
                      "relayed its events; they were skipped at the parent "
                      "(see DEPLOYMENT.md, Backup and restore)",
                      text ? text : "?");
        cJSON_free(text);
    }

    cJSON_Delete(json);

    return n;
}


/* ---- push: the outbox and the children's events, up ---- */

static void
ngx_govsvc_sync_push(ngx_govsvc_sync_client_t *cl)
{
    u_char       *batch;
    const char  **v;

    v = ngx_palloc(cl->pool, 2 * sizeof(const char *));
    batch = ngx_pnalloc(cl->pool, NGX_INT_T_LEN + 1);

    if (v == NULL || batch == NULL) {
        ngx_govsvc_sync_round_end(cl, NGX_ERROR);
        return;
    }

    ngx_sprintf(batch, "%ui%Z", cl->gmcf->sync_batch);
    v[0] = cl->node;
    v[1] = (const char *) batch;

    if (ngx_govsvc_sync_sql(cl, "SELECT govsvc_sync_pending($1, $2::int)",
                            2, v, ngx_govsvc_sync_pending)
        != NGX_OK)
    {
        ngx_govsvc_sync_round_end(cl, NGX_ERROR);
    }
}


static void
ngx_govsvc_sync_pending(ngx_govsvc_pg_t *pg, PGresult *res, void *data)
{
    ngx_govsvc_sync_client_t *cl = data;

    u_char     *batch;
    size_t      len;
    ngx_str_t   path = ngx_string("/sync/v1/batches");

    batch = ngx_govsvc_sync_value(cl, pg, res, &len);

    if (batch == NULL) {
        if (len) {
            ngx_govsvc_sync_round_end(cl, NGX_ERROR);
            return;
        }

        ngx_govsvc_sync_caught_up(ngx_time());
        ngx_govsvc_sync_pull(cl);
        return;
    }

    cl->doing = "pushing a batch";

    if (ngx_govsvc_sync_exchange(cl, "POST", &path, batch, len,
                                 ngx_govsvc_sync_pushed)
        != NGX_OK)
    {
        ngx_govsvc_sync_round_end(cl, NGX_ERROR);
    }
}


/*
 * 200 {"acked":{ORIGIN: SEQ}, "diverged":{...}}: recorded (this node's
 * diverged events numbered again, see sql/0024), then the pull.  409
 * sequence_gap {"error":{"expected":{ORIGIN: SEQ}}}: the parent lost
 * what it had acknowledged (restored from a backup): the next round
 * resends from there.  Anything else: the round failed.
 */

static void
ngx_govsvc_sync_pushed(ngx_govsvc_sync_client_t *cl, ngx_uint_t status,
    u_char *body, size_t len)
{
    char         *text;
    cJSON        *json, *acked, *answer;
    const char  **v, *sql;

    json = (status == NGX_HTTP_OK || status == NGX_HTTP_CONFLICT)
           ? cJSON_ParseWithLength((const char *) body, len) : NULL;

    acked = NULL;
    answer = NULL;
    sql = NULL;

    if (status == NGX_HTTP_OK) {
        acked = cJSON_GetObjectItemCaseSensitive(json, "acked");
        answer = json;
        sql = "SELECT govsvc_sync_answered($1, $2, $3::jsonb)";

    } else if (status == NGX_HTTP_CONFLICT) {
        acked = cJSON_GetObjectItemCaseSensitive(
                    cJSON_GetObjectItemCaseSensitive(json, "error"),
                    "expected");
        answer = acked;
        sql = "SELECT govsvc_sync_rewind($1, $2, $3::jsonb)";
    }

    if (!cJSON_IsObject(acked)) {
        if (status) {
            ngx_log_error(NGX_LOG_WARN, cl->log, 0,
                          "govsvc: the parent refused a batch: %ui %*s",
                          status, ngx_min(len, 512), body);
        }

        cJSON_Delete(json);
        ngx_govsvc_sync_round_end(cl, NGX_ERROR);
        return;
    }

    if (status == NGX_HTTP_CONFLICT) {
        ngx_log_error(NGX_LOG_WARN, cl->log, 0,
                      "govsvc: the parent asks to resend: %*s",
                      ngx_min(len, 512), body);
    }

    text = cJSON_PrintUnformatted(answer);
    cJSON_Delete(json);

    v = ngx_palloc(cl->pool, 3 * sizeof(const char *));

    if (text == NULL || v == NULL) {
        cJSON_free(text);
        ngx_govsvc_sync_round_end(cl, NGX_ERROR);
        return;
    }

    len = ngx_strlen(text);
    v[2] = ngx_pnalloc(cl->pool, len + 1);

    if (v[2] != NULL) {
        ngx_memcpy((char *) v[2], text, len + 1);
    }

    cJSON_free(text);

    if (v[2] == NULL) {
        ngx_govsvc_sync_round_end(cl, NGX_ERROR);
        return;
    }

    v[0] = cl->node;
    v[1] = cl->parent;

    cl->pushed = (status == NGX_HTTP_OK);

    if (ngx_govsvc_sync_sql(cl, sql, 3, v, ngx_govsvc_sync_recorded)
        != NGX_OK)
    {
        ngx_govsvc_sync_round_end(cl, NGX_ERROR);
    }
}


static void
ngx_govsvc_sync_recorded(ngx_govsvc_pg_t *pg, PGresult *res, void *data)
{
    ngx_govsvc_sync_client_t *cl = data;

    u_char                *value;
    size_t                 len;
    ngx_int_t              n;
    ngx_govsvc_metrics_t  *m;

    value = ngx_govsvc_sync_value(cl, pg, res, &len);

    if (value == NULL) {
        ngx_govsvc_sync_round_end(cl, NGX_ERROR);
        return;
    }

    if (!cl->pushed) {
        /* a rewind: the resend comes with the next round, at once */
        cl->pushed = 1;
        ngx_govsvc_sync_round_end(cl, NGX_OK);
        return;
    }

    n = ngx_govsvc_sync_answered(cl, value, len);

    if (n == NGX_ERROR) {
        ngx_govsvc_sync_round_end(cl, NGX_ERROR);
        return;
    }

    m = ngx_govsvc_metrics();

    if (m && n > 0) {
        ngx_atomic_fetch_add(&m->sync_events, n);
    }

    ngx_govsvc_sync_pull(cl);
}


/* ---- pulls: what the parent publishes for this node, down ---- */

/*
 * Each pull asks PostgreSQL where it stands (since), GETs the parent's
 * page from there and applies it in one transaction; "more" asks again.
 * A pull that failed (a page this node cannot apply, a parent that does
 * not know the path yet) waits on its own: the push and the other pull
 * go on at their pace.
 */

typedef struct {
    const char                   *doing;
    const char                   *since;
    const char                   *path;
    const char                   *apply;
} ngx_govsvc_sync_pull_t;


static ngx_govsvc_sync_pull_t  ngx_govsvc_sync_pulls[] = {

    { "pulling the catalog",
      "SELECT govsvc_catalog_since($1)",
      "/sync/v1/catalog?since=",
      "SELECT govsvc_catalog_apply($1, $2::jsonb)::text" },

    { "pulling the results of forwarded cases",
      "SELECT govsvc_forwarded_since($1)",
      "/sync/v1/forwarded?since=",
      "SELECT govsvc_forwarded_apply($1, $2::jsonb)::text" },
};


/* the next pull due from cl->pull on, once an interval each; none left:
 * the round ends */

static void
ngx_govsvc_sync_pull(ngx_govsvc_sync_client_t *cl)
{
    const char  **v;

    while (cl->pull < NGX_GOVSVC_SYNC_PULLS
           && (ngx_msec_int_t) (ngx_current_msec - cl->pull_after[cl->pull])
              < 0)
    {
        cl->pull++;
    }

    if (cl->pull == NGX_GOVSVC_SYNC_PULLS) {
        ngx_govsvc_sync_round_end(cl, NGX_OK);
        return;
    }

    v = ngx_palloc(cl->pool, sizeof(const char *));
    if (v == NULL) {
        ngx_govsvc_sync_pull_end(cl, NGX_ERROR);
        return;
    }

    v[0] = cl->parent;
    cl->doing = ngx_govsvc_sync_pulls[cl->pull].doing;

    if (ngx_govsvc_sync_sql(cl, ngx_govsvc_sync_pulls[cl->pull].since, 1, v,
                            ngx_govsvc_sync_since)
        != NGX_OK)
    {
        ngx_govsvc_sync_pull_end(cl, NGX_ERROR);
    }
}


static void
ngx_govsvc_sync_pull_end(ngx_govsvc_sync_client_t *cl, ngx_int_t rc)
{
    ngx_uint_t  i;

    i = cl->pull++;

    if (rc == NGX_OK) {
        /* while the push drains a backlog, the pulls wait their turn */
        cl->pull_failures[i] = 0;
        cl->pull_after[i] = ngx_current_msec + cl->gmcf->sync_interval;

    } else {
        cl->pull_after[i] = ngx_current_msec
                            + ngx_govsvc_sync_backoff(cl,
                                                 ++cl->pull_failures[i]);
    }

    ngx_govsvc_sync_pull(cl);
}


static void
ngx_govsvc_sync_since(ngx_govsvc_pg_t *pg, PGresult *res, void *data)
{
    ngx_govsvc_sync_client_t *cl = data;

    u_char       *since;
    size_t        len;
    ngx_str_t     path;
    const char   *base;

    since = ngx_govsvc_sync_value(cl, pg, res, &len);
    if (since == NULL) {
        ngx_govsvc_sync_pull_end(cl, NGX_ERROR);
        return;
    }

    base = ngx_govsvc_sync_pulls[cl->pull].path;

    path.data = ngx_pnalloc(cl->pool, ngx_strlen(base) + len);
    if (path.data == NULL) {
        ngx_govsvc_sync_pull_end(cl, NGX_ERROR);
        return;
    }

    path.len = ngx_sprintf(path.data, "%s%s", base, since) - path.data;

    if (ngx_govsvc_sync_exchange(cl, "GET", &path, NULL, 0,
                                 ngx_govsvc_sync_pulled)
        != NGX_OK)
    {
        ngx_govsvc_sync_pull_end(cl, NGX_ERROR);
    }
}


static void
ngx_govsvc_sync_pulled(ngx_govsvc_sync_client_t *cl, ngx_uint_t status,
    u_char *body, size_t len)
{
    const char  **v;

    if (status != NGX_HTTP_OK) {
        if (status) {
            ngx_log_error(NGX_LOG_WARN, cl->log, 0,
                          "govsvc: %s: the parent answered %ui %*s",
                          cl->doing, status, ngx_min(len, 512), body);
        }

        ngx_govsvc_sync_pull_end(cl, NGX_ERROR);
        return;
    }

    v = ngx_palloc(cl->pool, 2 * sizeof(const char *));
    if (v == NULL) {
        ngx_govsvc_sync_pull_end(cl, NGX_ERROR);
        return;
    }

    /* the exchange keeps a NUL after the body */
    v[0] = cl->parent;
    v[1] = (const char *) body;

    if (ngx_govsvc_sync_sql(cl, ngx_govsvc_sync_pulls[cl->pull].apply, 2, v,
                            ngx_govsvc_sync_applied)
        != NGX_OK)
    {
        ngx_govsvc_sync_pull_end(cl, NGX_ERROR);
    }
}


/*
 * {"next","more",...}: the catalog's "calendar_years" leave Redis and its
 * "skipped" rows are logged; more pages are pulled at once, a few per
 * round, then the next round goes on at once.
 */

static void
ngx_govsvc_sync_applied(ngx_govsvc_pg_t *pg, PGresult *res, void *data)
{
    ngx_govsvc_sync_client_t *cl = data;

    u_char      *text;
    cJSON       *json, *skipped;
    size_t       len;
    ngx_uint_t   more;

    text = ngx_govsvc_sync_value(cl, pg, res, &len);
    json = text ? cJSON_ParseWithLength((const char *) text, len) : NULL;

    if (json == NULL) {
        ngx_govsvc_sync_pull_end(cl, NGX_ERROR);
        return;
    }

    ngx_govsvc_sync_calendar(cl,
        cJSON_GetObjectItemCaseSensitive(json, "calendar_years"));

    /* rows from above whose code this node already uses for its own */
    skipped = cJSON_GetObjectItemCaseSensitive(json, "skipped");

    if (cJSON_GetArraySize(skipped) > 0) {
        ngx_log_error(NGX_LOG_WARN, cl->log, 0,
                      "govsvc: catalog rows from the parent kept out, "
                      "their codes are this node's own: %*s",
                      ngx_min(len, 512), text);
    }

    more = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(json, "more"));
    cJSON_Delete(json);

    if (more && ++cl->pages < NGX_GOVSVC_SYNC_PAGES) {
        /* the same pull again */
        ngx_govsvc_sync_pull(cl);
        return;
    }

    if (more) {
        /* the next round, at once, goes on where this one stopped */
        cl->pushed = 1;
        ngx_govsvc_sync_round_end(cl, NGX_OK);
        return;
    }

    ngx_govsvc_sync_pull_end(cl, NGX_OK);
}


/*
 * The calendar's cached years become tombstones (see the calendar's
 * change in ngx_govsvc_admin.c): a read racing this one cannot cache the
 * old year again.  Redis away: the cache ends with its TTL.
 */

static void
ngx_govsvc_sync_calendar(ngx_govsvc_sync_client_t *cl, cJSON *years)
{
    u_char        key[sizeof("govsvc:calendar:") + NGX_INT_T_LEN];
    u_char        ttl[NGX_INT_T_LEN];
    cJSON        *y;
    size_t        argvlen[5];
    const char   *argv[5];

    if (cl->gmcf->redis == NULL) {
        return;
    }

    cJSON_ArrayForEach(y, years) {
        if (!cJSON_IsNumber(y)) {
            continue;
        }

        argv[0] = "SET";
        argv[1] = (const char *) key;
        argv[2] = "";
        argv[3] = "PX";
        argv[4] = (const char *) ttl;

        argvlen[0] = 3;
        argvlen[1] = ngx_sprintf(key, "govsvc:calendar:%i",
                                 (ngx_int_t) y->valuedouble)
                     - key;
        argvlen[2] = 0;
        argvlen[3] = 2;
        argvlen[4] = ngx_sprintf(ttl, "%M", cl->gmcf->cache_ttl) - ttl;

        (void) ngx_govsvc_redis_command(cl->gmcf->redis,
                                        ngx_govsvc_sync_cache_reply, cl,
                                        5, argv, argvlen);
    }
}


static void
ngx_govsvc_sync_cache_reply(redisReply *reply, void *data)
{
    ngx_govsvc_sync_client_t *cl = data;

    if (reply == NULL || reply->type == REDIS_REPLY_ERROR) {
        ngx_log_error(NGX_LOG_WARN, cl->log, 0,
                      "govsvc: a calendar year from above stays cached "
                      "until its TTL: Redis did not take the tombstone");
    }
}


/* ---- one HTTPS exchange with the parent ---- */

/*
 * Sends method path (and a JSON body) to the parent and calls answer with
 * the HTTP status and the body (NUL-terminated in the round's pool), or
 * with status 0 when the exchange failed (logged).  answer is never
 * called from inside this function.
 */

static ngx_int_t
ngx_govsvc_sync_exchange(ngx_govsvc_sync_client_t *cl, const char *method,
    ngx_str_t *path, u_char *body, size_t len,
    ngx_govsvc_sync_answer_pt answer)
{
    size_t                   size;
    ngx_int_t                rc;
    ngx_url_t               *u;
    ngx_connection_t        *c;

    u = cl->gmcf->sync_parent;

    size = sizeof(" HTTP/1.1" CRLF "Host: :" CRLF
                  "User-Agent: govsvc-node/" CRLF
                  "Content-Type: application/json" CRLF
                  "Content-Length: " CRLF "Connection: close" CRLF CRLF)
           + ngx_strlen(method) + path->len + u->host.len + NGX_INT_T_LEN
           + 6 + NGX_SIZE_T_LEN + len;

    cl->out = ngx_create_temp_buf(cl->pool, size);
    cl->in = ngx_create_temp_buf(cl->pool, NGX_GOVSVC_SYNC_ANSWER_MIN);

    if (cl->out == NULL || cl->in == NULL) {
        return NGX_ERROR;
    }

    cl->out->last = ngx_sprintf(cl->out->last,
                                "%s %V HTTP/1.1" CRLF
                                "Host: %V:%d" CRLF
                                "User-Agent: govsvc-node/%s" CRLF,
                                method, path, &u->host, (int) u->port,
                                cl->node);

    if (body) {
        cl->out->last = ngx_sprintf(cl->out->last,
                                    "Content-Type: application/json" CRLF
                                    "Content-Length: %uz" CRLF, len);
    }

    cl->out->last = ngx_sprintf(cl->out->last,
                                "Connection: close" CRLF CRLF);

    if (body) {
        cl->out->last = ngx_cpymem(cl->out->last, body, len);
    }

    ngx_memzero(&cl->peer, sizeof(ngx_peer_connection_t));

    cl->peer.sockaddr = u->addrs[0].sockaddr;
    cl->peer.socklen = u->addrs[0].socklen;
    cl->peer.name = &u->addrs[0].name;
    cl->peer.get = ngx_event_get_peer;
    cl->peer.log = cl->log;
    cl->peer.log_error = NGX_ERROR_ERR;

    cl->answer = answer;

    rc = ngx_event_connect_peer(&cl->peer);

    if (rc == NGX_ERROR || rc == NGX_BUSY || rc == NGX_DECLINED) {
        ngx_log_error(NGX_LOG_WARN, cl->log, 0,
                      "govsvc: %s: cannot connect to the parent %V",
                      cl->doing, cl->peer.name);
        cl->peer.connection = NULL;
        return NGX_ERROR;
    }

    c = cl->peer.connection;
    c->data = cl;
    c->pool = cl->pool;
    c->read->handler = ngx_govsvc_sync_connected;
    c->write->handler = ngx_govsvc_sync_connected;

    ngx_add_timer(&cl->deadline, cl->gmcf->sync_timeout);

    if (rc == NGX_OK) {
        ngx_post_event(c->write, &ngx_posted_events);
    }

    return NGX_OK;
}


static void
ngx_govsvc_sync_connected(ngx_event_t *ev)
{
    int                        err;
    socklen_t                  len;
    ngx_int_t                  rc;
    ngx_connection_t          *c;
    ngx_govsvc_sync_client_t  *cl;

    c = ev->data;
    cl = c->data;

    err = 0;
    len = sizeof(int);

    if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, (void *) &err, &len) == -1)
    {
        err = ngx_socket_errno;
    }

    if (err) {
        ngx_log_error(NGX_LOG_WARN, cl->log, err,
                      "govsvc: %s: connect() to the parent %V failed",
                      cl->doing, cl->peer.name);
        ngx_govsvc_sync_failed(cl, NULL);
        return;
    }

    if (ngx_ssl_create_connection(cl->gmcf->sync_ssl, c, NGX_SSL_CLIENT)
        != NGX_OK)
    {
        ngx_govsvc_sync_failed(cl, "no TLS connection");
        return;
    }

    if (SSL_set_tlsext_host_name(c->ssl->connection,
                                 (char *) cl->gmcf->sync_parent->host.data)
        == 0)
    {
        ngx_govsvc_sync_failed(cl, "SSL_set_tlsext_host_name() failed");
        return;
    }

    if (cl->session
        && ngx_ssl_set_session(c, cl->session) != NGX_OK)
    {
        ngx_govsvc_sync_failed(cl, "the TLS session was not resumed");
        return;
    }

    c->ssl->save_session = ngx_govsvc_sync_save_session;

    rc = ngx_ssl_handshake(c);

    if (rc == NGX_AGAIN) {
        c->ssl->handler = ngx_govsvc_sync_handshaked;
        return;
    }

    ngx_govsvc_sync_handshaked(c);
}


static void
ngx_govsvc_sync_handshaked(ngx_connection_t *c)
{
    ngx_govsvc_sync_client_t  *cl;

    cl = c->data;

    if (!c->ssl->handshaked) {
        ngx_govsvc_sync_failed(cl, "the TLS handshake failed");
        return;
    }

    if (ngx_govsvc_sync_verify(c, &cl->gmcf->sync_parent->host) != NGX_OK)
    {
        /* the next round starts afresh, with a full handshake */
        if (cl->session) {
            ngx_ssl_free_session(cl->session);
            cl->session = NULL;
        }

        ngx_govsvc_sync_failed(cl, NULL);
        return;
    }

    c->write->handler = ngx_govsvc_sync_send;
    c->read->handler = ngx_govsvc_sync_recv;

    ngx_govsvc_sync_send(c->write);
}


/* a session ticket from the parent: the next exchange resumes it */

static void
ngx_govsvc_sync_save_session(ngx_connection_t *c)
{
    ngx_ssl_session_t         *session;
    ngx_govsvc_sync_client_t  *cl;

    cl = c->data;

    session = ngx_ssl_get_session(c);
    if (session == NULL) {
        return;
    }

    if (cl->session) {
        ngx_ssl_free_session(cl->session);
    }

    cl->session = session;
}


/* the parent's server certificate chains to govsvc_sync_trusted_certificate
 * and names the host (or the address) of govsvc_sync_parent */

static ngx_int_t
ngx_govsvc_sync_verify(ngx_connection_t *c, ngx_str_t *host)
{
    long   rc;
    X509  *cert;

    rc = SSL_get_verify_result(c->ssl->connection);

    if (rc != X509_V_OK) {
        ngx_log_error(NGX_LOG_ERR, c->log, 0,
                      "govsvc: the parent's certificate did not verify: "
                      "(%l:%s)", rc, X509_verify_cert_error_string(rc));
        return NGX_ERROR;
    }

    cert = SSL_get_peer_certificate(c->ssl->connection);
    if (cert == NULL) {
        ngx_log_error(NGX_LOG_ERR, c->log, 0,
                      "govsvc: the parent sent no certificate");
        return NGX_ERROR;
    }

    /* X509_check_host() does not match an address: that is the _ip_ one */
    rc = X509_check_ip_asc(cert, (char *) host->data, 0);

    if (rc != 1) {
        rc = X509_check_host(cert, (char *) host->data, host->len, 0, NULL);
    }

    X509_free(cert);

    if (rc != 1) {
        ngx_log_error(NGX_LOG_ERR, c->log, 0,
                      "govsvc: the parent's certificate does not name "
                      "\"%V\"", host);
        return NGX_ERROR;
    }

    return NGX_OK;
}


static void
ngx_govsvc_sync_send(ngx_event_t *wev)
{
    ssize_t                    n;
    ngx_buf_t                 *b;
    ngx_connection_t          *c;
    ngx_govsvc_sync_client_t  *cl;

    c = wev->data;
    cl = c->data;
    b = cl->out;

    while (b->pos < b->last) {
        n = c->send(c, b->pos, b->last - b->pos);

        if (n == NGX_AGAIN) {
            if (ngx_handle_write_event(wev, 0) != NGX_OK) {
                ngx_govsvc_sync_failed(cl, "cannot wait to write");
            }

            return;
        }

        if (n == NGX_ERROR || n == 0) {
            ngx_govsvc_sync_failed(cl, "the request could not be sent");
            return;
        }

        b->pos += n;
    }

    wev->handler = ngx_govsvc_sync_idle;

    ngx_govsvc_sync_recv(c->read);
}


static void
ngx_govsvc_sync_recv(ngx_event_t *rev)
{
    u_char                    *body;
    size_t                     len, size;
    ssize_t                    n;
    ngx_int_t                  rc;
    ngx_buf_t                 *b, *bigger;
    ngx_uint_t                 status;
    ngx_connection_t          *c;
    ngx_govsvc_sync_client_t  *cl;

    c = rev->data;
    cl = c->data;
    b = cl->in;

    for ( ;; ) {
        if (b->last == b->end) {
            size = 2 * (b->end - b->start);

            if (size > NGX_GOVSVC_SYNC_ANSWER_MAX) {
                ngx_govsvc_sync_failed(cl, "the answer is too large");
                return;
            }

            bigger = ngx_create_temp_buf(cl->pool, size);
            if (bigger == NULL) {
                ngx_govsvc_sync_failed(cl, "no memory for the answer");
                return;
            }

            bigger->last = ngx_cpymem(bigger->pos, b->pos, b->last - b->pos);
            cl->in = b = bigger;
        }

        n = c->recv(c, b->last, b->end - b->last);

        if (n == NGX_AGAIN) {
            if (ngx_handle_read_event(rev, 0) != NGX_OK) {
                ngx_govsvc_sync_failed(cl, "cannot wait to read");
            }

            return;
        }

        if (n == NGX_ERROR) {
            ngx_govsvc_sync_failed(cl, "the answer could not be read");
            return;
        }

        if (n > 0) {
            b->last += n;
        }

        rc = ngx_govsvc_sync_parse(b, &status, &body, &len);

        if (rc == NGX_OK) {
            ngx_govsvc_sync_finish(cl, status, body, len);
            return;
        }

        if (rc == NGX_ERROR) {
            ngx_govsvc_sync_failed(cl, "the answer is not HTTP/1.1");
            return;
        }

        if (n == 0) {
            ngx_govsvc_sync_failed(cl, "the parent closed mid-answer");
            return;
        }
    }
}


/*
 * The parent is a GovSvc node: its answers have a status line, headers
 * and a Content-Length (never chunked).  NGX_AGAIN: not complete yet;
 * the body gets a NUL after it (a byte is always left for it).
 */

static ngx_int_t
ngx_govsvc_sync_parse(ngx_buf_t *b, ngx_uint_t *status, u_char **body,
    size_t *len)
{
    u_char     *p, *end, *h;
    ngx_int_t   n;

    end = ngx_strlcasestrn(b->pos, b->last, (u_char *) CRLF CRLF, 4 - 1);
    if (end == NULL) {
        return NGX_AGAIN;
    }

    if (b->last - b->pos < 12
        || ngx_strncmp(b->pos, "HTTP/1.", 7) != 0)
    {
        return NGX_ERROR;
    }

    n = ngx_atoi(b->pos + 9, 3);
    if (n < 100 || n > 599) {
        return NGX_ERROR;
    }

    h = ngx_strlcasestrn(b->pos, end, (u_char *) CRLF "content-length:",
                         sizeof(CRLF "content-length:") - 2);
    if (h == NULL) {
        return NGX_ERROR;
    }

    for (p = h + sizeof(CRLF "content-length:") - 1; *p == ' '; p++) {
        /* void */
    }

    h = p;

    while (p < end && *p >= '0' && *p <= '9') {
        p++;
    }

    n = ngx_atoi(h, p - h);
    end += 4;

    if (n == NGX_ERROR || n > NGX_GOVSVC_SYNC_ANSWER_MAX) {
        return NGX_ERROR;
    }

    if (b->last - end < n || b->last == b->end) {
        return NGX_AGAIN;
    }

    *status = ngx_atoi(b->pos + 9, 3);
    *body = end;
    *len = n;
    end[n] = '\0';

    return NGX_OK;
}


static void
ngx_govsvc_sync_timedout(ngx_event_t *ev)
{
    ngx_govsvc_sync_client_t *cl = ev->data;

    ngx_govsvc_sync_failed(cl, "timed out");
}


static void
ngx_govsvc_sync_failed(ngx_govsvc_sync_client_t *cl, const char *why)
{
    if (why) {
        ngx_log_error(NGX_LOG_WARN, cl->log, 0,
                      "govsvc: %s: the exchange with the parent %V failed: "
                      "%s", cl->doing, cl->peer.name, why);
    }

    ngx_govsvc_sync_finish(cl, 0, NULL, 0);
}


static void
ngx_govsvc_sync_finish(ngx_govsvc_sync_client_t *cl, ngx_uint_t status,
    u_char *body, size_t len)
{
    ngx_govsvc_sync_close(cl);

    cl->answer(cl, status, body, len);
}


static void
ngx_govsvc_sync_close(ngx_govsvc_sync_client_t *cl)
{
    ngx_connection_t  *c;

    if (cl->deadline.timer_set) {
        ngx_del_timer(&cl->deadline);
    }

    c = cl->peer.connection;
    if (c == NULL) {
        return;
    }

    cl->peer.connection = NULL;

    if (c->ssl) {
        /* one request per connection: nothing to wait for */
        c->ssl->no_wait_shutdown = 1;
        c->ssl->no_send_shutdown = 1;
        (void) ngx_ssl_shutdown(c);
    }

    ngx_close_connection(c);
}


static void
ngx_govsvc_sync_idle(ngx_event_t *ev)
{
    /* the request is out: only the answer matters now */
}
