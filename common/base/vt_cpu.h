/* vt_cpu.h: what the CPU can run, asked once at run time (cpuid and the
 * OS's saved-state mask), and which kernel path vggtap uses on it.
 *
 * The programs are built for a baseline x86-64 (or any other CPU); kernels
 * that need more are compiled for their instruction set in files of their
 * own and chosen here, as libjpeg-turbo, OpenBLAS's DYNAMIC_ARCH and oneDNN
 * do. So one binary runs on every machine and uses what each one has.
 *
 * The paths, lowest first. Each includes what the ones below it need:
 *   portable    plain C, any CPU
 *   avx2        AVX2 + FMA (x86-64-v3)
 *   avx512      AVX-512 F, BW, DQ, VL
 *   avx512bf16  avx512 + AVX512_BF16 dot products (bf16 precision)
 *   amx         avx512bf16 + AMX-BF16 tiles, when the kernel grants them
 * float32 kernels use the best of portable, avx2 and avx512; bf16 kernels
 * need avx512bf16 or amx.
 *
 * VGGTAP_ISA=NAME caps the path at NAME (one of the above), so that every
 * lower path can be run and tested on the machine at hand. A name the CPU
 * cannot run, or an unknown name, stops the program with a message. */
#ifndef VT_CPU_H
#define VT_CPU_H

typedef enum {
  VT_ISA_PORTABLE = 0,
  VT_ISA_AVX2,
  VT_ISA_AVX512,
  VT_ISA_AVX512BF16,
  VT_ISA_AMX,
  VT_ISA_COUNT
} vt_isa;

/* The path in use: the best the CPU (and, for AMX, the kernel) allows,
 * capped by $VGGTAP_ISA. Decided on the first call, thread-safe. On a bad
 * $VGGTAP_ISA it prints why to stderr and exits with status 2. */
vt_isa vt_cpu_isa(void);
/* The best path this CPU allows, ignoring $VGGTAP_ISA. */
vt_isa vt_cpu_isa_available(void);
/* The float32 kernel path: vt_cpu_isa() without the bf16 levels. */
vt_isa vt_cpu_isa_fp32(void);

/* Whether the path in use is avx512 or above on a CPU that also has
 * AVX512_VBMI and AVX512_VNNI (Ice Lake, Zen 4 and later): the byte-permute
 * kernels of the image resize and preprocessing (files *_avx512icl.c) need
 * them. Below that, those steps run their portable code. */
int vt_cpu_avx512icl(void);

/* "portable", "avx2", ...; NULL for an out-of-range value. */
const char *vt_isa_name(vt_isa isa);
/* Name -> path: 0, or -1 + reason listing the names. */
int vt_isa_parse(const char *name, vt_isa *out);

/* One line for --version and vggtap-info: the path in use, the float32
 * kernels' path where that differs, what the CPU offers, and whether
 * VGGTAP_ISA capped it, e.g.
 *   "kernels: avx512 (CPU: amx; VGGTAP_ISA=avx512)"
 *   "kernels: amx (float32: avx512; CPU: amx)". */
void vt_cpu_describe(char *out, int n);
/* --version's output: "PROGRAM VERSION" and vt_cpu_describe's line. */
void vt_cpu_print_version(const char *program);

#endif
