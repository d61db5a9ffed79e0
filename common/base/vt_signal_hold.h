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

/* Starts holding. Holds nest: a function that holds while it makes a
 * temporary file can be called inside a longer hold. */
void vt_signal_hold(void);
/* Ends one hold; ending the outermost delivers what arrived meanwhile.
 * Does nothing when not holding, so a failure path may call it whether or
 * not it holds. */
void vt_signal_release(void);

#endif
