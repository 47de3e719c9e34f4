/* gs_ident: identity card numbers, credit codes, phone numbers */

#include "tap.h"
#include "gs_ident.h"

#include <string.h>

#define ID(s)     gs_ident_id_card(s, strlen(s))
#define USCC(s)   gs_ident_uscc(s, strlen(s))
#define PHONE(s)  gs_ident_phone(s, strlen(s))


/* every single-character change of a valid number must be refused */
static void
corruptions(const char *valid, int (*check)(const char *, size_t),
    const char *what)
{
    char    buf[32];
    size_t  i, len, caught;

    len = strlen(valid);
    caught = 0;

    for (i = 0; i < len; i++) {
        memcpy(buf, valid, len + 1);
        buf[i] = (buf[i] == '7') ? '8' : '7';
        caught += !check(buf, len);
    }

    is_int((int) caught, (int) len, "%s: each of %zu positions changed is"
           " refused", what, len);
}


int
main(void)
{
    /* GB 11643 */
    ok(ID("11010519491231002X"), "the standard's sample, X check");
    ok(ID("11010519491231002x"), "lower-case x accepted");
    ok(ID("430102199001011238"), "a Changsha number");
    ok(!ID("430102199001011233"), "wrong check digit");
    ok(!ID("11010519491231002"), "17 characters");
    ok(!ID("11010519491231002XX"), "19 characters");
    ok(!ID("00010519491231002X"), "province 00");
    ok(!ID("99010519491231002X"), "province 99");
    ok(!ID("430102199002301236"), "30 February");
    ok(!ID("430102199013011234"), "month 13");
    ok(!ID("430102189001011231"), "born before 1900");
    ok(!ID("4301021990010112A3"), "a letter inside");
    ok(!gs_ident_id_card(NULL, 0), "NULL");
    corruptions("430102199001011238", gs_ident_id_card, "id card");

    /* GB 32100 */
    ok(USCC("91350100M000100Y43"), "the published sample");
    ok(!USCC("91350100M000100Y44"), "wrong check character");
    ok(!USCC("91350100m000100Y43"), "lower case refused");
    ok(!USCC("91350100I000100Y43"), "I is not in the alphabet");
    ok(!USCC("91350100O000100Y43"), "O is not in the alphabet");
    ok(!USCC("913501A0M000100Y43"), "a letter in the division code");
    ok(!USCC("91350100M000100Y4"), "17 characters");
    ok(!gs_ident_uscc("91350100M000100Y4\0", 18), "a NUL inside");
    ok(!gs_ident_uscc(NULL, 0), "NULL");
    corruptions("91350100M000100Y43", gs_ident_uscc, "credit code");

    /* phones */
    ok(PHONE("13800000000"), "mobile");
    ok(PHONE("19912345678"), "mobile 199");
    ok(!PHONE("12800000000"), "no mobile starts 12");
    ok(!PHONE("1380000000"), "10-digit mobile");
    ok(!PHONE("138000000000"), "12-digit mobile");
    ok(PHONE("0731-84000001"), "landline with area code");
    ok(PHONE("010-6512345"), "7-digit landline with area code");
    ok(PHONE("073184000001"), "area code written together");
    ok(PHONE("84000001"), "landline without area code");
    ok(PHONE("0731-84000001-8001"), "with an extension");
    ok(PHONE("84000001-12"), "extension without area code");
    ok(!PHONE("0731-04000001"), "subscriber starting with 0");
    ok(!PHONE("0731-8400"), "subscriber too short");
    ok(!PHONE("07311-84000001"), "area code too long");
    ok(!PHONE("0731-84000001-"), "empty extension");
    ok(!PHONE("0731-84000001-1234567"), "extension too long");
    ok(!PHONE("0731--84000001"), "empty part");
    ok(!PHONE("0731-8400-0001-1"), "four parts");
    ok(!PHONE("phone"), "letters");
    ok(!PHONE(""), "empty");
    ok(!gs_ident_phone(NULL, 0), "NULL");

    return done_testing();
}
