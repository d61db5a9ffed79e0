/* vt_weights_find.c: the weights lookup order (see vt_weights_find.h). */
#include "net/vt_weights_find.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/vt_common.h"
#include "net/vt_vgg.h"

#ifndef VT_DATA_DIR
#error "VT_DATA_DIR: the repository's data/ folder, as an absolute path (the Makefile passes it)"
#endif
#define VT_BUNDLED_WEIGHTS VT_DATA_DIR "/weights/vgg16_keras_prefix.h5"

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

/* The name of the deepest of the first n_conv conv layers. */
static const char *last_conv(int n_conv) {
  for (int l = 0; l < VT_VGG16_NLAYERS; l++)
    if (vt_vgg16_layers[l].conv_index == n_conv - 1) return vt_vgg16_layers[l].name;
  return "block5_conv3";
}

const char *vt_weights_find(const char *given, int config_key, int n_conv) {
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
  int fits = n_conv <= VT_BUNDLED_WEIGHTS_CONVS;
  if (fits && is_file(VT_BUNDLED_WEIGHTS)) return VT_BUNDLED_WEIGHTS;
  /* The bundled file is missing only when the checkout moved since the build
   * (the path is compiled in) or the file was deleted. */
  vt_fail("no VGG16 weights found for layers up to %s (no --weights, %sVGGTAP_WEIGHTS unset, no %s, and %s %s%s).\n%s",
          last_conv(n_conv), config_key ? "no `weights` key, " : "", *cache ? cache : "Keras cache file",
          fits ? "no bundled block1-block2 file" : "the bundled", VT_BUNDLED_WEIGHTS,
          fits ? ": was the checkout moved or the file deleted? `make` rebuilds the programs for the checkout's "
                 "place, `git checkout data/weights` restores the file"
               : " holds only block1-block2",
          how);
  return NULL;
}
