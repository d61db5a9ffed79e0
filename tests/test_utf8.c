/* test_utf8: vt_utf8_escaped gives the text of Python's
 * raw.decode("utf-8", "backslashreplace") (expected values printed by Python
 * 3.11): valid UTF-8 is left alone (NULL), each invalid byte becomes \xHH,
 * and overlong forms, surrogates, code points over U+10FFFF and truncated
 * sequences are invalid; vt_csv_field and vt_json_text write that text
 * (then quoted or escaped as their format wants); vt_utf8_unescaped turns
 * that text back into the bytes, leaving what the escaping never writes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/vt_text.h"
#include "vt_test.h"

int main(void) {
  static const struct {
    const char *raw, *want; /* want NULL: valid, returned as NULL */
  } cases[] = {
      {"plain ascii", NULL},
      {"caf\xc3\xa9", NULL},
      {"\xf0\x9f\x98\x80ok", NULL},
      {"a\\xb", NULL},                                  /* a literal backslash stays as it is */
      {"caf\xe9", "caf\\xe9"},                          /* Latin-1 */
      {"\xc0\xaf", "\\xc0\\xaf"},                       /* overlong '/' */
      {"\xed\xa0\x80", "\\xed\\xa0\\x80"},              /* a UTF-16 surrogate */
      {"\xf4\x90\x80\x80", "\\xf4\\x90\\x80\\x80"},     /* U+110000 */
      {"\xe2\x82", "\\xe2\\x82"},                       /* truncated at the end */
      {"\xe2\x82" "A", "\\xe2\\x82" "A"},               /* truncated before a valid byte */
      {"\xff\xfe", "\\xff\\xfe"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    char *got = vt_utf8_escaped(cases[i].raw);
    if (!cases[i].want)
      CHECK(got == NULL, "case %zu: valid UTF-8 was escaped to '%s'", i, got);
    else
      CHECK(got && strcmp(got, cases[i].want) == 0, "case %zu: '%s', want '%s'", i, got ? got : "(null)",
            cases[i].want);
    free(got);
  }
  /* CSV fields and JSON strings are written as valid UTF-8 the same way
   * (a Latin-1 file name in vggtap-predict's output was raw bytes: invalid
   * JSON, and a CSV Python's utf-8 reader rejects) */
  static const struct {
    const char *raw, *csv, *json;
  } out[] = {
      {"caf\xe9.jpg", "caf\\xe9.jpg", "\"caf\\\\xe9.jpg\""},
      {"caf\xc3\xa9, \"x\"", "\"caf\xc3\xa9, \"\"x\"\"\"", "\"caf\xc3\xa9, \\\"x\\\"\""},
      {"a\xff\nb", "\"a\\xff\nb\"", "\"a\\\\xff\\nb\""},
  };
  for (size_t i = 0; i < sizeof out / sizeof *out; i++) {
    char *buf;
    size_t len;
    FILE *f = open_memstream(&buf, &len);
    vt_csv_field(f, out[i].raw);
    fputc('|', f);
    json_t *j = vt_json_text(out[i].raw);
    char *text = json_dumps(j, JSON_ENCODE_ANY);
    fputs(text, f);
    free(text);
    json_decref(j);
    fclose(f);
    size_t n = strlen(out[i].csv);
    CHECK(len == n + 1 + strlen(out[i].json) && !memcmp(buf, out[i].csv, n) && buf[n] == '|' &&
              !strcmp(buf + n + 1, out[i].json),
          "case %zu: wrote %s, want %s|%s", i, buf, out[i].csv, out[i].json);
    free(buf);
  }
  /* vt_utf8_unescaped undoes it (vggtap-mosaic finds a stored path on disk
   * with it): each \x80..\xff back to its byte; what the escaping never
   * writes (\x41, uppercase hex, a short escape) stays as it is */
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    if (!cases[i].want) continue;
    char *got = vt_utf8_unescaped(cases[i].want);
    CHECK(got && strcmp(got, cases[i].raw) == 0, "case %zu: unescaped '%s'", i, got ? got : "(null)");
    free(got);
  }
  static const char *const kept[] = {"plain", "a\\x41b", "caf\\xE9", "end\\xe", "end\\x", "\\\\x7f"};
  for (size_t i = 0; i < sizeof kept / sizeof *kept; i++) {
    char *got = vt_utf8_unescaped(kept[i]);
    CHECK(got == NULL, "'%s' was unescaped to '%s'", kept[i], got);
    free(got);
  }
  char *mixed = vt_utf8_unescaped("d\\x41\\xe9\\xc3\\xa9.png");
  CHECK(mixed && !strcmp(mixed, "d\\x41\xe9\xc3\xa9.png"), "mixed: '%s'", mixed ? mixed : "(null)");
  free(mixed);
  printf("%s\n", failures ? "FAILED" : "ok");
  return failures != 0;
}
