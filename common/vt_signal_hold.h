/* vt_signal_hold.h: SIGINT, SIGTERM and SIGHUP held back while a program
 * writes its outputs.
 *
 * Outputs are written to temporary files and renamed when complete; killed
 * by Ctrl-C in between, the default action would leave the temporary files,
 * and a set of outputs (head, log, report) half replaced. Between
 * vt_signal_hold and vt_signal_release such a signal is only recorded;
 * release restores the previous actions and re-raises it, so the program
 * then ends as the signal would have ended it (or goes on, if it was being
 * ignored), with every temporary file renamed or removed. Hold only short
 * phases that end: an interrupt waits for them. */
#ifndef VT_SIGNAL_HOLD_H
#define VT_SIGNAL_HOLD_H

/* Starts holding; does nothing if already holding. */
void vt_signal_hold(void);
/* Stops holding and delivers what arrived meanwhile; does nothing if not
 * holding. */
void vt_signal_release(void);

#endif
