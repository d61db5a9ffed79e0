/* SHA-256 against the FIPS 180-2 / NIST CSRC example vectors, fed both in one
 * piece and in odd-sized chunks (to cross every block boundary case), and the
 * weights file the repository ships (data/weights) against the digest
 * published in its README. */
#include <stdlib.h>
#include <string.h>

#include "base/vt_common.h"
#include "base/vt_sha256.h"
#include "vt_test.h"

static void expect(const char *what, const char *got, const char *want) {
  if (strcmp(got, want) != 0) {
    printf("FAIL %s:\n  got  %s\n  want %s\n", what, got, want);
    failures++;
  } else {
    printf("ok   %s\n", what);
  }
}

static void hash_chunked(const unsigned char *msg, size_t n, size_t chunk, char hex[65]) {
  vt_sha256_ctx c;
  vt_sha256_init(&c);
  for (size_t off = 0; off < n; off += chunk) vt_sha256_update(&c, msg + off, n - off < chunk ? n - off : chunk);
  vt_sha256_final_hex(&c, hex);
}

static void check_vector(const char *name, const unsigned char *msg, size_t n, const char *want) {
  static const size_t chunks[] = {1, 3, 55, 56, 63, 64, 65, 1000, 1 << 20};
  char hex[65], what[128];
  for (size_t i = 0; i < sizeof chunks / sizeof *chunks; i++) {
    hash_chunked(msg, n, chunks[i], hex);
    snprintf(what, sizeof what, "%s (chunks of %zu)", name, chunks[i]);
    if (strcmp(hex, want) != 0 || i == 0) expect(what, hex, want);
  }
}

int main(void) {
  /* FIPS 180-2 Appendix B.1, B.2, B.3. */
  const char *abc = "abc";
  const char *two_blocks = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
  check_vector("\"\"", (const unsigned char *)"", 0,
               "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  check_vector("\"abc\"", (const unsigned char *)abc, 3,
               "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  check_vector("448-bit message", (const unsigned char *)two_blocks, strlen(two_blocks),
               "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  size_t million = 1000000;
  unsigned char *a = vt_xmalloc(million);
  memset(a, 'a', million);
  check_vector("one million 'a'", a, million,
               "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
  free(a);

  /* The streamed file path, on the real weights file the repository ships. */
  char path[4096], hex[65];
  if (vt_sha256_file(vt_test_data(path, sizeof path, "weights/vgg16_keras_prefix.h5"), hex) < 0) {
    printf("FAIL %s\n", vt_failure_reason());
    failures++;
  } else {
    expect("vgg16_keras_prefix.h5", hex, "0125efb5c0d76fdb66f5d1d09c5f1f95e82262000f736f3190b6532ca28f07be");
  }
  /* A missing file is an error that names the file, not a digest. */
  if (vt_sha256_file("/nonexistent/weights.h5", hex) != -1 ||
      !strstr(vt_failure_reason(), "/nonexistent/weights.h5")) {
    printf("FAIL missing file: %s\n", vt_failure_reason());
    failures++;
  } else {
    printf("ok   missing file: %s\n", vt_failure_reason());
  }
  printf("%s\n", failures ? "FAILED" : "all passed");
  return failures ? 1 : 0;
}
