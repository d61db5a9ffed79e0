#include "base/vt_progress.h"

#include <stdio.h>
#include <unistd.h>

#include "base/vt_common.h"

static void format_duration(double s, char *out, size_t n) {
  if (s < 0 || s > 1e8) {
    snprintf(out, n, "?");
  } else if (s < 60) {
    snprintf(out, n, "%.0fs", s);
  } else if (s < 3600) {
    snprintf(out, n, "%dm%02ds", (int)s / 60, (int)s % 60);
  } else {
    snprintf(out, n, "%dh%02dm", (int)s / 3600, (int)s % 3600 / 60);
  }
}

static void print_line(vt_progress *p, int final) {
  double now = vt_now(), el = now - p->start;
  long long new_done = p->done - p->done_at_start;
  double rate = el > 0 ? (double)new_done / el : 0;
  char eta[32], elapsed[32];
  format_duration(rate > 0 ? (double)(p->total - p->done) / rate : -1, eta, sizeof eta);
  format_duration(el, elapsed, sizeof elapsed);
  double pct = p->total ? 100.0 * (double)p->done / (double)p->total : 100.0;
  fprintf(stderr, "%s%s: %lld/%lld (%.1f%%), %.1f %s/s, %s %s, failed %lld%s", p->tty ? "\r" : "",
          p->what, p->done, p->total, pct, rate, p->unit, final ? "took" : "ETA",
          final ? elapsed : eta, p->failed, p->tty ? "\033[K" : "\n");
  if (final && p->tty) fputc('\n', stderr);
  fflush(stderr);
  p->last_print = now;
}

void vt_progress_start(vt_progress *p, const char *what, const char *unit, long long total,
                       long long already_done, int quiet) {
  p->what = what;
  p->unit = unit;
  p->total = total;
  p->done = p->done_at_start = already_done;
  p->failed = 0;
  p->start = p->last_print = vt_now();
  p->quiet = quiet;
  p->tty = isatty(STDERR_FILENO);
}

void vt_progress_update(vt_progress *p, long long done, long long failed) {
  p->done = done;
  p->failed = failed;
  if (p->quiet) return;
  double interval = p->tty ? 0.25 : 10.0;
  if (vt_now() - p->last_print >= interval) print_line(p, 0);
}

void vt_progress_finish(vt_progress *p) {
  if (!p->quiet) print_line(p, 1);
}
