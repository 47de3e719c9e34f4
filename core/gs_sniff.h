/*
 * gs_sniff: the type of an uploaded file from its leading bytes, so that a
 * file declared as a PDF is one.
 *
 * gs_file_sniff() looks at the first n bytes of a file (n may be 0 or
 * short, as they arrive): the type they prove, GS_FILE_UNKNOWN when they
 * can never be one of the four, or GS_FILE_MORE while they still match a
 * beginning.  With GS_FILE_SNIFF_MAX bytes or more it never answers MORE.
 * An empty file gets MORE (n = 0): the caller takes MORE at the end of a
 * file as UNKNOWN.  An OFD file (GB/T 33190) is a ZIP whose first local
 * entry is the entry file "OFD.xml"; it takes 37 bytes to decide.
 *
 * gs_file_type_of_mime() maps a Content-Type of len bytes ("application/
 * pdf" etc.; parameters after ';', the case of the type and surrounding
 * spaces ignored) to its type, GS_FILE_UNKNOWN for anything else, aliases
 * such as "image/jpg" included.  gs_file_type_mime() gives a type's
 * canonical MIME type, NULL for UNKNOWN and MORE.
 */
#ifndef GS_SNIFF_H
#define GS_SNIFF_H

#include <stddef.h>

typedef enum {
    GS_FILE_UNKNOWN = 0,
    GS_FILE_PDF,        /* "%PDF-" */
    GS_FILE_JPEG,       /* FF D8 FF */
    GS_FILE_PNG,        /* 89 50 4E 47 0D 0A 1A 0A */
    GS_FILE_OFD,        /* a ZIP whose first local entry is "OFD.xml" */
    GS_FILE_MORE        /* the bytes seen so far cannot decide */
} gs_file_type_t;

#define GS_FILE_SNIFF_MAX  64   /* this many leading bytes always decide */

gs_file_type_t gs_file_sniff(const unsigned char *p, size_t n);
gs_file_type_t gs_file_type_of_mime(const char *mime, size_t len);
const char *gs_file_type_mime(gs_file_type_t t);

#endif
