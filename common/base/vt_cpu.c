/* vt_cpu.c: run-time CPU detection and the VGGTAP_ISA cap (see vt_cpu.h). */
#include "base/vt_cpu.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/vt_common.h"

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#include <sys/syscall.h>
#include <unistd.h>

/* The OS must save a register file for its instructions to be usable:
 * XCR0 says which ones it saves (Intel SDM vol. 1, 13.3). */
static unsigned long long xcr0(void) {
  unsigned lo, hi;
  __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
  return ((unsigned long long)hi << 32) | lo;
}

/* Linux hands out the 8 KB AMX tile state only to processes that ask
 * (arch_prctl ARCH_REQ_XCOMP_PERM, kernel 5.16+); without it the first tile
 * instruction dies with SIGILL. */
static int amx_permitted(void) {
#if defined(__x86_64__) && defined(SYS_arch_prctl)
  const long ARCH_REQ_XCOMP_PERM = 0x1023, XFEATURE_XTILEDATA = 18;
  return syscall(SYS_arch_prctl, ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA) == 0;
#else
  return 0;
#endif
}

static int has_icl; /* AVX512_VBMI and AVX512_VNNI (vt_cpu_avx512icl) */

static vt_isa detect(void) {
  unsigned a, b, c, d;
  if (!__get_cpuid(1, &a, &b, &c, &d)) return VT_ISA_PORTABLE;
  int osxsave = (c >> 27) & 1, avx = (c >> 28) & 1, fma = (c >> 12) & 1;
  if (!osxsave || !avx || !fma) return VT_ISA_PORTABLE;
  unsigned long long xs = xcr0();
  if ((xs & 0x6) != 0x6) return VT_ISA_PORTABLE; /* SSE and AVX state */
  if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return VT_ISA_PORTABLE;
  if (!((b >> 5) & 1)) return VT_ISA_PORTABLE; /* AVX2 */
  unsigned ebx7 = b, ecx7 = c, edx7 = d;
  int avx512 = ((ebx7 >> 16) & 1) && ((ebx7 >> 17) & 1) && ((ebx7 >> 30) & 1) && ((ebx7 >> 31) & 1);
  if (!avx512 || (xs & 0xe0) != 0xe0) return VT_ISA_AVX2; /* F DQ BW VL; opmask, ZMM state */
  has_icl = ((ecx7 >> 1) & 1) && ((ecx7 >> 11) & 1);
  __get_cpuid_count(7, 1, &a, &b, &c, &d);
  if (!((a >> 5) & 1)) return VT_ISA_AVX512; /* AVX512_BF16 */
  int amx = ((edx7 >> 22) & 1) && ((edx7 >> 24) & 1); /* AMX-BF16, AMX-TILE */
  if (!amx || (xs & 0x60000) != 0x60000 || !amx_permitted()) return VT_ISA_AVX512BF16;
  return VT_ISA_AMX;
}
#else
static const int has_icl = 0;
static vt_isa detect(void) { return VT_ISA_PORTABLE; }
#endif

static const char *const names[VT_ISA_COUNT] = {"portable", "avx2", "avx512", "avx512bf16", "amx"};

static pthread_once_t once = PTHREAD_ONCE_INIT;
static vt_isa available, chosen;
static char capped_by[64]; /* "VGGTAP_ISA=..." when the variable lowered the path */

static void decide(void) {
  available = chosen = detect();
  const char *env = getenv("VGGTAP_ISA");
  if (!env || !*env) return;
  vt_isa want = VT_ISA_PORTABLE;
  if (vt_isa_parse(env, &want) < 0) {
    fprintf(stderr, "vggtap: VGGTAP_ISA=%s: %s\n", env, vt_failure_reason());
    exit(2);
  }
  if (want > available) {
    fprintf(stderr, "vggtap: VGGTAP_ISA=%s: this CPU runs at most '%s'\n", env, names[available]);
    exit(2);
  }
  if (want < available) snprintf(capped_by, sizeof capped_by, "VGGTAP_ISA=%s", names[want]);
  chosen = want;
}

vt_isa vt_cpu_isa(void) {
  pthread_once(&once, decide);
  return chosen;
}

vt_isa vt_cpu_isa_available(void) {
  pthread_once(&once, decide);
  return available;
}

vt_isa vt_cpu_isa_fp32(void) {
  vt_isa isa = vt_cpu_isa();
  return isa > VT_ISA_AVX512 ? VT_ISA_AVX512 : isa;
}

int vt_cpu_avx512icl(void) { return vt_cpu_isa() >= VT_ISA_AVX512 && has_icl; }

const char *vt_isa_name(vt_isa isa) { return isa >= 0 && isa < VT_ISA_COUNT ? names[isa] : NULL; }

int vt_isa_parse(const char *name, vt_isa *out) {
  for (int i = 0; i < VT_ISA_COUNT; i++)
    if (strcmp(name, names[i]) == 0) {
      *out = (vt_isa)i;
      return 0;
    }
  return vt_fail("unknown kernel path '%s' (one of: portable, avx2, avx512, avx512bf16, amx)", name);
}

void vt_cpu_print_version(const char *program) {
  char line[256];
  vt_cpu_describe(line, sizeof line);
  printf("%s %s\n%s\n", program, VT_VERSION, line);
}

void vt_cpu_describe(char *out, int n) {
  vt_isa isa = vt_cpu_isa(), fp32 = vt_cpu_isa_fp32();
  char fp32_note[64] = "";
  if (fp32 != isa) snprintf(fp32_note, sizeof fp32_note, "float32: %s; ", names[fp32]);
  snprintf(out, (size_t)n, "kernels: %s (%sCPU: %s%s%s)", names[isa], fp32_note, names[available],
           capped_by[0] ? "; " : "", capped_by);
}
