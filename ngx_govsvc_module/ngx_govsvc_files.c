
/*
 * GovSvc: material files (材料附件), uploaded and downloaded.
 *
 * PUT /api/v1/cases/{case_no}/materials/{code}/files takes the file as the
 * raw body.  The body is read only after authentication and the checks
 * that cost nothing (media type, Content-Length, X-File-Name), so that an
 * anonymous client cannot make the node write files.  nginx writes it to a
 * temporary file of client_body_temp_path; on its way there a request body
 * filter hashes it (SHA-256, incrementally), counts it against
 * govsvc_upload_max_size and keeps its first bytes, whose type must be the
 * declared one.  The temporary file is then renamed into the store of
 * govsvc_files, content-addressed: <govsvc_files>/<2 hex>/<sha256>.  The
 * file is never read back, and the client's name for it is data, never a
 * path.
 *
 * A file already in the store is the same content: the rename replaces it
 * with its twin.  A stored file is never removed here, even when
 * PostgreSQL refuses the row, since other rows may name the same content.
 */


#include "ngx_govsvc.h"
#include "gs_sniff.h"
#include "gs_utf8.h"


#define NGX_GOVSVC_FILE_NAME_MAX      255      /* bytes, decoded */
#define NGX_GOVSVC_MATERIAL_MAX       64
#define NGX_GOVSVC_FILE_DIR_MODE      0750
#define NGX_GOVSVC_SHA256_HEX         64


typedef struct {
    ngx_govsvc_ctx_t         *ctx;
    EVP_MD_CTX               *md;               /* freed by a pool cleanup */
    off_t                     size;             /* bytes seen so far */
    off_t                     max;              /* 0: no limit */
    gs_file_type_t            type;             /* the declared one */
    size_t                    head_len;
    u_char                    head[GS_FILE_SNIFF_MAX];
    u_char                    sha256[NGX_GOVSVC_SHA256_HEX + 1];
    char                      size_text[NGX_OFF_T_LEN + 1];
    const char               *values[9];
} ngx_govsvc_upload_t;


static ngx_int_t ngx_govsvc_files_body_filter(ngx_http_request_t *r,
    ngx_chain_t *in);
static ngx_int_t ngx_govsvc_files_unconfigured(ngx_http_request_t *r);
static gs_file_type_t ngx_govsvc_files_type(ngx_http_request_t *r);
static const char *ngx_govsvc_files_name(ngx_http_request_t *r);
static ngx_uint_t ngx_govsvc_files_hex(const char *s, size_t len);
static ngx_int_t ngx_govsvc_files_too_large(ngx_http_request_t *r,
    off_t max);
static void ngx_govsvc_files_md_cleanup(void *data);
static void ngx_govsvc_files_read(ngx_http_request_t *r);
static ngx_int_t ngx_govsvc_files_store(ngx_govsvc_ctx_t *ctx,
    ngx_govsvc_upload_t *up);
static ngx_int_t ngx_govsvc_files_move(ngx_http_request_t *r,
    ngx_temp_file_t *tf, u_char *sha256);
static void ngx_govsvc_files_keep(ngx_pool_t *pool, ngx_fd_t fd);
static void ngx_govsvc_files_added(ngx_govsvc_pg_t *pg, PGresult *res,
    void *data);
static void ngx_govsvc_files_found(ngx_govsvc_pg_t *pg, PGresult *res,
    void *data);
static ngx_int_t ngx_govsvc_files_send(ngx_govsvc_ctx_t *ctx, PGresult *res);
static ngx_int_t ngx_govsvc_files_disposition(ngx_http_request_t *r,
    const u_char *name, size_t len);


static ngx_http_request_body_filter_pt  ngx_http_next_request_body_filter;


/*
 * Installs the body filter, and makes govsvc_files a path of the cycle:
 * relative to the prefix, created at start (mode 0700, owned by the
 * workers' user) like client_body_temp_path.
 */

ngx_int_t
ngx_govsvc_files_init(ngx_conf_t *cf)
{
    u_char                  *p;
    ngx_path_t              *path;
    ngx_govsvc_main_conf_t  *gmcf;

    ngx_http_next_request_body_filter = ngx_http_top_request_body_filter;
    ngx_http_top_request_body_filter = ngx_govsvc_files_body_filter;

    gmcf = ngx_http_conf_get_module_main_conf(cf, ngx_govsvc_module);

    if (gmcf->files_path.len == 0) {
        return NGX_OK;
    }

    if (ngx_conf_full_name(cf->cycle, &gmcf->files_path, 0) != NGX_OK) {
        return NGX_ERROR;
    }

    while (gmcf->files_path.len > 1
           && gmcf->files_path.data[gmcf->files_path.len - 1] == '/')
    {
        gmcf->files_path.len--;
    }

    /* a copy of its own, NUL-terminated for mkdir() */
    p = ngx_pnalloc(cf->pool, gmcf->files_path.len + 1);
    if (p == NULL) {
        return NGX_ERROR;
    }

    ngx_cpystrn(p, gmcf->files_path.data, gmcf->files_path.len + 1);
    gmcf->files_path.data = p;

    path = ngx_pcalloc(cf->pool, sizeof(ngx_path_t));
    if (path == NULL) {
        return NGX_ERROR;
    }

    path->name = gmcf->files_path;
    path->conf_file = cf->conf_file->file.name.data;
    path->line = cf->conf_file->line;

    return ngx_add_path(cf, &path);
}


/*
 * Every request body passes here; an upload's, once its handler has set
 * its state, is hashed, counted and sniffed on its way to the file.
 */

static ngx_int_t
ngx_govsvc_files_body_filter(ngx_http_request_t *r, ngx_chain_t *in)
{
    size_t                n, k;
    ngx_buf_t            *b;
    ngx_chain_t          *cl;
    ngx_govsvc_ctx_t     *ctx;
    ngx_govsvc_upload_t  *up;

    ctx = ngx_http_get_module_ctx(r, ngx_govsvc_module);

    if (ctx == NULL || ctx->route == NULL
        || ctx->route->handler != ngx_govsvc_files_upload
        || ctx->data == NULL)
    {
        return ngx_http_next_request_body_filter(r, in);
    }

    up = ctx->data;

    for (cl = in; cl; cl = cl->next) {
        b = cl->buf;

        if (!ngx_buf_in_memory(b)) {
            if (ngx_buf_size(b) == 0) {
                continue;
            }

            /* nginx passes what it received, in memory: never expected */
            ngx_log_error(NGX_LOG_ALERT, r->connection->log, 0,
                          "govsvc: an upload's body buffer is not in memory");
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        n = b->last - b->pos;

        if (n == 0) {
            continue;
        }

        up->size += n;

        /* a chunked body has no Content-Length to check beforehand */
        if (up->max && up->size > up->max) {
            ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                          "govsvc: upload over govsvc_upload_max_size %O",
                          up->max);

            r->keepalive = 0;
            r->lingering_close = 1;

            return NGX_HTTP_REQUEST_ENTITY_TOO_LARGE;
        }

        if (up->head_len < GS_FILE_SNIFF_MAX) {
            k = ngx_min(n, GS_FILE_SNIFF_MAX - up->head_len);
            ngx_memcpy(up->head + up->head_len, b->pos, k);
            up->head_len += k;
        }

        if (EVP_DigestUpdate(up->md, b->pos, n) != 1) {
            ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                          "govsvc: EVP_DigestUpdate() failed");
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    return ngx_http_next_request_body_filter(r, in);
}


/*
 * PUT /api/v1/cases/{case_no}/materials/{code}/files (role clerk): checks
 * what the headers tell, then reads the body; ngx_govsvc_files_read()
 * goes on when it is all in the temporary file.
 */

ngx_int_t
ngx_govsvc_files_upload(ngx_govsvc_ctx_t *ctx)
{
    u_char                  *p;
    ngx_int_t                rc;
    ngx_str_t               *code;
    ngx_http_request_t      *r;
    ngx_pool_cleanup_t      *cln;
    ngx_govsvc_upload_t     *up;
    ngx_govsvc_main_conf_t  *gmcf;

    r = ctx->request;
    gmcf = ngx_http_get_module_main_conf(r, ngx_govsvc_module);

    if (gmcf->files_path.len == 0) {
        return ngx_govsvc_files_unconfigured(r);
    }

    up = ngx_pcalloc(r->pool, sizeof(ngx_govsvc_upload_t));
    if (up == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    up->ctx = ctx;
    up->max = gmcf->upload_max;

    if (ngx_govsvc_case_no(ctx, &up->values[0]) != NGX_OK) {
        return ngx_govsvc_send_error(r, NGX_HTTP_NOT_FOUND, "not_found",
                                     "no such case", NULL);
    }

    code = &ctx->params[1];

    if (code->len > NGX_GOVSVC_MATERIAL_MAX
        || !gs_utf8_valid_text(code->data, code->len))
    {
        return ngx_govsvc_send_error(r, NGX_HTTP_NOT_FOUND, "not_found",
                                     "the item asks for no such material",
                                     NULL);
    }

    p = ngx_pnalloc(r->pool, code->len + 1);
    if (p == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_cpystrn(p, code->data, code->len + 1);
    up->values[1] = (const char *) p;

    up->type = ngx_govsvc_files_type(r);

    if (up->type == GS_FILE_UNKNOWN) {
        return ngx_govsvc_send_error(r, NGX_HTTP_UNSUPPORTED_MEDIA_TYPE,
                                     "unsupported_media_type",
                                     "a file is application/pdf, image/jpeg, "
                                     "image/png or application/ofd", NULL);
    }

    if (up->max && r->headers_in.content_length_n > up->max) {
        return ngx_govsvc_files_too_large(r, up->max);
    }

    up->values[2] = ngx_govsvc_files_name(r);

    if (up->values[2] == NULL) {
        return ngx_govsvc_send_error(r, NGX_HTTP_UNPROCESSABLE_ENTITY,
                                     "validation_failed",
                                     "the file's name is required: UTF-8, "
                                     "percent-encoded, 1 to 255 bytes, no "
                                     "control characters", "X-File-Name");
    }

    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    up->md = EVP_MD_CTX_new();
    if (up->md == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    cln->handler = ngx_govsvc_files_md_cleanup;
    cln->data = up->md;

    if (EVP_DigestInit_ex(up->md, EVP_sha256(), NULL) != 1) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "govsvc: EVP_DigestInit_ex() failed");
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /*
     * The whole body in a temporary file, whatever its size: persistent,
     * so that it keeps its name until it is renamed into the store, and
     * clean, so that the request's pool removes it when it is not.
     */
    r->request_body_in_file_only = 1;
    r->request_body_in_persistent_file = 1;
    r->request_body_in_clean_file = 1;
    r->request_body_file_log_level = 0;

    /* from here on, the body filter hashes what arrives */
    ctx->data = up;

    rc = ngx_http_read_client_request_body(r, ngx_govsvc_files_read);

    if (rc == NGX_HTTP_REQUEST_ENTITY_TOO_LARGE) {
        /* refused by the body filter on what came with the headers */
        return ngx_govsvc_files_too_large(r, up->max);
    }

    if (rc >= NGX_HTTP_SPECIAL_RESPONSE) {
        return rc;
    }

    return NGX_DONE;
}


static ngx_int_t
ngx_govsvc_files_unconfigured(ngx_http_request_t *r)
{
    ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                  "govsvc: a material file was asked for, but govsvc_files "
                  "is not configured");

    return ngx_govsvc_send_unavailable(r, "this node stores no files "
                                       "(govsvc_files is not configured)");
}


/* the declared type, from Content-Type; GS_FILE_UNKNOWN if none of ours */

static gs_file_type_t
ngx_govsvc_files_type(ngx_http_request_t *r)
{
    ngx_str_t  *ct;

    if (r->headers_in.content_type == NULL) {
        return GS_FILE_UNKNOWN;
    }

    ct = &r->headers_in.content_type->value;

    return gs_file_type_of_mime((const char *) ct->data, ct->len);
}


/*
 * X-File-Name, percent-decoded: NULL when missing, empty, malformed
 * (a '%' without two hex digits), not UTF-8, longer than 255 bytes or
 * holding a control character (C0, DEL, C1).  Anything else, '/' and
 * ".." included, is a name: it is stored, never used as a path.
 */

static const char *
ngx_govsvc_files_name(ngx_http_request_t *r)
{
    u_char      *dst, *src, *name;
    size_t       i, len;
    const char  *value;

    value = ngx_govsvc_header(r, "X-File-Name");
    if (value == NULL) {
        return NULL;
    }

    len = ngx_strlen(value);

    for (i = 0; i < len; i++) {
        if (value[i] == '%'
            && (i + 2 >= len || !ngx_govsvc_files_hex(&value[i + 1], 2)))
        {
            return NULL;
        }
    }

    name = ngx_pnalloc(r->pool, len + 1);
    if (name == NULL) {
        return NULL;
    }

    /* type 0: everything decoded, '?' and '%2F' as well */
    dst = name;
    src = (u_char *) value;
    ngx_unescape_uri(&dst, &src, len, 0);
    *dst = '\0';

    len = dst - name;

    if (len == 0 || len > NGX_GOVSVC_FILE_NAME_MAX
        || !gs_utf8_valid_text(name, len))
    {
        return NULL;
    }

    for (i = 0; i < len; i++) {
        if (name[i] < 0x20 || name[i] == 0x7f
            /* U+0080..U+009F: C2 80..C2 9F */
            || (name[i] == 0xc2 && i + 1 < len
                && name[i + 1] >= 0x80 && name[i + 1] <= 0x9f))
        {
            return NULL;
        }
    }

    return (const char *) name;
}


/* whether the len chars at s are hex digits */

static ngx_uint_t
ngx_govsvc_files_hex(const char *s, size_t len)
{
    size_t  i;

    for (i = 0; i < len; i++) {
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')
              || (s[i] >= 'A' && s[i] <= 'F')))
        {
            return 0;
        }
    }

    return 1;
}


/* 413 too_large; the connection is closed after it, like nginx's own */

static ngx_int_t
ngx_govsvc_files_too_large(ngx_http_request_t *r, off_t max)
{
    u_char  *message;

    r->keepalive = 0;

    message = ngx_pnalloc(r->pool, sizeof("the file is larger than the "
                                          " bytes allowed")
                                   + NGX_OFF_T_LEN);
    if (message == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_sprintf(message, "the file is larger than the %O bytes allowed%Z",
                max);

    return ngx_govsvc_send_error(r, NGX_HTTP_REQUEST_ENTITY_TOO_LARGE,
                                 "too_large", (const char *) message, NULL);
}


static void
ngx_govsvc_files_md_cleanup(void *data)
{
    EVP_MD_CTX_free(data);
}


/* the post handler of the body: all of it is in the temporary file */

static void
ngx_govsvc_files_read(ngx_http_request_t *r)
{
    ngx_govsvc_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_govsvc_module);

    ngx_http_finalize_request(r, ngx_govsvc_files_store(ctx, ctx->data));
}


/*
 * The hash done, the type checked against the leading bytes, the file
 * moved into the store, then the row written.
 */

static ngx_int_t
ngx_govsvc_files_store(ngx_govsvc_ctx_t *ctx, ngx_govsvc_upload_t *up)
{
    u_char               md[EVP_MAX_MD_SIZE];
    unsigned int         len;
    gs_file_type_t       type;
    ngx_temp_file_t     *tf;
    ngx_http_request_t  *r;

    r = ctx->request;

    if (EVP_DigestFinal_ex(up->md, md, &len) != 1
        || len * 2 != NGX_GOVSVC_SHA256_HEX)
    {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "govsvc: EVP_DigestFinal_ex() failed");
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    *ngx_hex_dump(up->sha256, md, len) = '\0';

    /* an empty body never matches, nor does a disguised one */
    type = gs_file_sniff(up->head, up->head_len);

    if (type != up->type) {
        /* the temporary file goes with the request's pool */
        return ngx_govsvc_send_error(r, NGX_HTTP_UNSUPPORTED_MEDIA_TYPE,
                                     "unsupported_media_type",
                                     "the file's content is not of the "
                                     "declared Content-Type", NULL);
    }

    tf = r->request_body ? r->request_body->temp_file : NULL;

    if (tf == NULL || tf->file.fd == NGX_INVALID_FILE
        || tf->file.offset != up->size)
    {
        ngx_log_error(NGX_LOG_ALERT, r->connection->log, 0,
                      "govsvc: the upload's temporary file holds %O bytes, "
                      "%O were received",
                      tf ? tf->file.offset : (off_t) -1, up->size);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ngx_govsvc_files_move(r, tf, up->sha256) != NGX_OK) {
        return ngx_govsvc_send_error(r, NGX_HTTP_INTERNAL_SERVER_ERROR,
                                     "internal", "the file could not be "
                                     "stored; it was logged", NULL);
    }

    ngx_sprintf((u_char *) up->size_text, "%O%Z", up->size);

    up->values[3] = up->size_text;
    up->values[4] = (const char *) up->sha256;
    up->values[5] = gs_file_type_mime(type);
    ngx_govsvc_actor(ctx, &up->values[6]);      /* [6], [7], [8] */

    return ngx_govsvc_query(ctx,
        "SELECT f.id, f.name, f.size, f.sha256, f.content_type"
        " FROM govsvc_case_file_add($1, $2, $3, $4::bigint, $5, $6,"
        "  $7::bigint, $8, $9) AS f",
        9, up->values, ngx_govsvc_files_added, up);
}


/*
 * Renames the temporary file to <govsvc_files>/<2 hex>/<sha256>, making
 * the directory when it is missing.  Both must be on one file system:
 * the event loop does not copy files.
 */

static ngx_int_t
ngx_govsvc_files_move(ngx_http_request_t *r, ngx_temp_file_t *tf,
    u_char *sha256)
{
    u_char                  *dir, *to;
    ngx_err_t                err;
    ngx_uint_t               tried;
    ngx_govsvc_main_conf_t  *gmcf;

    gmcf = ngx_http_get_module_main_conf(r, ngx_govsvc_module);

    to = ngx_pnalloc(r->pool, gmcf->files_path.len + 2 * sizeof("/")
                              + 2 + NGX_GOVSVC_SHA256_HEX);
    dir = ngx_pnalloc(r->pool, gmcf->files_path.len + sizeof("/") + 2);
    if (to == NULL || dir == NULL) {
        return NGX_ERROR;
    }

    ngx_sprintf(dir, "%V/%*s%Z", &gmcf->files_path, (size_t) 2, sha256);
    ngx_sprintf(to, "%V/%*s/%s%Z", &gmcf->files_path, (size_t) 2, sha256,
                sha256);

    for (tried = 0; /* void */; tried++) {

        if (ngx_rename_file(tf->file.name.data, to) != NGX_FILE_ERROR) {
            break;
        }

        err = ngx_errno;

        if (err == NGX_ENOENT && !tried) {
            if (ngx_create_dir(dir, NGX_GOVSVC_FILE_DIR_MODE)
                == NGX_FILE_ERROR
                && ngx_errno != NGX_EEXIST)
            {
                ngx_log_error(NGX_LOG_ERR, r->connection->log, ngx_errno,
                              "govsvc: " ngx_create_dir_n " \"%s\" failed "
                              "(govsvc_files)", dir);
                return NGX_ERROR;
            }

            continue;
        }

        if (err == NGX_EXDEV) {
            ngx_log_error(NGX_LOG_ERR, r->connection->log, err,
                          "govsvc: cannot move the upload \"%V\" to \"%s\": "
                          "client_body_temp_path must be on the file system "
                          "of govsvc_files", &tf->file.name, to);
            return NGX_ERROR;
        }

        ngx_log_error(NGX_LOG_ERR, r->connection->log, err,
                      "govsvc: " ngx_rename_file_n " \"%V\" to \"%s\" failed",
                      &tf->file.name, to);
        return NGX_ERROR;
    }

    /* the name is the store's now: the pool closes the file, no more */
    ngx_govsvc_files_keep(r->pool, tf->file.fd);

    return NGX_OK;
}


/* turns the temporary file's "delete" cleanup into a "close" one */

static void
ngx_govsvc_files_keep(ngx_pool_t *pool, ngx_fd_t fd)
{
    ngx_pool_cleanup_t       *c;
    ngx_pool_cleanup_file_t  *cf;

    for (c = pool->cleanup; c; c = c->next) {
        if (c->handler == ngx_pool_delete_file) {
            cf = c->data;

            if (cf->fd == fd) {
                c->handler = ngx_pool_cleanup_file;
            }
        }
    }
}


static void
ngx_govsvc_files_added(ngx_govsvc_pg_t *pg, PGresult *res, void *data)
{
    ngx_govsvc_upload_t *up = data;

    cJSON               *json;
    ngx_int_t            rc;
    ngx_http_request_t  *r;

    r = up->ctx->request;

    ngx_govsvc_pg_close(pg);
    up->ctx->pg = NULL;

    /* a refusal (404, 403, 409) writes no row; the stored file stays */
    if (ngx_govsvc_pg_result(r, res, &rc) != NGX_OK) {
        goto done;
    }

    if (PQntuples(res) != 1) {
        rc = NGX_HTTP_INTERNAL_SERVER_ERROR;
        goto done;
    }

    json = cJSON_CreateObject();

    if (json == NULL
        || cJSON_AddNumberToObject(json, "id",
               (double) ngx_atoof((u_char *) PQgetvalue(res, 0, 0),
                                  PQgetlength(res, 0, 0)))
           == NULL
        || cJSON_AddStringToObject(json, "name", PQgetvalue(res, 0, 1))
           == NULL
        || cJSON_AddNumberToObject(json, "size",
               (double) ngx_atoof((u_char *) PQgetvalue(res, 0, 2),
                                  PQgetlength(res, 0, 2)))
           == NULL
        || cJSON_AddStringToObject(json, "sha256", PQgetvalue(res, 0, 3))
           == NULL
        || cJSON_AddStringToObject(json, "content_type",
                                   PQgetvalue(res, 0, 4))
           == NULL)
    {
        cJSON_Delete(json);
        rc = NGX_HTTP_INTERNAL_SERVER_ERROR;
        goto done;
    }

    rc = ngx_govsvc_send_cjson(r, NGX_HTTP_CREATED, json);

    cJSON_Delete(json);

done:

    ngx_govsvc_finalize(r, rc);
}


/*
 * GET /api/v1/files/{id}: to the staff of the case's department, and to
 * supervisors of its region and the regions above, as an attachment.
 */

ngx_int_t
ngx_govsvc_files_get(ngx_govsvc_ctx_t *ctx)
{
    u_char                  *id;
    ngx_str_t               *s;
    ngx_uint_t               i;
    const char             **values;
    ngx_http_request_t      *r;
    ngx_govsvc_main_conf_t  *gmcf;

    r = ctx->request;
    gmcf = ngx_http_get_module_main_conf(r, ngx_govsvc_module);

    if (gmcf->files_path.len == 0) {
        return ngx_govsvc_files_unconfigured(r);
    }

    s = &ctx->params[0];

    for (i = 0; i < s->len; i++) {
        if (s->data[i] < '0' || s->data[i] > '9') {
            break;
        }
    }

    if (s->len == 0 || s->len > 18 || i != s->len) {
        return ngx_govsvc_send_error(r, NGX_HTTP_NOT_FOUND, "not_found",
                                     "no such file", NULL);
    }

    id = ngx_pnalloc(r->pool, s->len + 1);
    values = ngx_palloc(r->pool, sizeof(char *));
    if (id == NULL || values == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_cpystrn(id, s->data, s->len + 1);
    values[0] = (const char *) id;

    return ngx_govsvc_query(ctx,
        "SELECT f.name, f.size, f.sha256, f.content_type, c.department,"
        "  d.region"
        " FROM case_files f JOIN cases c ON c.case_no = f.case_no"
        "  JOIN departments d ON d.id = c.department"
        " WHERE f.id = $1::bigint AND c.state <> 'deleted'",
        1, values, ngx_govsvc_files_found, ctx);
}


static void
ngx_govsvc_files_found(ngx_govsvc_pg_t *pg, PGresult *res, void *data)
{
    ngx_govsvc_ctx_t *ctx = data;

    ngx_int_t            rc;
    ngx_govsvc_user_t   *u;
    ngx_http_request_t  *r;

    r = ctx->request;
    u = ctx->user;

    ngx_govsvc_pg_close(pg);
    ctx->pg = NULL;

    if (ngx_govsvc_pg_result(r, res, &rc) != NGX_OK) {
        /* answered: 503, or the statement's error */

    } else if (PQntuples(res) != 1) {
        rc = ngx_govsvc_send_error(r, NGX_HTTP_NOT_FOUND, "not_found",
                                   "no such file", NULL);

    } else if (!ngx_govsvc_case_visible(u, res, 4)) {
        rc = ngx_govsvc_send_error(r, NGX_HTTP_FORBIDDEN, "forbidden",
                                   "the case belongs to another department",
                                   NULL);

    } else {
        rc = ngx_govsvc_files_send(ctx, res);
    }

    ngx_govsvc_finalize(r, rc);
}


/* the stored file as the body, a file buffer: sendfile when it is on */

static ngx_int_t
ngx_govsvc_files_send(ngx_govsvc_ctx_t *ctx, PGresult *res)
{
    u_char                    *type;
    off_t                      size;
    ngx_int_t                  rc;
    ngx_str_t                  path;
    ngx_buf_t                 *b;
    ngx_chain_t                out;
    const char                *sha256;
    ngx_http_request_t        *r;
    ngx_open_file_info_t       of;
    ngx_govsvc_main_conf_t    *gmcf;
    ngx_http_core_loc_conf_t  *clcf;

    r = ctx->request;
    gmcf = ngx_http_get_module_main_conf(r, ngx_govsvc_module);
    clcf = ngx_http_get_module_loc_conf(r, ngx_http_core_module);

    size = ngx_atoof((u_char *) PQgetvalue(res, 0, 1), PQgetlength(res, 0, 1));
    sha256 = PQgetvalue(res, 0, 2);

    /* never a path from the database that is not a hash */
    if (PQgetlength(res, 0, 2) != NGX_GOVSVC_SHA256_HEX
        || !ngx_govsvc_files_hex(sha256, NGX_GOVSVC_SHA256_HEX))
    {
        ngx_log_error(NGX_LOG_CRIT, r->connection->log, 0,
                      "govsvc: case_files.sha256 \"%s\" is not a SHA-256",
                      sha256);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    path.len = gmcf->files_path.len + 2 * (sizeof("/") - 1) + 2
               + NGX_GOVSVC_SHA256_HEX;
    path.data = ngx_pnalloc(r->pool, path.len + 1);
    type = ngx_pnalloc(r->pool, PQgetlength(res, 0, 3) + 1);
    if (path.data == NULL || type == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_sprintf(path.data, "%V/%*s/%s%Z", &gmcf->files_path, (size_t) 2,
                sha256, sha256);
    ngx_cpystrn(type, (u_char *) PQgetvalue(res, 0, 3),
                PQgetlength(res, 0, 3) + 1);

    ngx_memzero(&of, sizeof(ngx_open_file_info_t));

    of.read_ahead = clcf->read_ahead;
    of.directio = clcf->directio;
    of.valid = clcf->open_file_cache_valid;
    of.min_uses = clcf->open_file_cache_min_uses;
    of.errors = clcf->open_file_cache_errors;
    of.events = clcf->open_file_cache_events;

    /* the fd is closed by the pool cleanup this adds */
    if (ngx_open_cached_file(clcf->open_file_cache, &path, &of, r->pool)
        != NGX_OK)
    {
        if (of.err == NGX_ENOENT || of.err == NGX_ENOTDIR) {
            ngx_log_error(NGX_LOG_CRIT, r->connection->log, of.err,
                          "govsvc: the store lost data: \"%s\" is missing",
                          path.data);

        } else {
            ngx_log_error(NGX_LOG_CRIT, r->connection->log, of.err,
                          "govsvc: %s \"%s\" failed", of.failed, path.data);
        }

        return ngx_govsvc_send_error(r, NGX_HTTP_INTERNAL_SERVER_ERROR,
                                     "internal", "the file could not be "
                                     "read; it was logged", NULL);
    }

    if (!of.is_file || of.size != size) {
        ngx_log_error(NGX_LOG_CRIT, r->connection->log, 0,
                      "govsvc: the store lost data: \"%s\" is not the "
                      "file of %O bytes it should be", path.data, size);

        return ngx_govsvc_send_error(r, NGX_HTTP_INTERNAL_SERVER_ERROR,
                                     "internal", "the file could not be "
                                     "read; it was logged", NULL);
    }

    r->headers_out.status = NGX_HTTP_OK;
    r->headers_out.content_length_n = of.size;
    r->headers_out.content_type.data = type;
    r->headers_out.content_type.len = PQgetlength(res, 0, 3);
    r->headers_out.content_type_len = r->headers_out.content_type.len;
    r->headers_out.content_type_lowcase = NULL;
    r->allow_ranges = 1;

    if (ngx_govsvc_files_disposition(r, (u_char *) PQgetvalue(res, 0, 0),
                                     PQgetlength(res, 0, 0))
        != NGX_OK
        || ngx_govsvc_add_header(r, "X-Content-Type-Options",
                                   (u_char *) "nosniff",
                                   sizeof("nosniff") - 1)
           != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* all allocated before the header is sent */
    b = ngx_calloc_buf(r->pool);
    if (b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    b->file = ngx_pcalloc(r->pool, sizeof(ngx_file_t));
    if (b->file == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only
        || r->method == NGX_HTTP_HEAD)
    {
        return rc;
    }

    b->file_pos = 0;
    b->file_last = of.size;
    b->in_file = b->file_last ? 1 : 0;
    b->last_buf = (r == r->main) ? 1 : 0;
    b->last_in_chain = 1;
    b->sync = (b->last_buf || b->in_file) ? 0 : 1;

    b->file->fd = of.fd;
    b->file->name = path;
    b->file->log = r->connection->log;
    b->file->directio = of.is_directio;

    out.buf = b;
    out.next = NULL;

    return ngx_http_output_filter(r, &out);
}


/*
 * Content-Disposition: attachment; filename*=UTF-8''<name> (RFC 6266,
 * RFC 8187): every byte but A-Z a-z 0-9 . _ - percent-encoded.
 */

static ngx_int_t
ngx_govsvc_files_disposition(ngx_http_request_t *r, const u_char *name,
    size_t len)
{
    u_char     *v, *p;
    size_t      i;
    ngx_uint_t  c;

    static u_char  hex[] = "0123456789ABCDEF";
    static char    head[] = "attachment; filename*=UTF-8''";

    v = ngx_pnalloc(r->pool, sizeof(head) - 1 + 3 * len);
    if (v == NULL) {
        return NGX_ERROR;
    }

    p = ngx_cpymem(v, head, sizeof(head) - 1);

    for (i = 0; i < len; i++) {
        c = name[i];

        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')
            || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-')
        {
            *p++ = (u_char) c;
            continue;
        }

        *p++ = '%';
        *p++ = hex[c >> 4];
        *p++ = hex[c & 0xf];
    }

    return ngx_govsvc_add_header(r, "Content-Disposition", v, p - v);
}
