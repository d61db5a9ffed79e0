/* vt_standardize.h: per-feature standardisation with training-split
 * statistics, x' = (x - mean) / std. The statistics travel in the head file,
 * so prediction applies exactly what training saw. */
#ifndef VT_STANDARDIZE_H
#define VT_STANDARDIZE_H

/* mean and std [dim] of rows x [n][dim] (population std, accumulated in
 * double). A feature that is constant on the training rows (a dead ReLU
 * channel, say) gets std 1, so it maps to ~0 instead of dividing by zero. */
void vt_standardize_fit(const float *x, int n, int dim, float *mean, float *std);
void vt_standardize_apply(float *x, int n, int dim, const float *mean, const float *std);

#endif
