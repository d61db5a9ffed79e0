/* vt_progress.h: progress on stderr for long work: done/total, rate, ETA,
 * failures. Redraws one line on a terminal; prints a line every few seconds
 * otherwise (logs, CI). */
#ifndef VT_PROGRESS_H
#define VT_PROGRESS_H

typedef struct {
  const char *what, *unit;
  long long total, done, failed, done_at_start;
  double start, last_print;
  int quiet, tty;
} vt_progress;

/* total counts everything; already_done of it was done by an earlier run
 * (it counts toward done/total but not toward the rate). */
void vt_progress_start(vt_progress *p, const char *what, const char *unit, long long total,
                       long long already_done, int quiet);
void vt_progress_update(vt_progress *p, long long done, long long failed);
/* Prints the final line. */
void vt_progress_finish(vt_progress *p);

#endif
