/*
 * gs_password: password hashing with PBKDF2-HMAC-SHA256 (OpenSSL).
 *
 * A stored hash is the NUL-terminated string
 *     "pbkdf2-sha256$<iterations>$<salt base64>$<hash base64>"
 * with standard base64 (RFC 4648, '=' padding) and a 32-byte hash, so the
 * parameters travel with the hash and can be raised later: verify always
 * uses the stored iteration count, and needs_rehash tells the caller when
 * to store a fresh hash after a successful login.
 *
 * gs_password_acceptable() is the policy for NEW passwords only: 1 when
 * len is GS_PASSWORD_MIN_LEN..GS_PASSWORD_MAX_LEN bytes of valid UTF-8
 * without U+0000 (gs_utf8_valid_text), else 0.  Neither hash nor verify
 * applies it: they take any len bytes (pw may be NULL only when len is
 * 0), so a later policy change cannot lock out existing users.
 *
 * gs_password_hash() writes the stored string into out (outlen bytes with
 * the NUL; GS_PASSWORD_STORED_MAX is enough for any salt of
 * GS_PASSWORD_SALT_LEN bytes).  The caller supplies the salt (the glue
 * takes GS_PASSWORD_SALT_LEN bytes from RAND_bytes); it must be 8..64
 * bytes.  Returns 0, or -1 (out set to "" when outlen > 0) when iterations
 * is below GS_PASSWORD_ITERATIONS or above 10,000,000, the salt length is
 * out of range, out is too small (checked before any hashing) or OpenSSL
 * fails.
 *
 * gs_password_verify() returns 1 on a match (compared with CRYPTO_memcmp),
 * 0 on no match, -1 for a malformed stored string (NULL, wrong prefix,
 * iterations not a plain decimal without sign or leading zero, or outside
 * 1000..10,000,000, base64 not strict RFC 4648 -- bad character, missing
 * or misplaced '=', non-zero unused bits -- salt not 8..64 bytes, hash not
 * 32 bytes, missing or extra fields) or, never expected, an OpenSSL
 * failure.  A malformed string costs no hashing.
 *
 * gs_password_needs_rehash() returns 1 when stored uses fewer iterations
 * than asked or is malformed, else 0.  It does no hashing.
 *
 * gs_password_dummy is a well-formed stored string (fixed salt of
 * GS_PASSWORD_SALT_LEN bytes, GS_PASSWORD_ITERATIONS iterations, hash of
 * a random password nobody kept).  When a login names no user, the glue
 * verifies the offered password against it and then refuses regardless
 * of the result, so a failed login costs the same whether or not the
 * user exists.
 *
 * Nothing allocates, nothing keeps global state; derived keys are wiped
 * from the stack with OPENSSL_cleanse.  Each hash or verify of a
 * well-formed string runs PBKDF2 once: about 0.1-0.25 s of one CPU at
 * 600,000 iterations, so callers must not run it on an event loop thread.
 */
#ifndef GS_PASSWORD_H
#define GS_PASSWORD_H

#include <stddef.h>

#define GS_PASSWORD_ITERATIONS  600000  /* the minimum and the default */
#define GS_PASSWORD_STORED_MAX  128     /* with the NUL */
#define GS_PASSWORD_SALT_LEN    16
#define GS_PASSWORD_MIN_LEN     8       /* bytes of a new password */
#define GS_PASSWORD_MAX_LEN     256

extern const char gs_password_dummy[];

int gs_password_acceptable(const char *pw, size_t len);
int gs_password_hash(const char *pw, size_t len, const unsigned char *salt,
                     size_t saltlen, unsigned iterations, char *out,
                     size_t outlen);
int gs_password_verify(const char *pw, size_t len, const char *stored);
int gs_password_needs_rehash(const char *stored, unsigned iterations);

#endif
