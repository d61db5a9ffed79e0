#define _GNU_SOURCE
#include "store/vt_crash_guard.h"

#include <errno.h> /* program_invocation_short_name */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

/* The messages are composed when the guard is set: a signal handler may
 * only write() and _exit(). */
static char fault_message[2048], loop_message[2048];
static volatile sig_atomic_t fault_len, loop_len; /* 0: disarmed */
static int armed;
/* the handlers the guard replaces while set (e.g. AddressSanitizer's) */
static struct sigaction before_segv, before_bus, before_vtalrm;

static void say_and_exit(const char *msg, size_t len) {
  ssize_t w = write(STDERR_FILENO, msg, len);
  (void)w;
  _exit(1);
}

static void on_fault(int sig) {
  (void)sig;
  say_and_exit(fault_message, (size_t)fault_len);
}

static void on_cpu_limit(int sig) {
  (void)sig;
  say_and_exit(loop_message, (size_t)loop_len);
}

/* CPU seconds one guarded read may take. Parsing a store's metadata and row
 * index takes milliseconds per thousand rows; a minute of CPU means HDF5 is
 * looping. VGGTAP_HDF5_CPU_LIMIT overrides it (the tests use 3). */
static long cpu_limit(void) {
  const char *env = getenv("VGGTAP_HDF5_CPU_LIMIT");
  long v = env ? strtol(env, NULL, 10) : 0;
  return v > 0 ? v : 60;
}

void vt_crash_guard_set(const char *path) {
  vt_crash_guard_clear();
  const char *prog = program_invocation_short_name;
  long limit = cpu_limit();
  int nf = snprintf(fault_message, sizeof fault_message,
                    "%s: reading %s crashed the HDF5 library: %s is corrupt; re-create it\n",
                    prog, path, path);
  int nl = snprintf(loop_message, sizeof loop_message,
                    "%s: reading %s kept the HDF5 library busy for %ld s of CPU (an endless loop "
                    "on damaged metadata): %s is corrupt; re-create it\n", prog, path, limit, path);
  if (nf <= 0 || (size_t)nf >= sizeof fault_message || nl <= 0 || (size_t)nl >= sizeof loop_message)
    return; /* a path this long goes unguarded */
  fault_len = nf;
  loop_len = nl;
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sigemptyset(&sa.sa_mask);
  sa.sa_handler = on_fault;
  sigaction(SIGSEGV, &sa, &before_segv);
  sigaction(SIGBUS, &sa, &before_bus);
  sa.sa_handler = on_cpu_limit;
  sigaction(SIGVTALRM, &sa, &before_vtalrm);
  struct itimerval t = {.it_value = {.tv_sec = limit}};
  setitimer(ITIMER_VIRTUAL, &t, NULL);
  armed = 1;
}

void vt_crash_guard_clear(void) {
  if (!armed) return;
  struct itimerval off = {0};
  setitimer(ITIMER_VIRTUAL, &off, NULL);
  sigaction(SIGSEGV, &before_segv, NULL);
  sigaction(SIGBUS, &before_bus, NULL);
  sigaction(SIGVTALRM, &before_vtalrm, NULL);
  armed = 0;
}
