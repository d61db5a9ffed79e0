/* tap_accuracy: how far the fast forward pass (vt_vgg_forward, or with
 * -p bf16 vt_vgg_forward_bf16) is from the naive float32 reference
 * (vt_vgg_forward_naive: direct loops accumulating in double) at every
 * layer, on real photos: decode, antialiased resize to SIZE, caffe
 * preprocessing, as vggtap-extract does.
 *
 *   tap_accuracy WEIGHTS.h5 LAST_LAYER [-s SIZE] [-p fp32|bf16] IMAGE...
 *
 * For each layer up to LAST_LAYER prints the worst over the images of
 * max |fast - naive| / max |naive| (the error relative to the tap's largest
 * activation, the scale a head sees). The fast pass runs both ways it can:
 * keeping only that layer's output, as vggtap-extract does for a single tap
 * (blocks may then run fused in row bands), and keeping every output; the
 * worse of the two counts. One line per layer:
 *   <layer> <worst relative error> <max |naive|>
 * The naive pass runs the whole network at double-accumulated precision, so
 * this is the error a user gets, accumulated through every layer before the
 * tap. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/vt_common.h"
#include "image/vt_image.h"
#include "image/vt_preprocess.h"
#include "net/vt_vgg.h"
#include "net/vt_vgg_bf16.h"

static int load_input(const char *path, int size, float *dst) {
  vt_image img = {0}, sized = {0};
  if (vt_image_load(path, SIZE_MAX, &img) < 0) return vt_fail_prefix("%s", path);
  int rc = vt_image_resize(&img, size, size, VT_RESIZE_ANTIALIAS, &sized);
  if (rc == 0) vt_preprocess(sized.rgb, size, size, VT_PREPROCESS_CAFFE, dst);
  else vt_fail_prefix("%s", path);
  free(img.rgb);
  free(sized.rgb);
  return rc;
}

static double rel_error(const float *fast, const float *ref, size_t n, double *scale) {
  double d = 0, m = 0;
  for (size_t k = 0; k < n; k++) {
    double e = fabs((double)fast[k] - ref[k]);
    if (e > d || isnan(e)) d = isnan(e) ? INFINITY : e;
    if (fabs(ref[k]) > m) m = fabs(ref[k]);
  }
  *scale = m;
  return m > 0 ? d / m : d;
}

/* The pass under test, float32 or bf16, behind one set of calls. */
typedef struct {
  vt_vgg_workspace f32;
  vt_vgg_bf16_workspace b16;
  vt_vgg_bf16_weights w16;
  int bf16;
  float *input, **out;
  unsigned char *keep;
  int *oh, *ow, *oc;
} fast_pass;

static int fast_init(fast_pass *f, const vt_weights *w, int size, int last, int bf16) {
  memset(f, 0, sizeof *f);
  f->bf16 = bf16;
  if (bf16) {
    if (vt_bf16_check() < 0 || vt_vgg_bf16_pack(w, &f->w16) < 0) return -1;
    if (vt_vgg_bf16_workspace_init(&f->b16, size, size, last) < 0)
      return vt_vgg_bf16_weights_free(&f->w16), -1;
    f->input = f->b16.input, f->out = f->b16.out, f->keep = f->b16.keep;
    f->oh = f->b16.oh, f->ow = f->b16.ow, f->oc = f->b16.oc;
  } else {
    if (vt_vgg_workspace_init(&f->f32, size, size, last) < 0) return -1;
    f->input = f->f32.input, f->out = f->f32.out, f->keep = f->f32.keep;
    f->oh = f->f32.oh, f->ow = f->f32.ow, f->oc = f->f32.oc;
  }
  return 0;
}

static void fast_forward(fast_pass *f, const vt_weights *w) {
  if (f->bf16) vt_vgg_forward_bf16(&f->w16, &f->b16);
  else vt_vgg_forward(w, &f->f32);
}

static void fast_free(fast_pass *f) {
  if (f->bf16) {
    vt_vgg_bf16_workspace_free(&f->b16);
    vt_vgg_bf16_weights_free(&f->w16);
  } else {
    vt_vgg_workspace_free(&f->f32);
  }
}

static int run(int argc, char **argv) {
  if (argc < 4)
    return vt_fail("usage: tap_accuracy WEIGHTS.h5 LAST_LAYER [-s SIZE] [-p fp32|bf16] IMAGE...");
  int last = vt_vgg16_layer_index(argv[2]);
  if (last < 0) return vt_fail("unknown layer '%s' (block1_conv1 .. block5_pool)", argv[2]);
  int first_image = 3, size = 224, bf16 = 0;
  while (first_image + 1 < argc && (!strcmp(argv[first_image], "-s") || !strcmp(argv[first_image], "-p"))) {
    const char *v = argv[first_image + 1];
    if (argv[first_image][1] == 's') size = atoi(v);
    else if (!strcmp(v, "bf16") || !strcmp(v, "fp32")) bf16 = !strcmp(v, "bf16");
    else return vt_fail("-p %s: fp32 or bf16", v);
    first_image += 2;
  }
  if (first_image >= argc) return vt_fail("no image given");
  vt_weights w;
  if (vt_weights_load(argv[1], vt_vgg16_convs_needed(last), &w) < 0)
    return vt_fail_prefix("layer %s", argv[2]);
  fast_pass fast;
  vt_vgg_workspace ref;
  if (fast_init(&fast, &w, size, last, bf16) < 0) return vt_weights_free(&w), -1;
  if (vt_vgg_workspace_init(&ref, size, size, last) < 0) {
    fast_free(&fast);
    vt_weights_free(&w);
    return -1;
  }
  double worst[VT_VGG16_NLAYERS] = {0}, scale[VT_VGG16_NLAYERS] = {0};
  int rc = 0;
  for (int i = first_image; i < argc && rc == 0; i++) {
    if ((rc = load_input(argv[i], size, fast.input)) < 0) break;
    memcpy(ref.input, fast.input, (size_t)size * size * 3 * sizeof(float));
    vt_vgg_forward_naive(&w, &ref);
    for (int mode = 0; mode <= last + 1; mode++) { /* keep only layer `mode`, or all */
      memset(fast.keep, mode > last, VT_VGG16_NLAYERS);
      if (mode <= last) fast.keep[mode] = 1;
      for (int l = 0; l <= last; l++) /* NaN shows any kept output left unwritten */
        if (fast.keep[l])
          for (size_t k = 0; k < (size_t)fast.oh[l] * fast.ow[l] * fast.oc[l]; k++) fast.out[l][k] = NAN;
      fast_forward(&fast, &w);
      for (int l = 0; l <= last; l++) {
        if (!fast.keep[l]) continue;
        double m, rel = rel_error(fast.out[l], ref.out[l], (size_t)fast.oh[l] * fast.ow[l] * fast.oc[l], &m);
        if (rel > worst[l]) worst[l] = rel;
        if (m > scale[l]) scale[l] = m;
      }
    }
  }
  if (rc == 0)
    for (int l = 0; l <= last; l++)
      printf("%s %.3e %.4g\n", vt_vgg16_layers[l].name, worst[l], scale[l]);
  fast_free(&fast);
  vt_vgg_workspace_free(&ref);
  vt_weights_free(&w);
  return rc;
}

int main(int argc, char **argv) {
  if (run(argc, argv) < 0) {
    fprintf(stderr, "tap_accuracy: %s\n", vt_failure_reason());
    return 1;
  }
  return 0;
}
