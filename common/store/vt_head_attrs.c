#include "store/vt_head_attrs.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/vt_common.h"
#include "store/vt_h5.h"

/* The attributes by name and field: one list for reading them all. */
static const struct {
  const char *name;
  size_t at;
} strs[] = {
#define S(f) {#f, offsetof(vt_head_attrs, f)}
    S(format), S(head), S(hidden), S(tap), S(pooling), S(features), S(preprocessing), S(resize),
    S(weights_sha256), S(store), S(eval_store), S(feature_source), S(augment), S(config), S(command),
#undef S
}, ints[] = {
#define I(f) {#f, offsetof(vt_head_attrs, f)}
    I(format_version), I(input_height), I(input_width), I(n_features), I(n_classes), I(n_layers), I(n_params),
    I(best_epoch),
#undef I
};

/* Keeps the reason of the first failure (later reads may fail too). */
static void first_failure(int *rc, char *reason, size_t size) {
  if (*rc == 0) snprintf(reason, size, "%s", vt_failure_reason());
  *rc = -1;
}

int vt_head_attrs_read(hid_t f, vt_head_attrs *a) {
  memset(a, 0, sizeof *a);
  int rc = 0;
  char reason[512] = "";
  for (size_t i = 0; i < sizeof strs / sizeof strs[0]; i++) {
    char **s = (char **)((char *)a + strs[i].at);
    if (H5Aexists(f, strs[i].name) > 0 && !(*s = vt_h5_read_str_attr(f, strs[i].name)))
      first_failure(&rc, reason, sizeof reason);
  }
  for (size_t i = 0; i < sizeof ints / sizeof ints[0]; i++) {
    long long *v = (long long *)((char *)a + ints[i].at), got;
    *v = VT_HEAD_ATTR_ABSENT;
    if (H5Aexists(f, ints[i].name) <= 0) continue;
    if (vt_h5_read_int_attr(f, ints[i].name, &got) < 0) first_failure(&rc, reason, sizeof reason);
    else *v = got;
  }
  return rc == 0 ? 0 : vt_fail("%s", reason);
}

void vt_head_attrs_free(vt_head_attrs *a) {
  for (size_t i = 0; i < sizeof strs / sizeof strs[0]; i++) {
    char **s = (char **)((char *)a + strs[i].at);
    free(*s);
    *s = NULL;
  }
}

char *vt_head_report_path(const char *head, const char *file) {
  size_t n = strlen(head);
  if (n > 3 && strcmp(head + n - 3, ".h5") == 0) n -= 3;
  size_t size = n + sizeof ".report/" + (file ? strlen(file) : 0);
  char *p = vt_xmalloc(size);
  snprintf(p, size, "%.*s.report%s%s", (int)n, head, file ? "/" : "", file ? file : "");
  return p;
}
