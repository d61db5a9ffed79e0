/* vt_net_options.h: the options of the programs that run the network
 * (vggtap-extract, vggtap-predict, vggtap-mosaic), parsed in one place:
 *   --weights FILE  --size N|HxW  --resize POLICY  --preprocess MODE  [--threads N]
 * A program puts VT_NET_OPTIONS (and VT_NET_OPTION_THREADS if it runs
 * threads) into its option table and reads its options with
 * vt_net_args_next. */
#ifndef VT_NET_OPTIONS_H
#define VT_NET_OPTIONS_H

#include "base/vt_args.h"
#include "net/vt_extract.h"

enum {
  VT_OPT_WEIGHTS = VT_OPT_FIRST_FREE,
  VT_OPT_SIZE,
  VT_OPT_RESIZE,
  VT_OPT_PREPROCESS,
  VT_OPT_THREADS,
  VT_OPT_NET_END /* a program's own option values start here */
};
#define VT_NET_OPTIONS                                                                           \
  {"weights", required_argument, 0, VT_OPT_WEIGHTS}, {"size", required_argument, 0, VT_OPT_SIZE}, \
      {"resize", required_argument, 0, VT_OPT_RESIZE},                                           \
      {"preprocess", required_argument, 0, VT_OPT_PREPROCESS}
#define VT_NET_OPTION_THREADS {"threads", required_argument, 0, VT_OPT_THREADS}
/* The --help paragraph on the kernel paths (base/vt_cpu.h). */
#define VT_NET_HELP_KERNELS                                                                \
  "The convolutions run the best kernel path the CPU has: avx512, avx2 (AVX2 + FMA)\n"   \
  "or portable (plain C). VGGTAP_ISA=avx2 or portable forces a lower one: avx2\n"        \
  "and avx512 give the same bits, portable differs in rounding only.\n"

typedef struct {
  const char *weights;     /* --weights, NULL if not given (vt_weights_find looks) */
  vt_extract_config cfg;   /* the defaults, with --size, --resize and --preprocess applied */
  int threads;             /* --threads, 0 if not given (all cores) */
  int size_given, resize_given, preprocess_given;
} vt_net_options;

void vt_net_options_default(vt_net_options *n);
/* vt_args_next, with the network options applied to n on the way: the
 * next other option's val (optarg its value), -1 when the options are done,
 * VT_OPT_BAD + a reason naming the flag for a bad one, a bad value of a
 * network option included. */
int vt_net_args_next(const vt_program *p, int argc, char **argv, vt_net_options *n);

#endif
