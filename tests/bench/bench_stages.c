/* bench_stages: where one image's time goes in vggtap-extract, stage by
 * stage, on one thread: read + decode, resize, preprocess, the conv prefix,
 * grid pooling; and, for JPEGs, how much of the decode is entropy decoding
 * alone (libjpeg's jpeg_read_coefficients: the part no resize policy can
 * skip) and how much is entropy decoding plus the inverse DCT (libjpeg's raw
 * output, from a file already in memory: the rest, reading the file, chroma
 * upsampling and colour conversion, is what a decode fused with the resize
 * could save on); and read + decode + resize done in one, rows resized as
 * they are decoded (vt_image_load_resized), which is how vggtap-extract
 * does them.
 *
 *   bench_stages WEIGHTS.h5 LAYER MANIFEST.csv [-r REPEATS] [-p antialias|dct-antialias]
 *
 * MANIFEST.csv: the images, read as vggtap-extract --manifest reads them
 * (vt_inputs_from_manifest: a "path" column, relative to the manifest's
 * directory unless absolute; labels are not used). The stages run
 * in the extractor's order on each image in turn (vt_extractor_run_file,
 * taken apart to time each step), so each sees the caches the previous one
 * left, as in the pipeline. Times are thread CPU time; each figure is the
 * median over REPEATS rounds of the mean per image. The last line is the
 * end-to-end / conv-only ceiling these stages allow when two workers keep
 * both cores busy: conv / (sum of the stages), and what it would be with
 * parts of the decode taken away. */
#include <stdio.h> /* before jpeglib.h, which uses FILE and size_t */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jpeglib.h>

#include "base/vt_common.h"
#include "net/vt_conv.h"
#include "net/vt_extract.h"
#include "image/vt_image.h"
#include "image/vt_preprocess.h"
#include "image/vt_inputs.h"
#include "net/vt_vgg.h"

enum { LOAD, RESIZE, PREPROCESS, CONV, POOL, ENTROPY, ENTROPY_IDCT, LOAD_RESIZED, N_STAGES };
static const char *stage_names[N_STAGES] = {"read + decode",           "resize",
                                            "preprocess",              "conv prefix",
                                            "grid pooling",            "(entropy decoding alone)",
                                            "(entropy decoding + IDCT)", "(read + decode + resize in one)"};

static double cpu_now(void) {
  struct timespec t;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* How far into libjpeg's decode of a JPEG file to go: entropy decoding
 * (Huffman decoding into DCT coefficients), or that plus the inverse DCT
 * (raw_data_out: each component's samples at its own resolution, no chroma
 * upsampling or colour conversion). */
typedef enum { STOP_AT_COEFFICIENTS, STOP_AT_SAMPLES } decode_stop;

/* Component planes for jpeg_read_raw_data, one iMCU row (up to 4 * DCTSIZE
 * sample rows) per component; allocated once per image. */
static void read_raw_samples(struct jpeg_decompress_struct *cinfo) {
  JSAMPROW rows[MAX_COMPONENTS][4 * DCTSIZE];
  JSAMPARRAY planes[MAX_COMPONENTS];
  size_t total = 0;
  for (int c = 0; c < cinfo->num_components; c++)
    total += (size_t)cinfo->comp_info[c].width_in_blocks * DCTSIZE * cinfo->comp_info[c].v_samp_factor * DCTSIZE;
  JSAMPLE *samples = vt_xmalloc(total);
  JSAMPLE *next = samples;
  for (int c = 0; c < cinfo->num_components; c++) {
    const jpeg_component_info *comp = &cinfo->comp_info[c];
    planes[c] = rows[c];
    for (int y = 0; y < comp->v_samp_factor * DCTSIZE; y++, next += comp->width_in_blocks * DCTSIZE)
      rows[c][y] = next;
  }
  while (cinfo->output_scanline < cinfo->output_height)
    jpeg_read_raw_data(cinfo, planes, (JDIMENSION)(cinfo->max_v_samp_factor * DCTSIZE));
  free(samples);
}

/* CPU seconds libjpeg takes to decode a JPEG file up to `stop`; 0 for other
 * files. Errors are not expected here (the image decoded a moment ago);
 * libjpeg's default handler exits. */
static double jpeg_partial_decode_seconds(const char *path, decode_stop stop) {
  FILE *f = fopen(path, "rb");
  if (!f) return 0;
  unsigned char magic[2] = {0};
  size_t got = fread(magic, 1, 2, f);
  if (got != 2 || magic[0] != 0xFF || magic[1] != 0xD8) return fclose(f), 0;
  fseek(f, 0, SEEK_END);
  long size = ftell(f);
  rewind(f);
  unsigned char *data = vt_xmalloc((size_t)size);
  got = fread(data, 1, (size_t)size, f);
  fclose(f);
  struct jpeg_decompress_struct cinfo;
  struct jpeg_error_mgr err;
  cinfo.err = jpeg_std_error(&err);
  double t0 = cpu_now();
  jpeg_create_decompress(&cinfo);
  jpeg_mem_src(&cinfo, data, (unsigned long)got);
  jpeg_read_header(&cinfo, TRUE);
  if (stop == STOP_AT_COEFFICIENTS) {
    jpeg_read_coefficients(&cinfo);
  } else {
    cinfo.raw_data_out = TRUE;
    jpeg_start_decompress(&cinfo);
    read_raw_samples(&cinfo);
  }
  jpeg_finish_decompress(&cinfo);
  jpeg_destroy_decompress(&cinfo);
  double dt = cpu_now() - t0;
  free(data);
  return dt;
}

static int cmp_double(const void *x, const void *y) {
  double a = *(const double *)x, b = *(const double *)y;
  return (a > b) - (a < b);
}

static int run(int argc, char **argv) {
  if (argc < 4)
    return vt_fail("usage: bench_stages WEIGHTS.h5 LAYER MANIFEST.csv [-r REPEATS] [-p antialias|dct-antialias]");
  int repeats = 3;
  vt_extract_config cfg;
  vt_extract_config_default(&cfg);
  for (int i = 4; i + 1 < argc; i += 2) {
    if (strcmp(argv[i], "-r") == 0) repeats = atoi(argv[i + 1]);
    else if (strcmp(argv[i], "-p") == 0) {
      if (vt_resize_policy_parse(argv[i + 1], &cfg.resize) < 0) return -1;
    } else return vt_fail("unknown option %s", argv[i]);
  }
  if (repeats < 1 || repeats > 99) return vt_fail("REPEATS must be 1..99");
  if (vt_extract_parse_taps(&cfg, argv[2]) < 0) return -1;
  vt_extract_fit_grids(&cfg);
  vt_inputs list;
  if (vt_inputs_from_manifest(argv[3], NULL, NULL, &list) < 0) return -1;
  if (list.n == 0) return vt_fail("%s lists no images", argv[3]);
  int n = list.n;
  char **paths = list.full;
  vt_weights w;
  if (vt_weights_load(argv[1], vt_extract_convs_needed(&cfg), &w) < 0) return -1;
  vt_extractor x;
  if (vt_extractor_init(&x, &cfg, &w, NULL) < 0) return -1;
  int tap = cfg.taps[0], fit = cfg.resize == VT_RESIZE_DCT_ANTIALIAS;

  double per_round[N_STAGES][99];
  for (int r = 0; r < repeats; r++) {
    double sum[N_STAGES] = {0};
    for (int i = 0; i < n; i++) {
      vt_image img, sized = {0};
      double t0 = cpu_now();
      if (vt_image_load_draft(paths[i], cfg.max_pixels, fit ? cfg.width : 0, fit ? cfg.height : 0, &img, NULL) <
          0)
        return vt_fail_prefix("%s", paths[i]);
      double t1 = cpu_now();
      const vt_image *in = &img;
      if (img.width != cfg.width || img.height != cfg.height) {
        if (vt_image_resize(&img, cfg.width, cfg.height, cfg.resize, &sized) < 0) return -1;
        in = &sized;
      }
      double t2 = cpu_now();
      vt_preprocess(in->rgb, cfg.width, cfg.height, cfg.preprocess, x.input);
      double t3 = cpu_now();
      vt_vgg_forward(&w, &x.ws);
      double t4 = cpu_now();
      vt_grid_pool_all(x.out[tap], x.oh[tap], x.ow[tap], x.oc[tap], cfg.grids, cfg.n_grids,
                       x.pooled[0]);
      double t5 = cpu_now();
      free(img.rgb);
      free(sized.rgb);
      sum[LOAD] += t1 - t0, sum[RESIZE] += t2 - t1, sum[PREPROCESS] += t3 - t2;
      sum[CONV] += t4 - t3, sum[POOL] += t5 - t4;
      double t6 = cpu_now();
      if (vt_image_load_resized(paths[i], cfg.max_pixels, cfg.width, cfg.height, cfg.resize, &sized, NULL) < 0)
        return vt_fail_prefix("%s", paths[i]);
      sum[LOAD_RESIZED] += cpu_now() - t6;
      free(sized.rgb);
      sum[ENTROPY] += jpeg_partial_decode_seconds(paths[i], STOP_AT_COEFFICIENTS);
      sum[ENTROPY_IDCT] += jpeg_partial_decode_seconds(paths[i], STOP_AT_SAMPLES);
    }
    for (int s = 0; s < N_STAGES; s++) per_round[s][r] = 1e3 * sum[s] / n;
  }
  double med[N_STAGES], total = 0;
  for (int s = 0; s < N_STAGES; s++) {
    qsort(per_round[s], (size_t)repeats, sizeof(double), cmp_double);
    med[s] = per_round[s][repeats / 2];
    if (s != ENTROPY && s != ENTROPY_IDCT && s != LOAD_RESIZED) total += med[s];
  }
  printf("%d images, tap %s, resize %s, %d rounds; ms per image (thread CPU time, median of rounds)\n", n,
         argv[2], vt_resize_policy_name(cfg.resize), repeats);
  for (int s = 0; s < N_STAGES; s++)
    printf("stage %-32s %7.3f ms  %5.1f%% of the conv\n", stage_names[s], med[s], 100 * med[s] / med[CONV]);
  printf("ceiling e2e/conv %.1f%% (conv / all stages); %.1f%% with decode and resize in one, as vggtap-extract "
         "does them; with the decode stopped after the inverse DCT: "
         "%.1f%%; with decode only: %.1f%%; with entropy decoding only: %.1f%%\n",
         100 * med[CONV] / total, 100 * med[CONV] / (total - med[LOAD] - med[RESIZE] + med[LOAD_RESIZED]),
         100 * med[CONV] / (total - med[LOAD] + med[ENTROPY_IDCT]),
         100 * med[CONV] / (med[CONV] + med[LOAD]), 100 * med[CONV] / (med[CONV] + med[ENTROPY]));
  vt_extractor_free(&x);
  vt_weights_free(&w);
  vt_inputs_free(&list);
  return 0;
}

int main(int argc, char **argv) {
  if (run(argc, argv) < 0) {
    fprintf(stderr, "bench_stages: %s\n", vt_failure_reason());
    return 1;
  }
  return 0;
}
