/* vt_text.h: writing strings into CSV and JSON files correctly escaped. */
#ifndef VT_TEXT_H
#define VT_TEXT_H

#include <stdio.h>

/* RFC 4180: quotes a field holding a comma, quote or line break. */
void vt_csv_field(FILE *f, const char *s);
/* A JSON string literal (quotes, backslashes and control characters escaped);
 * NULL writes "". */
void vt_json_string(FILE *f, const char *s);

#endif
