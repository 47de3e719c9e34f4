
/*
 * GovSvc: key/value entries with expiry, counters and the metrics block,
 * in the shared memory zone of govsvc_zone.
 *
 * The zone holds one slab pool.  Its first allocation is the "sh" block:
 * the red-black tree of entries, the LRU queue of entries (most recently
 * used at the head) and the metrics block.  Every entry is one slab
 * allocation: an ngx_rbtree_node_t whose tail (from "color" on) is an
 * ngx_govsvc_shm_node_t followed by the key bytes and the value bytes.
 *
 * Times are absolute ngx_msec_t values of ngx_current_msec.  In nginx
 * 1.22 ngx_current_msec is taken from the monotonic clock, which is one
 * clock for all processes of the host, so an expiry written by a worker
 * means the same to the others and survives a reload.  It is the time
 * cached at the start of the worker's event loop turn: workers may
 * disagree by a few milliseconds, which is harmless here.
 *
 * Every operation runs under the pool's mutex; nothing in the zone is
 * referenced by a caller once the mutex is released.  Failures that return
 * NGX_ERROR are logged here, the callers need not log them again.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_govsvc.h"


#define NGX_GOVSVC_SHM_KEY_MAX      255
#define NGX_GOVSVC_SHM_VALUE_MAX    65536

/* expired entries freed from the LRU tail by each set and incr */
#define NGX_GOVSVC_SHM_EXPIRE       2

/* least recently used entries evicted at most to make room for one */
#define NGX_GOVSVC_SHM_EVICT        64


typedef struct {
    u_char                       color;
    u_char                       counter;   /* the value is "number" */
    u_short                      key_len;
    uint32_t                     value_len; /* bytes allocated for it */
    ngx_queue_t                  queue;
    ngx_msec_t                   expires;   /* 0: never */
    int64_t                      number;
    u_char                       data[1];   /* key, then value */
} ngx_govsvc_shm_node_t;


typedef struct {
    ngx_rbtree_t                 rbtree;
    ngx_rbtree_node_t            sentinel;
    ngx_queue_t                  queue;
    ngx_govsvc_metrics_t         metrics;
    /* the pool's log_ctx string follows */
} ngx_govsvc_shm_sh_t;


typedef struct {
    ngx_govsvc_shm_sh_t         *sh;
    ngx_slab_pool_t             *shpool;
} ngx_govsvc_shm_ctx_t;


static ngx_int_t ngx_govsvc_shm_init_zone(ngx_shm_zone_t *shm_zone,
    void *data);
static void ngx_govsvc_shm_rbtree_insert_value(ngx_rbtree_node_t *temp,
    ngx_rbtree_node_t *node, ngx_rbtree_node_t *sentinel);
static ngx_int_t ngx_govsvc_shm_check_key(ngx_shm_zone_t *zone,
    ngx_str_t *key);
static ngx_govsvc_shm_node_t *ngx_govsvc_shm_lookup(
    ngx_govsvc_shm_ctx_t *ctx, uint32_t hash, ngx_str_t *key);
static ngx_rbtree_node_t *ngx_govsvc_shm_alloc(ngx_govsvc_shm_ctx_t *ctx,
    size_t size);
static void ngx_govsvc_shm_free_node(ngx_govsvc_shm_ctx_t *ctx,
    ngx_govsvc_shm_node_t *sn);
static void ngx_govsvc_shm_expire(ngx_govsvc_shm_ctx_t *ctx, ngx_msec_t now,
    ngx_uint_t n);
static ngx_int_t ngx_govsvc_shm_parse_int64(u_char *p, size_t len,
    int64_t *value);


#define ngx_govsvc_shm_node(node)                                            \
    ((ngx_govsvc_shm_node_t *) &(node)->color)

#define ngx_govsvc_shm_rbnode(sn)                                            \
    ((ngx_rbtree_node_t *)                                                    \
         ((u_char *) (sn) - offsetof(ngx_rbtree_node_t, color)))

#define ngx_govsvc_shm_node_size(klen, vlen)                                 \
    (offsetof(ngx_rbtree_node_t, color)                                       \
     + offsetof(ngx_govsvc_shm_node_t, data) + (klen) + (vlen))

#define ngx_govsvc_shm_expired(sn, now)                                      \
    ((sn)->expires != 0 && (ngx_msec_int_t) ((sn)->expires - (now)) <= 0)


ngx_shm_zone_t *
ngx_govsvc_shm_add(ngx_conf_t *cf, ngx_str_t *name, size_t size)
{
    ngx_shm_zone_t        *shm_zone;
    ngx_govsvc_shm_ctx_t  *ctx;

    if (size < 8 * ngx_pagesize) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "govsvc zone \"%V\" is too small: %uz bytes, "
                           "the minimum is %uz", name, size,
                           (size_t) (8 * ngx_pagesize));
        return NULL;
    }

    ctx = ngx_pcalloc(cf->pool, sizeof(ngx_govsvc_shm_ctx_t));
    if (ctx == NULL) {
        return NULL;
    }

    /* a zone of this name for another module or of another size is
     * refused (and reported) by ngx_shared_memory_add() */

    shm_zone = ngx_shared_memory_add(cf, name, size, &ngx_govsvc_module);
    if (shm_zone == NULL) {
        return NULL;
    }

    if (shm_zone->data) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "govsvc zone \"%V\" is already declared", name);
        return NULL;
    }

    shm_zone->init = ngx_govsvc_shm_init_zone;
    shm_zone->data = ctx;

    return shm_zone;
}


static ngx_int_t
ngx_govsvc_shm_init_zone(ngx_shm_zone_t *shm_zone, void *data)
{
    ngx_govsvc_shm_ctx_t  *octx = data;

    size_t                 len;
    ngx_govsvc_shm_ctx_t  *ctx;

    ctx = shm_zone->data;

    if (octx) {
        /* reload with a zone of the same name and size: keep everything */

        ctx->sh = octx->sh;
        ctx->shpool = octx->shpool;

        return NGX_OK;
    }

    ctx->shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;

    if (shm_zone->shm.exists) {
        ctx->sh = ctx->shpool->data;

        return NGX_OK;
    }

    len = sizeof(" in govsvc zone \"\"") + shm_zone->shm.name.len;

    /* calloc: the metrics counters start at zero */

    ctx->sh = ngx_slab_calloc(ctx->shpool, sizeof(ngx_govsvc_shm_sh_t) + len);
    if (ctx->sh == NULL) {
        return NGX_ERROR;
    }

    ctx->shpool->data = ctx->sh;

    ngx_rbtree_init(&ctx->sh->rbtree, &ctx->sh->sentinel,
                    ngx_govsvc_shm_rbtree_insert_value);

    ngx_queue_init(&ctx->sh->queue);

    ctx->shpool->log_ctx = (u_char *) (ctx->sh + 1);

    ngx_sprintf(ctx->shpool->log_ctx, " in govsvc zone \"%V\"%Z",
                &shm_zone->shm.name);

    /*
     * A failed allocation is routine here: ngx_govsvc_shm_alloc() evicts
     * and retries, and logs itself when it gives up.
     */

    ctx->shpool->log_nomem = 0;

    return NGX_OK;
}


static void
ngx_govsvc_shm_rbtree_insert_value(ngx_rbtree_node_t *temp,
    ngx_rbtree_node_t *node, ngx_rbtree_node_t *sentinel)
{
    ngx_rbtree_node_t      **p;
    ngx_govsvc_shm_node_t   *sn, *snt;

    for ( ;; ) {

        if (node->key < temp->key) {

            p = &temp->left;

        } else if (node->key > temp->key) {

            p = &temp->right;

        } else { /* node->key == temp->key */

            sn = ngx_govsvc_shm_node(node);
            snt = ngx_govsvc_shm_node(temp);

            p = (ngx_memn2cmp(sn->data, snt->data, sn->key_len, snt->key_len)
                 < 0)
                ? &temp->left : &temp->right;
        }

        if (*p == sentinel) {
            break;
        }

        temp = *p;
    }

    *p = node;
    node->parent = temp;
    node->left = sentinel;
    node->right = sentinel;
    ngx_rbt_red(node);
}


/*
 * Copies the value into pool, so that the caller never points into the
 * zone.  A counter made by ngx_govsvc_shm_incr() reads as its decimal text.
 * An expired entry is absent, and is freed on the way.
 */

ngx_int_t
ngx_govsvc_shm_get(ngx_shm_zone_t *zone, ngx_str_t *key, ngx_pool_t *pool,
    ngx_str_t *value)
{
    u_char                 *p;
    uint32_t                hash;
    ngx_msec_t              now;
    ngx_govsvc_shm_ctx_t   *ctx;
    ngx_govsvc_shm_node_t  *sn;

    if (ngx_govsvc_shm_check_key(zone, key) != NGX_OK) {
        return NGX_ERROR;
    }

    ctx = zone->data;
    hash = ngx_crc32_short(key->data, key->len);

    ngx_shmtx_lock(&ctx->shpool->mutex);

    now = ngx_current_msec;

    sn = ngx_govsvc_shm_lookup(ctx, hash, key);

    if (sn == NULL) {
        ngx_shmtx_unlock(&ctx->shpool->mutex);
        return NGX_DECLINED;
    }

    if (ngx_govsvc_shm_expired(sn, now)) {
        ngx_govsvc_shm_free_node(ctx, sn);
        ngx_shmtx_unlock(&ctx->shpool->mutex);
        return NGX_DECLINED;
    }

    ngx_queue_remove(&sn->queue);
    ngx_queue_insert_head(&ctx->sh->queue, &sn->queue);

    if (sn->counter) {
        p = ngx_pnalloc(pool, NGX_INT64_LEN);
        if (p == NULL) {
            ngx_shmtx_unlock(&ctx->shpool->mutex);
            return NGX_ERROR;
        }

        value->data = p;
        value->len = ngx_sprintf(p, "%L", sn->number) - p;

        ngx_shmtx_unlock(&ctx->shpool->mutex);
        return NGX_OK;
    }

    if (sn->value_len == 0) {
        ngx_shmtx_unlock(&ctx->shpool->mutex);

        ngx_str_set(value, "");
        return NGX_OK;
    }

    p = ngx_pnalloc(pool, sn->value_len);
    if (p == NULL) {
        ngx_shmtx_unlock(&ctx->shpool->mutex);
        return NGX_ERROR;
    }

    ngx_memcpy(p, sn->data + sn->key_len, sn->value_len);

    value->data = p;
    value->len = sn->value_len;

    ngx_shmtx_unlock(&ctx->shpool->mutex);

    return NGX_OK;
}


/*
 * Stores value under key for ttl ms (0: no expiry), replacing any entry
 * of that key, counter or not.  The entry is reused in place when the
 * value has the same size; otherwise it is freed first and a new one is
 * allocated, so a failed replacement leaves the key absent.
 */

ngx_int_t
ngx_govsvc_shm_set(ngx_shm_zone_t *zone, ngx_str_t *key, ngx_str_t *value,
    ngx_msec_t ttl)
{
    uint32_t                hash;
    ngx_msec_t              now;
    ngx_rbtree_node_t      *node;
    ngx_govsvc_shm_ctx_t   *ctx;
    ngx_govsvc_shm_node_t  *sn;

    if (ngx_govsvc_shm_check_key(zone, key) != NGX_OK) {
        return NGX_ERROR;
    }

    if (value->len > NGX_GOVSVC_SHM_VALUE_MAX) {
        ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                      "govsvc zone \"%V\": value of %uz bytes for \"%V\" "
                      "is larger than %d bytes",
                      &zone->shm.name, value->len, key,
                      NGX_GOVSVC_SHM_VALUE_MAX);
        return NGX_ERROR;
    }

    ctx = zone->data;
    hash = ngx_crc32_short(key->data, key->len);

    ngx_shmtx_lock(&ctx->shpool->mutex);

    now = ngx_current_msec;

    ngx_govsvc_shm_expire(ctx, now, NGX_GOVSVC_SHM_EXPIRE);

    sn = ngx_govsvc_shm_lookup(ctx, hash, key);

    if (sn && sn->value_len != value->len) {
        ngx_govsvc_shm_free_node(ctx, sn);
        sn = NULL;
    }

    if (sn) {
        ngx_queue_remove(&sn->queue);

    } else {
        node = ngx_govsvc_shm_alloc(ctx,
                                    ngx_govsvc_shm_node_size(key->len,
                                                             value->len));
        if (node == NULL) {
            ngx_shmtx_unlock(&ctx->shpool->mutex);
            return NGX_ERROR;
        }

        node->key = hash;

        sn = ngx_govsvc_shm_node(node);

        sn->key_len = (u_short) key->len;
        sn->value_len = (uint32_t) value->len;
        ngx_memcpy(sn->data, key->data, key->len);

        ngx_rbtree_insert(&ctx->sh->rbtree, node);
    }

    sn->counter = 0;
    sn->number = 0;
    sn->expires = ttl ? now + ttl : 0;

    if (value->len) {
        ngx_memcpy(sn->data + sn->key_len, value->data, value->len);
    }

    ngx_queue_insert_head(&ctx->sh->queue, &sn->queue);

    ngx_shmtx_unlock(&ctx->shpool->mutex);

    return NGX_OK;
}


/* NGX_OK: removed; NGX_DECLINED: absent or already expired */

ngx_int_t
ngx_govsvc_shm_del(ngx_shm_zone_t *zone, ngx_str_t *key)
{
    uint32_t                hash;
    ngx_int_t               rc;
    ngx_govsvc_shm_ctx_t   *ctx;
    ngx_govsvc_shm_node_t  *sn;

    if (ngx_govsvc_shm_check_key(zone, key) != NGX_OK) {
        return NGX_ERROR;
    }

    ctx = zone->data;
    hash = ngx_crc32_short(key->data, key->len);

    ngx_shmtx_lock(&ctx->shpool->mutex);

    sn = ngx_govsvc_shm_lookup(ctx, hash, key);

    if (sn == NULL) {
        rc = NGX_DECLINED;

    } else {
        rc = ngx_govsvc_shm_expired(sn, ngx_current_msec) ? NGX_DECLINED
                                                           : NGX_OK;
        ngx_govsvc_shm_free_node(ctx, sn);
    }

    ngx_shmtx_unlock(&ctx->shpool->mutex);

    return rc;
}


/*
 * The counter is kept as a separate int64_t in the entry ("number", with
 * the "counter" flag set), not as decimal text: incr then needs neither
 * parsing nor reallocation, and get prints it.  An absent or expired key
 * starts at 0 with ttl (0: no expiry); a live counter keeps its original
 * expiry, which fixed window rate limiting relies on.  A live string entry
 * holding a decimal integer becomes a counter with that value (and keeps
 * its expiry); any other string is an error, and so is an overflow.
 */

ngx_int_t
ngx_govsvc_shm_incr(ngx_shm_zone_t *zone, ngx_str_t *key, int64_t delta,
    ngx_msec_t ttl, int64_t *value, ngx_msec_t *ttl_left)
{
    int64_t                 n;
    uint32_t                hash;
    ngx_msec_t              now;
    ngx_rbtree_node_t      *node;
    ngx_govsvc_shm_ctx_t   *ctx;
    ngx_govsvc_shm_node_t  *sn;

    if (ngx_govsvc_shm_check_key(zone, key) != NGX_OK) {
        return NGX_ERROR;
    }

    ctx = zone->data;
    hash = ngx_crc32_short(key->data, key->len);

    ngx_shmtx_lock(&ctx->shpool->mutex);

    now = ngx_current_msec;

    ngx_govsvc_shm_expire(ctx, now, NGX_GOVSVC_SHM_EXPIRE);

    sn = ngx_govsvc_shm_lookup(ctx, hash, key);

    if (sn == NULL) {
        node = ngx_govsvc_shm_alloc(ctx,
                                    ngx_govsvc_shm_node_size(key->len, 0));
        if (node == NULL) {
            ngx_shmtx_unlock(&ctx->shpool->mutex);
            return NGX_ERROR;
        }

        node->key = hash;

        sn = ngx_govsvc_shm_node(node);

        sn->key_len = (u_short) key->len;
        sn->value_len = 0;
        ngx_memcpy(sn->data, key->data, key->len);

        ngx_rbtree_insert(&ctx->sh->rbtree, node);

        sn->counter = 1;
        sn->number = 0;
        sn->expires = ttl ? now + ttl : 0;

    } else {
        ngx_queue_remove(&sn->queue);

        if (ngx_govsvc_shm_expired(sn, now)) {
            /* a new life for the key, in the same entry */

            sn->counter = 1;
            sn->number = 0;
            sn->expires = ttl ? now + ttl : 0;

        } else if (!sn->counter) {

            if (ngx_govsvc_shm_parse_int64(sn->data + sn->key_len,
                                           sn->value_len, &n)
                != NGX_OK)
            {
                ngx_queue_insert_head(&ctx->sh->queue, &sn->queue);
                ngx_shmtx_unlock(&ctx->shpool->mutex);

                ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                              "govsvc zone \"%V\": cannot increment "
                              "\"%V\", its value is not an integer",
                              &zone->shm.name, key);
                return NGX_ERROR;
            }

            sn->counter = 1;
            sn->number = n;
        }
    }

    ngx_queue_insert_head(&ctx->sh->queue, &sn->queue);

    if ((delta > 0 && sn->number > INT64_MAX - delta)
        || (delta < 0 && sn->number < INT64_MIN - delta))
    {
        ngx_shmtx_unlock(&ctx->shpool->mutex);

        ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                      "govsvc zone \"%V\": incrementing \"%V\" by %L "
                      "would overflow", &zone->shm.name, key, delta);
        return NGX_ERROR;
    }

    sn->number += delta;

    if (value) {
        *value = sn->number;
    }

    if (ttl_left) {
        *ttl_left = sn->expires ? sn->expires - now : 0;
    }

    ngx_shmtx_unlock(&ctx->shpool->mutex);

    return NGX_OK;
}


ngx_govsvc_metrics_t *
ngx_govsvc_shm_metrics(ngx_shm_zone_t *zone)
{
    ngx_govsvc_shm_ctx_t  *ctx;

    if (zone == NULL) {
        return NULL;
    }

    ctx = zone->data;

    if (ctx == NULL || ctx->sh == NULL) {
        return NULL;
    }

    return &ctx->sh->metrics;
}


static ngx_int_t
ngx_govsvc_shm_check_key(ngx_shm_zone_t *zone, ngx_str_t *key)
{
    if (key->len == 0 || key->len > NGX_GOVSVC_SHM_KEY_MAX) {
        ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                      "govsvc zone \"%V\": key length %uz is not "
                      "between 1 and %d",
                      &zone->shm.name, key->len, NGX_GOVSVC_SHM_KEY_MAX);
        return NGX_ERROR;
    }

    return NGX_OK;
}


/* called with the mutex held; neither expires nor touches the LRU */

static ngx_govsvc_shm_node_t *
ngx_govsvc_shm_lookup(ngx_govsvc_shm_ctx_t *ctx, uint32_t hash,
    ngx_str_t *key)
{
    ngx_int_t               rc;
    ngx_rbtree_node_t      *node, *sentinel;
    ngx_govsvc_shm_node_t  *sn;

    node = ctx->sh->rbtree.root;
    sentinel = ctx->sh->rbtree.sentinel;

    while (node != sentinel) {

        if (hash < node->key) {
            node = node->left;
            continue;
        }

        if (hash > node->key) {
            node = node->right;
            continue;
        }

        /* hash == node->key */

        sn = ngx_govsvc_shm_node(node);

        rc = ngx_memn2cmp(key->data, sn->data, key->len,
                          (size_t) sn->key_len);

        if (rc == 0) {
            return sn;
        }

        node = (rc < 0) ? node->left : node->right;
    }

    return NULL;
}


/*
 * Called with the mutex held.  When the zone is full the least recently
 * used entries are evicted, one at a time with a new attempt after each,
 * whether they have expired or not: the zone is a cache, and so an idle
 * rate limiting counter may go too, which at worst gives its client a
 * fresh window.  Evicting one entry of another slab size class may free
 * nothing usable, hence several attempts, bounded by NGX_GOVSVC_SHM_EVICT.
 * An entry bigger than an eighth of the zone evicts nothing: in a small
 * zone it might never fit, and must not empty the zone trying.
 */

static ngx_rbtree_node_t *
ngx_govsvc_shm_alloc(ngx_govsvc_shm_ctx_t *ctx, size_t size)
{
    ngx_uint_t              n, max;
    ngx_queue_t            *q;
    ngx_rbtree_node_t      *node;
    ngx_govsvc_shm_node_t  *sn;

    max = (size <= (size_t) (ctx->shpool->end - ctx->shpool->start) / 8)
          ? NGX_GOVSVC_SHM_EVICT : 0;

    for (n = 0; /* void */ ; n++) {

        node = ngx_slab_alloc_locked(ctx->shpool, size);
        if (node) {
            return node;
        }

        if (n == max || ngx_queue_empty(&ctx->sh->queue)) {
            break;
        }

        q = ngx_queue_last(&ctx->sh->queue);
        sn = ngx_queue_data(q, ngx_govsvc_shm_node_t, queue);

        ngx_govsvc_shm_free_node(ctx, sn);
    }

    ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                  "could not allocate %uz bytes%s, %ui entries evicted",
                  size, ctx->shpool->log_ctx, n);

    return NULL;
}


static void
ngx_govsvc_shm_free_node(ngx_govsvc_shm_ctx_t *ctx, ngx_govsvc_shm_node_t *sn)
{
    ngx_rbtree_node_t  *node;

    node = ngx_govsvc_shm_rbnode(sn);

    ngx_queue_remove(&sn->queue);
    ngx_rbtree_delete(&ctx->sh->rbtree, node);
    ngx_slab_free_locked(ctx->shpool, node);
}


/*
 * Called with the mutex held: frees up to n expired entries from the LRU
 * tail, stopping at the first live one (the others are found and freed
 * lazily when met, or evicted when the zone is full).
 */

static void
ngx_govsvc_shm_expire(ngx_govsvc_shm_ctx_t *ctx, ngx_msec_t now,
    ngx_uint_t n)
{
    ngx_queue_t            *q;
    ngx_govsvc_shm_node_t  *sn;

    while (n--) {

        if (ngx_queue_empty(&ctx->sh->queue)) {
            return;
        }

        q = ngx_queue_last(&ctx->sh->queue);
        sn = ngx_queue_data(q, ngx_govsvc_shm_node_t, queue);

        if (!ngx_govsvc_shm_expired(sn, now)) {
            return;
        }

        ngx_govsvc_shm_free_node(ctx, sn);
    }
}


/* an optional '-' and 1 to 19 digits, within int64_t */

static ngx_int_t
ngx_govsvc_shm_parse_int64(u_char *p, size_t len, int64_t *value)
{
    u_char      *last;
    uint64_t     n, max;
    ngx_uint_t   neg;

    last = p + len;

    neg = (p < last && *p == '-');

    if (neg) {
        p++;
    }

    if (p == last) {
        return NGX_ERROR;
    }

    max = neg ? (uint64_t) INT64_MAX + 1 : (uint64_t) INT64_MAX;
    n = 0;

    for ( /* void */ ; p < last; p++) {

        if (*p < '0' || *p > '9') {
            return NGX_ERROR;
        }

        if (n > (max - (*p - '0')) / 10) {
            return NGX_ERROR;
        }

        n = n * 10 + (*p - '0');
    }

    if (!neg) {
        *value = (int64_t) n;

    } else {
        *value = (n == max) ? INT64_MIN : -(int64_t) n;
    }

    return NGX_OK;
}
