/* gs_notice: printable notices of every kind, escaped */

#include "tap.h"
#include "gs_notice.h"

#include <stdlib.h>
#include <string.h>


typedef struct {
    const char  *name;
    const char  *value;
} field_t;


static const char *
lookup(void *data, const char *name)
{
    field_t  *f;

    for (f = data; f->name; f++) {
        if (strcmp(f->name, name) == 0) {
            return f->value;
        }
    }

    return NULL;
}


static const char *
nothing(void *data, const char *name)
{
    (void) data;
    (void) name;
    return NULL;
}


static size_t
count(const char *page, const char *s)
{
    size_t       n;
    const char  *p;

    for (n = 0, p = page; (p = strstr(p, s)) != NULL; p += strlen(s)) {
        n++;
    }

    return n;
}


/* renders kind with fields and checks that each want is on the page */
static void
renders(const char *kind, field_t *fields, const char *const *want)
{
    char    *page;
    size_t   len, missing;

    page = gs_notice_html(kind, lookup, fields, &len);

    ok(page != NULL && len == strlen(page), "%s renders", kind);

    for (missing = 0; page && *want; want++) {
        if (strstr(page, *want) == NULL) {
            printf("# %s: no \"%s\"\n", kind, *want);
            missing++;
        }
    }

    is_int((int) missing, 0, "%s: everything it must say", kind);

    ok(page && strstr(page, "<script") == NULL && strstr(page, "src=") == NULL
       && strstr(page, "@page { size: A4;") != NULL,
       "%s: an A4 page, no script, nothing fetched", kind);

    free(page);
}


int
main(void)
{
    static const char *const  kinds[] = {
        "acceptance", "rejection", "correction", "special_procedure",
        "extension", "approval_decision", "refusal_decision"
    };
    static const char *const  titles[] = {
        "受理通知书", "不予受理通知书", "补正补齐通知书", "特别程序告知书",
        "延期办理通知书", "准予行政许可决定书", "不予行政许可决定书"
    };
    static const char         remedy[] =
        "申请人如对本决定不服，可以自收到本通知书之日起六十日内依法申请"
        "行政复议，或者在六个月内依法向人民法院提起行政诉讼。";

    static field_t  common[] = {
        { "issuer", "芙蓉区行政审批服务局" },
        { "notice_no", "430102-SL-2026-000001" },
        { "issued_at", "2026-11-08T09:30:00+08:00" },
        { "case_no", "43010220261108000001" },
        { "item_name", "食品经营许可" },
        { "project_name", "某某餐馆" },
        { "applicant_name", "张三" },
        { "applicant_id", "110105********002X" },
        { "received_at", "2026-11-08T09:00:00+08:00" },
        { "supervision_phone", "0731-12345" },
        { "sha256", "ab12" },
        { "promised_days", "10" },
        { "promised_date", "2026-11-20" },
        { "query_password", "K7MQ2XPA" },
        { "reason", "材料不符合法定形式" },
        { "deadline", "2026-11-13" },
        { "materials", "M2 营业执照复印件\nM3 场地证明" },
        { "procedure", "专家评审" },
        { "days", "7" },
        { "new_due_date", "2026-12-04" },
        { "licence_no", "JY14301020000001" },
        { "valid_until", "2031-11-07" },
        { NULL, NULL }
    };
    static field_t  hostile[] = {
        { "applicant_name", "<script>alert(\"x\")&'</script>" },
        { "issued_at", "<b>" },
        { "notice_no", "1&2" },
        { "sha256", "\"ab\"" },
        { NULL, NULL }
    };
    static field_t  lines[] = {
        { "materials", "\r\nM1 申请书\r\n\r\nM2 <营业执照>\n \t\n M3\t\r\n" },
        { NULL, NULL }
    };
    static field_t  told[] = {
        { "query_password", "" },
        { NULL, NULL }
    };

    static const char *const  acceptance[] = {
        "<!DOCTYPE html>", "<html lang=\"zh-CN\">", "<meta charset=\"utf-8\">",
        "受理通知书", "编号：430102-SL-2026-000001", "芙蓉区行政审批服务局",
        "张三", "食品经营许可", "某某餐馆", "43010220261108000001",
        "110105********002X", "2026-11-08T09:00:00+08:00", "10 个工作日",
        "2026-11-20", "K7MQ2XPA", "第三十二条", "2026年11月8日", "0731-12345",
        "核验码：ab12",
        "/api/v1/public/notices/430102-SL-2026-000001/verify?sha256=ab12",
        NULL
    };
    static const char *const  rejection[] = {
        "不予受理通知书", "材料不符合法定形式", remedy, NULL
    };
    static const char *const  correction[] = {
        "补正补齐通知书", "材料不符合法定形式", "2026-11-13",
        "一次性补正下列材料", "<ol>", "<li>M2 营业执照复印件</li>",
        "<li>M3 场地证明</li>", NULL
    };
    static const char *const  special[] = {
        "特别程序告知书", "专家评审", "材料不符合法定形式", "7 个工作日",
        "第四十五条", "不计算在审批时限内", NULL
    };
    static const char *const  extension[] = {
        "延期办理通知书", "材料不符合法定形式", "第四十二条",
        "经本行政机关负责人批准，延长 7 个工作日", "2026-12-04", NULL
    };
    static const char *const  approval[] = {
        "准予行政许可决定书", "JY14301020000001", "2031-11-07", NULL
    };
    static const char *const  refusal[] = {
        "不予行政许可决定书", "材料不符合法定形式", remedy, NULL
    };

    char    *page;
    size_t   i, len;

    renders("acceptance", common, acceptance);
    renders("rejection", common, rejection);
    renders("correction", common, correction);
    renders("special_procedure", common, special);
    renders("extension", common, extension);
    renders("approval_decision", common, approval);
    renders("refusal_decision", common, refusal);

    page = gs_notice_html("acceptance", lookup, common, &len);
    ok(page && len > 2048 && len < 8192, "a typical page is a few KB: %zu",
       len);
    ok(page && strstr(page, "已于受理时告知") == NULL,
       "the password printed, not the note about it");
    free(page);

    for (i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
        is_str(gs_notice_title(kinds[i]), titles[i], "%s's title", kinds[i]);
    }

    ok(gs_notice_title("welcome") == NULL, "no title for an unknown kind");
    ok(gs_notice_title(NULL) == NULL, "nor for none");
    ok(gs_notice_html("welcome", lookup, common, &len) == NULL,
       "no page for an unknown kind");
    ok(gs_notice_html("Acceptance", lookup, common, &len) == NULL,
       "kinds are case-sensitive");
    ok(gs_notice_html(NULL, lookup, common, &len) == NULL, "nor for none");

    page = gs_notice_html("acceptance", lookup, hostile, NULL);
    ok(page && strstr(page, "<script") == NULL, "no markup gets through");
    ok(page && strstr(page, "&lt;script&gt;alert(&quot;x&quot;)&amp;&#39;"
                            "&lt;/script&gt;") != NULL,
       "it is escaped: & < > \" '");
    ok(page && strstr(page, "&lt;b&gt;") != NULL,
       "a date that is none is printed escaped");
    ok(page && strstr(page, "/api/v1/public/notices/1&amp;2/verify?sha256="
                            "&quot;ab&quot;") != NULL,
       "the verification address is escaped too");
    free(page);

    page = gs_notice_html("correction", lookup, lines, NULL);
    is_int((int) (page ? count(page, "<li>") : 0), 3,
           "one item per line, CR LF and blank lines aside");
    ok(page && strstr(page, "<li>M1 申请书</li>") != NULL
       && strstr(page, "<li>M2 &lt;营业执照&gt;</li>") != NULL
       && strstr(page, "<li>M3</li>") != NULL,
       "each escaped, without its line end and surrounding spaces");
    free(page);

    page = gs_notice_html("acceptance", lookup, told, NULL);
    ok(page && strstr(page, "（已于受理时告知申请人）") != NULL,
       "an empty password: it was told at acceptance");
    free(page);

    page = gs_notice_html("acceptance", nothing, NULL, NULL);
    ok(page && strstr(page, "（已于受理时告知申请人）") != NULL,
       "no password at all: the same");
    free(page);

    for (i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
        page = gs_notice_html(kinds[i], nothing, NULL, &len);
        ok(page != NULL && len == strlen(page)
           && strstr(page, titles[i]) != NULL,
           "%s with no field at all still renders", kinds[i]);
        free(page);
    }

    return done_testing();
}
