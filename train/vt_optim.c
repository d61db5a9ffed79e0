#include "vt_optim.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/vt_common.h"

void vt_optim_init(vt_optimizer *o, const vt_optim_config *c, size_t n_params) {
  memset(o, 0, sizeof *o);
  o->cfg = *c;
  o->n = n_params;
  o->m = vt_xcalloc(n_params, sizeof(float));
  if (c->kind == VT_OPT_ADAM) o->v = vt_xcalloc(n_params, sizeof(float));
}

void vt_optim_free(vt_optimizer *o) {
  free(o->m);
  free(o->v);
  memset(o, 0, sizeof *o);
}

void vt_optim_step(vt_optimizer *o, float *params, const float *grads, const uint8_t *decay,
                   float lr) {
  const vt_optim_config *c = &o->cfg;
  o->step++;
  if (c->kind == VT_OPT_ADAM) {
    /* bias corrections folded into the step size, as in the Adam paper's
     * efficient form */
    float b1 = c->beta1, b2 = c->beta2;
    double bc1 = 1.0 - pow(b1, (double)o->step), bc2 = 1.0 - pow(b2, (double)o->step);
    float alpha = (float)(lr * sqrt(bc2) / bc1), eps = c->eps * (float)sqrt(bc2);
    for (size_t i = 0; i < o->n; i++) {
      float g = grads[i];
      o->m[i] = b1 * o->m[i] + (1.0f - b1) * g;
      o->v[i] = b2 * o->v[i] + (1.0f - b2) * g * g;
      float upd = alpha * o->m[i] / (sqrtf(o->v[i]) + eps);
      if (decay[i]) upd += lr * c->weight_decay * params[i];
      params[i] -= upd;
    }
  } else {
    for (size_t i = 0; i < o->n; i++) {
      float g = grads[i] + (decay[i] ? c->weight_decay * params[i] : 0.0f);
      o->m[i] = c->momentum * o->m[i] + g;
      params[i] -= lr * o->m[i];
    }
  }
}

float vt_lr_at(vt_lr_schedule s, float lr, int e, int epochs, int step_epochs) {
  switch (s) {
  case VT_LR_COSINE:
    return (float)(0.5 * lr * (1.0 + cos(M_PI * (double)e / (double)(epochs > 0 ? epochs : 1))));
  case VT_LR_STEP:
    return lr * powf(0.1f, (float)(e / (step_epochs > 0 ? step_epochs : 1)));
  case VT_LR_CONSTANT:
  default:
    return lr;
  }
}

int vt_optimizer_parse(const char *name, vt_optimizer_kind *out) {
  if (strcmp(name, "adam") == 0) *out = VT_OPT_ADAM;
  else if (strcmp(name, "sgd") == 0) *out = VT_OPT_SGD;
  else if (strcmp(name, "lbfgs") == 0) *out = VT_OPT_LBFGS;
  else return -1;
  return 0;
}

int vt_lr_schedule_parse(const char *name, vt_lr_schedule *out) {
  if (strcmp(name, "constant") == 0) *out = VT_LR_CONSTANT;
  else if (strcmp(name, "cosine") == 0) *out = VT_LR_COSINE;
  else if (strcmp(name, "step") == 0) *out = VT_LR_STEP;
  else return -1;
  return 0;
}

const char *vt_optimizer_name(vt_optimizer_kind k) {
  return k == VT_OPT_SGD ? "sgd" : k == VT_OPT_LBFGS ? "lbfgs" : "adam";
}

const char *vt_lr_schedule_name(vt_lr_schedule s) {
  return s == VT_LR_COSINE ? "cosine" : s == VT_LR_STEP ? "step" : "constant";
}
