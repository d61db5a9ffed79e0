/* test_utf8: vt_utf8_escaped gives the text of Python's
 * raw.decode("utf-8", "backslashreplace") (expected values printed by Python
 * 3.11): valid UTF-8 is left alone (NULL), each invalid byte becomes \xHH,
 * and overlong forms, surrogates, code points over U+10FFFF and truncated
 * sequences are invalid. */
#include <stdlib.h>
#include <string.h>

#include "vt_text.h"
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
  printf("%s\n", failures ? "FAILED" : "ok");
  return failures != 0;
}
