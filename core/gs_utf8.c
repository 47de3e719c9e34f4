/*
 * Validation never assembles a code point: the lead byte fixes the
 * sequence length and a narrowed range for the second byte, and that
 * range alone excludes overlongs, surrogates and values past U+10FFFF.
 */
#include "gs_utf8.h"

/*
 * Length of the well-formed sequence starting at s (at most avail bytes
 * readable), or 0 if none starts there.
 */
static size_t
gs_utf8_sequence_len(const unsigned char *s, size_t avail)
{
    unsigned char lead = s[0];
    unsigned char lo = 0x80, hi = 0xBF;     /* bounds for the 2nd byte */
    size_t need, i;

    if (lead < 0x80) {
        return 1;
    }

    if (lead < 0xC2) {          /* continuation byte, or overlong C0/C1 */
        return 0;
    }

    if (lead < 0xE0) {
        need = 2;
    } else if (lead < 0xF0) {
        need = 3;
        if (lead == 0xE0) {
            lo = 0xA0;          /* E0 80..9F would be overlong */
        } else if (lead == 0xED) {
            hi = 0x9F;          /* ED A0..BF would be a surrogate */
        }
    } else if (lead < 0xF5) {
        need = 4;
        if (lead == 0xF0) {
            lo = 0x90;          /* F0 80..8F would be overlong */
        } else if (lead == 0xF4) {
            hi = 0x8F;          /* F4 90.. would exceed U+10FFFF */
        }
    } else {
        return 0;               /* F5..FF never appear in UTF-8 */
    }

    if (avail < need || s[1] < lo || s[1] > hi) {
        return 0;
    }

    for (i = 2; i < need; i++) {
        if ((s[i] & 0xC0) != 0x80) {
            return 0;
        }
    }

    return need;
}

static int
gs_utf8_check(const unsigned char *s, size_t len, int allow_nul)
{
    size_t i = 0, n;

    if (s == NULL) {
        return len == 0;
    }

    while (i < len) {
        if (s[i] == 0 && !allow_nul) {
            return 0;
        }

        n = gs_utf8_sequence_len(s + i, len - i);
        if (n == 0) {
            return 0;
        }

        i += n;
    }

    return 1;
}

int
gs_utf8_valid(const unsigned char *s, size_t len)
{
    return gs_utf8_check(s, len, 1);
}

int
gs_utf8_valid_text(const unsigned char *s, size_t len)
{
    return gs_utf8_check(s, len, 0);
}
