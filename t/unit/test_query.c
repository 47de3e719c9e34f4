/*
 * gs_query: the escapes, the faults each check names, which fault wins,
 * long query strings (the allocated buffer), and a round trip of every
 * byte value through an encoder written here.
 */
#include <stdio.h>
#include <string.h>

#include "gs_query.h"
#include "tap.h"

#define Q(s)  ((const unsigned char *) (s)), (sizeof(s) - 1)

static void
test_decode(void)
{
    unsigned char out[64];

    is_int(gs_query_decode(Q("a%20b+c"), out), 5, "decoded length");
    ok(memcmp(out, "a b+c", 5) == 0, "%%20 is a space, '+' stays");
    is_int(gs_query_decode(Q("%e4%B8%ad"), out), 3, "hex in either case");
    ok(memcmp(out, "\xe4\xb8\xad", 3) == 0, "the bytes of 中");
    is_int(gs_query_decode(Q("%4"), out), -1, "an escape cut short");
    is_int(gs_query_decode(Q("%zz"), out), -1, "not hex");
    is_int(gs_query_decode(Q("%%41"), out), -1, "%%%% is no escape");
    is_int(gs_query_decode(Q(""), out), 0, "nothing");
}

static void
test_check(void)
{
    is_int(gs_query_check(NULL, 0), GS_QUERY_OK, "NULL, 0");
    is_int(gs_query_check(Q("box=todo&limit=50")), GS_QUERY_OK, "plain");
    is_int(gs_query_check(Q("q=%E5%BC%A0%E4%B8%89&from=")), GS_QUERY_OK,
           "a name in UTF-8, an empty value");
    is_int(gs_query_check(Q("q=\xe5\xbc\xa0")), GS_QUERY_OK,
           "raw UTF-8 as nginx may pass it");
    is_int(gs_query_check(Q("&&=&")), GS_QUERY_OK, "empty parts");
    is_int(gs_query_check(Q("q=a%00b")), GS_QUERY_NUL, "an escaped NUL");
    is_int(gs_query_check(Q("q%00=1")), GS_QUERY_NUL, "NUL in a name");
    is_int(gs_query_check(Q("q=%ff")), GS_QUERY_BAD_UTF8, "a lone 0xFF");
    is_int(gs_query_check(Q("q=%E4%B8")), GS_QUERY_BAD_UTF8,
           "a character cut short");
    is_int(gs_query_check(Q("q=%C0%AF")), GS_QUERY_BAD_UTF8,
           "an overlong '/'");
    is_int(gs_query_check(Q("q=%ED%A0%80")), GS_QUERY_BAD_UTF8,
           "a surrogate");
    is_int(gs_query_check(Q("q=100%")), GS_QUERY_BAD_ESCAPE,
           "a bare '%%' at the end");
    is_int(gs_query_check(Q("q=%E4%B8=x")), GS_QUERY_BAD_UTF8,
           "'=' ends a part: the character is cut there");
    is_int(gs_query_check(Q("a=%ff&b=%zz")), GS_QUERY_BAD_UTF8,
           "the first fault in the text wins");
    is_int(gs_query_check(Q("a=%zz&b=%ff")), GS_QUERY_BAD_ESCAPE,
           "whichever it is");
}

static void
test_long(void)
{
    char buf[5000];
    size_t i;

    for (i = 0; i + 9 <= 4500; i += 9) {
        memcpy(buf + i, "%E4%B8%AD", 9);
    }

    is_int(gs_query_check((const unsigned char *) buf, i), GS_QUERY_OK,
           "4500 bytes of escaped 中 (the allocated buffer)");
    memcpy(buf + i, "%00", 3);
    is_int(gs_query_check((const unsigned char *) buf, i + 3), GS_QUERY_NUL,
           "and a NUL at its end");
}

static void
test_round_trip(void)
{
    static const char hex[] = "0123456789ABCDEF";
    unsigned char enc[3], dec[3];
    int c, bad = 0;

    for (c = 0; c < 256; c++) {
        enc[0] = '%';
        enc[1] = (unsigned char) hex[c >> 4];
        enc[2] = (unsigned char) hex[c & 15];

        if (gs_query_decode(enc, 3, dec) != 1 || dec[0] != c) {
            bad++;
        }

        /* one byte alone is valid only as ASCII, and not NUL */
        if (gs_query_check(enc, 3)
            != (c == 0 ? GS_QUERY_NUL
                       : c < 0x80 ? GS_QUERY_OK : GS_QUERY_BAD_UTF8))
        {
            bad++;
        }
    }

    is_int(bad, 0, "every byte value encoded, decoded and judged");
}

int
main(void)
{
    test_decode();
    test_check();
    test_long();
    test_round_trip();
    return done_testing();
}
