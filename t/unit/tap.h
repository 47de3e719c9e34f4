/*
 * tap.h: a minimal TAP (Test Anything Protocol) producer for the unit
 * tests, so that prove(1) can run them with no test framework.
 *
 *   ok(cond, fmt, ...)          pass when cond is non-zero
 *   is_int(got, want, fmt, ...) integers compared as long long
 *   is_str(got, want, fmt, ...) strings compared with strcmp (NULL-safe)
 *   plan(n)                     optional; announce n tests up front
 *   done_testing()              print the plan if none was given; returns
 *                               the exit status (0 only if all passed and
 *                               the plan, if any, was met)
 *
 * Every test name is a printf format.  Failures print the file, the line
 * and the values on stderr-style "#" diagnostic lines.
 */
#ifndef GS_TAP_H
#define GS_TAP_H

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static int tap_run;
static int tap_failed;
static int tap_planned = -1;

static inline void
plan(int n)
{
    tap_planned = n;
    printf("1..%d\n", n);
}

static inline void
tap_vreport(int pass, const char *file, int line, const char *fmt,
            va_list ap)
{
    tap_run++;
    if (!pass) {
        tap_failed++;
    }

    printf("%sok %d - ", pass ? "" : "not ", tap_run);
    vprintf(fmt, ap);
    printf("\n");

    if (!pass) {
        printf("#   Failed test at %s line %d.\n", file, line);
    }
}

static inline int __attribute__((format(printf, 4, 5)))
tap_ok(int pass, const char *file, int line, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    tap_vreport(pass, file, line, fmt, ap);
    va_end(ap);
    return pass;
}

static inline int __attribute__((format(printf, 5, 6)))
tap_is_int(long long got, long long want, const char *file, int line,
           const char *fmt, ...)
{
    va_list ap;
    int pass = got == want;

    va_start(ap, fmt);
    tap_vreport(pass, file, line, fmt, ap);
    va_end(ap);

    if (!pass) {
        printf("#          got: %lld\n#     expected: %lld\n", got, want);
    }
    return pass;
}

static inline int __attribute__((format(printf, 5, 6)))
tap_is_str(const char *got, const char *want, const char *file, int line,
           const char *fmt, ...)
{
    va_list ap;
    int pass;

    pass = (got == NULL || want == NULL) ? got == want
                                         : strcmp(got, want) == 0;
    va_start(ap, fmt);
    tap_vreport(pass, file, line, fmt, ap);
    va_end(ap);

    if (!pass) {
        printf("#          got: '%s'\n#     expected: '%s'\n",
               got ? got : "(null)", want ? want : "(null)");
    }
    return pass;
}

static inline int
done_testing(void)
{
    if (tap_planned < 0) {
        printf("1..%d\n", tap_run);
    } else if (tap_planned != tap_run) {
        printf("# Planned %d tests but ran %d.\n", tap_planned, tap_run);
        return 1;
    }

    if (tap_failed) {
        printf("# Looks like you failed %d test%s of %d.\n", tap_failed,
               tap_failed == 1 ? "" : "s", tap_run);
    }
    fflush(stdout);
    return tap_failed != 0;
}

#define ok(cond, ...) \
    tap_ok((cond) != 0, __FILE__, __LINE__, __VA_ARGS__)
#define is_int(got, want, ...) \
    tap_is_int((long long) (got), (long long) (want), __FILE__, __LINE__, \
               __VA_ARGS__)
#define is_str(got, want, ...) \
    tap_is_str((got), (want), __FILE__, __LINE__, __VA_ARGS__)

#endif
