#define _XOPEN_SOURCE 700 /* wcwidth */
#include "base/vt_text.h"

#include <locale.h>
#include <wchar.h>

#include <stdlib.h>
#include <string.h>

#include "base/vt_common.h"

void vt_csv_field(FILE *f, const char *s) {
  char *escaped = vt_utf8_escaped(s); /* file names are bytes; CSV readers want UTF-8 */
  if (escaped) s = escaped;
  if (!strpbrk(s, ",\"\r\n")) {
    fputs(s, f);
  } else {
    fputc('"', f);
    for (; *s; s++) {
      if (*s == '"') fputc('"', f);
      fputc(*s, f);
    }
    fputc('"', f);
  }
  free(escaped);
}

json_t *vt_json_text(const char *s) {
  char *escaped = s ? vt_utf8_escaped(s) : NULL; /* JSON is UTF-8 (RFC 8259) */
  json_t *j = json_string(escaped ? escaped : s ? s : "");
  free(escaped);
  if (!j) { /* only out of memory: the text is valid UTF-8 */
    fprintf(stderr, "out of memory making a JSON string\n");
    exit(EXIT_FAILURE);
  }
  return j;
}

int vt_json_write(FILE *f, const json_t *root) {
  if (!root || json_dumpf(root, f, JSON_INDENT(2) | JSON_REAL_PRECISION(10)) < 0 || fputc('\n', f) == EOF)
    return vt_fail("cannot write JSON");
  return 0;
}

void vt_html_text(FILE *f, const char *s) {
  char *escaped = s ? vt_utf8_escaped(s) : NULL; /* the page declares UTF-8 */
  if (escaped) s = escaped;
  for (; s && *s; s++) {
    switch (*s) {
    case '&': fputs("&amp;", f); break;
    case '<': fputs("&lt;", f); break;
    case '>': fputs("&gt;", f); break;
    case '"': fputs("&quot;", f); break;
    case '\'': fputs("&#39;", f); break;
    default: fputc(*s, f);
    }
  }
  free(escaped);
}

/* Length of the valid UTF-8 sequence at s (1-4 bytes), 0 if none starts
 * there: overlong forms, surrogates and code points over U+10FFFF are
 * invalid, as in Python's strict decoder. */
static int utf8_sequence_length(const unsigned char *s) {
  unsigned c = s[0];
  if (c < 0x80) return 1;
  int n;
  unsigned lo = 0x80, hi = 0xBF; /* allowed range of the second byte */
  if (c >= 0xC2 && c <= 0xDF) n = 2;
  else if (c >= 0xE0 && c <= 0xEF) {
    n = 3;
    if (c == 0xE0) lo = 0xA0;      /* overlong */
    else if (c == 0xED) hi = 0x9F; /* surrogates */
  } else if (c >= 0xF0 && c <= 0xF4) {
    n = 4;
    if (c == 0xF0) lo = 0x90;      /* overlong */
    else if (c == 0xF4) hi = 0x8F; /* over U+10FFFF */
  } else {
    return 0;
  }
  if (s[1] < lo || s[1] > hi) return 0;
  for (int i = 2; i < n; i++)
    if (s[i] < 0x80 || s[i] > 0xBF) return 0; /* the terminating NUL stops here too */
  return n;
}

char *vt_utf8_escaped(const char *s) {
  const unsigned char *p = (const unsigned char *)s;
  size_t bad = 0, len = 0;
  while (p[len]) {
    int n = utf8_sequence_length(p + len);
    bad += n == 0;
    len += n ? (size_t)n : 1;
  }
  if (!bad) return NULL;
  char *out = vt_xmalloc(len + 3 * bad + 1), *o = out; /* "\xHH" is 3 bytes longer than the byte */
  for (size_t i = 0; i < len;) {
    int n = utf8_sequence_length(p + i);
    if (n == 0) {
      o += sprintf(o, "\\x%02x", p[i]);
      i++;
    } else {
      memcpy(o, p + i, (size_t)n);
      o += n;
      i += (size_t)n;
    }
  }
  *o = '\0';
  return out;
}

/* The value of a lowercase hex digit, -1 for anything else. */
static int lower_hex(char c) {
  return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* The byte \xHH at s stands for (0x80..0xff), or -1. */
static int escaped_byte(const char *s) {
  if (s[0] != '\\' || s[1] != 'x') return -1;
  int hi = lower_hex(s[2]), lo = hi < 0 ? -1 : lower_hex(s[3]);
  return hi >= 8 && lo >= 0 ? hi * 16 + lo : -1;
}

char *vt_utf8_unescaped(const char *s) {
  const char *first = s;
  while (*first && escaped_byte(first) < 0) first++;
  if (!*first) return NULL;
  char *out = vt_xmalloc(strlen(s) + 1), *o = out; /* only ever shorter */
  for (const char *p = s; *p;) {
    int b = escaped_byte(p);
    if (b < 0) {
      *o++ = *p++;
    } else {
      *o++ = (char)b;
      p += 4;
    }
  }
  *o = '\0';
  return out;
}

/* wcwidth knows UTF-8 only under a UTF-8 locale, so C.UTF-8 (glibc's
 * libc-bin, always installed) is used whatever the user's LANG; bytes that
 * are not UTF-8, or no such locale, count one column each. */
int vt_text_columns(const char *s) {
  static locale_t utf8;
  if (!utf8) utf8 = newlocale(LC_CTYPE_MASK, "C.UTF-8", (locale_t)0);
  int n = 0;
  if (!utf8) {
    for (; *s; s++) n += ((unsigned char)*s & 0xC0) != 0x80;
    return n;
  }
  locale_t old = uselocale(utf8);
  mbstate_t st = {0};
  for (size_t len = strlen(s); len;) {
    wchar_t wc;
    size_t k = mbrtowc(&wc, s, len, &st);
    if (k == (size_t)-1 || k == (size_t)-2 || k == 0) {
      memset(&st, 0, sizeof st);
      k = 1;
      n++;
    } else {
      int w = wcwidth(wc);
      n += w < 0 ? 1 : w;
    }
    s += k;
    len -= k;
  }
  uselocale(old);
  return n;
}
