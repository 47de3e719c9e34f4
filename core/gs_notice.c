/* gs_notice: the printable page of an official notice */

#include "gs_notice.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>


typedef struct {
    char              *data;
    size_t             len;
    size_t             size;
    int                failed;
} gs_buf_t;


/* what a notice of one kind prints between the common rows and the seal */
typedef struct {
    const char        *kind;
    const char        *title;
    void             (*body)(gs_buf_t *b, gs_notice_get_pt get, void *data);
} gs_notice_kind_t;


static void gs_notice_acceptance(gs_buf_t *b, gs_notice_get_pt get,
    void *data);
static void gs_notice_rejection(gs_buf_t *b, gs_notice_get_pt get,
    void *data);
static void gs_notice_correction(gs_buf_t *b, gs_notice_get_pt get,
    void *data);
static void gs_notice_special(gs_buf_t *b, gs_notice_get_pt get, void *data);
static void gs_notice_extension(gs_buf_t *b, gs_notice_get_pt get,
    void *data);
static void gs_notice_approval(gs_buf_t *b, gs_notice_get_pt get,
    void *data);
static void gs_notice_refusal(gs_buf_t *b, gs_notice_get_pt get, void *data);
static const gs_notice_kind_t *gs_notice_kind(const char *kind);
static void gs_notice_row(gs_buf_t *b, const char *label, const char *value,
    const char *unit);
static void gs_notice_date(gs_buf_t *b, const char *iso);
static void gs_buf_add(gs_buf_t *b, const char *s, size_t n);
static void gs_buf_puts(gs_buf_t *b, const char *s);
static void gs_buf_escape(gs_buf_t *b, const char *s, size_t n);


static const gs_notice_kind_t  gs_notice_kinds[] = {
    { "acceptance", "受理通知书", gs_notice_acceptance },
    { "rejection", "不予受理通知书", gs_notice_rejection },
    { "correction", "补正补齐通知书", gs_notice_correction },
    { "special_procedure", "特别程序告知书", gs_notice_special },
    { "extension", "延期办理通知书", gs_notice_extension },
    { "approval_decision", "准予行政许可决定书", gs_notice_approval },
    { "refusal_decision", "不予行政许可决定书", gs_notice_refusal },
    { NULL, NULL, NULL }
};


/* Administrative Reconsideration Law Art.9 (60 days), Administrative
 * Litigation Law Art.46 (6 months) */
static const char  gs_notice_remedy[] =
    "<p>申请人如对本决定不服，可以自收到本通知书之日起六十日内依法申请"
    "行政复议，或者在六个月内依法向人民法院提起行政诉讼。</p>\n";

static const char  gs_notice_style[] =
    "<style>\n"
    "@page { size: A4; margin: 25mm 20mm; }\n"
    "body { font-family: \"SimSun\", \"Songti SC\", \"Noto Serif CJK SC\","
    " serif; font-size: 12pt; line-height: 1.8; color: #000;"
    " max-width: 170mm; margin: 0 auto; }\n"
    ".issuer { text-align: center; font-size: 16pt; margin: 8mm 0 0; }\n"
    "h1 { text-align: center; font-size: 22pt; letter-spacing: 2pt;"
    " margin: 2mm 0 4mm; }\n"
    ".no { text-align: right; }\n"
    "table { width: 100%; border-collapse: collapse; margin: 4mm 0; }\n"
    "th, td { border: 1px solid #000; padding: 1.5mm 3mm; text-align: left;"
    " vertical-align: top; }\n"
    "th { width: 28%; font-weight: normal; }\n"
    ".seal { text-align: right; margin-top: 16mm; }\n"
    ".foot { margin-top: 12mm; padding-top: 2mm; border-top: 1px solid #000;"
    " font-size: 9pt; word-break: break-all; }\n"
    "</style>\n";


const char *
gs_notice_title(const char *kind)
{
    const gs_notice_kind_t  *k;

    k = gs_notice_kind(kind);

    return k ? k->title : NULL;
}


char *
gs_notice_html(const char *kind, gs_notice_get_pt get, void *data,
    size_t *len)
{
    gs_buf_t                 b;
    const char              *no, *sha;
    const gs_notice_kind_t  *k;

    k = gs_notice_kind(kind);
    if (k == NULL) {
        return NULL;
    }

    memset(&b, 0, sizeof(gs_buf_t));

    no = get(data, "notice_no");
    sha = get(data, "sha256");

    gs_buf_puts(&b, "<!DOCTYPE html>\n<html lang=\"zh-CN\">\n<head>\n"
                    "<meta charset=\"utf-8\">\n<title>");
    gs_buf_puts(&b, k->title);
    gs_buf_puts(&b, " ");
    gs_buf_escape(&b, no, (size_t) -1);
    gs_buf_puts(&b, "</title>\n");
    gs_buf_puts(&b, gs_notice_style);
    gs_buf_puts(&b, "</head>\n<body>\n<p class=\"issuer\">");
    gs_buf_escape(&b, get(data, "issuer"), (size_t) -1);
    gs_buf_puts(&b, "</p>\n<h1>");
    gs_buf_puts(&b, k->title);
    gs_buf_puts(&b, "</h1>\n<p class=\"no\">编号：");
    gs_buf_escape(&b, no, (size_t) -1);
    gs_buf_puts(&b, "</p>\n<p>");
    gs_buf_escape(&b, get(data, "applicant_name"), (size_t) -1);
    gs_buf_puts(&b, "：</p>\n<table>\n");

    gs_notice_row(&b, "办件编号", get(data, "case_no"), NULL);
    gs_notice_row(&b, "事项名称", get(data, "item_name"), NULL);
    gs_notice_row(&b, "项目名称", get(data, "project_name"), NULL);
    gs_notice_row(&b, "申请人", get(data, "applicant_name"), NULL);
    gs_notice_row(&b, "证件号码", get(data, "applicant_id"), NULL);
    gs_notice_row(&b, "收件时间", get(data, "received_at"), NULL);

    k->body(&b, get, data);

    gs_buf_puts(&b, "<div class=\"seal\">\n<p>");
    gs_buf_escape(&b, get(data, "issuer"), (size_t) -1);
    gs_buf_puts(&b, "（印章）</p>\n<p>");
    gs_notice_date(&b, get(data, "issued_at"));
    gs_buf_puts(&b, "</p>\n</div>\n<div class=\"foot\">\n<p>监督电话：");
    gs_buf_escape(&b, get(data, "supervision_phone"), (size_t) -1);
    gs_buf_puts(&b, "</p>\n<p>核验码：");
    gs_buf_escape(&b, sha, (size_t) -1);
    gs_buf_puts(&b, "</p>\n<p>本通知书可凭编号和核验码核验："
                    "/api/v1/public/notices/");
    gs_buf_escape(&b, no, (size_t) -1);
    gs_buf_puts(&b, "/verify?sha256=");
    gs_buf_escape(&b, sha, (size_t) -1);
    gs_buf_puts(&b, "</p>\n</div>\n</body>\n</html>\n");

    if (b.failed) {
        free(b.data);
        return NULL;
    }

    if (len) {
        *len = b.len;
    }

    return b.data;
}


static const gs_notice_kind_t *
gs_notice_kind(const char *kind)
{
    const gs_notice_kind_t  *k;

    for (k = gs_notice_kinds; kind && k->kind; k++) {
        if (strcmp(k->kind, kind) == 0) {
            return k;
        }
    }

    return NULL;
}


static void
gs_notice_acceptance(gs_buf_t *b, gs_notice_get_pt get, void *data)
{
    const char  *password;

    password = get(data, "query_password");

    gs_notice_row(b, "承诺时限", get(data, "promised_days"), " 个工作日");
    gs_notice_row(b, "承诺办结日期", get(data, "promised_date"), NULL);

    if (password && password[0]) {
        gs_notice_row(b, "查询密码", password, NULL);

    } else {
        /* shown once, when the case was accepted; kept only hashed */
        gs_notice_row(b, "查询密码", "（已于受理时告知申请人）", NULL);
    }

    gs_buf_puts(b, "</table>\n<p>你（单位）提交的申请材料齐全、符合法定"
                   "形式，根据《中华人民共和国行政许可法》第三十二条的规定，"
                   "本机关决定予以受理。请凭办件编号和查询密码查询办理"
                   "进度。</p>\n");
}


static void
gs_notice_rejection(gs_buf_t *b, gs_notice_get_pt get, void *data)
{
    gs_notice_row(b, "不予受理理由", get(data, "reason"), NULL);

    gs_buf_puts(b, "</table>\n<p>经审查，你（单位）提出的申请依法不予"
                   "受理，理由如上。</p>\n");
    gs_buf_puts(b, gs_notice_remedy);
}


/* Art.32: the complete list at once, one material per line */
static void
gs_notice_correction(gs_buf_t *b, gs_notice_get_pt get, void *data)
{
    const char  *p, *end, *last;

    gs_notice_row(b, "补正理由", get(data, "reason"), NULL);
    gs_notice_row(b, "补正期限", get(data, "deadline"), NULL);

    gs_buf_puts(b, "</table>\n<p>根据《中华人民共和国行政许可法》第三十二条"
                   "的规定，你（单位）提交的申请材料不齐全或者不符合法定"
                   "形式，请于补正期限内一次性补正下列材料：</p>\n<ol>\n");

    /* a line of spaces, as pasted from a form, is no material */
    for (p = get(data, "materials"); p && *p; p = end) {
        p += strspn(p, " \t");
        end = p + strcspn(p, "\r\n");

        last = end;
        while (last > p && (last[-1] == ' ' || last[-1] == '\t')) {
            last--;
        }

        if (last > p) {
            gs_buf_puts(b, "<li>");
            gs_buf_escape(b, p, (size_t) (last - p));
            gs_buf_puts(b, "</li>\n");
        }

        end += strspn(end, "\r\n");
    }

    gs_buf_puts(b, "</ol>\n<p>逾期不补正的，视为放弃申请。</p>\n");
}


static void
gs_notice_special(gs_buf_t *b, gs_notice_get_pt get, void *data)
{
    gs_notice_row(b, "特别程序", get(data, "procedure"), NULL);
    gs_notice_row(b, "原因", get(data, "reason"), NULL);
    gs_notice_row(b, "所需时间", get(data, "days"), " 个工作日");

    gs_buf_puts(b, "</table>\n<p>根据《中华人民共和国行政许可法》第四十五条"
                   "的规定，你（单位）的申请需经上述特别程序，所需时间不计算"
                   "在审批时限内。</p>\n");
}


static void
gs_notice_extension(gs_buf_t *b, gs_notice_get_pt get, void *data)
{
    const char  *days;

    days = get(data, "days");

    gs_notice_row(b, "延期理由", get(data, "reason"), NULL);
    gs_notice_row(b, "延长期限", days, " 个工作日");
    gs_notice_row(b, "延长后办结日期", get(data, "new_due_date"), NULL);

    gs_buf_puts(b, "</table>\n<p>你（单位）的申请在法定期限内不能作出决定，"
                   "根据《中华人民共和国行政许可法》第四十二条的规定，经本"
                   "行政机关负责人批准，延长");

    /* without the number the sentence still reads: "延长办理期限" */
    if (days && days[0]) {
        gs_buf_puts(b, " ");
        gs_buf_escape(b, days, (size_t) -1);
        gs_buf_puts(b, " 个工作日");

    } else {
        gs_buf_puts(b, "办理期限");
    }

    gs_buf_puts(b, "，延长期限的理由如上。</p>\n");
}


static void
gs_notice_approval(gs_buf_t *b, gs_notice_get_pt get, void *data)
{
    gs_notice_row(b, "许可证编号", get(data, "licence_no"), NULL);
    gs_notice_row(b, "有效期至", get(data, "valid_until"), NULL);

    gs_buf_puts(b, "</table>\n<p>经审查，你（单位）的申请符合法定条件、"
                   "标准，根据《中华人民共和国行政许可法》第三十八条第一款"
                   "的规定，本机关决定准予行政许可。</p>\n");
}


static void
gs_notice_refusal(gs_buf_t *b, gs_notice_get_pt get, void *data)
{
    gs_notice_row(b, "不予许可理由", get(data, "reason"), NULL);

    gs_buf_puts(b, "</table>\n<p>经审查，你（单位）的申请不符合法定条件、"
                   "标准，根据《中华人民共和国行政许可法》第三十八条第二款"
                   "的规定，本机关决定不予行政许可，理由如上。</p>\n");
    gs_buf_puts(b, gs_notice_remedy);
}


static void
gs_notice_row(gs_buf_t *b, const char *label, const char *value,
    const char *unit)
{
    gs_buf_puts(b, "<tr><th>");
    gs_buf_puts(b, label);
    gs_buf_puts(b, "</th><td>");
    gs_buf_escape(b, value, (size_t) -1);

    if (unit && value && value[0]) {
        gs_buf_puts(b, unit);
    }

    gs_buf_puts(b, "</td></tr>\n");
}


/*
 * "2026-11-08T09:30:00+08:00" as 2026年11月8日: no leading zeros in the
 * month and day of an official document (GB/T 9704); anything else as given
 */
static void
gs_notice_date(gs_buf_t *b, const char *iso)
{
    size_t  i;

    for (i = 0; iso && i < 10; i++) {
        if ((i == 4 || i == 7) ? iso[i] != '-'
                               : (iso[i] < '0' || iso[i] > '9'))
        {
            break;
        }
    }

    if (i < 10) {
        gs_buf_escape(b, iso, (size_t) -1);
        return;
    }

    gs_buf_add(b, iso, 4);
    gs_buf_puts(b, "年");
    gs_buf_add(b, iso + 5 + (iso[5] == '0'), 2 - (iso[5] == '0'));
    gs_buf_puts(b, "月");
    gs_buf_add(b, iso + 8 + (iso[8] == '0'), 2 - (iso[8] == '0'));
    gs_buf_puts(b, "日");
}


/* ---- a growing buffer: a failure sticks, the caller checks once ---- */
static void
gs_buf_add(gs_buf_t *b, const char *s, size_t n)
{
    char    *p;
    size_t   size;

    if (b->failed) {
        return;
    }

    /* the doubling below must not wrap */
    if (n > SIZE_MAX / 4 - b->len) {
        b->failed = 1;
        return;
    }

    if (b->len + n + 1 > b->size) {
        size = b->size ? b->size : 4096;

        while (b->len + n + 1 > size) {
            size *= 2;
        }

        p = realloc(b->data, size);
        if (p == NULL) {
            b->failed = 1;
            return;
        }

        b->data = p;
        b->size = size;
    }

    memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = '\0';
}


static void
gs_buf_puts(gs_buf_t *b, const char *s)
{
    gs_buf_add(b, s, strlen(s));
}


/* n bytes of s, or up to its NUL when n is (size_t) -1; NULL is empty */
static void
gs_buf_escape(gs_buf_t *b, const char *s, size_t n)
{
    size_t       i, start;
    const char  *entity;

    if (s == NULL) {
        return;
    }

    if (n == (size_t) -1) {
        n = strlen(s);
    }

    for (i = 0, start = 0; i < n; i++) {
        switch (s[i]) {
        case '&':
            entity = "&amp;";
            break;
        case '<':
            entity = "&lt;";
            break;
        case '>':
            entity = "&gt;";
            break;
        case '"':
            entity = "&quot;";
            break;
        case '\'':
            entity = "&#39;";
            break;
        default:
            continue;
        }

        gs_buf_add(b, s + start, i - start);
        gs_buf_puts(b, entity);
        start = i + 1;
    }

    gs_buf_add(b, s + start, n - start);
}
