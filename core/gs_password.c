#include <limits.h>
#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "gs_password.h"
#include "gs_utf8.h"

#define GS_PASSWORD_PREFIX      "pbkdf2-sha256$"
#define GS_PASSWORD_PREFIX_LEN  (sizeof(GS_PASSWORD_PREFIX) - 1)
#define GS_PASSWORD_HASH_LEN    32
#define GS_PASSWORD_SALT_MIN    8
#define GS_PASSWORD_SALT_MAX    64
#define GS_PASSWORD_ITER_MIN    1000u       /* accepted by verify */
#define GS_PASSWORD_ITER_MAX    10000000u
#define GS_PASSWORD_ITER_DIGITS 8           /* digits of ITER_MAX */

/* base64 length of n bytes, with padding */
#define GS_B64_LEN(n)  ((((n) + 2) / 3) * 4)

const char gs_password_dummy[] =
    "pbkdf2-sha256$600000$Z292c3ZjLWR1bW15LXNhbA==$"
    "3B/ALd7+/Mi1GVYs1QWJ6HcHLkg5SzxZLro8d3Tx+X8=";

typedef struct {
    unsigned       iterations;
    unsigned char  salt[GS_PASSWORD_SALT_MAX];
    size_t         saltlen;
    unsigned char  hash[GS_PASSWORD_HASH_LEN];
} gs_password_parsed_t;

int
gs_password_acceptable(const char *pw, size_t len)
{
    if (pw == NULL || len < GS_PASSWORD_MIN_LEN
        || len > GS_PASSWORD_MAX_LEN)
    {
        return 0;
    }

    return gs_utf8_valid_text((const unsigned char *) pw, len);
}

static int
gs_b64_value(char c)
{
    if (c >= 'A' && c <= 'Z') {
        return c - 'A';
    }
    if (c >= 'a' && c <= 'z') {
        return c - 'a' + 26;
    }
    if (c >= '0' && c <= '9') {
        return c - '0' + 52;
    }
    if (c == '+') {
        return 62;
    }
    if (c == '/') {
        return 63;
    }
    return -1;
}

/*
 * Strict RFC 4648 base64 of n characters: groups of four, '=' only as
 * the last one or two characters of the last group, unused bits zero.
 * 0 and *outlen set, or -1 when malformed or longer than outmax bytes.
 */
static int
gs_b64_decode(const char *s, size_t n, unsigned char *out, size_t outmax,
              size_t *outlen)
{
    size_t i, len, pad;
    int v[4], k;

    if (n % 4 != 0) {
        return -1;
    }

    len = 0;
    for (i = 0; i < n; i += 4) {
        pad = 0;
        if (i + 4 == n) {
            if (s[i + 3] == '=') {
                pad = s[i + 2] == '=' ? 2 : 1;
            }
        }

        for (k = 0; k < 4 - (int) pad; k++) {
            v[k] = gs_b64_value(s[i + k]);
            if (v[k] < 0) {
                return -1;
            }
        }

        if (len + 3 - pad > outmax) {
            return -1;
        }

        out[len++] = (unsigned char) ((v[0] << 2) | (v[1] >> 4));
        if (pad == 2) {
            if (v[1] & 0x0f) {
                return -1;
            }
            break;
        }
        out[len++] = (unsigned char) (((v[1] & 0x0f) << 4) | (v[2] >> 2));
        if (pad == 1) {
            if (v[2] & 0x03) {
                return -1;
            }
            break;
        }
        out[len++] = (unsigned char) (((v[2] & 0x03) << 6) | v[3]);
    }

    *outlen = len;
    return 0;
}

/* 0 and *p filled, or -1 for a malformed stored string. */
static int
gs_password_parse(const char *stored, gs_password_parsed_t *p)
{
    const char *s, *f;
    size_t n, got;
    unsigned it;

    if (stored == NULL
        || strncmp(stored, GS_PASSWORD_PREFIX, GS_PASSWORD_PREFIX_LEN) != 0)
    {
        return -1;
    }
    s = stored + GS_PASSWORD_PREFIX_LEN;

    /* iterations: a plain decimal, no sign, no leading zero */
    if (*s < '1' || *s > '9') {
        return -1;
    }
    it = 0;
    for (n = 0; s[n] >= '0' && s[n] <= '9'; n++) {
        if (n == GS_PASSWORD_ITER_DIGITS) {
            return -1;
        }
        it = it * 10 + (unsigned) (s[n] - '0');
    }
    if (s[n] != '$' || it < GS_PASSWORD_ITER_MIN
        || it > GS_PASSWORD_ITER_MAX)
    {
        return -1;
    }
    p->iterations = it;
    s += n + 1;

    /* salt: up to the next '$', at most the base64 of SALT_MAX bytes */
    f = s;
    for (n = 0; f[n] != '$'; n++) {
        if (f[n] == '\0' || n == GS_B64_LEN(GS_PASSWORD_SALT_MAX)) {
            return -1;
        }
    }
    if (gs_b64_decode(f, n, p->salt, sizeof(p->salt), &p->saltlen) != 0
        || p->saltlen < GS_PASSWORD_SALT_MIN)
    {
        return -1;
    }
    s = f + n + 1;

    /* hash: the rest of the string, exactly HASH_LEN bytes */
    for (n = 0; s[n] != '\0'; n++) {
        if (n == GS_B64_LEN(GS_PASSWORD_HASH_LEN)) {
            return -1;
        }
    }
    if (gs_b64_decode(s, n, p->hash, sizeof(p->hash), &got) != 0
        || got != GS_PASSWORD_HASH_LEN)
    {
        return -1;
    }

    return 0;
}

static int
gs_password_derive(const char *pw, size_t len, const unsigned char *salt,
                   size_t saltlen, unsigned iterations,
                   unsigned char key[GS_PASSWORD_HASH_LEN])
{
    if (len > INT_MAX || iterations > INT_MAX) {
        return -1;
    }
    if (pw == NULL) {
        pw = "";
    }

    return PKCS5_PBKDF2_HMAC(pw, (int) len, salt, (int) saltlen,
                             (int) iterations, EVP_sha256(),
                             GS_PASSWORD_HASH_LEN, key) == 1 ? 0 : -1;
}

int
gs_password_hash(const char *pw, size_t len, const unsigned char *salt,
                 size_t saltlen, unsigned iterations, char *out,
                 size_t outlen)
{
    unsigned char key[GS_PASSWORD_HASH_LEN];
    size_t need, pos;
    int n, rc;

    if (out != NULL && outlen > 0) {
        out[0] = '\0';
    }

    if (out == NULL || (pw == NULL && len > 0) || salt == NULL
        || saltlen < GS_PASSWORD_SALT_MIN || saltlen > GS_PASSWORD_SALT_MAX
        || iterations < GS_PASSWORD_ITERATIONS
        || iterations > GS_PASSWORD_ITER_MAX)
    {
        return -1;
    }

    /* "pbkdf2-sha256$" digits "$" salt "$" hash NUL, checked up front */
    n = snprintf(NULL, 0, "%u", iterations);
    if (n <= 0) {
        return -1;
    }
    need = GS_PASSWORD_PREFIX_LEN + (size_t) n + 1 + GS_B64_LEN(saltlen)
           + 1 + GS_B64_LEN(GS_PASSWORD_HASH_LEN) + 1;
    if (outlen < need) {
        return -1;
    }

    if (gs_password_derive(pw, len, salt, saltlen, iterations, key) != 0) {
        OPENSSL_cleanse(key, sizeof(key));
        return -1;
    }

    rc = snprintf(out, outlen, GS_PASSWORD_PREFIX "%u$", iterations);
    pos = rc > 0 ? (size_t) rc : 0;
    pos += (size_t) EVP_EncodeBlock((unsigned char *) out + pos, salt,
                                    (int) saltlen);
    out[pos++] = '$';
    pos += (size_t) EVP_EncodeBlock((unsigned char *) out + pos, key,
                                    GS_PASSWORD_HASH_LEN);
    OPENSSL_cleanse(key, sizeof(key));

    /* EVP_EncodeBlock wrote the NUL at out[pos] */
    if (rc < 0 || pos + 1 != need) {
        out[0] = '\0';
        return -1;
    }

    return 0;
}

int
gs_password_verify(const char *pw, size_t len, const char *stored)
{
    gs_password_parsed_t p;
    unsigned char key[GS_PASSWORD_HASH_LEN];
    int rc;

    if (gs_password_parse(stored, &p) != 0) {
        return -1;
    }
    if (pw == NULL && len > 0) {
        return 0;
    }

    if (gs_password_derive(pw, len, p.salt, p.saltlen, p.iterations, key)
        != 0)
    {
        rc = -1;
    } else {
        rc = CRYPTO_memcmp(key, p.hash, GS_PASSWORD_HASH_LEN) == 0;
    }

    OPENSSL_cleanse(key, sizeof(key));
    OPENSSL_cleanse(&p, sizeof(p));
    return rc;
}

int
gs_password_needs_rehash(const char *stored, unsigned iterations)
{
    gs_password_parsed_t p;
    int rc;

    rc = gs_password_parse(stored, &p) != 0 || p.iterations < iterations;
    OPENSSL_cleanse(&p, sizeof(p));
    return rc;
}
