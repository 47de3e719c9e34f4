
/*
 * GovSvc: the lists of cases: 待办/已办 (GET /api/v1/worklist), the
 * unified query (GET /api/v1/cases) and abnormal cases (GET
 * /api/v1/abnormal).
 *
 * Worklist pages are cached in Redis, each under a key of the request
 * ("govsvc:wl:page:todo|done:..."), its value the generations of the
 * lists it shows, a newline, then the page: "govsvc:wl:todo:DEPT:ROLE" for
 * the cases a role of a department acts on, "govsvc:wl:done:USER" for
 * what a user did, and "govsvc:wl:epoch" over all of them.  A read is one
 * MGET of the generations and the page, whatever the backlog: the page is
 * the answer if it was read under the generations there are now.  A
 * transition INCRs the two or three lists it changed after its commit and
 * before its answer, so the next read anywhere misses and goes to
 * PostgreSQL.  A miss fills the page with the generations read before the
 * database, so a page from a snapshot older than a transition carries a
 * generation nobody has any more.  When an INCR cannot reach Redis the
 * shared zone remembers it, and the first worker that reaches Redis again
 * bumps the epoch before it reads a page.
 */


#include "ngx_govsvc.h"
#include "gs_calendar.h"


#define NGX_GOVSVC_WL_ROLES        (NGX_GOVSVC_ROLE_CLERK                    \
                                    | NGX_GOVSVC_ROLE_HANDLER                \
                                    | NGX_GOVSVC_ROLE_REVIEWER               \
                                    | NGX_GOVSVC_ROLE_APPROVER)
#define NGX_GOVSVC_WL_KEYS         5       /* the epoch, and 4 roles */
#define NGX_GOVSVC_WL_TOUCH_MAX    8


typedef struct {
    ngx_govsvc_ctx_t         *ctx;
    const char               *values[16];
    const char               *sql;
    int                       nparams;

    /* the worklist cache */
    ngx_str_t                 key;             /* of the page */
    u_char                   *gen_keys[NGX_GOVSVC_WL_KEYS];
    ngx_uint_t                ngen_keys;
    ngx_govsvc_redis_cmd_t   *cmd;
    ngx_str_t                 gens;            /* "G:G:...\n" of the read */

    char                      today[11];
    char                      yellow[NGX_INT_T_LEN + 1];
    char                      stale[NGX_INT_T_LEN + 1];
    char                      id[NGX_INT64_LEN + 1];
    char                      scope_department[NGX_INT64_LEN + 1];
    char                      scope_region[7];
    char                      region[7];
    char                      roles[64];
    char                      cursor_date[11];
    const char               *bad;            /* the parameter at fault */
} ngx_govsvc_list_t;


typedef struct ngx_govsvc_touch_s  ngx_govsvc_touch_t;

typedef struct {
    ngx_govsvc_touch_t       *touch;
    ngx_govsvc_redis_cmd_t   *cmd;            /* NULL once answered */
} ngx_govsvc_touch_slot_t;

/* the INCRs of a transition, and the answer that waits for them */
struct ngx_govsvc_touch_s {
    ngx_govsvc_ctx_t         *ctx;
    ngx_str_t                 body;
    ngx_uint_t                pending;
    ngx_govsvc_touch_slot_t   slots[NGX_GOVSVC_WL_TOUCH_MAX];
};


static ngx_govsvc_list_t *ngx_govsvc_list_new(ngx_govsvc_ctx_t *ctx);
static ngx_int_t ngx_govsvc_list_page(ngx_govsvc_list_t *ls,
    const char **limit, const char **cursor);
static ngx_int_t ngx_govsvc_list_scope(ngx_govsvc_list_t *ls);
static ngx_int_t ngx_govsvc_list_filter(ngx_govsvc_list_t *ls,
    const char *name, size_t max, const char *pattern, const char **out);
static ngx_int_t ngx_govsvc_list_bad(ngx_govsvc_list_t *ls);
static ngx_int_t ngx_govsvc_worklist_cached(ngx_govsvc_list_t *ls);
static void ngx_govsvc_worklist_epoch(redisReply *reply, void *data);
static ngx_int_t ngx_govsvc_worklist_gens(ngx_govsvc_list_t *ls);
static void ngx_govsvc_worklist_page_reply(redisReply *reply, void *data);
static ngx_int_t ngx_govsvc_worklist_db(ngx_govsvc_list_t *ls,
    const char *x_cache);
static void ngx_govsvc_worklist_result(ngx_govsvc_pg_t *pg, PGresult *res,
    void *data);
static void ngx_govsvc_list_cleanup(void *data);
static void ngx_govsvc_touch_reply(redisReply *reply, void *data);
static void ngx_govsvc_worklists_lost(ngx_http_request_t *r);
static void ngx_govsvc_touch_cleanup(void *data);
static ngx_int_t ngx_govsvc_x_cache(ngx_http_request_t *r, const char *v);


/* the first day a case is no longer yellow: an uncorrelated subquery, so
 * that PostgreSQL computes it once per statement, not once per row */
#define NGX_GOVSVC_YELLOW_BEFORE(t, y)                                       \
    "(SELECT govsvc_working_day(" t "::date, " y "::int + 1))"

/* the level of a case of this statement: $T today, $Y the yellow days */
#define NGX_GOVSVC_LEVEL(c, t, y)                                            \
    "CASE WHEN " c ".state IN ('in_progress', 'suspended') THEN"             \
    " govsvc_level(" c ".due_date, " c ".paused_since, " t "::date,"         \
    " " y "::int, " NGX_GOVSVC_YELLOW_BEFORE(t, y) ") END"

/* a copy of a child's case names an item this node may not know: its
 * snapshot has the name */
#define NGX_GOVSVC_ITEM(c)                                                   \
    "json_build_object('code', " c ".item_code,"                             \
    " 'name', coalesce(i.name, " c ".synced #>> '{item,name}'))"

#define NGX_GOVSVC_ROW(c, t, y)                                              \
    "json_build_object('case_no', " c ".case_no,"                            \
    " 'project_name', " c ".project_name,"                                   \
    " 'item', " NGX_GOVSVC_ITEM(c) ","                                       \
    " 'state', " c ".state, 'step', " c ".step,"                             \
    " 'received_at', govsvc_time(" c ".received_at),"                        \
    " 'due_date', " c ".due_date,"                                           \
    " 'level', " NGX_GOVSVC_LEVEL(c, t, y) ","                               \
    " 'version', " c ".version"

/* $1 department, $2 roles, $3 $4 cursor, $5 limit, $6 today, $7 yellow */
static const char  ngx_govsvc_todo_sql[] =
    "WITH page AS (SELECT w.* FROM unnest($2::text[]) r (role),"
    "  LATERAL (SELECT c.* FROM cases c"
    "   WHERE c.department = $1::bigint AND c.step_role = r.role"
    "    AND c.state IN ('in_progress', 'suspended')"
    "    AND ($3::date IS NULL"
    "         OR (c.due_date, c.case_no) > ($3::date, $4::char(20)))"
    "   ORDER BY c.due_date, c.case_no LIMIT $5::int + 1) w"
    "  ORDER BY w.due_date, w.case_no LIMIT $5::int + 1),"
    " shown AS (SELECT * FROM page ORDER BY due_date, case_no"
    "  LIMIT $5::int)"
    " SELECT json_build_object('items', coalesce((SELECT json_agg("
    NGX_GOVSVC_ROW("s", "$6", "$7") ")"
    "   ORDER BY s.due_date, s.case_no)"
    "   FROM shown s JOIN items i ON i.code = s.item_code), '[]'),"
    "  'next_cursor', CASE WHEN (SELECT count(*) FROM page) > $5::int"
    "   THEN (SELECT s.due_date || '.' || s.case_no FROM shown s"
    "    ORDER BY s.due_date DESC, s.case_no DESC LIMIT 1) END)";

/* $1 actor, $2 cursor, $3 limit, $4 today, $5 yellow */
static const char  ngx_govsvc_done_sql[] =
    "WITH page AS (SELECT w.last_opinion, c.* FROM worklist_done w"
    "  JOIN cases c ON c.case_no = w.case_no"
    "  WHERE w.actor = $1::bigint AND c.state <> 'deleted'"
    "   AND ($2::bigint IS NULL OR w.last_opinion < $2::bigint)"
    "  ORDER BY w.last_opinion DESC LIMIT $3::int + 1),"
    " shown AS (SELECT * FROM page ORDER BY last_opinion DESC"
    "  LIMIT $3::int)"
    " SELECT json_build_object('items', coalesce((SELECT json_agg("
    NGX_GOVSVC_ROW("s", "$4", "$5") ")"
    "   ORDER BY s.last_opinion DESC)"
    "   FROM shown s JOIN items i ON i.code = s.item_code), '[]'),"
    "  'next_cursor', CASE WHEN (SELECT count(*) FROM page) > $3::int"
    "   THEN (SELECT min(last_opinion) FROM shown)::text END)";

/*
 * The unified query.  $1 $2 the caller's scope (department, or region
 * prefix), $3 state, $4 step, $5 item, $6 department, $7 region prefix,
 * $8 level, $9 q as a case number's start, $10 from, $11 to, $12
 * cursor, $13 limit, $14 today, $15 yellow, $16 q as a name's part.  A
 * NULL parameter filters nothing; the statement is planned with its
 * values, so those conditions fold away.  A level comes with what it
 * implies of the due date (a paused case's clock date is before today),
 * so that the open cases' due-date index serves it.
 */
static const char  ngx_govsvc_cases_sql[] =
    "WITH page AS (SELECT c.* FROM cases c"
    "  JOIN departments d ON d.id = c.department"
    "  WHERE c.state <> 'deleted'"
    "   AND ($1::bigint IS NULL OR c.department = $1::bigint)"
    "   AND ($2::text IS NULL OR d.region LIKE $2 || '%')"
    "   AND ($3::text IS NULL OR c.state = $3)"
    "   AND ($4::text IS NULL OR c.step = $4)"
    "   AND ($5::text IS NULL OR c.item_code = $5)"
    "   AND ($6::bigint IS NULL OR c.department = $6::bigint)"
    "   AND ($7::text IS NULL OR d.region LIKE $7 || '%')"
    "   AND ($8::text IS NULL OR " NGX_GOVSVC_LEVEL("c", "$14", "$15")
    "        = $8)"
    "   AND ($8::text IS DISTINCT FROM 'red'"
    "        OR (c.state IN ('in_progress', 'suspended')"
    "            AND c.due_date < $14::date))"
    "   AND ($8::text IS DISTINCT FROM 'yellow'"
    "        OR (c.state IN ('in_progress', 'suspended')"
    "            AND c.due_date < " NGX_GOVSVC_YELLOW_BEFORE("$14", "$15") "))"
    "   AND ($9::text IS NULL OR c.case_no BETWEEN rpad($9, 20, '0')"
    "        AND rpad($9, 20, '9'))"
    "   AND ($16::text IS NULL"
    "        OR (c.project_name || ' ' || (c.applicant->>'name'))"
    "           ILIKE '%' || replace(replace(replace($16, '\\', '\\\\'),"
    "            '%', '\\%'), '_', '\\_') || '%')"
    "   AND ($10::date IS NULL OR c.received_at"
    "        >= $10::date::timestamp AT TIME ZONE 'Asia/Shanghai')"
    "   AND ($11::date IS NULL OR c.received_at"
    "        < ($11::date + 1)::timestamp AT TIME ZONE 'Asia/Shanghai')"
    "   AND ($12::text IS NULL OR c.case_no < $12::char(20))"
    "  ORDER BY c.case_no DESC LIMIT $13::int + 1),"
    " shown AS (SELECT * FROM page ORDER BY case_no DESC LIMIT $13::int)"
    " SELECT json_build_object('items', coalesce((SELECT json_agg("
    NGX_GOVSVC_ROW("s", "$14", "$15") ","
    "    'applicant_name', s.applicant->>'name',"
    "    'department', json_build_object('id', d.id, 'name', d.name),"
    "    'result', s.result, 'result_code', s.result_code,"
    "    'origin', s.node, 'read_only', s.synced IS NOT NULL)"
    "   ORDER BY s.case_no DESC)"
    "   FROM shown s LEFT JOIN items i ON i.code = s.item_code"
    "    JOIN departments d ON d.id = s.department), '[]'),"
    "  'next_cursor', CASE WHEN (SELECT count(*) FROM page) > $13::int"
    "   THEN (SELECT min(case_no) FROM shown) END)";

/*
 * Abnormal cases.  $1 $2 scope, $3 kind, $4 department, $5 item, $6 from,
 * $7 to, $8 cursor, $9 limit, $10 today, $11 stale days.
 */
static const char  ngx_govsvc_abnormal_sql[] =
    "WITH page AS (SELECT c.*,"
    "   govsvc_abnormal_kind(c, $10::date, $11::int) AS kind"
    "  FROM cases c JOIN departments d ON d.id = c.department"
    "  WHERE c.state IN ('draft', 'correction')"
    "   AND govsvc_abnormal_kind(c, $10::date, $11::int) IS NOT NULL"
    "   AND ($1::bigint IS NULL OR c.department = $1::bigint)"
    "   AND ($2::text IS NULL OR d.region LIKE $2 || '%')"
    "   AND ($3::text IS NULL"
    "        OR govsvc_abnormal_kind(c, $10::date, $11::int) = $3)"
    "   AND ($4::bigint IS NULL OR c.department = $4::bigint)"
    "   AND ($5::text IS NULL OR c.item_code = $5)"
    "   AND ($6::date IS NULL OR c.received_at"
    "        >= $6::date::timestamp AT TIME ZONE 'Asia/Shanghai')"
    "   AND ($7::date IS NULL OR c.received_at"
    "        < ($7::date + 1)::timestamp AT TIME ZONE 'Asia/Shanghai')"
    "   AND ($8::text IS NULL OR c.case_no < $8::char(20))"
    "  ORDER BY c.case_no DESC LIMIT $9::int + 1),"
    " shown AS (SELECT * FROM page ORDER BY case_no DESC LIMIT $9::int)"
    " SELECT json_build_object('items', coalesce((SELECT json_agg("
    "    json_build_object('case_no', s.case_no, 'kind', s.kind,"
    "    'project_name', s.project_name,"
    "    'item', " NGX_GOVSVC_ITEM("s") ","
    "    'state', s.state,"
    "    'department', json_build_object('id', d.id, 'name', d.name),"
    "    'received_at', govsvc_time(s.received_at),"
    "    'resubmitted_at', govsvc_time(s.resubmitted_at),"
    "    'correction', s.correction, 'version', s.version,"
    "    'origin', s.node, 'read_only', s.synced IS NOT NULL)"
    "   ORDER BY s.case_no DESC)"
    "   FROM shown s LEFT JOIN items i ON i.code = s.item_code"
    "    JOIN departments d ON d.id = s.department), '[]'),"
    "  'next_cursor', CASE WHEN (SELECT count(*) FROM page) > $9::int"
    "   THEN (SELECT min(case_no) FROM shown) END)";


/* ---- GET /api/v1/worklist?box=todo|done&limit=&cursor= ---- */

ngx_int_t
ngx_govsvc_worklist_get(ngx_govsvc_ctx_t *ctx)
{
    u_char              *p;
    char                *box, *cursor;
    gs_date_t            date;
    ngx_uint_t           i, roles;
    const char         **v;
    ngx_govsvc_user_t   *u;
    ngx_govsvc_list_t   *ls;

    u = ctx->user;

    ls = ngx_govsvc_list_new(ctx);
    if (ls == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    v = ls->values;
    box = ngx_govsvc_arg(ctx->request, "box");

    if (box == NULL || ngx_strcmp(box, "todo") == 0) {
        if (ngx_govsvc_list_page(ls, &v[4], &v[2]) != NGX_OK) {
            return ngx_govsvc_list_bad(ls);
        }

        /* the cursor of 待办: "YYYY-MM-DD.CASE_NO" */
        cursor = (char *) v[2];
        v[3] = NULL;

        if (cursor != NULL) {
            if (ngx_strlen(cursor) != 31 || cursor[10] != '.'
                || gs_date_parse(cursor, 10, &date) != 0
                || !ngx_govsvc_digits(cursor + 11, 20))
            {
                ls->bad = "cursor";
                return ngx_govsvc_list_bad(ls);
            }

            ngx_memcpy(ls->cursor_date, cursor, 10);
            v[2] = ls->cursor_date;
            v[3] = cursor + 11;
        }

        ngx_sprintf((u_char *) ls->scope_department, "%L%Z", u->department);
        v[0] = ls->scope_department;

        /* "{handler,reviewer}", and one generation key per role */
        roles = u->roles & NGX_GOVSVC_WL_ROLES;
        p = (u_char *) ls->roles;
        *p++ = '{';

        for (i = 0; i < NGX_GOVSVC_NROLES; i++) {
            if (!(roles & (1 << i))) {
                continue;
            }

            if (p[-1] != '{') {
                *p++ = ',';
            }

            p = ngx_cpymem(p, ngx_govsvc_role_names[i],
                           ngx_strlen(ngx_govsvc_role_names[i]));

            ls->gen_keys[++ls->ngen_keys] = ngx_pnalloc(ctx->request->pool,
                                                        64);
            if (ls->gen_keys[ls->ngen_keys] == NULL) {
                return NGX_HTTP_INTERNAL_SERVER_ERROR;
            }

            ngx_sprintf(ls->gen_keys[ls->ngen_keys], "govsvc:wl:todo:%L:%s%Z",
                        u->department, ngx_govsvc_role_names[i]);
        }

        *p++ = '}';
        *p = '\0';
        v[1] = ls->roles;
        v[5] = ls->today;
        v[6] = ls->yellow;

        ls->sql = ngx_govsvc_todo_sql;
        ls->nparams = 7;

    } else if (ngx_strcmp(box, "done") == 0) {
        if (ngx_govsvc_list_page(ls, &v[2], &v[1]) != NGX_OK) {
            return ngx_govsvc_list_bad(ls);
        }

        if (v[1] != NULL
            && ngx_atoof((u_char *) v[1], ngx_strlen(v[1])) <= 0)
        {
            ls->bad = "cursor";
            return ngx_govsvc_list_bad(ls);
        }

        v[0] = (const char *) u->id_text;
        v[3] = ls->today;
        v[4] = ls->yellow;

        ls->gen_keys[1] = ngx_pnalloc(ctx->request->pool, 64);
        if (ls->gen_keys[1] == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        ngx_sprintf(ls->gen_keys[1], "govsvc:wl:done:%s%Z", u->id_text);
        ls->ngen_keys = 1;

        ls->sql = ngx_govsvc_done_sql;
        ls->nparams = 5;

    } else {
        ls->bad = "box";
        return ngx_govsvc_list_bad(ls);
    }

    return ngx_govsvc_worklist_cached(ls);
}


/*
 * Redis, when it is there: first the epoch if a change was lost on the way
 * (the shared zone says so), then the generations, then the page.
 */

static ngx_int_t
ngx_govsvc_worklist_cached(ngx_govsvc_list_t *ls)
{
    const char              *argv[2];
    size_t                   argvlen[2];
    ngx_http_request_t      *r;
    ngx_govsvc_metrics_t    *m;
    ngx_govsvc_main_conf_t  *gmcf;

    r = ls->ctx->request;
    gmcf = ngx_http_get_module_main_conf(r, ngx_govsvc_module);

    if (gmcf->redis == NULL || ls->ngen_keys == 0) {
        return ngx_govsvc_worklist_db(ls, "bypass");
    }

    m = ngx_govsvc_metrics();

    if (m == NULL || !m->worklists_dirty) {
        return ngx_govsvc_worklist_gens(ls);
    }

    argv[0] = "INCR";
    argvlen[0] = 4;
    argv[1] = "govsvc:wl:epoch";
    argvlen[1] = sizeof("govsvc:wl:epoch") - 1;

    ls->cmd = ngx_govsvc_redis_command(gmcf->redis,
                                       ngx_govsvc_worklist_epoch, ls,
                                       2, argv, argvlen);
    if (ls->cmd == NULL) {
        return ngx_govsvc_worklist_db(ls, "bypass");
    }

    r->main->count++;

    return NGX_DONE;
}


static void
ngx_govsvc_worklist_epoch(redisReply *reply, void *data)
{
    ngx_govsvc_list_t *ls = data;

    ngx_int_t              rc;
    ngx_govsvc_metrics_t  *m;

    ls->cmd = NULL;

    if (reply == NULL || reply->type != REDIS_REPLY_INTEGER) {
        rc = ngx_govsvc_worklist_db(ls, "bypass");

    } else {
        m = ngx_govsvc_metrics();
        (void) ngx_atomic_cmp_set(&m->worklists_dirty, 1, 0);

        ngx_log_error(NGX_LOG_NOTICE, ls->ctx->request->connection->log, 0,
                      "govsvc: worklist cache epoch %lld: changes made "
                      "while Redis was away are visible again",
                      reply->integer);

        rc = ngx_govsvc_worklist_gens(ls);
    }

    ngx_govsvc_finalize(ls->ctx->request, rc);
}


/*
 * One round trip: MGET of the generations and of the page, whose value
 * begins with the generations it was read under (each at most 20
 * characters, "0" for none, ":"-separated) and a newline; the page is
 * the answer only if they are the generations now.
 */

static ngx_int_t
ngx_govsvc_worklist_gens(ngx_govsvc_list_t *ls)
{
    u_char                  *p, *last;
    size_t                   len;
    ngx_uint_t               i, n;
    const char              *argv[NGX_GOVSVC_WL_KEYS + 2];
    size_t                   argvlen[NGX_GOVSVC_WL_KEYS + 2];
    ngx_http_request_t      *r;
    ngx_govsvc_main_conf_t  *gmcf;

    r = ls->ctx->request;
    gmcf = ngx_http_get_module_main_conf(r, ngx_govsvc_module);

    ls->gen_keys[0] = (u_char *) "govsvc:wl:epoch";
    n = ls->ngen_keys + 1;

    len = sizeof("govsvc:wl:page:") + 512;

    ls->key.data = ngx_pnalloc(r->pool, len);
    if (ls->key.data == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    last = ls->key.data + len;

    /* the statement's parameters say which page this is */
    p = ngx_slprintf(ls->key.data, last, "govsvc:wl:page:%s:%s",
                     ls->sql == ngx_govsvc_todo_sql ? "todo" : "done",
                     ls->values[0]);

    /* all but the yellow days, which the configuration fixes */
    for (i = 1; i < (ngx_uint_t) ls->nparams - 1; i++) {
        p = ngx_slprintf(p, last, ":%s", ls->values[i] ? ls->values[i] : "");
    }

    ls->key.len = p - ls->key.data;

    argv[0] = "MGET";
    argvlen[0] = 4;

    for (i = 0; i < n; i++) {
        argv[i + 1] = (const char *) ls->gen_keys[i];
        argvlen[i + 1] = ngx_strlen(ls->gen_keys[i]);
    }

    argv[n + 1] = (const char *) ls->key.data;
    argvlen[n + 1] = ls->key.len;

    ls->cmd = ngx_govsvc_redis_command(gmcf->redis,
                                       ngx_govsvc_worklist_page_reply, ls,
                                       (int) n + 2, argv, argvlen);
    if (ls->cmd == NULL) {
        return ngx_govsvc_worklist_db(ls, "bypass");
    }

    r->main->count++;

    return NGX_DONE;
}


static void
ngx_govsvc_worklist_page_reply(redisReply *reply, void *data)
{
    ngx_govsvc_list_t *ls = data;

    u_char              *p, *last;
    size_t               len;
    ngx_int_t            rc;
    ngx_uint_t           i, n;
    redisReply          *page, *e;
    ngx_http_request_t  *r;

    ls->cmd = NULL;
    r = ls->ctx->request;
    n = ls->ngen_keys + 1;

    if (reply == NULL || reply->type != REDIS_REPLY_ARRAY
        || reply->elements != n + 1)
    {
        ngx_govsvc_finalize(r, ngx_govsvc_worklist_db(ls, "bypass"));
        return;
    }

    len = n * 21 + 1;

    ls->gens.data = ngx_pnalloc(r->pool, len);
    if (ls->gens.data == NULL) {
        ngx_govsvc_finalize(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    p = ls->gens.data;
    last = p + len;

    for (i = 0; i < n; i++) {
        e = reply->element[i];
        p = ngx_slprintf(p, last, "%s%*s", i ? ":" : "",
                         (size_t) (e->type == REDIS_REPLY_STRING
                                   ? ngx_min(e->len, 20) : 1),
                         e->type == REDIS_REPLY_STRING ? e->str : "0");
    }

    *p++ = '\n';
    ls->gens.len = p - ls->gens.data;

    page = reply->element[n];

    if (page->type == REDIS_REPLY_STRING && page->len > ls->gens.len
        && ngx_memcmp(page->str, ls->gens.data, ls->gens.len) == 0)
    {
        ngx_govsvc_count(cache_hits);

        if (ngx_govsvc_x_cache(r, "hit") != NGX_OK) {
            rc = NGX_HTTP_INTERNAL_SERVER_ERROR;

        } else {
            rc = ngx_govsvc_send_json(r, NGX_HTTP_OK,
                                      (u_char *) page->str + ls->gens.len,
                                      page->len - ls->gens.len);
        }

    } else {
        rc = ngx_govsvc_worklist_db(ls, "miss");
    }

    ngx_govsvc_finalize(r, rc);
}


static ngx_int_t
ngx_govsvc_worklist_db(ngx_govsvc_list_t *ls, const char *x_cache)
{
    if (ngx_strcmp(x_cache, "miss") == 0) {
        ngx_govsvc_count(cache_misses);

    } else {
        ngx_govsvc_count(cache_bypasses);
        ls->key.len = 0;
    }

    if (ngx_govsvc_x_cache(ls->ctx->request, x_cache) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_govsvc_query(ls->ctx, ls->sql, ls->nparams, ls->values,
                            ngx_govsvc_worklist_result, ls);
}


/* the page answered, and kept under its generations for govsvc_cache_ttl */

static void
ngx_govsvc_worklist_result(ngx_govsvc_pg_t *pg, PGresult *res, void *data)
{
    ngx_govsvc_list_t *ls = data;

    u_char  *value;
    size_t   len;

    if (ls->key.len && res && PQresultStatus(res) == PGRES_TUPLES_OK
        && PQntuples(res) == 1 && !PQgetisnull(res, 0, 0))
    {
        /* the generations the read began under, then the page: replaced
         * whatever was there, as that is of other generations */
        len = ls->gens.len + PQgetlength(res, 0, 0);
        value = ngx_pnalloc(ls->ctx->request->pool, len);

        if (value != NULL) {
            ngx_memcpy(ngx_cpymem(value, ls->gens.data, ls->gens.len),
                       PQgetvalue(res, 0, 0), PQgetlength(res, 0, 0));

            ngx_govsvc_cache_put(ls->ctx->request, &ls->key,
                                 (const char *) value, len, 0);
        }
    }

    ngx_govsvc_json_result(pg, res, ls->ctx);
}


/*
 * After a transition: INCR each list it changed ("todo:DEPT:ROLE",
 * "done:USER", space-separated), then send body.  A list that could not
 * be bumped marks the shared zone, so that the epoch is bumped as soon as
 * Redis answers again.
 */

ngx_int_t
ngx_govsvc_worklists_touch(ngx_govsvc_ctx_t *ctx, const char *lists,
    ngx_str_t *body)
{
    u_char                   *key;
    size_t                    len;
    ngx_uint_t                n, failed;
    const char               *argv[2], *p, *end;
    size_t                    argvlen[2];
    ngx_http_request_t       *r;
    ngx_pool_cleanup_t       *cln;
    ngx_govsvc_touch_t       *tc;
    ngx_govsvc_touch_slot_t  *slot;
    ngx_govsvc_main_conf_t   *gmcf;

    r = ctx->request;
    gmcf = ngx_http_get_module_main_conf(r, ngx_govsvc_module);

    if (gmcf->redis == NULL || lists[0] == '\0') {
        return ngx_govsvc_send_json(r, NGX_HTTP_OK, body->data, body->len);
    }

    cln = ngx_pool_cleanup_add(r->pool, sizeof(ngx_govsvc_touch_t));
    if (cln == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    tc = cln->data;
    ngx_memzero(tc, sizeof(ngx_govsvc_touch_t));
    tc->ctx = ctx;
    tc->body = *body;
    cln->handler = ngx_govsvc_touch_cleanup;

    argv[0] = "INCR";
    argvlen[0] = 4;
    failed = 0;

    for (p = lists, n = 0; *p && n < NGX_GOVSVC_WL_TOUCH_MAX; n++) {
        end = ngx_strchr(p, ' ');
        len = end ? (size_t) (end - p) : ngx_strlen(p);

        key = ngx_pnalloc(r->pool, sizeof("govsvc:wl:") - 1 + len);
        if (key == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        argv[1] = (const char *) key;
        argvlen[1] = ngx_sprintf(key, "govsvc:wl:%*s", len, p) - key;

        slot = &tc->slots[n];
        slot->touch = tc;
        slot->cmd = ngx_govsvc_redis_command(gmcf->redis,
                                             ngx_govsvc_touch_reply, slot,
                                             2, argv, argvlen);
        if (slot->cmd == NULL) {
            failed = 1;

        } else {
            tc->pending++;
        }

        p = end ? end + 1 : "";
    }

    if (failed) {
        ngx_govsvc_worklists_lost(r);
    }

    if (tc->pending == 0) {
        return ngx_govsvc_send_json(r, NGX_HTTP_OK, body->data, body->len);
    }

    r->main->count++;

    return NGX_DONE;
}


static void
ngx_govsvc_touch_reply(redisReply *reply, void *data)
{
    ngx_govsvc_touch_slot_t *slot = data;

    ngx_http_request_t  *r;
    ngx_govsvc_touch_t  *tc;

    tc = slot->touch;
    slot->cmd = NULL;
    r = tc->ctx->request;

    if (reply == NULL || reply->type != REDIS_REPLY_INTEGER) {
        ngx_govsvc_worklists_lost(r);
    }

    if (--tc->pending) {
        return;
    }

    ngx_govsvc_finalize(r, ngx_govsvc_send_json(r, NGX_HTTP_OK,
                                                tc->body.data,
                                                tc->body.len));
}


/* a worklist change that did not reach Redis: the epoch must move */

static void
ngx_govsvc_worklists_lost(ngx_http_request_t *r)
{
    ngx_govsvc_metrics_t  *m;

    m = ngx_govsvc_metrics();

    if (m && ngx_atomic_cmp_set(&m->worklists_dirty, 0, 1)) {
        ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                      "govsvc: a worklist change did not reach Redis; "
                      "the cache epoch is bumped when Redis answers");
    }
}


static void
ngx_govsvc_touch_cleanup(void *data)
{
    ngx_govsvc_touch_t *tc = data;

    ngx_uint_t  i;

    for (i = 0; i < NGX_GOVSVC_WL_TOUCH_MAX; i++) {
        if (tc->slots[i].cmd) {
            ngx_govsvc_redis_cancel(tc->slots[i].cmd);
            tc->slots[i].cmd = NULL;
        }
    }
}


/* ---- GET /api/v1/cases: the unified query (统一查询) ---- */

ngx_int_t
ngx_govsvc_cases_list(ngx_govsvc_ctx_t *ctx)
{
    const char         **v;
    ngx_govsvc_list_t   *ls;

    ls = ngx_govsvc_list_new(ctx);
    if (ls == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    v = ls->values;

    if (ngx_govsvc_list_scope(ls) != NGX_OK
        || ngx_govsvc_list_filter(ls, "state", 16,
               "draft correction rejected in_progress suspended completed "
               "voided", &v[2]) != NGX_OK
        || ngx_govsvc_list_filter(ls, "step", 32, NULL, &v[3]) != NGX_OK
        || ngx_govsvc_list_filter(ls, "item", 64, NULL, &v[4]) != NGX_OK
        || ngx_govsvc_list_filter(ls, "department", 19, "#", &v[5])
           != NGX_OK
        || ngx_govsvc_list_filter(ls, "region", 6, "region", &v[6])
           != NGX_OK
        || ngx_govsvc_list_filter(ls, "level", 8, "normal yellow red",
                                  &v[7]) != NGX_OK
        || ngx_govsvc_list_filter(ls, "q", 100, NULL, &v[8]) != NGX_OK
        || ngx_govsvc_list_filter(ls, "from", 10, "date", &v[9]) != NGX_OK
        || ngx_govsvc_list_filter(ls, "to", 10, "date", &v[10]) != NGX_OK
        || ngx_govsvc_list_filter(ls, "cursor", 20, "case_no", &v[11])
           != NGX_OK
        || ngx_govsvc_list_page(ls, &v[12], NULL) != NGX_OK)
    {
        return ngx_govsvc_list_bad(ls);
    }

    v[13] = ls->today;
    v[14] = ls->yellow;

    /* digits are the start of a case number (the primary key's range),
     * anything else part of a name */
    if (v[8] && (ngx_strlen(v[8]) > 20
                 || !ngx_govsvc_digits(v[8], ngx_strlen(v[8]))))
    {
        v[15] = v[8];
        v[8] = NULL;
    }

    /* a search of the whole scope: the replica's, when there is one */
    return ngx_govsvc_json_read_query(ctx, NGX_HTTP_OK, ngx_govsvc_cases_sql,
                                      16, v);
}


/* ---- GET /api/v1/abnormal: 异常办结 ---- */

ngx_int_t
ngx_govsvc_abnormal_list(ngx_govsvc_ctx_t *ctx)
{
    const char         **v;
    ngx_govsvc_list_t   *ls;

    ls = ngx_govsvc_list_new(ctx);
    if (ls == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    v = ls->values;

    if (ngx_govsvc_list_scope(ls) != NGX_OK
        || ngx_govsvc_list_filter(ls, "kind", 24,
               "correction_overdue draft_stale", &v[2]) != NGX_OK
        || ngx_govsvc_list_filter(ls, "department", 19, "#", &v[3])
           != NGX_OK
        || ngx_govsvc_list_filter(ls, "item", 64, NULL, &v[4]) != NGX_OK
        || ngx_govsvc_list_filter(ls, "from", 10, "date", &v[5]) != NGX_OK
        || ngx_govsvc_list_filter(ls, "to", 10, "date", &v[6]) != NGX_OK
        || ngx_govsvc_list_filter(ls, "cursor", 20, "case_no", &v[7])
           != NGX_OK
        || ngx_govsvc_list_page(ls, &v[8], NULL) != NGX_OK)
    {
        return ngx_govsvc_list_bad(ls);
    }

    v[9] = ls->today;
    v[10] = ls->stale;

    return ngx_govsvc_json_query(ctx, NGX_HTTP_OK, ngx_govsvc_abnormal_sql,
                                 11, v);
}


/* ---- helpers ---- */

static ngx_govsvc_list_t *
ngx_govsvc_list_new(ngx_govsvc_ctx_t *ctx)
{
    ngx_pool_cleanup_t      *cln;
    ngx_govsvc_list_t       *ls;
    ngx_govsvc_main_conf_t  *gmcf;

    cln = ngx_pool_cleanup_add(ctx->request->pool, sizeof(ngx_govsvc_list_t));
    if (cln == NULL) {
        return NULL;
    }

    ls = cln->data;
    ngx_memzero(ls, sizeof(ngx_govsvc_list_t));
    ls->ctx = ctx;
    cln->handler = ngx_govsvc_list_cleanup;

    gmcf = ngx_http_get_module_main_conf(ctx->request, ngx_govsvc_module);

    gs_date_format(ngx_govsvc_today(), ls->today);
    ngx_sprintf((u_char *) ls->yellow, "%i%Z", gmcf->yellow_days);
    ngx_sprintf((u_char *) ls->stale, "%i%Z", gmcf->draft_stale_days);

    return ls;
}


static void
ngx_govsvc_list_cleanup(void *data)
{
    ngx_govsvc_list_t *ls = data;

    if (ls->cmd) {
        ngx_govsvc_redis_cancel(ls->cmd);
        ls->cmd = NULL;
    }
}


/* limit (default 50, at most 500) and cursor (as given, or NULL);
 * NGX_DECLINED: ls->bad names the one at fault */

static ngx_int_t
ngx_govsvc_list_page(ngx_govsvc_list_t *ls, const char **limit,
    const char **cursor)
{
    if (ngx_govsvc_arg_limit(ls->ctx->request, limit, &ls->bad) != NGX_OK) {
        return NGX_DECLINED;
    }

    if (cursor) {
        *cursor = ngx_govsvc_arg(ls->ctx->request, "cursor");

        if (*cursor && (*cursor)[0] == '\0') {
            *cursor = NULL;
        }
    }

    return NGX_OK;
}


/* values[0..1]: a supervisor sees the region below its own, the others
 * their department */

static ngx_int_t
ngx_govsvc_list_scope(ngx_govsvc_list_t *ls)
{
    ngx_govsvc_user_t  *u;

    u = ls->ctx->user;

    if (!(u->roles & NGX_GOVSVC_ROLE_SUPERVISOR)) {
        ngx_sprintf((u_char *) ls->scope_department, "%L%Z", u->department);
        ls->values[0] = ls->scope_department;
        return NGX_OK;
    }

    ngx_govsvc_region_prefix(u->region, ls->scope_region);
    ls->values[1] = ls->scope_region;

    return NGX_OK;
}


/*
 * A filter of the query string: absent or empty is NULL; otherwise UTF-8
 * of at most max bytes and, by pattern, one of the space-separated words,
 * "#" digits, "date" YYYY-MM-DD, "case_no" 20 digits, "region" a region
 * code (as its prefix).  NGX_DECLINED: ls->bad names it.
 */

static ngx_int_t
ngx_govsvc_list_filter(ngx_govsvc_list_t *ls, const char *name, size_t max,
    const char *pattern, const char **out)
{
    return ngx_govsvc_arg_filter(ls->ctx->request, name, max, pattern, out,
                                 &ls->bad);
}


static ngx_int_t
ngx_govsvc_list_bad(ngx_govsvc_list_t *ls)
{
    return ngx_govsvc_send_bad_arg(ls->ctx->request, ls->bad);
}


static ngx_int_t
ngx_govsvc_x_cache(ngx_http_request_t *r, const char *v)
{
    return ngx_govsvc_add_header(r, "X-Cache", (u_char *) v, ngx_strlen(v));
}
