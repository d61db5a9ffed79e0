#include "base/vt_signal_hold.h"

#include <signal.h>
#include <stdatomic.h>
#include <string.h>

static const int held_signals[] = {SIGINT, SIGTERM, SIGHUP};
enum { N_HELD = sizeof held_signals / sizeof *held_signals };

static struct sigaction previous[N_HELD];
/* the last held signal that came, 0 if none: atomic, as the handler may run
 * on another thread than the one that releases the hold */
static atomic_int arrived;
static int depth;                     /* holds not yet released */

/* Async-signal-safe: only records. */
static void record(int sig) { atomic_store(&arrived, sig); }

void vt_signal_hold(void) {
  if (depth++ > 0) return;
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = record;
  sa.sa_flags = SA_RESTART; /* the writes in progress go on, uninterrupted */
  sigfillset(&sa.sa_mask);
  atomic_store(&arrived, 0);
  for (int i = 0; i < N_HELD; i++) sigaction(held_signals[i], &sa, &previous[i]);
}

void vt_signal_release(void) {
  if (depth == 0 || --depth > 0) return;
  /* the previous actions first: a signal arriving now acts at once */
  for (int i = 0; i < N_HELD; i++) sigaction(held_signals[i], &previous[i], NULL);
  int sig = atomic_load(&arrived);
  if (sig) raise(sig);
}
