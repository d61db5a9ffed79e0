/* vt_html.h: self-contained HTML pages (the training report, the sweep's
 * leaderboard): one file, inline CSS, images as data: URIs, no scripts, no
 * network. Text from data goes through vt_html_text (vt_text.h). */
#ifndef VT_HTML_H
#define VT_HTML_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* <!DOCTYPE html> ... <body>: UTF-8, the title escaped, the shared style. */
void vt_html_begin(FILE *f, const char *title);
void vt_html_end(FILE *f);

/* data in base64 (RFC 4648, with padding). */
void vt_html_base64(FILE *f, const uint8_t *data, size_t n);

/* <img src="data:MIME;base64,..." alt="ALT" ATTRS>: the image is what
 * write(mem, ctx) writes (e.g. a PNG encoder), captured in memory. ATTRS is
 * written as given (the caller's own markup, not data). 0, or -1 + reason. */
int vt_html_img(FILE *f, const char *mime, int (*write)(FILE *mem, const void *ctx),
                const void *ctx, const char *alt, const char *attrs);
/* The same from bytes already in memory. */
void vt_html_img_bytes(FILE *f, const char *mime, const uint8_t *data, size_t n, const char *alt,
                       const char *attrs);

#endif
