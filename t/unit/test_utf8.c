/*
 * gs_utf8 against hand-picked cases from the Unicode standard and an
 * exhaustive comparison with a naive decoder written the other way round
 * (assemble the code point, then judge it).
 */
#include <stdint.h>
#include <string.h>

#include "gs_utf8.h"
#include "tap.h"

#define U(s)  ((const unsigned char *) (s)), (sizeof(s) - 1)

/* Reference: decode by bit masks, then reject what RFC 3629 forbids. */
static int
ref_valid(const unsigned char *s, size_t len)
{
    size_t i = 0, n, k;
    uint32_t cp, min;

    while (i < len) {
        unsigned char c = s[i];

        if (c < 0x80) {
            i++;
            continue;
        }
        if ((c & 0xE0) == 0xC0) {
            n = 2; cp = c & 0x1F; min = 0x80;
        } else if ((c & 0xF0) == 0xE0) {
            n = 3; cp = c & 0x0F; min = 0x800;
        } else if ((c & 0xF8) == 0xF0) {
            n = 4; cp = c & 0x07; min = 0x10000;
        } else {
            return 0;
        }
        if (len - i < n) {
            return 0;
        }
        for (k = 1; k < n; k++) {
            if ((s[i + k] & 0xC0) != 0x80) {
                return 0;
            }
            cp = (cp << 6) | (s[i + k] & 0x3F);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
            return 0;
        }
        i += n;
    }
    return 1;
}

static size_t
encode(uint32_t cp, unsigned char *out)
{
    if (cp < 0x80) {
        out[0] = (unsigned char) cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (unsigned char) (0xC0 | (cp >> 6));
        out[1] = (unsigned char) (0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (unsigned char) (0xE0 | (cp >> 12));
        out[1] = (unsigned char) (0x80 | ((cp >> 6) & 0x3F));
        out[2] = (unsigned char) (0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (unsigned char) (0xF0 | (cp >> 18));
    out[1] = (unsigned char) (0x80 | ((cp >> 12) & 0x3F));
    out[2] = (unsigned char) (0x80 | ((cp >> 6) & 0x3F));
    out[3] = (unsigned char) (0x80 | (cp & 0x3F));
    return 4;
}

static void
test_examples(void)
{
    is_int(gs_utf8_valid(NULL, 0), 1, "NULL with len 0 is the empty string");
    is_int(gs_utf8_valid(NULL, 3), 0, "NULL with len > 0 is rejected");
    is_int(gs_utf8_valid(U("")), 1, "empty buffer");
    is_int(gs_utf8_valid(U("hello, world")), 1, "ASCII");
    is_int(gs_utf8_valid(U("\xE6\xB9\x96\xE5\x8D\x97\xE7\x9C\x81")), 1,
           "CJK (hunan sheng)");
    is_int(gs_utf8_valid(U("\xC2\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80")), 1,
           "2-, 3- and 4-byte sequences mixed");

    /* Boundaries of each length. */
    is_int(gs_utf8_valid(U("\x7F")), 1, "U+007F");
    is_int(gs_utf8_valid(U("\xC2\x80")), 1, "U+0080");
    is_int(gs_utf8_valid(U("\xDF\xBF")), 1, "U+07FF");
    is_int(gs_utf8_valid(U("\xE0\xA0\x80")), 1, "U+0800");
    is_int(gs_utf8_valid(U("\xEF\xBF\xBF")), 1, "U+FFFF");
    is_int(gs_utf8_valid(U("\xF0\x90\x80\x80")), 1, "U+10000");
    is_int(gs_utf8_valid(U("\xF4\x8F\xBF\xBF")), 1, "U+10FFFF");
    is_int(gs_utf8_valid(U("\xED\x9F\xBF")), 1, "U+D7FF, below surrogates");
    is_int(gs_utf8_valid(U("\xEE\x80\x80")), 1, "U+E000, above surrogates");

    /* Overlongs. */
    is_int(gs_utf8_valid(U("\xC0\xAF")), 0, "overlong '/' (C0 AF)");
    is_int(gs_utf8_valid(U("\xC0\x80")), 0, "overlong NUL (C0 80)");
    is_int(gs_utf8_valid(U("\xC1\xBF")), 0, "overlong C1");
    is_int(gs_utf8_valid(U("\xE0\x80\xAF")), 0, "overlong 3-byte");
    is_int(gs_utf8_valid(U("\xE0\x9F\xBF")), 0, "overlong U+07FF as 3 bytes");
    is_int(gs_utf8_valid(U("\xF0\x80\x80\xAF")), 0, "overlong 4-byte");
    is_int(gs_utf8_valid(U("\xF0\x8F\xBF\xBF")), 0,
           "overlong U+FFFF as 4 bytes");

    /* Surrogates and out of range. */
    is_int(gs_utf8_valid(U("\xED\xA0\x80")), 0, "U+D800 high surrogate");
    is_int(gs_utf8_valid(U("\xED\xBF\xBF")), 0, "U+DFFF low surrogate");
    is_int(gs_utf8_valid(U("\xED\xA0\xBD\xED\xB8\x80")), 0,
           "CESU-8 surrogate pair");
    is_int(gs_utf8_valid(U("\xF4\x90\x80\x80")), 0, "U+110000");
    is_int(gs_utf8_valid(U("\xF5\x80\x80\x80")), 0, "lead F5");
    is_int(gs_utf8_valid(U("\xF8\x88\x80\x80\x80")), 0, "5-byte form");
    is_int(gs_utf8_valid(U("\xFE")), 0, "byte FE");
    is_int(gs_utf8_valid(U("\xFF")), 0, "byte FF");

    /* Structure. */
    is_int(gs_utf8_valid(U("\x80")), 0, "lone continuation byte");
    is_int(gs_utf8_valid(U("a\xBF" "b")), 0, "continuation after ASCII");
    is_int(gs_utf8_valid(U("\xC3")), 0, "truncated 2-byte at end");
    is_int(gs_utf8_valid(U("\xE6\xB9")), 0, "truncated 3-byte at end");
    is_int(gs_utf8_valid(U("\xF0\x9F\x98")), 0, "truncated 4-byte at end");
    is_int(gs_utf8_valid(U("\xE6\xB9" "a")), 0,
           "3-byte cut short by ASCII");
    is_int(gs_utf8_valid(U("\xF0\x9F\x98\x41")), 0,
           "bad 4th byte");
    is_int(gs_utf8_valid(U("\xE6\xC0\x80")), 0, "lead byte as 2nd byte");
    is_int(gs_utf8_valid((const unsigned char *) "\xE6\xB9\x96", 2), 0,
           "len cuts a valid sequence");
}

static void
test_nul(void)
{
    is_int(gs_utf8_valid(U("a\0b")), 1, "NUL is valid UTF-8");
    is_int(gs_utf8_valid(U("\0")), 1, "lone NUL is valid UTF-8");
    is_int(gs_utf8_valid_text(U("a\0b")), 0, "text: embedded NUL rejected");
    is_int(gs_utf8_valid_text(U("\0")), 0, "text: lone NUL rejected");
    is_int(gs_utf8_valid_text(U("ab\0")), 0, "text: trailing NUL rejected");
    is_int(gs_utf8_valid_text(U("\xE5\x92\xA8\xE8\xAF\xA2")), 1,
           "text: CJK accepted");
    is_int(gs_utf8_valid_text(U("")), 1, "text: empty accepted");
    is_int(gs_utf8_valid_text(NULL, 0), 1, "text: NULL, 0 accepted");
    is_int(gs_utf8_valid_text(NULL, 1), 0, "text: NULL, 1 rejected");
    is_int(gs_utf8_valid_text(U("\xC0\x80")), 0,
           "text: modified-UTF-8 NUL (C0 80) rejected");
    is_int(gs_utf8_valid_text(U("\xED\xA0\x80")), 0,
           "text: surrogate rejected");
    is_int(gs_utf8_valid_text(U("\xE6\xB9")), 0, "text: truncation rejected");
}

static void
test_every_code_point(void)
{
    unsigned char buf[4];
    uint32_t cp, bad_valid = 0, bad_surrogate = 0, bad_text = 0;
    size_t n;

    for (cp = 0; cp <= 0x10FFFF; cp++) {
        n = encode(cp, buf);
        if (cp >= 0xD800 && cp <= 0xDFFF) {
            bad_surrogate += gs_utf8_valid(buf, n) != 0;
            continue;
        }
        bad_valid += gs_utf8_valid(buf, n) != 1;
        bad_text += gs_utf8_valid_text(buf, n) != (cp != 0);
        /* Every proper prefix of a multi-byte sequence is truncated. */
        while (--n > 0) {
            bad_valid += gs_utf8_valid(buf, n) != 0;
        }
    }

    is_int(bad_valid, 0, "every scalar value encodes valid, prefixes not");
    is_int(bad_surrogate, 0, "every surrogate encoding is invalid");
    is_int(bad_text, 0, "valid_text agrees except on U+0000");
}

static void
test_against_reference(void)
{
    static const unsigned char tails[] = { 0x00, 0x41, 0x7F, 0x80, 0x8F,
                                           0x90, 0x9F, 0xA0, 0xBF, 0xC0,
                                           0xF4, 0xFF };
    unsigned char buf[4];
    unsigned a, b, c, d;
    unsigned long mismatches = 0, checked = 0;

    /* All 1- and 2-byte strings; all 3-byte strings. */
    for (a = 0; a < 256; a++) {
        buf[0] = (unsigned char) a;
        mismatches += gs_utf8_valid(buf, 1) != ref_valid(buf, 1);
        checked++;
        for (b = 0; b < 256; b++) {
            buf[1] = (unsigned char) b;
            mismatches += gs_utf8_valid(buf, 2) != ref_valid(buf, 2);
            checked++;
            for (c = 0; c < 256; c++) {
                buf[2] = (unsigned char) c;
                mismatches += gs_utf8_valid(buf, 3) != ref_valid(buf, 3);
                checked++;
            }
        }
    }

    /* 4-byte strings: all first two bytes, boundary values after. */
    for (a = 0; a < 256; a++) {
        for (b = 0; b < 256; b++) {
            for (c = 0; c < sizeof(tails); c++) {
                for (d = 0; d < sizeof(tails); d++) {
                    buf[0] = (unsigned char) a;
                    buf[1] = (unsigned char) b;
                    buf[2] = tails[c];
                    buf[3] = tails[d];
                    mismatches += gs_utf8_valid(buf, 4) != ref_valid(buf, 4);
                    checked++;
                }
            }
        }
    }

    is_int(mismatches, 0, "agrees with reference decoder on %lu strings",
           checked);
}

int
main(void)
{
    test_examples();
    test_nul();
    test_every_code_point();
    test_against_reference();
    return done_testing();
}
