/* gs_json_scan: UTF-8 gate and container depth outside strings. */
#include <stdlib.h>
#include <string.h>

#include "gs_json.h"
#include "tap.h"

#define J(s)  ((const unsigned char *) (s)), (sizeof(s) - 1)

static void
test_accepts(void)
{
    is_int(gs_json_scan(NULL, 0, 4), GS_JSON_OK, "NULL, 0 is OK");
    is_int(gs_json_scan(J(""), 4), GS_JSON_OK, "empty body is OK");
    is_int(gs_json_scan(J("42"), 0), GS_JSON_OK,
           "scalar at max_depth 0");
    is_int(gs_json_scan(J("{\"name\":\"\xE5\xBC\xA0\xE4\xB8\x89\"}"), 1),
           GS_JSON_OK, "flat object with CJK at depth 1");
    is_int(gs_json_scan(J("{\"a\":[1,{\"b\":[]}]}"), 4), GS_JSON_OK,
           "depth exactly max_depth");
    is_int(gs_json_scan(J("[][][][]"), 1), GS_JSON_OK,
           "siblings do not add up");
    is_int(gs_json_scan(J("{\"a\":{}, \"b\":{}, \"c\":{}}"), 2), GS_JSON_OK,
           "depth returns after each close");
}

static void
test_strings(void)
{
    is_int(gs_json_scan(J("{\"k\":\"[[[[{{{{\"}"), 1), GS_JSON_OK,
           "brackets inside strings are ignored");
    is_int(gs_json_scan(J("[\"\\\"[[[\"]"), 1), GS_JSON_OK,
           "escaped quote keeps the string open");
    is_int(gs_json_scan(J("[\"\\\\\",[[]]]"), 2), GS_JSON_TOO_DEEP,
           "escaped backslash then quote closes the string");
    is_int(gs_json_scan(J("[\"\\\\\",[]]"), 2), GS_JSON_OK,
           "same at an allowed depth");
    is_int(gs_json_scan(J("[\"a\\u005b\"]"), 1), GS_JSON_OK,
           "\\u escape is just text");
    is_int(gs_json_scan(J("\"[[[[[["), 0), GS_JSON_OK,
           "unterminated string: rest is string, cJSON's problem");
    is_int(gs_json_scan(J("\"x\"[[\"y\"]]"), 1), GS_JSON_TOO_DEEP,
           "counting resumes after a string closes");
    is_int(gs_json_scan(J("{\"k\":\"a\nb\"}"), 1), GS_JSON_CONTROL,
           "a raw newline in a string");
    is_int(gs_json_scan(J("{\"k\":\"a\x1F\"}"), 1), GS_JSON_CONTROL,
           "U+001F, the last control character");
    is_int(gs_json_scan(J("{\"k\":\"a\\nb \x7F\"}"), 1), GS_JSON_OK,
           "an escaped newline and DEL are fine");
    is_int(gs_json_scan(J("{\n\t\"k\" :\r\n 1}"), 1), GS_JSON_OK,
           "control characters as whitespace outside strings");
    is_int(gs_json_scan(J("[\"\x01\", [[]]]"), 1), GS_JSON_CONTROL,
           "the first failure in the text wins: control");
    is_int(gs_json_scan(J("[[[\"\x01\"]]]"), 1), GS_JSON_TOO_DEEP,
           "the first failure in the text wins: depth");
}

static void
test_too_deep(void)
{
    is_int(gs_json_scan(J("[]"), 0), GS_JSON_TOO_DEEP,
           "max_depth 0 forbids any container");
    is_int(gs_json_scan(J("{}"), 0), GS_JSON_TOO_DEEP,
           "max_depth 0 forbids objects too");
    is_int(gs_json_scan(J("{\"a\":[1,{\"b\":[]}]}"), 3), GS_JSON_TOO_DEEP,
           "one past max_depth");
    is_int(gs_json_scan(J("[{[{"), 3), GS_JSON_TOO_DEEP,
           "mixed kinds, unclosed");
    is_int(gs_json_scan(J("[[[[[[[[[["), 9), GS_JSON_TOO_DEEP,
           "unbalanced opens are counted");
    is_int(gs_json_scan(J("[[[[[[[[[["), 10), GS_JSON_OK,
           "unbalanced opens at the limit pass");
}

static void
test_unbalanced(void)
{
    is_int(gs_json_scan(J("]]]]"), 1), GS_JSON_OK,
           "stray closers are not its business");
    is_int(gs_json_scan(J("]]]][["), 1), GS_JSON_TOO_DEEP,
           "stray closers do not buy extra depth");
    is_int(gs_json_scan(J("[}"), 1), GS_JSON_OK,
           "mismatched kinds are not its business");
}

static void
test_bad_utf8(void)
{
    is_int(gs_json_scan(NULL, 5, 4), GS_JSON_BAD_UTF8, "NULL, 5 rejected");
    is_int(gs_json_scan(J("{\"k\":\"\xC0\xAF\"}"), 4), GS_JSON_BAD_UTF8,
           "overlong inside a string");
    is_int(gs_json_scan(J("{\"k\":\"\xED\xA0\x80\"}"), 4), GS_JSON_BAD_UTF8,
           "surrogate inside a string");
    is_int(gs_json_scan(J("{\"k\":1}\xE5"), 4), GS_JSON_BAD_UTF8,
           "truncated sequence at the end");
    is_int(gs_json_scan(J("\xFF[]"), 4), GS_JSON_BAD_UTF8,
           "invalid byte outside a string");
    is_int(gs_json_scan(J("[[[[\xFF"), 1), GS_JSON_BAD_UTF8,
           "bad UTF-8 wins over too deep");
    is_int(gs_json_scan(J("[\"a\0b\"]"), 1), GS_JSON_CONTROL,
           "NUL in a string: cJSON would cut the string there");
    is_int(gs_json_scan(J("[\"\xFF\0\"]"), 1), GS_JSON_BAD_UTF8,
           "bad UTF-8 wins over a control character");
}

static void
test_large(void)
{
    size_t n = 100000, i;
    unsigned char *buf = malloc(2 * n);

    if (!ok(buf != NULL, "allocate deep buffer")) {
        return;
    }
    for (i = 0; i < n; i++) {
        buf[i] = '[';
        buf[n + i] = ']';
    }
    is_int(gs_json_scan(buf, 2 * n, 64), GS_JSON_TOO_DEEP,
           "100000 nested arrays stop at 64");
    is_int(gs_json_scan(buf, 2 * n, (unsigned) n), GS_JSON_OK,
           "100000 nested arrays at max_depth 100000");
    is_int(gs_json_scan(buf, 2 * n, ~0u), GS_JSON_OK,
           "UINT_MAX max_depth");
    free(buf);
}

int
main(void)
{
    test_accepts();
    test_strings();
    test_too_deep();
    test_unbalanced();
    test_bad_utf8();
    test_large();
    return done_testing();
}
