/* gs_sniff: the type of an uploaded file from its leading bytes */

#include "gs_sniff.h"

#include <string.h>


#define GS_ZIP_NAME_LEN   26        /* offset of the first entry's name
                                       length in a ZIP local header */
#define GS_ZIP_NAME       30        /* offset of the name itself */


static gs_file_type_t gs_sniff_magic(const unsigned char *p, size_t n,
    const char *magic, size_t len, gs_file_type_t type);
static gs_file_type_t gs_sniff_ofd(const unsigned char *p, size_t n);
static int gs_sniff_equal_nocase(const char *a, const char *b, size_t len);


gs_file_type_t
gs_file_sniff(const unsigned char *p, size_t n)
{
    if (n == 0) {
        return GS_FILE_MORE;
    }

    switch (p[0]) {

    case '%':
        return gs_sniff_magic(p, n, "%PDF-", 5, GS_FILE_PDF);

    case 0xff:
        return gs_sniff_magic(p, n, "\xff\xd8\xff", 3, GS_FILE_JPEG);

    case 0x89:
        return gs_sniff_magic(p, n, "\x89PNG\r\n\x1a\n", 8, GS_FILE_PNG);

    case 'P':
        return gs_sniff_ofd(p, n);

    default:
        return GS_FILE_UNKNOWN;
    }
}


/* type when p starts with magic, MORE while it may, else UNKNOWN */
static gs_file_type_t
gs_sniff_magic(const unsigned char *p, size_t n, const char *magic,
    size_t len, gs_file_type_t type)
{
    if (memcmp(p, magic, n < len ? n : len) != 0) {
        return GS_FILE_UNKNOWN;
    }

    return (n >= len) ? type : GS_FILE_MORE;
}


/*
 * A ZIP local file header: "PK\3\4", then at 26 the name length (16 bits,
 * little-endian) and at 30 the name.  Other ZIP files (office documents,
 * archives) have other first entries.
 */
static gs_file_type_t
gs_sniff_ofd(const unsigned char *p, size_t n)
{
    static const char  name[] = "OFD.xml";

    size_t          len, seen;
    gs_file_type_t  t;

    t = gs_sniff_magic(p, n, "PK\3\4", 4, GS_FILE_OFD);
    if (t != GS_FILE_OFD) {
        return t;
    }

    if (n < GS_ZIP_NAME) {
        return GS_FILE_MORE;
    }

    len = (size_t) p[GS_ZIP_NAME_LEN]
          | (size_t) p[GS_ZIP_NAME_LEN + 1] << 8;
    if (len != sizeof(name) - 1) {
        return GS_FILE_UNKNOWN;
    }

    seen = n - GS_ZIP_NAME;
    if (seen > len) {
        seen = len;
    }

    if (memcmp(p + GS_ZIP_NAME, name, seen) != 0) {
        return GS_FILE_UNKNOWN;
    }

    return (seen == len) ? GS_FILE_OFD : GS_FILE_MORE;
}


gs_file_type_t
gs_file_type_of_mime(const char *mime, size_t len)
{
    size_t          i;
    const char     *end;
    gs_file_type_t  t;

    if (mime == NULL) {
        return GS_FILE_UNKNOWN;
    }

    end = memchr(mime, ';', len);
    if (end) {
        len = (size_t) (end - mime);
    }

    while (len && (*mime == ' ' || *mime == '\t')) {
        mime++;
        len--;
    }

    while (len && (mime[len - 1] == ' ' || mime[len - 1] == '\t')) {
        len--;
    }

    for (t = GS_FILE_PDF; t <= GS_FILE_OFD; t++) {
        i = strlen(gs_file_type_mime(t));

        if (i == len && gs_sniff_equal_nocase(mime, gs_file_type_mime(t), i))
        {
            return t;
        }
    }

    return GS_FILE_UNKNOWN;
}


const char *
gs_file_type_mime(gs_file_type_t t)
{
    switch (t) {
    case GS_FILE_PDF:
        return "application/pdf";
    case GS_FILE_JPEG:
        return "image/jpeg";
    case GS_FILE_PNG:
        return "image/png";
    case GS_FILE_OFD:
        return "application/ofd";
    default:
        return NULL;
    }
}


static int
gs_sniff_equal_nocase(const char *a, const char *b, size_t len)
{
    size_t         i;
    unsigned char  ca, cb;

    for (i = 0; i < len; i++) {
        ca = (unsigned char) a[i];
        cb = (unsigned char) b[i];

        if (ca >= 'A' && ca <= 'Z') {
            ca += 'a' - 'A';
        }

        if (ca != cb) {
            return 0;
        }
    }

    return 1;
}
