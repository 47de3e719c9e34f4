/*
 * One part at a time, decoded into a buffer on the stack: a query string
 * is short, and checking it should not cost an allocation per request
 * (a long one gets one).
 */
#include "gs_query.h"
#include "gs_utf8.h"

#include <stdlib.h>
#include <string.h>

static int
gs_query_hex(unsigned char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }

    c |= 0x20;

    return (c >= 'a' && c <= 'f') ? c - 'a' + 10 : -1;
}

long
gs_query_decode(const unsigned char *s, size_t len, unsigned char *out)
{
    size_t i, n = 0;
    int hi, lo;

    for (i = 0; i < len; i++) {
        if (s[i] != '%') {
            out[n++] = s[i];
            continue;
        }

        if (len - i < 3
            || (hi = gs_query_hex(s[i + 1])) < 0
            || (lo = gs_query_hex(s[i + 2])) < 0)
        {
            return -1;
        }

        out[n++] = (unsigned char) (hi << 4 | lo);
        i += 2;
    }

    return (long) n;
}

static gs_query_e
gs_query_part(const unsigned char *s, size_t len, unsigned char *buf)
{
    long n = gs_query_decode(s, len, buf);

    if (n < 0) {
        return GS_QUERY_BAD_ESCAPE;
    }

    if (memchr(buf, '\0', (size_t) n) != NULL) {
        return GS_QUERY_NUL;
    }

    return gs_utf8_valid(buf, (size_t) n) ? GS_QUERY_OK : GS_QUERY_BAD_UTF8;
}

gs_query_e
gs_query_check(const unsigned char *s, size_t len)
{
    unsigned char small[256], *buf;
    size_t i, start;
    gs_query_e rc = GS_QUERY_OK;

    if (len == 0) {
        return GS_QUERY_OK;
    }

    buf = len <= sizeof(small) ? small : malloc(len);
    if (buf == NULL) {
        /* no memory to decode into: refuse rather than let it through */
        return GS_QUERY_BAD_ESCAPE;
    }

    for (start = 0, i = 0; i <= len && rc == GS_QUERY_OK; i++) {
        if (i == len || s[i] == '&' || s[i] == '=') {
            rc = gs_query_part(s + start, i - start, buf);
            start = i + 1;
        }
    }

    if (buf != small) {
        free(buf);
    }

    return rc;
}
