/* vt_split.h: the seeded, stratified train/validation split. */
#ifndef VT_SPLIT_H
#define VT_SPLIT_H

#include <stdint.h>

/* Marks is_val[i] = 1 for about val_fraction of the rows of every class
 * (labels[i] in [0, n_classes)), chosen by a seeded shuffle of that class's
 * rows: round(val_fraction * n_k) of them, but at least one if val_fraction >
 * 0 and the class has two rows or more, and never all of them. Depends only
 * on (labels, seed, val_fraction), not on the order classes are visited. */
void vt_split_stratified(const int *labels, int n, int n_classes, double val_fraction,
                         uint64_t seed, uint8_t *is_val);

#endif
