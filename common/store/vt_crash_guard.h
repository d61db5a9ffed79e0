/* vt_crash_guard.h: a clear message, not a bare crash or a hang, when the
 * HDF5 library fails badly while parsing a damaged input file.
 *
 * HDF5 1.10 trusts what it reads from the file: a damaged global heap (where
 * variable-length strings live) makes H5HG_read copy past its buffers and
 * crash (3 of 300 random corruptions of a store did), or loop forever in
 * H5HG's cache code. While a guard is set, SIGSEGV and SIGBUS, or a minute
 * of CPU time (VGGTAP_HDF5_CPU_LIMIT seconds), print
 *   PROGRAM: reading FILE crashed the HDF5 library: FILE is corrupt; re-create it
 * (or "kept the HDF5 library busy ...") and exit 1. Outside a guard a crash
 * is a crash, so vggtap's own bugs are never disguised as corrupt files:
 * guard only HDF5's parsing of input files, on the main thread. */
#ifndef VT_CRASH_GUARD_H
#define VT_CRASH_GUARD_H

/* Arms the guard for reading `path` (replacing any guard set before). */
void vt_crash_guard_set(const char *path);
/* Disarms it. */
void vt_crash_guard_clear(void);

#endif
