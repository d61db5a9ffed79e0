/* vt_split.h: the seeded, stratified splits: validation rows out of the
 * training rows, and the test rows that choose nothing. */
#ifndef VT_SPLIT_H
#define VT_SPLIT_H

#include <stddef.h>
#include <stdint.h>

/* Marks is_val[i] = 1 for about val_fraction of the rows of every class
 * (labels[i] in [0, n_classes)), chosen by a seeded shuffle of that class's
 * rows: round(val_fraction * n_k) of them, but at least one if val_fraction >
 * 0 and the class has two rows or more, and never all of them. Depends only
 * on (labels, seed, val_fraction), not on the order classes are visited. */
void vt_split_stratified(const int *labels, int n, int n_classes, double val_fraction,
                         uint64_t seed, uint8_t *is_val);

/* The same rule over the rows with from[i] != 0 only (from NULL: all rows),
 * on a random stream of its own, so that the test rows drawn with one seed
 * are unrelated to the validation rows drawn with it: marks is_test[i] = 1
 * (0 elsewhere). */
void vt_split_test(const int *labels, const uint8_t *from, int n, int n_classes, double fraction,
                   uint64_t seed, uint8_t *is_test);

/* Whether a test fraction may be taken by default: every class has at least
 * two rows to give (round(fraction * n_k) >= 2) and keeps at least two, among
 * the rows with from[i] != 0 (NULL: all). */
int vt_split_test_fits(const int *labels, const uint8_t *from, int n, int n_classes, double fraction);

/* What vggtap-train's --test-fraction does (docs/TRAIN.md). Defaults:
 * VT_TEST_FRACTION_RANDOM of all rows, or VT_TEST_FRACTION_MANIFEST of a
 * manifest's validation rows, where vt_split_test_fits. */
#define VT_TEST_FRACTION_RANDOM 0.2
#define VT_TEST_FRACTION_MANIFEST 0.5
enum { VT_PART_TRAIN = 0, VT_PART_VAL = 1, VT_PART_TEST = 2 };

/* --split random: part[i] = VT_PART_TEST for test_fraction of each class
 * (< 0: auto, the default where it fits, else none), then VT_PART_VAL for
 * val_fraction of each class's remaining rows, the rest VT_PART_TRAIN. With
 * no test rows the validation rows are those vt_split_stratified picks.
 * note gets how the test rows were drawn, or why there are none. */
void vt_split_random(const int *labels, int n, int n_classes, double test_fraction,
                     double val_fraction, uint64_t seed, uint8_t *part, char *note, size_t note_size);

/* --split manifest whose manifest has no test rows: is_test[i] = 1 for
 * test_fraction (< 0: auto) of each class of the n validation rows with
 * labels[i]; note as above. */
void vt_split_manifest_test(const int *labels, int n, int n_classes, double test_fraction,
                            uint64_t seed, uint8_t *is_test, char *note, size_t note_size);

#endif
