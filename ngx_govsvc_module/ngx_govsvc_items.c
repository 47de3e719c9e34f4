
/*
 * GovSvc: the catalog of service items (事项, GB/T 39046-2020).  Anyone
 * may read it; the administrator writes it.  A write stores the lists it
 * checked, printed again, never the client's text, and appends its audit
 * entry and an outbox event (the catalog flows down to the nodes below) in
 * the same statement.  Nested fields are named like "steps[2].role".
 */


#include "ngx_govsvc.h"


#define NGX_GOVSVC_ITEM_LIST_MAX  100
#define NGX_GOVSVC_ITEM_STEPS_MAX 10


typedef struct {
    const char               *values[20];
    char                      nums[4][NGX_INT64_LEN + 1];
    char                      field[64];
} ngx_govsvc_item_t;


typedef struct {
    const char               *name;         /* member */
    const char               *pattern;      /* a code's characters, or NULL */
    size_t                    max;
    ngx_uint_t                required;
} ngx_govsvc_member_rule_t;


static const char *ngx_govsvc_item_check(ngx_govsvc_ctx_t *ctx,
    ngx_govsvc_item_t *it, ngx_uint_t update);
static const char *ngx_govsvc_item_list_check(ngx_govsvc_item_t *it,
    cJSON *body, const char *name, ngx_uint_t max, ngx_pool_t *pool,
    const char **out);
static const char *ngx_govsvc_item_entry(cJSON *entry, const char *list,
    cJSON *out);
static ngx_int_t ngx_govsvc_item_int(cJSON *body, const char *name,
    int64_t min, int64_t max, char *out);
static ngx_uint_t ngx_govsvc_item_code(const char *s, const char *extra,
    size_t max);
static ngx_int_t ngx_govsvc_item_path(ngx_govsvc_ctx_t *ctx,
    const char **code);
static void ngx_govsvc_item_written(ngx_govsvc_pg_t *pg, PGresult *res,
    void *data);


/* GET /api/v1/items?q=&department=&type=&status=&limit=&cursor= */

ngx_int_t
ngx_govsvc_items_list(ngx_govsvc_ctx_t *ctx)
{
    char                *limit;
    ngx_int_t            n;
    const char         **v;
    ngx_http_request_t  *r;

    r = ctx->request;

    v = ngx_palloc(r->pool, 6 * sizeof(char *));
    if (v == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    v[0] = ngx_govsvc_arg(r, "cursor");
    v[1] = ngx_govsvc_arg(r, "q");
    v[2] = ngx_govsvc_arg(r, "department");
    v[3] = ngx_govsvc_arg(r, "type");
    v[4] = ngx_govsvc_arg(r, "status");

    limit = ngx_govsvc_arg(r, "limit");
    n = limit ? ngx_atoi((u_char *) limit, ngx_strlen(limit)) : 50;

    if (n < 1 || n > 500) {
        return ngx_govsvc_send_error(r, NGX_HTTP_BAD_REQUEST,
                                     "invalid_request",
                                     "limit must be 1 to 500", "limit");
    }

    v[5] = limit ? limit : "50";

    if (v[2] && ngx_atoi((u_char *) v[2], ngx_strlen(v[2])) == NGX_ERROR) {
        return ngx_govsvc_send_error(r, NGX_HTTP_BAD_REQUEST,
                                     "invalid_request",
                                     "department must be an id",
                                     "department");
    }

    return ngx_govsvc_json_query(ctx, NGX_HTTP_OK,
        "WITH page AS ("
        "  SELECT * FROM items"
        "  WHERE code > coalesce($1, '')"
        "   AND ($2::text IS NULL"
        "    OR name ILIKE '%' || replace(replace(replace($2, '\\', '\\\\'),"
        "       '%', '\\%'), '_', '\\_') || '%'"
        "    OR code = $2)"
        "   AND ($3::bigint IS NULL OR department = $3::bigint)"
        "   AND ($4::text IS NULL OR type = $4)"
        "   AND status = coalesce($5, 'active')"
        "  ORDER BY code LIMIT $6::int + 1),"
        " shown AS (SELECT * FROM page ORDER BY code LIMIT $6::int)"
        " SELECT json_build_object("
        "  'items', coalesce((SELECT json_agg(govsvc_item_json("
        "     ROW(shown.*)::items) ORDER BY code) FROM shown), '[]'),"
        "  'next_cursor', CASE WHEN (SELECT count(*) FROM page) > $6::int"
        "     THEN (SELECT max(code) FROM shown) END)",
        6, v);
}


/* GET /api/v1/items/{code}: any status */

ngx_int_t
ngx_govsvc_items_get(ngx_govsvc_ctx_t *ctx)
{
    const char  **v;

    v = ngx_palloc(ctx->request->pool, sizeof(char *));
    if (v == NULL || ngx_govsvc_item_path(ctx, &v[0]) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_govsvc_json_query(ctx, NGX_HTTP_OK,
        "SELECT govsvc_item_json(i) FROM items i WHERE i.code = $1",
        1, v);
}


/*
 * POST /api/v1/items.  Parameters: $1..$3 the actor, $4 the node, $5 code,
 * $6 basic_code, $7 name, $8 type, $9 case_type, $10 department,
 * $11 legal_days, $12 promised_days, $13..$16 materials, fields, steps,
 * fees, $17 status (and $18 the version, for an update).
 */

ngx_int_t
ngx_govsvc_items_create(ngx_govsvc_ctx_t *ctx)
{
    const char              *field;
    ngx_govsvc_item_t       *it;
    ngx_http_request_t      *r;
    ngx_govsvc_main_conf_t  *gmcf;

    r = ctx->request;
    gmcf = ngx_http_get_module_main_conf(r, ngx_govsvc_module);

    it = ngx_pcalloc(r->pool, sizeof(ngx_govsvc_item_t));
    if (it == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    field = ngx_govsvc_item_check(ctx, it, 0);
    if (field) {
        return ngx_govsvc_send_error(r, NGX_HTTP_UNPROCESSABLE_ENTITY,
                                     "validation_failed",
                                     "a field is missing or invalid", field);
    }

    ngx_govsvc_actor(ctx, it->values);
    it->values[3] = (const char *) gmcf->node.data;

    ctx->status = NGX_HTTP_CREATED;

    return ngx_govsvc_query(ctx,
        "WITH i AS (INSERT INTO items (code, basic_code, name, type,"
        "   case_type, department, region, legal_days, promised_days,"
        "   materials, fields, steps, fees, status)"
        "  SELECT $5, $6, $7, $8, $9::smallint, d.id, d.region, $11::int,"
        "   $12::int, $13::jsonb, $14::jsonb, $15::jsonb, $16::jsonb, $17"
        "  FROM departments d WHERE d.id = $10::bigint"
        "  RETURNING *),"
        " j AS (SELECT govsvc_item_json(ROW(i.*)::items) AS item FROM i),"
        " a AS (SELECT govsvc_audit_append($1::bigint, $2, $3,"
        "  'item.create', 'item:' || i.code, jsonb_build_object('version',"
        "  i.version)) FROM i),"
        " o AS (SELECT govsvc_outbox_append($4, 'item.created', NULL,"
        "  j.item::jsonb) FROM j)"
        " SELECT (SELECT j.item FROM j, a, o), NULL::int,"
        "  EXISTS (SELECT 1 FROM departments WHERE id = $10::bigint)",
        17, it->values, ngx_govsvc_item_written, ctx);
}


/* PUT /api/v1/items/{code}: the whole item again, with its "version" */

ngx_int_t
ngx_govsvc_items_update(ngx_govsvc_ctx_t *ctx)
{
    const char              *field;
    ngx_govsvc_item_t       *it;
    ngx_http_request_t      *r;
    ngx_govsvc_main_conf_t  *gmcf;

    r = ctx->request;
    gmcf = ngx_http_get_module_main_conf(r, ngx_govsvc_module);

    it = ngx_pcalloc(r->pool, sizeof(ngx_govsvc_item_t));
    if (it == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    field = ngx_govsvc_item_check(ctx, it, 1);
    if (field) {
        return ngx_govsvc_send_error(r, NGX_HTTP_UNPROCESSABLE_ENTITY,
                                     "validation_failed",
                                     "a field is missing or invalid", field);
    }

    ngx_govsvc_actor(ctx, it->values);
    it->values[3] = (const char *) gmcf->node.data;

    ctx->status = NGX_HTTP_OK;

    /* the current version comes back too: 409 or 404 tell apart */
    return ngx_govsvc_query(ctx,
        "WITH cur AS (SELECT version FROM items WHERE code = $5),"
        " i AS (UPDATE items SET basic_code = $6, name = $7, type = $8,"
        "   case_type = $9::smallint, department = d.id, region = d.region,"
        "   legal_days = $11::int, promised_days = $12::int,"
        "   materials = $13::jsonb, fields = $14::jsonb, steps = $15::jsonb,"
        "   fees = $16::jsonb, status = $17, version = items.version + 1,"
        "   updated_at = now()"
        "  FROM departments d"
        "  WHERE items.code = $5 AND items.version = $18::int"
        "   AND d.id = $10::bigint"
        "  RETURNING items.*),"
        " j AS (SELECT govsvc_item_json(ROW(i.*)::items) AS item FROM i),"
        " a AS (SELECT govsvc_audit_append($1::bigint, $2, $3,"
        "  'item.update', 'item:' || i.code, jsonb_build_object('version',"
        "  i.version)) FROM i),"
        " o AS (SELECT govsvc_outbox_append($4, 'item.updated', NULL,"
        "  j.item::jsonb) FROM j)"
        " SELECT (SELECT j.item FROM j, a, o),"
        "  (SELECT version FROM cur),"
        "  EXISTS (SELECT 1 FROM departments WHERE id = $10::bigint)",
        18, it->values, ngx_govsvc_item_written, ctx);
}


static void
ngx_govsvc_item_written(ngx_govsvc_pg_t *pg, PGresult *res, void *data)
{
    ngx_govsvc_ctx_t *ctx = data;

    ngx_int_t            rc;
    ngx_http_request_t  *r;

    r = ctx->request;

    ngx_govsvc_pg_close(pg);

    if (ngx_govsvc_pg_result(r, res, &rc) != NGX_OK) {
        /* answered: 503, or the statement's error */

    } else if (!PQgetisnull(res, 0, 0)) {
        rc = ngx_govsvc_send_json(r, ctx->status,
                                  (u_char *) PQgetvalue(res, 0, 0),
                                  PQgetlength(res, 0, 0));

    } else if (PQgetvalue(res, 0, 2)[0] != 't') {
        rc = ngx_govsvc_send_error(r, NGX_HTTP_UNPROCESSABLE_ENTITY,
                                   "validation_failed", "no such department",
                                   "department");

    } else if (PQgetisnull(res, 0, 1)) {
        rc = ngx_govsvc_send_error(r, NGX_HTTP_NOT_FOUND, "not_found",
                                   "no such item", NULL);

    } else {
        rc = ngx_govsvc_send_error(r, NGX_HTTP_CONFLICT, "version_conflict",
                                   "the item changed meanwhile; read it "
                                   "again", NULL);
    }

    ngx_govsvc_finalize(r, rc);
}


/* the first field at fault, or NULL; fills it->values[4..17] */

static const char *
ngx_govsvc_item_check(ngx_govsvc_ctx_t *ctx, ngx_govsvc_item_t *it,
    ngx_uint_t update)
{
    cJSON        *body, *steps;
    ngx_pool_t   *pool;
    const char   *field, *type, *status, *f;
    const char  **v;
    ngx_uint_t    i;
    static const char  *types[] = {
        "00", "01", "02", "03", "04", "05", "06", "07", "08", "09", "10",
        "20", NULL
    };

    body = ctx->body;
    pool = ctx->request->pool;
    v = it->values;
    field = NULL;

    if (update) {
        if (ngx_govsvc_item_path(ctx, &v[4]) != NGX_OK) {
            return "code";
        }

        if (ngx_govsvc_item_int(body, "version", 1, 2147483647, it->nums[3])
            != NGX_OK)
        {
            return "version";
        }

        v[17] = it->nums[3];

    } else {
        v[4] = ngx_govsvc_text(body, "code", 64, 1, &field);
        if (field || !ngx_govsvc_item_code(v[4], "-", 64)) {
            return "code";
        }
    }

    v[5] = ngx_govsvc_text(body, "basic_code", 64, 1, &field);
    if (field || !ngx_govsvc_item_code(v[5], "-", 64)) {
        return "basic_code";
    }

    v[6] = ngx_govsvc_text(body, "name", 200, 1, &field);
    if (field) {
        return "name";
    }

    type = ngx_govsvc_text(body, "type", 2, 1, &field);
    for (i = 0; !field && types[i]; i++) {
        if (ngx_strcmp(type, types[i]) == 0) {
            break;
        }
    }

    if (field || types[i] == NULL) {
        return "type";
    }

    v[7] = type;

    if (ngx_govsvc_item_int(body, "case_type", 1, 9, it->nums[0]) != NGX_OK
        || (it->nums[0][0] != '1' && it->nums[0][0] != '2'
            && it->nums[0][0] != '9'))
    {
        return "case_type";
    }

    v[8] = it->nums[0];

    if (ngx_govsvc_item_int(body, "department", 1, 9007199254740991LL,
                            it->nums[1])
        != NGX_OK)
    {
        return "department";
    }

    v[9] = it->nums[1];

    if (ngx_govsvc_item_int(body, "legal_days", 1, 3650, it->nums[2])
        != NGX_OK)
    {
        return "legal_days";
    }

    v[10] = it->nums[2];

    /* promised_days <= legal_days, checked here to name the field */
    v[11] = ngx_pnalloc(pool, NGX_INT64_LEN + 1);
    if (v[11] == NULL
        || ngx_govsvc_item_int(body, "promised_days", 1,
                               ngx_atoi((u_char *) v[10], ngx_strlen(v[10])),
                               (char *) v[11])
           != NGX_OK)
    {
        return "promised_days";
    }

    f = ngx_govsvc_item_list_check(it, body, "materials",
                                   NGX_GOVSVC_ITEM_LIST_MAX, pool, &v[12]);
    if (f) {
        return f;
    }

    f = ngx_govsvc_item_list_check(it, body, "fields",
                                   NGX_GOVSVC_ITEM_LIST_MAX, pool, &v[13]);
    if (f) {
        return f;
    }

    f = ngx_govsvc_item_list_check(it, body, "steps",
                                   NGX_GOVSVC_ITEM_STEPS_MAX, pool, &v[14]);
    if (f) {
        return f;
    }

    f = ngx_govsvc_item_list_check(it, body, "fees",
                                   NGX_GOVSVC_ITEM_LIST_MAX, pool, &v[15]);
    if (f) {
        return f;
    }

    /* 即办件 are decided at the window: no approval steps; 承诺件 have them */
    steps = cJSON_GetObjectItemCaseSensitive(body, "steps");

    if ((it->nums[0][0] == '1' && cJSON_GetArraySize(steps) != 0)
        || (it->nums[0][0] == '2' && cJSON_GetArraySize(steps) == 0))
    {
        return "steps";
    }

    status = ngx_govsvc_text(body, "status", 9, 0, &field);
    if (field || (status && ngx_strcmp(status, "active") != 0
                  && ngx_strcmp(status, "suspended") != 0))
    {
        return "status";
    }

    v[16] = status ? status : "active";

    return NULL;
}


/*
 * One of the lists: an array (absent means empty) of objects whose members
 * follow the rules of their list, codes and names unique within it.  *out
 * is the checked list printed again.
 */

static const char *
ngx_govsvc_item_list_check(ngx_govsvc_item_t *it, cJSON *body,
    const char *name, ngx_uint_t max, ngx_pool_t *pool, const char **out)
{
    char         *text;
    cJSON        *list, *entry, *checked, *o, *seen;
    u_char       *copy;
    const char   *bad, *key;
    ngx_uint_t    i;

    list = cJSON_GetObjectItemCaseSensitive(body, name);

    if (list != NULL && !cJSON_IsNull(list)
        && (!cJSON_IsArray(list)
            || (ngx_uint_t) cJSON_GetArraySize(list) > max))
    {
        return name;
    }

    checked = cJSON_CreateArray();
    seen = cJSON_CreateObject();
    if (checked == NULL || seen == NULL) {
        cJSON_Delete(checked);
        cJSON_Delete(seen);
        return name;
    }

    i = 0;
    bad = NULL;

    if (!cJSON_IsArray(list)) {
        list = NULL;
    }

    cJSON_ArrayForEach(entry, list) {
        o = cJSON_CreateObject();
        if (o == NULL || !cJSON_AddItemToArray(checked, o)) {
            cJSON_Delete(o);
            bad = "";
            break;
        }

        bad = ngx_govsvc_item_entry(entry, name, o);

        /* codes (names for form fields) are unique within a list */
        key = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o,
                  ngx_strcmp(name, "fields") == 0 ? "name" : "code"));

        if (bad == NULL && key) {
            if (cJSON_GetObjectItemCaseSensitive(seen, key)) {
                bad = ngx_strcmp(name, "fields") == 0 ? "name" : "code";

            } else if (cJSON_AddTrueToObject(seen, key) == NULL) {
                bad = "";
            }
        }

        if (bad) {
            break;
        }

        i++;
    }

    cJSON_Delete(seen);

    if (bad) {
        cJSON_Delete(checked);
        ngx_snprintf((u_char *) it->field, sizeof(it->field) - 1,
                     "%s[%ui]%s%s%Z", name, i, bad[0] ? "." : "", bad);
        return it->field;
    }

    text = cJSON_PrintUnformatted(checked);
    cJSON_Delete(checked);

    if (text == NULL) {
        return name;
    }

    copy = ngx_pnalloc(pool, ngx_strlen(text) + 1);
    if (copy) {
        ngx_cpystrn(copy, (u_char *) text, ngx_strlen(text) + 1);
    }

    cJSON_free(text);

    *out = (const char *) copy;

    return copy ? NULL : name;
}


/* one entry of a list, checked into out: the member at fault, or NULL */

static const char *
ngx_govsvc_item_entry(cJSON *entry, const char *list, cJSON *out)
{
    char         num[NGX_INT64_LEN + 1];
    cJSON        *b;
    const char   *s, *field;
    ngx_uint_t    i;

    static const char  *field_types[] = {
        "text", "number", "date", "id_card", "uscc", "phone", NULL
    };
    static const char  *roles[] = { "handler", "reviewer", "approver", NULL };

    if (!cJSON_IsObject(entry)) {
        return "";
    }

    field = NULL;

    if (ngx_strcmp(list, "fields") == 0) {
        s = ngx_govsvc_text(entry, "name", 32, 1, &field);
        if (field || !ngx_govsvc_item_code(s, "_", 32)
            || s[0] < 'a' || s[0] > 'z'
            || cJSON_AddStringToObject(out, "name", s) == NULL)
        {
            return "name";
        }

        s = ngx_govsvc_text(entry, "label", 100, 1, &field);
        if (field || cJSON_AddStringToObject(out, "label", s) == NULL) {
            return "label";
        }

        s = ngx_govsvc_text(entry, "type", 8, 0, &field);
        s = s ? s : "text";
        for (i = 0; field_types[i]; i++) {
            if (ngx_strcmp(s, field_types[i]) == 0) {
                break;
            }
        }

        if (field || field_types[i] == NULL
            || cJSON_AddStringToObject(out, "type", s) == NULL)
        {
            return "type";
        }

        b = cJSON_GetObjectItemCaseSensitive(entry, "required");
        if ((b && !cJSON_IsBool(b))
            || cJSON_AddBoolToObject(out, "required", cJSON_IsTrue(b))
               == NULL)
        {
            return "required";
        }

        return NULL;
    }

    s = ngx_govsvc_text(entry, "code", 32, 1, &field);
    if (field || !ngx_govsvc_item_code(s, "_-", 32)
        || (ngx_strcmp(list, "steps") == 0 && ngx_strcmp(s, "complete") == 0)
        || cJSON_AddStringToObject(out, "code", s) == NULL)
    {
        return "code";
    }

    s = ngx_govsvc_text(entry, "name", 100, 1, &field);
    if (field || cJSON_AddStringToObject(out, "name", s) == NULL) {
        return "name";
    }

    if (ngx_strcmp(list, "materials") == 0) {
        b = cJSON_GetObjectItemCaseSensitive(entry, "required");
        if ((b && !cJSON_IsBool(b))
            || cJSON_AddBoolToObject(out, "required", !cJSON_IsFalse(b))
               == NULL)
        {
            return "required";
        }

        b = cJSON_GetObjectItemCaseSensitive(entry, "original");
        if (b && (!cJSON_IsBool(b)
                  || cJSON_AddBoolToObject(out, "original", cJSON_IsTrue(b))
                     == NULL))
        {
            return "original";
        }

        return NULL;
    }

    if (ngx_strcmp(list, "steps") == 0) {
        s = ngx_govsvc_text(entry, "role", 8, 1, &field);
        for (i = 0; !field && roles[i]; i++) {
            if (ngx_strcmp(s, roles[i]) == 0) {
                break;
            }
        }

        if (field || roles[i] == NULL
            || cJSON_AddStringToObject(out, "role", s) == NULL)
        {
            return "role";
        }

        if (ngx_govsvc_item_int(entry, "days", 1, 365, num) != NGX_OK
            || cJSON_AddNumberToObject(out, "days", ngx_atoi((u_char *) num,
                                                   ngx_strlen(num)))
               == NULL)
        {
            return "days";
        }

        return NULL;
    }

    /* fees: an amount in fen and its legal basis */
    if (ngx_govsvc_item_int(entry, "amount", 0, 100000000000LL, num)
        != NGX_OK
        || cJSON_AddNumberToObject(out, "amount",
                                   (double) ngx_atoof((u_char *) num,
                                                      ngx_strlen(num)))
           == NULL)
    {
        return "amount";
    }

    s = ngx_govsvc_text(entry, "basis", 500, 0, &field);
    if (field || (s && cJSON_AddStringToObject(out, "basis", s) == NULL)) {
        return "basis";
    }

    return NULL;
}


/* an integer member within min..max, as decimal text in out */

static ngx_int_t
ngx_govsvc_item_int(cJSON *body, const char *name, int64_t min, int64_t max,
    char *out)
{
    cJSON  *n;

    n = cJSON_GetObjectItemCaseSensitive(body, name);

    if (!cJSON_IsNumber(n) || n->valuedouble < (double) min
        || n->valuedouble > (double) max
        || n->valuedouble != (double) (int64_t) n->valuedouble)
    {
        return NGX_ERROR;
    }

    ngx_sprintf((u_char *) out, "%L%Z", (int64_t) n->valuedouble);

    return NGX_OK;
}


/* letters, digits and the extra characters; 1..max of them */

static ngx_uint_t
ngx_govsvc_item_code(const char *s, const char *extra, size_t max)
{
    size_t  i;

    if (s == NULL || s[0] == '\0' || ngx_strlen(s) > max) {
        return 0;
    }

    for (i = 0; s[i]; i++) {
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'z')
              || (s[i] >= 'A' && s[i] <= 'Z') || ngx_strchr(extra, s[i])))
        {
            return 0;
        }
    }

    return 1;
}


static ngx_int_t
ngx_govsvc_item_path(ngx_govsvc_ctx_t *ctx, const char **code)
{
    u_char  *p;

    p = ngx_pnalloc(ctx->request->pool, ctx->params[0].len + 1);
    if (p == NULL) {
        return NGX_ERROR;
    }

    ngx_cpystrn(p, ctx->params[0].data, ctx->params[0].len + 1);
    *code = (const char *) p;

    return NGX_OK;
}
