
/*
 * GovSvc: e-supervision (电子监察): warnings, yellow and red cards (issued
 * by a timer and by supervisors, answered by departments), statistics.
 *
 * The automatic cards: every worker arms a timer of govsvc_card_interval;
 * when it fires, the worker takes a lease in the shared zone (a counter
 * with an expiry a little shorter than the interval: the first to count
 * it runs), so that one worker of an nginx runs per interval.  The run is
 * one statement, govsvc_cards_auto(), one transaction: it takes a
 * transaction-level advisory lock (another instance on the same database
 * that holds it makes this run a no-op) and inserts the cards that are
 * due with ON CONFLICT DO NOTHING on a partial unique index, so no case
 * ever gets two automatic cards of one colour, whoever runs.  "Today" and
 * the yellow threshold are the module's (ngx_govsvc_today(),
 * govsvc_yellow_days), as for every other time limit.
 *
 * The statistics add up daily figures per department, item and day that
 * triggers keep as cases and ratings change (sql/0012), so that any
 * period over a million cases is a sum of a few rows per day.
 */


#include "ngx_govsvc.h"
#include "gs_calendar.h"




/* a request of this file: the statement's parameters and their storage */
typedef struct {
    ngx_govsvc_ctx_t         *ctx;
    const char               *values[12];
    char                      today[11];
    char                      yellow[NGX_INT_T_LEN + 1];
    char                      scope_department[NGX_INT64_LEN + 1];
    char                      scope_region[7];
    char                      cursor_date[11];
    const char               *bad;            /* the parameter at fault */
} ngx_govsvc_sv_t;


static ngx_govsvc_sv_t *ngx_govsvc_sv_new(ngx_govsvc_ctx_t *ctx);
static void ngx_govsvc_sv_scope(ngx_govsvc_sv_t *sv);
static ngx_int_t ngx_govsvc_sv_filter(ngx_govsvc_sv_t *sv, const char *name,
    size_t max, const char *pattern, const char **out);
static ngx_int_t ngx_govsvc_sv_limit(ngx_govsvc_sv_t *sv,
    const char **limit);
static ngx_int_t ngx_govsvc_sv_bad(ngx_govsvc_sv_t *sv);
static ngx_int_t ngx_govsvc_card_by_id(ngx_govsvc_ctx_t *ctx,
    const char *sql);
static ngx_int_t ngx_govsvc_card_change(ngx_govsvc_ctx_t *ctx,
    ngx_uint_t status, const char *sql, const char *key);
static ngx_uint_t ngx_govsvc_cards_lease(ngx_govsvc_main_conf_t *gmcf);
static void ngx_govsvc_cards_run(ngx_event_t *ev);
static void ngx_govsvc_cards_done(ngx_govsvc_pg_t *pg, PGresult *res,
    void *data);


/*
 * The warnings.  $1 the supervisor's region prefix, $2 region prefix, $3
 * department, $4 level, $5 $6 cursor (due date, case number), $7 limit,
 * $8 today, $9 yellow days.  Earliest due date first.  p is materialized
 * so that the yellow limit is computed once: govsvc_working_day() is
 * STABLE, and inlined into each row's govsvc_level() it would run a
 * calendar scan per case.  A copy of a child's case (sql/0016) is
 * warned of by its snapshot's due date; its item may be unknown here.
 */
static const char  ngx_govsvc_warnings_sql[] =
    "WITH p AS MATERIALIZED (SELECT govsvc_working_day($8::date, $9::int + 1)"
    "  AS yb),"
    " o AS (SELECT c.*, d.name AS dname, d.region AS dregion,"
    "   govsvc_level(c.due_date, c.paused_since, $8::date, $9::int, p.yb)"
    "    AS level,"
    "   govsvc_step_overdue(c, $8::date) AS step_overdue"
    "  FROM p, cases c JOIN departments d ON d.id = c.department"
    "  WHERE c.state IN ('in_progress', 'suspended')"
    "   AND d.region LIKE $1 || '%'"
    "   AND ($2::text IS NULL OR d.region LIKE $2 || '%')"
    "   AND ($3::bigint IS NULL OR c.department = $3::bigint)"
    "   AND ($5::date IS NULL"
    "        OR (c.due_date, c.case_no) > ($5::date, $6::char(20)))),"
    " page AS (SELECT * FROM o"
    "  WHERE CASE WHEN $4::text IS NULL"
    "   THEN o.level IN ('yellow', 'red') OR o.step_overdue"
    "   ELSE o.level = $4 END"
    "  ORDER BY o.due_date, o.case_no LIMIT $7::int + 1),"
    " shown AS (SELECT * FROM page ORDER BY due_date, case_no"
    "  LIMIT $7::int)"
    " SELECT json_build_object('items', coalesce((SELECT json_agg("
    "   json_build_object('case_no', s.case_no,"
    "    'project_name', s.project_name,"
    "    'item', json_build_object('code', s.item_code,"
    "     'name', coalesce(i.name, s.synced #>> '{item,name}')),"
    "    'department', json_build_object('id', s.department,"
    "                                    'name', s.dname),"
    "    'region', s.dregion, 'state', s.state, 'step', s.step,"
    "    'due_date', s.due_date, 'paused', s.paused_since IS NOT NULL,"
    "    'level', s.level, 'step_overdue', s.step_overdue,"
    "    'cards', (SELECT coalesce(json_agg(json_build_object("
    "      'id', k.id, 'color', k.color, 'source', k.source,"
    "      'issued_at', govsvc_time(k.issued_at),"
    "      'revoked_at', govsvc_time(k.revoked_at),"
    "      'responded_at', govsvc_time(k.responded_at)) ORDER BY k.id),"
    "      '[]') FROM cards k WHERE k.case_no = s.case_no))"
    "   ORDER BY s.due_date, s.case_no)"
    "   FROM shown s LEFT JOIN items i ON i.code = s.item_code), '[]'),"
    "  'next_cursor', CASE WHEN (SELECT count(*) FROM page) > $7::int"
    "   THEN (SELECT s.due_date || '.' || s.case_no FROM shown s"
    "    ORDER BY s.due_date DESC, s.case_no DESC LIMIT 1) END)";


/* the bounds of the period: $5 from and $6 to, dates in China */
#define NGX_GOVSVC_SV_IN(col)                                                \
    " " col " >= coalesce($5::date::timestamp AT TIME ZONE 'Asia/Shanghai',"  \
    " '-infinity') AND " col " < coalesce(($6::date + 1)::timestamp"          \
    " AT TIME ZONE 'Asia/Shanghai', 'infinity')"

#define NGX_GOVSVC_SV_DAYS(col)                                              \
    " " col " BETWEEN coalesce($5::date, '-infinity')"                        \
    " AND coalesce($6::date, 'infinity')"

/*
 * The statistics, per department of a page.  $1 the supervisor's region
 * prefix, $2 region prefix, $3 department, $4 item, $5 from, $6 to, $7
 * cursor (department id), $8 limit, $9 today.
 *
 * Cases and ratings come from their daily figures (sql/0012: kept by
 * triggers), a few rows per department and day whatever the number of
 * cases; cards and consultations are counted by index.
 */
static const char  ngx_govsvc_stats_sql[] =
    "WITH dept AS (SELECT d.id, d.name, d.region FROM departments d"
    "  WHERE d.region LIKE $1 || '%'"
    "   AND ($2::text IS NULL OR d.region LIKE $2 || '%')"
    "   AND ($3::bigint IS NULL OR d.id = $3::bigint)"
    "   AND ($7::bigint IS NULL OR d.id > $7::bigint)"
    "  ORDER BY d.id LIMIT $8::int + 1),"
    " shown AS (SELECT * FROM dept ORDER BY id LIMIT $8::int),"
    " cs AS (SELECT f.department, sum(f.accepted) AS accepted,"
    "   sum(f.rejected) AS rejected,"
    "   json_build_object('0', sum(f.completed_0), '1', sum(f.completed_1),"
    "    '2', sum(f.completed_2), '3', sum(f.completed_3),"
    "    '4', sum(f.completed_4), '5', sum(f.completed_5),"
    "    '6', sum(f.completed_6)) AS completed,"
    "   sum(f.timed) AS timed, sum(f.on_time) AS on_time,"
    "   sum(f.spans) AS spans, sum(f.span_days) AS span_days"
    "  FROM shown s JOIN stats_cases_daily f ON f.department = s.id"
    "  WHERE" NGX_GOVSVC_SV_DAYS("f.day")
    "   AND ($4::text IS NULL OR f.item_code = $4)"
    "  GROUP BY f.department),"
    " rt AS (SELECT f.department, sum(f.good) AS good,"
    "   sum(f.neutral) AS neutral, sum(f.bad) AS bad"
    "  FROM shown s JOIN stats_ratings_daily f ON f.department = s.id"
    "  WHERE" NGX_GOVSVC_SV_DAYS("f.day")
    "   AND ($4::text IS NULL OR f.item_code = $4)"
    "  GROUP BY f.department),"
    " cards_in AS (SELECT k.department, count(*) AS n"
    "  FROM shown s JOIN cards k ON k.department = s.id"
    "  WHERE" NGX_GOVSVC_SV_IN("k.issued_at")
    "   AND ($4::text IS NULL OR k.item_code = $4)"
    "  GROUP BY k.department),"
    " cards_out AS (SELECT k.department, count(*) AS n"
    "  FROM shown s JOIN cards k ON k.department = s.id"
    "  WHERE k.revoked_at IS NOT NULL AND" NGX_GOVSVC_SV_IN("k.revoked_at")
    "   AND ($4::text IS NULL OR k.item_code = $4)"
    "  GROUP BY k.department),"
    /* late: a working day passed after reply_due before the reply, or
     * before today while none came */
    " cq AS (SELECT q.department,"
    "   count(*) FILTER (WHERE q.status = 'pending') AS pending,"
    "   count(*) FILTER (WHERE q.reply_due < e.day"
    "    AND govsvc_wdi(e.day, m.days, m.cum)"
    "        > govsvc_wdi(q.reply_due, m.days, m.cum)) AS overdue"
    "  FROM govsvc_calendar_marks() m, shown s"
    "   JOIN consultations q ON q.department = s.id,"
    "   LATERAL (SELECT coalesce((q.replied_at"
    "    AT TIME ZONE 'Asia/Shanghai')::date, $9::date) AS day) e"
    "  WHERE" NGX_GOVSVC_SV_IN("q.created_at")
    "   AND ($4::text IS NULL OR q.item_code = $4)"
    "  GROUP BY q.department)"
    " SELECT json_build_object("
    "  'from', $5::date, 'to', $6::date,"
    "  'items', coalesce((SELECT json_agg(json_build_object("
    "    'department', json_build_object('id', s.id, 'name', s.name),"
    "    'region', s.region,"
    "    'accepted', coalesce(cs.accepted, 0),"
    "    'rejected', coalesce(cs.rejected, 0),"
    "    'completed', coalesce(cs.completed, json_build_object('0', 0,"
    "      '1', 0, '2', 0, '3', 0, '4', 0, '5', 0, '6', 0)),"
    "    'on_time_rate', CASE WHEN cs.timed > 0"
    "     THEN round(cs.on_time::numeric / cs.timed, 4) END,"
    "    'avg_working_days', CASE WHEN cs.spans > 0"
    "     THEN round(cs.span_days::numeric / cs.spans, 2) END,"
    "    'cards_issued', coalesce(cards_in.n, 0),"
    "    'cards_revoked', coalesce(cards_out.n, 0),"
    "    'consultations_pending', coalesce(cq.pending, 0),"
    "    'consultations_overdue', coalesce(cq.overdue, 0),"
    "    'ratings', json_build_object('good', coalesce(rt.good, 0),"
    "     'neutral', coalesce(rt.neutral, 0), 'bad', coalesce(rt.bad, 0)))"
    "    ORDER BY s.id)"
    "   FROM shown s"
    "    LEFT JOIN cs ON cs.department = s.id"
    "    LEFT JOIN rt ON rt.department = s.id"
    "    LEFT JOIN cards_in ON cards_in.department = s.id"
    "    LEFT JOIN cards_out ON cards_out.department = s.id"
    "    LEFT JOIN cq ON cq.department = s.id), '[]'),"
    "  'next_cursor', CASE WHEN (SELECT count(*) FROM dept) > $8::int"
    "   THEN (SELECT max(id) FROM shown)::text END)";


/*
 * The cards a user may see: $1 its department (staff), $2 its region
 * prefix (supervisors), $3 department, $4 case number, $5 colour, $6
 * source, $7 status, $8 cursor (id), $9 limit.  Newest first.
 */
static const char  ngx_govsvc_cards_sql[] =
    "WITH page AS (SELECT k.id FROM cards k"
    "  JOIN departments d ON d.id = k.department"
    "  JOIN cases c ON c.case_no = k.case_no"
    "  WHERE c.state <> 'deleted'"
    "   AND ($1::bigint IS NULL OR k.department = $1::bigint)"
    "   AND ($2::text IS NULL OR d.region LIKE $2 || '%')"
    "   AND ($3::bigint IS NULL OR k.department = $3::bigint)"
    "   AND ($4::text IS NULL OR k.case_no = $4::char(20))"
    "   AND ($5::text IS NULL OR k.color = $5)"
    "   AND ($6::text IS NULL OR k.source = $6)"
    "   AND ($7::text IS NULL OR CASE $7"
    "        WHEN 'revoked' THEN k.revoked_at IS NOT NULL"
    "        WHEN 'answered' THEN k.revoked_at IS NULL"
    "                             AND k.response IS NOT NULL"
    "        ELSE k.revoked_at IS NULL AND k.response IS NULL END)"
    "   AND ($8::bigint IS NULL OR k.id < $8::bigint)"
    "  ORDER BY k.id DESC LIMIT $9::int + 1),"
    " shown AS (SELECT id FROM page ORDER BY id DESC LIMIT $9::int)"
    " SELECT json_build_object('items', coalesce((SELECT json_agg("
    "   govsvc_card_json(k) ORDER BY k.id DESC)"
    "   FROM shown s JOIN cards k ON k.id = s.id), '[]'),"
    "  'next_cursor', CASE WHEN (SELECT count(*) FROM page) > $9::int"
    "   THEN (SELECT min(id) FROM shown)::text END)";


/* ---- GET /api/v1/supervision/warnings ---- */

ngx_int_t
ngx_govsvc_supervision_warnings(ngx_govsvc_ctx_t *ctx)
{
    gs_date_t          date;
    const char        *cursor;
    const char       **v;
    ngx_govsvc_sv_t   *sv;

    sv = ngx_govsvc_sv_new(ctx);
    if (sv == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    v = sv->values;
    v[0] = sv->scope_region;

    if (ngx_govsvc_sv_filter(sv, "region", 6, "region", &v[1]) != NGX_OK
        || ngx_govsvc_sv_filter(sv, "department", 19, "#", &v[2]) != NGX_OK
        || ngx_govsvc_sv_filter(sv, "level", 8, "yellow red", &v[3])
           != NGX_OK
        || ngx_govsvc_sv_filter(sv, "cursor", 31, NULL, &cursor) != NGX_OK
        || ngx_govsvc_sv_limit(sv, &v[6]) != NGX_OK)
    {
        return ngx_govsvc_sv_bad(sv);
    }

    /* the cursor: "YYYY-MM-DD.CASE_NO", the last row shown */
    v[4] = NULL;
    v[5] = NULL;

    if (cursor != NULL) {
        if (ngx_strlen(cursor) != 31 || cursor[10] != '.'
            || gs_date_parse(cursor, 10, &date) != 0
            || !ngx_govsvc_digits(cursor + 11, 20))
        {
            sv->bad = "cursor";
            return ngx_govsvc_sv_bad(sv);
        }

        ngx_memcpy(sv->cursor_date, cursor, 10);
        v[4] = sv->cursor_date;
        v[5] = cursor + 11;
    }

    v[7] = sv->today;
    v[8] = sv->yellow;

    return ngx_govsvc_json_read_query(ctx, NGX_HTTP_OK,
                                      ngx_govsvc_warnings_sql, 9, v);
}


/* ---- GET /api/v1/supervision/stats ---- */

ngx_int_t
ngx_govsvc_supervision_stats(ngx_govsvc_ctx_t *ctx)
{
    const char       **v;
    ngx_govsvc_sv_t   *sv;

    sv = ngx_govsvc_sv_new(ctx);
    if (sv == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    v = sv->values;
    v[0] = sv->scope_region;

    if (ngx_govsvc_sv_filter(sv, "region", 6, "region", &v[1]) != NGX_OK
        || ngx_govsvc_sv_filter(sv, "department", 19, "#", &v[2]) != NGX_OK
        || ngx_govsvc_sv_filter(sv, "item", 64, NULL, &v[3]) != NGX_OK
        || ngx_govsvc_sv_filter(sv, "from", 10, "date", &v[4]) != NGX_OK
        || ngx_govsvc_sv_filter(sv, "to", 10, "date", &v[5]) != NGX_OK
        || ngx_govsvc_sv_filter(sv, "cursor", 19, "#", &v[6]) != NGX_OK
        || ngx_govsvc_sv_limit(sv, &v[7]) != NGX_OK)
    {
        return ngx_govsvc_sv_bad(sv);
    }

    v[8] = sv->today;

    return ngx_govsvc_json_read_query(ctx, NGX_HTTP_OK,
                                      ngx_govsvc_stats_sql, 9, v);
}


/* ---- GET /api/v1/cards ---- */

ngx_int_t
ngx_govsvc_cards_list(ngx_govsvc_ctx_t *ctx)
{
    const char       **v;
    ngx_govsvc_sv_t   *sv;

    sv = ngx_govsvc_sv_new(ctx);
    if (sv == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    v = sv->values;

    /* supervisors: their region and below; the others: their department */
    if (ctx->user->roles & NGX_GOVSVC_ROLE_SUPERVISOR) {
        v[1] = sv->scope_region;

    } else {
        v[0] = sv->scope_department;
    }

    if (ngx_govsvc_sv_filter(sv, "department", 19, "#", &v[2]) != NGX_OK
        || ngx_govsvc_sv_filter(sv, "case_no", 20, "case_no", &v[3])
           != NGX_OK
        || ngx_govsvc_sv_filter(sv, "color", 8, "yellow red", &v[4])
           != NGX_OK
        || ngx_govsvc_sv_filter(sv, "source", 8, "auto manual", &v[5])
           != NGX_OK
        || ngx_govsvc_sv_filter(sv, "status", 10, "open answered revoked",
                                &v[6]) != NGX_OK
        || ngx_govsvc_sv_filter(sv, "cursor", 19, "#", &v[7]) != NGX_OK
        || ngx_govsvc_sv_limit(sv, &v[8]) != NGX_OK)
    {
        return ngx_govsvc_sv_bad(sv);
    }

    /* a supervisor's list may come from the replica; a department's is
     * what it has to answer, from the primary */
    if (ctx->user->roles & NGX_GOVSVC_ROLE_SUPERVISOR) {
        return ngx_govsvc_json_read_query(ctx, NGX_HTTP_OK,
                                          ngx_govsvc_cards_sql, 9, v);
    }

    return ngx_govsvc_json_query(ctx, NGX_HTTP_OK, ngx_govsvc_cards_sql, 9,
                                 v);
}


/* ---- POST /api/v1/supervision/cases/{case_no}/cards ---- */

ngx_int_t
ngx_govsvc_cards_issue(ngx_govsvc_ctx_t *ctx)
{
    const char  *case_no;

    if (ngx_govsvc_case_no(ctx, &case_no) != NGX_OK) {
        return ngx_govsvc_send_error(ctx->request, NGX_HTTP_NOT_FOUND,
                                     "not_found", "no such case", NULL);
    }

    return ngx_govsvc_card_change(ctx, NGX_HTTP_CREATED,
        "SELECT govsvc_card_issue($1, $2::jsonb, $3::bigint, $4, $5)",
        case_no);
}


/* ---- POST /api/v1/supervision/cards/{id}/revoke ---- */

ngx_int_t
ngx_govsvc_cards_revoke(ngx_govsvc_ctx_t *ctx)
{
    return ngx_govsvc_card_by_id(ctx,
        "SELECT govsvc_card_revoke($1::bigint, $2::jsonb, $3::bigint, $4, $5)");
}


/* ---- POST /api/v1/cards/{id}/response ---- */

ngx_int_t
ngx_govsvc_cards_respond(ngx_govsvc_ctx_t *ctx)
{
    return ngx_govsvc_card_by_id(ctx,
        "SELECT govsvc_card_respond($1::bigint, $2::jsonb, $3::bigint, $4, $5)");
}


/* a change of the card {id} of the path (ngx_govsvc_card_change()) */

static ngx_int_t
ngx_govsvc_card_by_id(ngx_govsvc_ctx_t *ctx, const char *sql)
{
    char  *id;

    id = ngx_pnalloc(ctx->request->pool, NGX_INT64_LEN + 1);
    if (id == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ngx_govsvc_path_id(ctx, id) != NGX_OK) {
        return ngx_govsvc_send_error(ctx->request, NGX_HTTP_NOT_FOUND,
                                     "not_found", "no such card", NULL);
    }

    return ngx_govsvc_card_change(ctx, NGX_HTTP_OK, sql, id);
}


/*
 * A card event by hand: one statement, a PL/pgSQL function that checks
 * (404, 403, 409, 422 in that order), writes the card, its audit entry and
 * its outbox event, and answers the card.
 */

static ngx_int_t
ngx_govsvc_card_change(ngx_govsvc_ctx_t *ctx, ngx_uint_t status,
    const char *sql, const char *key)
{
    char                *text;
    size_t               len;
    const char         **v;
    ngx_http_request_t  *r;

    r = ctx->request;

    v = ngx_palloc(r->pool, 5 * sizeof(const char *));
    if (v == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    text = cJSON_PrintUnformatted(ctx->body);
    if (text == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    len = ngx_strlen(text) + 1;

    v[0] = key;
    v[1] = ngx_pnalloc(r->pool, len);
    if (v[1] != NULL) {
        ngx_memcpy((char *) v[1], text, len);
    }

    cJSON_free(text);

    if (v[1] == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_govsvc_actor(ctx, &v[2]);               /* [2], [3], [4] */

    return ngx_govsvc_json_query(ctx, status, sql, 5, v);
}


/* ---- helpers ---- */

static ngx_govsvc_sv_t *
ngx_govsvc_sv_new(ngx_govsvc_ctx_t *ctx)
{
    ngx_govsvc_sv_t         *sv;
    ngx_govsvc_main_conf_t  *gmcf;

    sv = ngx_pcalloc(ctx->request->pool, sizeof(ngx_govsvc_sv_t));
    if (sv == NULL) {
        return NULL;
    }

    sv->ctx = ctx;

    gmcf = ngx_http_get_module_main_conf(ctx->request, ngx_govsvc_module);

    gs_date_format(ngx_govsvc_today(), sv->today);
    ngx_sprintf((u_char *) sv->yellow, "%i%Z", gmcf->yellow_days);

    ngx_govsvc_sv_scope(sv);

    return sv;
}


/* the caller's scope: its region as a prefix ("430000" -> "43", "430100"
 * -> "4301", a county as it is) and its department */

static void
ngx_govsvc_sv_scope(ngx_govsvc_sv_t *sv)
{
    ngx_govsvc_user_t  *u;

    u = sv->ctx->user;

    ngx_govsvc_region_prefix(u->region, sv->scope_region);
    ngx_sprintf((u_char *) sv->scope_department, "%L%Z", u->department);
}


/*
 * A filter of the query string: absent or empty is NULL; otherwise UTF-8
 * of at most max bytes and, by pattern, one of the space-separated words,
 * "#" a positive number, "date" YYYY-MM-DD, "case_no" 20 digits, "region"
 * a region code (as its prefix).  NGX_DECLINED: sv->bad names it.
 */

static ngx_int_t
ngx_govsvc_sv_filter(ngx_govsvc_sv_t *sv, const char *name, size_t max,
    const char *pattern, const char **out)
{
    return ngx_govsvc_arg_filter(sv->ctx->request, name, max, pattern, out,
                                 &sv->bad);
}


/* limit: 50 by default, 1 to 500 */

static ngx_int_t
ngx_govsvc_sv_limit(ngx_govsvc_sv_t *sv, const char **limit)
{
    return ngx_govsvc_arg_limit(sv->ctx->request, limit, &sv->bad);
}


static ngx_int_t
ngx_govsvc_sv_bad(ngx_govsvc_sv_t *sv)
{
    return ngx_govsvc_send_bad_arg(sv->ctx->request, sv->bad);
}


/* ---- the automatic cards ---- */

void
ngx_govsvc_cards_start(ngx_cycle_t *cycle, ngx_govsvc_main_conf_t *gmcf)
{
    ngx_event_t  *ev;

    /* without a zone to hold the lease worker 0 runs alone: the others
     * would only find the advisory lock taken */
    if (gmcf->shm_zone == NULL && ngx_worker != 0) {
        return;
    }

    ev = &gmcf->card_timer;

    ev->handler = ngx_govsvc_cards_run;
    ev->data = gmcf;
    ev->log = cycle->log;
    ev->cancelable = 1;

    ngx_add_timer(ev, gmcf->card_interval);
}


void
ngx_govsvc_cards_stop(ngx_govsvc_main_conf_t *gmcf)
{
    if (gmcf->card_timer.timer_set) {
        ngx_del_timer(&gmcf->card_timer);
    }

    /* after the connections (exit_process destroyed them first): a run
     * in flight is their user */
    if (gmcf->card_pool) {
        ngx_destroy_pool(gmcf->card_pool);
        gmcf->card_pool = NULL;
    }
}


/*
 * The lease: a counter in the shared zone that lives a little less than
 * the interval.  The worker that makes it 1 runs; the others see more and
 * wait for their next turn.  A full zone (logged there) lets every worker
 * run: the advisory lock still makes them take turns.
 */

static ngx_uint_t
ngx_govsvc_cards_lease(ngx_govsvc_main_conf_t *gmcf)
{
    int64_t     n;
    ngx_str_t   key = ngx_string("govsvc:cards:lease");
    ngx_msec_t  ttl;

    if (gmcf->shm_zone == NULL) {
        return 1;
    }

    ttl = gmcf->card_interval - gmcf->card_interval / 10;

    if (ngx_govsvc_shm_incr(gmcf->shm_zone, &key, 1, ttl ? ttl : 1, &n,
                            NULL)
        != NGX_OK)
    {
        return 1;
    }

    return n == 1;
}


static void
ngx_govsvc_cards_run(ngx_event_t *ev)
{
    char                    *today, *yellow;
    ngx_pool_t              *pool;
    const char             **v;
    ngx_govsvc_pg_t         *pg;
    ngx_govsvc_main_conf_t  *gmcf;

    gmcf = ev->data;

    if (ngx_exiting || ngx_terminate) {
        return;
    }

    if (gmcf->card_pool != NULL || !ngx_govsvc_cards_lease(gmcf)) {
        ngx_add_timer(ev, gmcf->card_interval);
        return;
    }

    pool = ngx_create_pool(1024, ev->log);
    if (pool == NULL) {
        ngx_add_timer(ev, gmcf->card_interval);
        return;
    }

    /* the parameters live as long as the statement may wait */
    v = ngx_palloc(pool, 2 * sizeof(const char *));
    today = ngx_pnalloc(pool, 11);
    yellow = ngx_pnalloc(pool, NGX_INT_T_LEN + 1);

    pg = NULL;

    if (v && today && yellow) {
        gs_date_format(ngx_govsvc_today(), today);
        ngx_sprintf((u_char *) yellow, "%i%Z", gmcf->yellow_days);
        v[0] = today;
        v[1] = yellow;

        pg = ngx_govsvc_pg_open_pool(gmcf->pg, pool, ev->log);
    }

    if (pg == NULL
        || ngx_govsvc_pg_query(pg,
               "SELECT issued, skipped"
               " FROM govsvc_cards_auto($1::date, $2::int)",
               2, v, ngx_govsvc_cards_done, gmcf)
           != NGX_OK)
    {
        /* PostgreSQL is away: next time */
        if (pg) {
            ngx_govsvc_pg_close(pg);
        }

        ngx_destroy_pool(pool);
        ngx_add_timer(ev, gmcf->card_interval);
        return;
    }

    gmcf->card_pool = pool;
}


static void
ngx_govsvc_cards_done(ngx_govsvc_pg_t *pg, PGresult *res, void *data)
{
    ngx_govsvc_main_conf_t *gmcf = data;

    ngx_log_t  *log;

    log = gmcf->card_timer.log;

    if (res && PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1)
    {
        if (PQgetvalue(res, 0, 1)[0] == 't') {
            ngx_log_debug0(NGX_LOG_DEBUG_HTTP, log, 0,
                           "govsvc: automatic cards: another run holds "
                           "the lock");

        } else if (ngx_strcmp(PQgetvalue(res, 0, 0), "0") != 0) {
            ngx_log_error(NGX_LOG_INFO, log, 0,
                          "govsvc: %s automatic cards issued",
                          PQgetvalue(res, 0, 0));
        }

    } else {
        ngx_log_error(NGX_LOG_WARN, log, 0,
                      "govsvc: the automatic cards failed: %s",
                      res ? PQresultErrorMessage(res) : "no connection");
    }

    ngx_govsvc_pg_close(pg);
    ngx_destroy_pool(gmcf->card_pool);
    gmcf->card_pool = NULL;

    if (!ngx_exiting && !ngx_terminate) {
        ngx_add_timer(&gmcf->card_timer, gmcf->card_interval);
    }
}
