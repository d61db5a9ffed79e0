/* jpeg_variants: writes the JPEG encodings PIL cannot produce, with libjpeg's
 * own compressor, for the hostile-input corpus (tests/tools/make_hostile_corpus.py).
 *
 *   jpeg_variants KIND WIDTH HEIGHT OUT.jpg < pixels
 *
 * KIND   pixels on stdin          written
 * arith  RGB, 3 bytes/pixel       baseline, arithmetic-coded
 * arith-progressive  RGB          progressive, arithmetic-coded
 * restart  RGB                    baseline with a restart marker after every MCU row
 * ycck   Adobe-inverted CMYK,     YCCK (Adobe marker, transform 2)
 *        4 bytes/pixel
 *
 * Exits 1 with libjpeg's message if the library cannot write the variant. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>

int main(int argc, char **argv) {
  if (argc != 5) {
    fprintf(stderr, "usage: %s arith|arith-progressive|restart|ycck WIDTH HEIGHT OUT.jpg < pixels\n", argv[0]);
    return 2;
  }
  const char *kind = argv[1];
  int w = atoi(argv[2]), h = atoi(argv[3]);
  int ycck = strcmp(kind, "ycck") == 0;
  if (w <= 0 || h <= 0 || w > 4096 || h > 4096 ||
      (!ycck && strcmp(kind, "arith") != 0 && strcmp(kind, "arith-progressive") != 0 &&
       strcmp(kind, "restart") != 0)) {
    fprintf(stderr, "jpeg_variants: bad kind or size\n");
    return 2;
  }
  int ch = ycck ? 4 : 3;
  size_t n = (size_t)w * h * ch;
  unsigned char *px = malloc(n);
  if (!px || fread(px, 1, n, stdin) != n) {
    fprintf(stderr, "jpeg_variants: expected %zu bytes of pixels on stdin\n", n);
    return 1;
  }
  FILE *out = fopen(argv[4], "wb");
  if (!out) {
    perror(argv[4]);
    return 1;
  }
  struct jpeg_compress_struct c;
  struct jpeg_error_mgr err;
  c.err = jpeg_std_error(&err); /* errors print libjpeg's message and exit(1) */
  jpeg_create_compress(&c);
  jpeg_stdio_dest(&c, out);
  c.image_width = (JDIMENSION)w;
  c.image_height = (JDIMENSION)h;
  c.input_components = ch;
  c.in_color_space = ycck ? JCS_CMYK : JCS_RGB;
  jpeg_set_defaults(&c);
  jpeg_set_quality(&c, 90, TRUE);
  if (ycck) {
    jpeg_set_colorspace(&c, JCS_YCCK); /* libjpeg converts the CMYK rows to YCCK */
  } else if (strcmp(kind, "restart") == 0) {
    c.restart_in_rows = 1;
  } else {
    c.arith_code = TRUE;
    if (strcmp(kind, "arith-progressive") == 0) jpeg_simple_progression(&c);
  }
  jpeg_start_compress(&c, TRUE);
  while (c.next_scanline < c.image_height) {
    JSAMPROW row = px + (size_t)c.next_scanline * w * ch;
    jpeg_write_scanlines(&c, &row, 1);
  }
  jpeg_finish_compress(&c);
  jpeg_destroy_compress(&c);
  fclose(out);
  free(px);
  return 0;
}
