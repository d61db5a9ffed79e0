/* test_cpu: run-time CPU detection (base/vt_cpu.c) agrees with the flags the
 * kernel reports in /proc/cpuinfo, and VGGTAP_ISA caps the path: every name
 * up to the CPU's best is taken, a higher one and an unknown one stop the
 * program with status 2 and a message. The capped runs are this program run
 * again with the variable set (the choice is made once per process). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "base/vt_common.h"
#include "base/vt_cpu.h"
#include "vt_test.h"

#if defined(__x86_64__)
/* Whether /proc/cpuinfo's first "flags" line lists every one of names. */
static int cpuinfo_has(const char *const *names) {
  FILE *f = fopen("/proc/cpuinfo", "r");
  if (!f) return -1;
  char line[8192];
  int found = -1;
  while (fgets(line, sizeof line, f))
    if (!strncmp(line, "flags", 5)) {
      found = 1;
      for (const char *const *n = names; *n; n++) {
        char word[64];
        snprintf(word, sizeof word, " %s ", *n);
        line[strcspn(line, "\n")] = ' ';
        if (!strstr(line, word)) found = 0;
      }
      break;
    }
  fclose(f);
  return found;
}
#endif

/* Runs `self --print` with VGGTAP_ISA=name (through $TEST_EMULATOR, e.g.
 * qemu-aarch64, when the tests run under one); the exit status, and its
 * output in out. */
static int run_capped(const char *self, const char *name, char *out, size_t n) {
  char cmd[4096];
  const char *emulator = getenv("TEST_EMULATOR");
  snprintf(cmd, sizeof cmd, "VGGTAP_ISA=%s %s '%s' --print 2>&1", name, emulator ? emulator : "", self);
  FILE *p = popen(cmd, "r");
  if (!p) return -1;
  size_t got = fread(out, 1, n - 1, p);
  out[got] = '\0';
  int st = pclose(p);
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

int main(int argc, char **argv) {
  if (argc == 2 && !strcmp(argv[1], "--print")) {
    char d[256];
    vt_cpu_describe(d, sizeof d);
    printf("%s|%s\n", vt_isa_name(vt_cpu_isa()), d);
    return 0;
  }
  unsetenv("VGGTAP_ISA");
  vt_isa best = vt_cpu_isa_available();
  CHECK(vt_cpu_isa() == best, "with no VGGTAP_ISA the best path runs");
  printf("this CPU: %s\n", vt_isa_name(best));

#if defined(__x86_64__)
  /* Each level's flags, as Linux names them. */
  static const char *const avx2[] = {"avx2", "fma", NULL};
  static const char *const avx512[] = {"avx512f", "avx512dq", "avx512bw", "avx512vl", NULL};
  static const char *const bf16[] = {"avx512_bf16", NULL};
  static const char *const amx[] = {"amx_bf16", "amx_tile", NULL};
  const char *const *levels[] = {NULL, avx2, avx512, bf16, amx};
  vt_isa expect = VT_ISA_PORTABLE;
  for (int l = 1; l < VT_ISA_COUNT; l++) {
    int has = cpuinfo_has(levels[l]);
    CHECK(has >= 0, "cannot read /proc/cpuinfo");
    if (has != 1) break;
    expect = (vt_isa)l;
  }
  /* AMX also needs the kernel's permission, which cpuinfo does not show. */
  if (expect == VT_ISA_AMX && best == VT_ISA_AVX512BF16) expect = VT_ISA_AVX512BF16;
  CHECK(best == expect, "cpuid says %s, /proc/cpuinfo %s", vt_isa_name(best), vt_isa_name(expect));
#endif

  char out[1024];
  for (int l = 0; l < VT_ISA_COUNT; l++) {
    const char *name = vt_isa_name((vt_isa)l);
    vt_isa parsed;
    CHECK(vt_isa_parse(name, &parsed) == 0 && parsed == (vt_isa)l, "%s", name);
    int rc = run_capped(argv[0], name, out, sizeof out);
    if (l <= (int)best) {
      char want[128], cpu[64];
      snprintf(want, sizeof want, "%s|kernels: %s (%s", name, name,
               l > VT_ISA_AVX512 ? "float32: avx512; " : "");
      snprintf(cpu, sizeof cpu, "CPU: %s", vt_isa_name(best));
      CHECK(rc == 0 && !strncmp(out, want, strlen(want)) && strstr(out, cpu), "VGGTAP_ISA=%s: exit %d, %s",
            name, rc, out);
      CHECK((l < (int)best) == (strstr(out, "VGGTAP_ISA=") != NULL), "cap shown only when it lowers: %s", out);
    } else {
      CHECK(rc == 2 && strstr(out, "this CPU runs at most"), "VGGTAP_ISA=%s above %s: exit %d, %s", name,
            vt_isa_name(best), rc, out);
    }
  }
  CHECK(vt_isa_parse("avx-512", &(vt_isa){0}) < 0 && strstr(vt_failure_reason(), "portable, avx2"));
  int rc = run_capped(argv[0], "sse9", out, sizeof out);
  CHECK(rc == 2 && strstr(out, "VGGTAP_ISA=sse9: unknown kernel path 'sse9'"), "exit %d, %s", rc, out);
  CHECK(vt_cpu_isa_fp32() <= VT_ISA_AVX512);
  return failures != 0;
}
