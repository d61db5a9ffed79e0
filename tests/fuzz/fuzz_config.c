/* fuzz_config: the config parser (vt_config_load: libinih, sections, keys
 * given twice, shared keys) and vt_config_apply, which turns the file into
 * command-line flags for a small option table, on an arbitrary file. */
#include <getopt.h>
#include <stdint.h>
#include <stdlib.h>

#include "fuzz_file.h"
#include "base/vt_config.h"

static const struct option opts[] = {
    {"data", required_argument, 0, 'd'},   {"out", required_argument, 0, 'o'},
    {"tap", required_argument, 0, 't'},    {"weights", required_argument, 0, 'w'},
    {"quiet", no_argument, 0, 'q'},        {"threads", required_argument, 0, 'j'},
    {"config", required_argument, 0, 'c'}, {0, 0, 0, 0}};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const char *path = fuzz_write_file(data, size, ".ini");
  vt_config c;
  if (vt_config_load(path, &c) == 0) {
    for (int i = 0; i < c.n; i++) {
      free(vt_config_value(&c, &c.entries[i]));
      vt_config_find(&c, c.entries[i].section, c.entries[i].key);
    }
    vt_config_free(&c);
  }
  char *args[] = {"vggtap-extract", "--config", (char *)path, "--tap", "block1_pool", NULL};
  int argc = 5;
  char **argv = args;
  if (vt_config_apply(&argc, &argv, "extract", opts) == 0)
    for (int i = 0; i < argc; i++) vt_config_annotate(argv[i]);
  vt_config_release();
  return 0;
}
