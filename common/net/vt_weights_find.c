/* vt_weights_find.c: the weights lookup order (see vt_weights_find.h). */
#include "net/vt_weights_find.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/vt_common.h"

static int is_file(const char *path) {
  struct stat st;
  return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* The Keras cache path of the weights file (whether or not it exists), in a
 * static buffer; "" if neither $KERAS_HOME nor $HOME is set. */
static const char *keras_cache_path(void) {
  static char path[4096];
  const char *keras_home = getenv("KERAS_HOME"), *home = getenv("HOME");
  if (keras_home && *keras_home)
    snprintf(path, sizeof path, "%s/models/%s", keras_home, VT_KERAS_WEIGHTS_NAME);
  else if (home && *home)
    snprintf(path, sizeof path, "%s/.keras/models/%s", home, VT_KERAS_WEIGHTS_NAME);
  else
    path[0] = '\0';
  return path;
}

/* The instructions every "not found" message ends with, naming only the
 * ways this program takes a path. */
static void how_to_get(int config_key, char *out, size_t n) {
  char dir[4096];
  snprintf(dir, sizeof dir, "%s", keras_cache_path());
  char *slash = strrchr(dir, '/');
  if (slash) *slash = '\0';
  else snprintf(dir, sizeof dir, "~/.keras/models");
  snprintf(out, n,
           "Get the Keras VGG16 weights (%d bytes, md5 " VT_KERAS_WEIGHTS_MD5 "):\n"
           "  mkdir -p %s && curl -fL -o %s/" VT_KERAS_WEIGHTS_NAME " \\\n    " VT_KERAS_WEIGHTS_URL
           "\nor point at a file you have: --weights FILE, %sor export VGGTAP_WEIGHTS=FILE\n"
           "(docs/CONFIG.md, \"Weights\").",
           VT_KERAS_WEIGHTS_BYTES, dir, dir, config_key ? "`weights = FILE` in the config's [vggtap] section, " : "");
}

const char *vt_weights_find(const char *given, int config_key) {
  char how[10240]; /* two paths of up to 4 KB, and the text */
  how_to_get(config_key, how, sizeof how);
  if (given) {
    if (is_file(given)) return given;
    vt_fail("weights file %s (from --weights%s) does not exist.\n%s", given,
            config_key ? " or the config's `weights` key" : "", how);
    return NULL;
  }
  const char *env = getenv("VGGTAP_WEIGHTS");
  if (env && *env) {
    if (is_file(env)) return env;
    vt_fail("VGGTAP_WEIGHTS=%s: no such file.\n%s", env, how);
    return NULL;
  }
  const char *cache = keras_cache_path();
  if (*cache && is_file(cache)) return cache;
  vt_fail("no VGG16 weights found (no --weights, %sVGGTAP_WEIGHTS unset, and no %s).\n%s",
          config_key ? "no `weights` key, " : "", *cache ? cache : "Keras cache file", how);
  return NULL;
}
