/* pipeline.h: the extraction pipeline, on the worker pool (base/vt_pool.h):
 * worker threads each take the next image, decode, resize, preprocess and
 * run the VGG prefix (one image per core: faster than threading inside one
 * GEMM on this kind of CPU), and the calling thread writes finished rows to
 * the store in row order. 2 x threads + 2 slots: with the rows the workers
 * hold, at most 3 x threads + 2 rows are in flight when a stop comes. */
#ifndef VT_PIPELINE_H
#define VT_PIPELINE_H

#include <stdatomic.h>

#include "store_writer.h"
#include "net/vt_extract.h"
#include "image/vt_inputs.h"
#include "base/vt_progress.h"

typedef struct {
  const vt_extract_config *cfg;
  const vt_weights *weights;
  const vt_inputs *in;
  const vt_store_layout *lay;
  const long long *jobs;   /* rows to extract, increasing */
  long long n_jobs;
  int n_threads;
  vt_partial *partial;
  vt_progress *progress;
  const atomic_int *stop; /* set by a signal handler, on whichever thread the signal
                            * lands: finish cleanly */
} vt_pipeline;

/* Returns 0 when every job is written, 1 when stopped early through *stop
 * (what was finished is committed), -1 on a write error. Counts rows written
 * in this run. */
int vt_pipeline_run(const vt_pipeline *pl, long long *n_ok, long long *n_failed);

#endif
