/* gs_region: GB/T 2260 code levels, parents and containment. */
#include <string.h>

#include "gs_region.h"
#include "tap.h"

#define L(s)  gs_region_level((s), strlen(s))

static void
test_level(void)
{
    is_int(L("430000"), GS_REGION_PROVINCE, "430000 Hunan is a province");
    is_int(L("110000"), GS_REGION_PROVINCE, "110000 lowest province");
    is_int(L("820000"), GS_REGION_PROVINCE, "820000 highest province");
    is_int(L("430100"), GS_REGION_CITY, "430100 Changsha is a city");
    is_int(L("429000"), GS_REGION_CITY, "429000 pseudo-city is a city");
    is_int(L("430102"), GS_REGION_COUNTY, "430102 Furong is a county");
    is_int(L("429004"), GS_REGION_COUNTY, "429004 Xiantao is a county");
    is_int(L("439999"), GS_REGION_COUNTY, "439999 shape is a county");

    is_int(L("100000"), GS_REGION_INVALID, "province 10 below range");
    is_int(L("830000"), GS_REGION_INVALID, "province 83 above range");
    is_int(L("000000"), GS_REGION_INVALID, "all zeros");
    is_int(L("990000"), GS_REGION_INVALID, "province 99");
    is_int(L("430001"), GS_REGION_INVALID, "xx00zz has no level");
    is_int(L("43010"), GS_REGION_INVALID, "5 digits");
    is_int(L("4301020"), GS_REGION_INVALID, "7 digits");
    is_int(L(""), GS_REGION_INVALID, "empty");
    is_int(L("43010a"), GS_REGION_INVALID, "letter");
    is_int(L("4301 2"), GS_REGION_INVALID, "space");
    is_int(L("-43010"), GS_REGION_INVALID, "sign");
    is_int(L("43/102"), GS_REGION_INVALID, "'/' just below '0'");
    is_int(L("43:102"), GS_REGION_INVALID, "':' just above '9'");
    is_int(L("\xEF\xBC\x94\x33\x30\x31"), GS_REGION_INVALID,
           "fullwidth digit bytes");
    is_int(gs_region_level(NULL, 6), GS_REGION_INVALID, "NULL");
    is_int(gs_region_level("430102xyz", 6), GS_REGION_COUNTY,
           "len bounds the read, no NUL needed");
    is_int(gs_region_level("430\0" "02", 6), GS_REGION_INVALID,
           "embedded NUL");
}

static void
test_parent(void)
{
    char out[7];

    is_int(gs_region_parent("430102", 6, out), 0, "county has a parent");
    is_str(out, "430100", "430102 -> 430100");
    is_int(gs_region_parent("429004", 6, out), 0, "pseudo-county parent");
    is_str(out, "429000", "429004 -> 429000");
    is_int(gs_region_parent("430100", 6, out), 0, "city has a parent");
    is_str(out, "430000", "430100 -> 430000");
    is_int(gs_region_parent("820100", 6, out), 0, "edge province city");
    is_str(out, "820000", "820100 -> 820000");

    memcpy(out, "sentin", 7);
    is_int(gs_region_parent("430000", 6, out), -1, "province: no parent");
    is_str(out, "sentin", "out untouched for a province");
    is_int(gs_region_parent("430001", 6, out), -1, "invalid xx00zz");
    is_int(gs_region_parent("4301", 4, out), -1, "too short");
    is_int(gs_region_parent("830100", 6, out), -1, "bad province");
    is_int(gs_region_parent(NULL, 6, out), -1, "NULL code");
    is_str(out, "sentin", "out untouched for invalid codes");
}

static void
test_within(void)
{
    ok(gs_region_within("430000", "430000"), "province within itself");
    ok(gs_region_within("430000", "430100"), "city within its province");
    ok(gs_region_within("430000", "430102"), "county within its province");
    ok(gs_region_within("430100", "430100"), "city within itself");
    ok(gs_region_within("430100", "430102"), "county within its city");
    ok(gs_region_within("430102", "430102"), "county within itself");

    ok(!gs_region_within("430100", "430000"), "province not within city");
    ok(!gs_region_within("430102", "430100"), "city not within county");
    ok(!gs_region_within("430102", "430000"), "province not within county");
    ok(!gs_region_within("430102", "430103"), "sibling counties");
    ok(!gs_region_within("430100", "430200"), "sibling cities");
    ok(!gs_region_within("430100", "430202"), "county of another city");
    ok(!gs_region_within("430000", "440100"), "city of another province");
    ok(!gs_region_within("430000", "440103"), "county elsewhere");

    ok(!gs_region_within("430000", "430001"), "invalid code");
    ok(!gs_region_within("430001", "430001"), "invalid ancestor");
    ok(!gs_region_within("430000", "4301020"), "7-char code");
    ok(!gs_region_within("4300000", "430102"), "7-char ancestor");
    ok(!gs_region_within("430000", "43010"), "5-char code");
    ok(!gs_region_within("430000", ""), "empty code");
    ok(!gs_region_within(NULL, "430102"), "NULL ancestor");
    ok(!gs_region_within("430000", NULL), "NULL code");
    ok(!gs_region_within(NULL, NULL), "both NULL");
}

int
main(void)
{
    test_level();
    test_parent();
    test_within();
    return done_testing();
}
