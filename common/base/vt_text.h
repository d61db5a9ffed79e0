/* vt_text.h: writing strings into CSV, JSON (through libjansson), HTML and
 * HDF5 (UTF-8) correctly escaped. */
#ifndef VT_TEXT_H
#define VT_TEXT_H

#include <jansson.h>
#include <stdio.h>

/* vt_csv_field and vt_json_text take s as valid UTF-8: a byte that is not
 * part of a valid sequence (a Latin-1 file name) becomes \xHH, the text
 * vt_utf8_escaped gives and a store holds for that name. */

/* A CSV field (RFC 4180), quoted if it holds a comma, quote or line break. */
void vt_csv_field(FILE *f, const char *s);
/* A libjansson string of s (which accepts valid UTF-8 only); NULL gives "". */
json_t *vt_json_text(const char *s);
/* Writes a JSON document (libjansson: indented by 2, reals with 10
 * significant digits) and a newline. 0, or -1 + reason. */
int vt_json_write(FILE *f, const json_t *root);
/* HTML text or a quoted attribute value: & < > " ' as character references;
 * NULL writes nothing. */
void vt_html_text(FILE *f, const char *s);

/* NULL if s is valid UTF-8, else a malloc'd copy in which every byte that is
 * not part of a valid sequence is written as \xHH (lowercase hex): the same
 * text as Python's bytes.decode('utf-8', 'backslashreplace'). File names on
 * Linux are bytes; HDF5 strings we declare UTF-8 must be valid. */
char *vt_utf8_escaped(const char *s);
/* The reverse, for finding a stored path on disk: NULL if s holds no \xHH
 * with HH from 80 to ff (lowercase, as vt_utf8_escaped writes them; bytes
 * below 0x80 are always valid UTF-8, so never escaped), else a malloc'd copy
 * with each of those turned back into its byte. Not exact: a name that held
 * a literal "\xe9" comes back with the byte in its place (docs/STORE.md). */
char *vt_utf8_unescaped(const char *s);

/* Terminal columns of UTF-8 text, for lining up tables (printf's %-*s pads
 * by bytes, which pushed the columns right after 'ü' or '日'): wide
 * characters take two, combining marks none, a stray byte one. */
int vt_text_columns(const char *s);

#endif
