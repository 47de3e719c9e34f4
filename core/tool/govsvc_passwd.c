/*
 * govsvc-passwd: print the stored hash of a password, for scripts that
 * create users (`make run`'s demo users, the test harness).
 *
 *   printf '%s\n' "$password" | govsvc-passwd
 *
 * Reads the first line of standard input (without its '\n'; a '\r' is
 * kept), refuses a password that gs_password_acceptable() rejects (exit
 * 2, message on stderr), takes a GS_PASSWORD_SALT_LEN-byte salt from
 * RAND_bytes and prints "pbkdf2-sha256$600000$<salt>$<hash>\n" on
 * standard output.  Exit 1 on any other failure.
 */
#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "gs_password.h"

int
main(int argc, char **argv)
{
    char pw[GS_PASSWORD_MAX_LEN + 1];
    char out[GS_PASSWORD_STORED_MAX];
    unsigned char salt[GS_PASSWORD_SALT_LEN];
    size_t len;
    int c, rc;

    (void) argv;
    if (argc != 1) {
        fprintf(stderr, "usage: govsvc-passwd < password-line\n");
        return 2;
    }

    /* one byte more than allowed, so an over-long line is seen as such */
    len = 0;
    while ((c = getchar()) != EOF && c != '\n') {
        if (len < sizeof(pw)) {
            pw[len] = (char) c;
        }
        if (len <= sizeof(pw)) {
            len++;
        }
    }
    if (ferror(stdin)) {
        OPENSSL_cleanse(pw, sizeof(pw));
        fprintf(stderr, "govsvc-passwd: cannot read standard input\n");
        return 1;
    }

    if (len > GS_PASSWORD_MAX_LEN || !gs_password_acceptable(pw, len)) {
        OPENSSL_cleanse(pw, sizeof(pw));
        fprintf(stderr, "govsvc-passwd: unacceptable password: it must be "
                "%d to %d bytes of UTF-8 without NUL\n",
                GS_PASSWORD_MIN_LEN, GS_PASSWORD_MAX_LEN);
        return 2;
    }

    if (RAND_bytes(salt, sizeof(salt)) != 1) {
        OPENSSL_cleanse(pw, sizeof(pw));
        fprintf(stderr, "govsvc-passwd: RAND_bytes failed\n");
        return 1;
    }

    rc = gs_password_hash(pw, len, salt, sizeof(salt),
                          GS_PASSWORD_ITERATIONS, out, sizeof(out));
    OPENSSL_cleanse(pw, sizeof(pw));
    if (rc != 0) {
        fprintf(stderr, "govsvc-passwd: hashing failed\n");
        return 1;
    }

    if (printf("%s\n", out) < 0 || fflush(stdout) != 0) {
        fprintf(stderr, "govsvc-passwd: cannot write standard output\n");
        return 1;
    }

    return 0;
}
