#include "base/vt_html.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/vt_common.h"
#include "base/vt_text.h"

/* One style for every page: readable type, tables with lined-up numbers,
 * a grid of thumbnails; narrow screens get one column. */
static const char style[] =
    "body{font:15px/1.45 system-ui,-apple-system,'Segoe UI',Roboto,'DejaVu Sans',sans-serif;"
    "color:#222;margin:24px auto;max-width:1100px;padding:0 16px}"
    "h1{font-size:24px;margin:0 0 4px}h2{font-size:18px;margin:28px 0 8px;border-bottom:1px solid #ddd;"
    "padding-bottom:4px}"
    ".sub{color:#555;margin:0 0 12px}"
    ".rows{background:#f5f7fa;border-left:4px solid #1f77b4;padding:8px 12px;margin:12px 0}"
    ".rows.warn{border-left-color:#d62728;background:#fdf1f1}"
    ".scores{display:flex;gap:12px;flex-wrap:wrap;margin:12px 0}"
    ".score{border:1px solid #ddd;border-radius:6px;padding:8px 14px;min-width:140px}"
    ".score b{display:block;font-size:26px;font-variant-numeric:tabular-nums}"
    ".score span{color:#555;font-size:13px}"
    "table{border-collapse:collapse;margin:8px 0}th,td{padding:3px 8px;border-bottom:1px solid #eee;"
    "text-align:left}th{background:#fafafa}"
    "td.n,th.n{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}"
    "tr.best td{background:#fff5d6;font-weight:600}"
    "table.cm td{text-align:center;min-width:26px;border:1px solid #fff}"
    "img.plot{max-width:100%;height:auto;border:1px solid #eee}"
    ".gallery{display:grid;grid-template-columns:repeat(auto-fill,minmax(170px,1fr));gap:12px}"
    ".gallery figure{margin:0;border:1px solid #ddd;border-radius:6px;padding:6px;font-size:13px}"
    ".gallery img{display:block;margin:0 auto 4px;max-width:160px;max-height:160px}"
    ".gallery .missing{height:120px;display:flex;align-items:center;justify-content:center;"
    "background:#f3f3f3;color:#777;text-align:center;padding:4px}"
    ".gallery .path{color:#777;word-break:break-all;font-size:11px}"
    ".wrong{color:#d62728}.right{color:#2ca02c}"
    "footer{color:#777;font-size:12px;margin:32px 0 0}";

void vt_html_begin(FILE *f, const char *title) {
  fputs("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>", f);
  vt_html_text(f, title);
  fprintf(f, "</title>\n<style>%s</style>\n</head>\n<body>\n", style);
}

void vt_html_end(FILE *f) {
  fputs("</body>\n</html>\n", f);
}

void vt_html_base64(FILE *f, const uint8_t *d, size_t n) {
  static const char abc[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  for (size_t i = 0; i < n; i += 3) {
    uint32_t v = (uint32_t)d[i] << 16 | (i + 1 < n ? (uint32_t)d[i + 1] << 8 : 0) | (i + 2 < n ? d[i + 2] : 0);
    fputc(abc[v >> 18 & 63], f);
    fputc(abc[v >> 12 & 63], f);
    fputc(i + 1 < n ? abc[v >> 6 & 63] : '=', f);
    fputc(i + 2 < n ? abc[v & 63] : '=', f);
  }
}

void vt_html_img_bytes(FILE *f, const char *mime, const uint8_t *data, size_t n, const char *alt,
                       const char *attrs) {
  fprintf(f, "<img src=\"data:%s;base64,", mime);
  vt_html_base64(f, data, n);
  fputs("\" alt=\"", f);
  vt_html_text(f, alt);
  fprintf(f, "\"%s%s>", attrs ? " " : "", attrs ? attrs : "");
}

int vt_html_img(FILE *f, const char *mime, int (*write)(FILE *mem, const void *ctx),
                const void *ctx, const char *alt, const char *attrs) {
  char *buf = NULL;
  size_t n = 0;
  FILE *mem = open_memstream(&buf, &n);
  if (!mem) return vt_fail("cannot open a memory stream: %s", strerror(errno));
  int rc = write(mem, ctx);
  if (fclose(mem) != 0 && rc == 0) rc = vt_fail("cannot write an image to memory: %s", strerror(errno));
  if (rc == 0) vt_html_img_bytes(f, mime, (const uint8_t *)buf, n, alt, attrs);
  free(buf);
  return rc;
}
