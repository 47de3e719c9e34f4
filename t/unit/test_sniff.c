/* gs_sniff: file types from their leading bytes, and from MIME types */

#include "tap.h"
#include "gs_sniff.h"

#include <string.h>


#define SNIFF(s)  gs_file_sniff((const unsigned char *) (s), sizeof(s) - 1)
#define MIME(s)   gs_file_type_of_mime(s, strlen(s))


/* a ZIP local header whose first entry is called name */
static size_t
zip(unsigned char *buf, const char *name, size_t name_len_field)
{
    size_t  len;

    memset(buf, 0, 30);
    memcpy(buf, "PK\3\4", 4);
    buf[26] = (unsigned char) (name_len_field & 0xff);
    buf[27] = (unsigned char) (name_len_field >> 8);
    len = strlen(name);
    memcpy(buf + 30, name, len);
    memcpy(buf + 30 + len, "<?xml version", 13);

    return 30 + len + 13;
}


/*
 * The streaming caller relies on this: each of the first need - 1 prefixes
 * of a valid file is MORE, never UNKNOWN, and from need bytes on the type.
 */
static void
prefixes(const unsigned char *p, size_t len, size_t need,
    gs_file_type_t type, const char *what)
{
    size_t  n, more, typed;

    more = 0;
    typed = 0;

    for (n = 0; n < need; n++) {
        more += gs_file_sniff(p, n) == GS_FILE_MORE;
    }

    for (n = need; n <= len; n++) {
        typed += gs_file_sniff(p, n) == type;
    }

    is_int((int) more, (int) need, "%s: MORE for each prefix of 0..%zu"
           " bytes", what, need - 1);
    is_int((int) typed, (int) (len - need + 1), "%s: the type from %zu"
           " bytes to all %zu", what, need, len);
}


/* whatever the first byte, GS_FILE_SNIFF_MAX bytes decide */
static void
decides(unsigned char fill, const unsigned char *head, size_t head_len,
    const char *what)
{
    size_t         undecided;
    unsigned int   c;
    unsigned char  buf[GS_FILE_SNIFF_MAX];

    undecided = 0;

    for (c = 0; c < 256; c++) {
        memset(buf, fill, sizeof(buf));
        if (head_len) {
            memcpy(buf, head, head_len);
        }

        buf[head_len] = (unsigned char) c;
        undecided += gs_file_sniff(buf, sizeof(buf)) == GS_FILE_MORE;
    }

    is_int((int) undecided, 0, "%s: each of 256 bytes after it, %d bytes"
           " decide", what, GS_FILE_SNIFF_MAX);
}


int
main(void)
{
    static const unsigned char  pdf[] = "%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj";
    static const unsigned char  jpeg[] = "\xff\xd8\xff\xe0\0\x10JFIF\0";
    static const unsigned char  png[] = "\x89PNG\r\n\x1a\n\0\0\0\rIHDR";

    size_t         len;
    unsigned char  buf[128], noise[GS_FILE_SNIFF_MAX];

    is_int(SNIFF("%PDF-1.4\n"), GS_FILE_PDF, "PDF");
    is_int(SNIFF("\xff\xd8\xff\xdb"), GS_FILE_JPEG, "JPEG");
    is_int(SNIFF("\x89PNG\r\n\x1a\n"), GS_FILE_PNG, "PNG");

    len = zip(buf, "OFD.xml", 7);
    is_int(gs_file_sniff(buf, len), GS_FILE_OFD, "OFD: OFD.xml first");

    prefixes(pdf, sizeof(pdf) - 1, 5, GS_FILE_PDF, "PDF");
    prefixes(jpeg, sizeof(jpeg) - 1, 3, GS_FILE_JPEG, "JPEG");
    prefixes(png, sizeof(png) - 1, 8, GS_FILE_PNG, "PNG");
    prefixes(buf, len, 37, GS_FILE_OFD, "OFD");

    is_int(gs_file_sniff(buf, 0), GS_FILE_MORE, "nothing yet: more");
    is_int(gs_file_sniff(buf, 29), GS_FILE_MORE, "OFD before its name");
    is_int(gs_file_sniff(buf, 33), GS_FILE_MORE, "OFD inside its name");

    len = zip(buf, "mimetype", 8);
    is_int(gs_file_sniff(buf, len), GS_FILE_UNKNOWN, "an EPUB-like ZIP");
    len = zip(buf, "[Content_Types].xml", 19);
    is_int(gs_file_sniff(buf, len), GS_FILE_UNKNOWN, "a DOCX");
    len = zip(buf, "OFD.xml", 8);
    is_int(gs_file_sniff(buf, len), GS_FILE_UNKNOWN,
           "OFD.xml with a wrong length field");
    len = zip(buf, "OFD.xmk", 7);
    is_int(gs_file_sniff(buf, len), GS_FILE_UNKNOWN, "a near miss");
    len = zip(buf, "OFD.xml", 7 + 256);
    is_int(gs_file_sniff(buf, len), GS_FILE_UNKNOWN,
           "the length's high byte counts");

    is_int(SNIFF("<html><script>"), GS_FILE_UNKNOWN, "HTML");
    is_int(SNIFF("GIF89a"), GS_FILE_UNKNOWN, "GIF");
    is_int(SNIFF("MZ\x90\0"), GS_FILE_UNKNOWN, "an executable");
    is_int(SNIFF("%!PS-Adobe"), GS_FILE_UNKNOWN, "PostScript");
    is_int(SNIFF("PDF-%"), GS_FILE_UNKNOWN, "P but no ZIP");
    is_int(SNIFF("\xff\xd8\xfe"), GS_FILE_UNKNOWN, "almost JPEG");
    is_int(SNIFF(" %PDF-"), GS_FILE_UNKNOWN, "a leading space");

    decides(0, NULL, 0, "nothing");
    decides('%', (const unsigned char *) "%PDF", 4, "%PDF");
    decides(0, (const unsigned char *) "\x89PNG\r\n\x1a", 7, "PNG's 7");
    decides(0, (const unsigned char *) "PK\3\4", 4, "PK 3 4");
    zip(buf, "OFD.xml", 7);
    decides('O', buf, 36, "PK 3 4 ... OFD.xm");

    memset(noise, 'P', sizeof(noise));
    is_int(gs_file_sniff(noise, sizeof(noise)), GS_FILE_UNKNOWN,
           "%d bytes of noise decide", GS_FILE_SNIFF_MAX);
    memcpy(noise, "PK\3\4", 4);
    is_int(gs_file_sniff(noise, sizeof(noise)), GS_FILE_UNKNOWN,
           "a ZIP header of noise decides too");

    is_int(MIME("application/pdf"), GS_FILE_PDF, "application/pdf");
    is_int(MIME("image/jpeg"), GS_FILE_JPEG, "image/jpeg");
    is_int(MIME("image/png"), GS_FILE_PNG, "image/png");
    is_int(MIME("application/ofd"), GS_FILE_OFD, "application/ofd");
    is_int(MIME(" Application/PDF; charset=x"), GS_FILE_PDF,
           "case, spaces and parameters ignored");
    is_int(MIME("Application/PDF; charset=x"), GS_FILE_PDF,
           "Application/PDF; charset=x");
    is_int(MIME("\tIMAGE/PNG  "), GS_FILE_PNG, "tab, upper case, spaces");
    is_int(MIME("image/jpeg ;q=1"), GS_FILE_JPEG, "a space before ';'");
    is_int(MIME("image/jpg"), GS_FILE_UNKNOWN, "image/jpg is not registered");
    is_int(MIME("application/pdfx"), GS_FILE_UNKNOWN, "a longer name");
    is_int(MIME("application/pd"), GS_FILE_UNKNOWN, "a shorter one");
    is_int(MIME("text/plain"), GS_FILE_UNKNOWN, "text/plain");
    is_int(MIME(""), GS_FILE_UNKNOWN, "empty");
    is_int(MIME("  ; charset=x"), GS_FILE_UNKNOWN, "parameters only");
    is_int(gs_file_type_of_mime(NULL, 0), GS_FILE_UNKNOWN, "NULL");
    is_int(gs_file_type_of_mime("image/pngXXX", 9), GS_FILE_PNG,
           "only len bytes are read");

    is_str(gs_file_type_mime(GS_FILE_PDF), "application/pdf", "PDF's");
    is_str(gs_file_type_mime(GS_FILE_JPEG), "image/jpeg", "JPEG's");
    is_str(gs_file_type_mime(GS_FILE_PNG), "image/png", "PNG's");
    is_str(gs_file_type_mime(GS_FILE_OFD), "application/ofd", "OFD's");
    ok(gs_file_type_mime(GS_FILE_UNKNOWN) == NULL, "UNKNOWN has none");
    ok(gs_file_type_mime(GS_FILE_MORE) == NULL, "nor has MORE");

    return done_testing();
}
