/*
 * gs_ident: the identity numbers and phone numbers an application carries.
 *
 * gs_ident_id_card() checks a resident identity card number (GB 11643):
 * 17 digits and a check character (0-9 or X, x accepted) by ISO 7064
 * MOD 11-2, a province code 11..82 in the address part (older county
 * codes are retired, so only the province is checked) and a real birth
 * date from 1900-01-01 to 2099-12-31.
 *
 * gs_ident_uscc() checks a unified social credit code (GB 32100): 18
 * characters of "0123456789ABCDEFGHJKLMNPQRTUWXY" (upper case; no I, O, Z,
 * S, V), digits in the 6-digit division code at positions 3..8, and the
 * check character of MOD 31.  The registering authority (position 1) and
 * the kind (position 2) may be any character of the set: new authorities
 * are added over time.
 *
 * gs_ident_phone() accepts a mainland mobile number (11 digits, 1[3-9]...)
 * or a landline: an optional area code (0 and 2 or 3 digits, then an
 * optional '-'), 7 or 8 digits, and an optional extension "-" 1..6 digits.
 *
 * Each returns 1 when s (len bytes, no NUL needed) is valid, else 0.
 */
#ifndef GS_IDENT_H
#define GS_IDENT_H

#include <stddef.h>

int gs_ident_id_card(const char *s, size_t len);
int gs_ident_uscc(const char *s, size_t len);
int gs_ident_phone(const char *s, size_t len);

#endif
