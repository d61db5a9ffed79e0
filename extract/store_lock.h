/* store_lock.h: one extractor per store at a time.
 *
 * vggtap-extract holds an exclusive flock(2) on OUT.partial/lock for its
 * whole run, so a second extractor given the same OUT is refused at once and
 * the first is unharmed. The kernel releases the lock when its holder exits,
 * however it exits (kill -9 included), so a lock file left by a killed run
 * never blocks the resume. */
#ifndef VT_STORE_LOCK_H
#define VT_STORE_LOCK_H

/* Creates OUT.partial/ if needed and locks OUT.partial/lock. Returns the
 * lock's file descriptor (keep it open: closing it releases the lock), or -1
 * with a reason naming the holder's pid when another run has it. */
int vt_store_lock(const char *out);

#endif
