/*
 * gs_notice: the printable page of an official notice (通知书): HTML5 with
 * lang zh-CN, A4 print CSS inline, no script and no external resource.
 *
 * Kinds: "acceptance", "rejection", "correction", "special_procedure",
 * "extension", "approval_decision", "refusal_decision".  The page reads
 * its values through get(data, name), UTF-8 strings that must stay valid
 * until gs_notice_html() returns, NULL when the notice has none (printed
 * empty), and HTML-escapes every one (& < > " ').  The fields common to
 * all kinds are issuer, notice_no, issued_at (ISO 8601; its date is
 * printed as 2026年11月28日), case_no, item_name, project_name,
 * applicant_name, applicant_id (masked by the caller), received_at,
 * supervision_phone and sha256; each kind adds its own (promised_days,
 * promised_date and query_password; reason; deadline and materials, one
 * "CODE NAME" per line; procedure and days; new_due_date; licence_no and
 * valid_until).
 *
 * gs_notice_html() returns a malloc()ed, NUL-terminated page that the
 * caller frees (its length in *len when len is not NULL), or NULL for an
 * unknown kind or when memory ran out.  gs_notice_title() gives a kind's
 * Chinese title (受理通知书 ...), NULL for an unknown kind.
 */
#ifndef GS_NOTICE_H
#define GS_NOTICE_H

#include <stddef.h>

typedef const char *(*gs_notice_get_pt)(void *data, const char *name);

char *gs_notice_html(const char *kind, gs_notice_get_pt get, void *data,
    size_t *len);
const char *gs_notice_title(const char *kind);

#endif
