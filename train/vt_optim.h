/* vt_optim.h: the mini-batch optimizers, Adam (with decoupled weight decay,
 * as AdamW) and SGD with momentum, plus the learning-rate schedules. */
#ifndef VT_OPTIM_H
#define VT_OPTIM_H

#include <stddef.h>
#include <stdint.h>

/* VT_OPT_LBFGS is full-batch (vt_lbfgs.h); vt_optim_step serves the other two. */
typedef enum { VT_OPT_ADAM, VT_OPT_SGD, VT_OPT_LBFGS } vt_optimizer_kind;
typedef enum { VT_LR_CONSTANT, VT_LR_COSINE, VT_LR_STEP } vt_lr_schedule;

typedef struct {
  vt_optimizer_kind kind;
  float beta1, beta2, eps; /* Adam */
  float momentum;          /* SGD */
  float weight_decay;      /* applied to weights, never to biases */
} vt_optim_config;

typedef struct {
  vt_optim_config cfg;
  size_t n;
  float *m, *v; /* Adam moments / SGD velocity (m) */
  long step;
} vt_optimizer;

void vt_optim_init(vt_optimizer *o, const vt_optim_config *c, size_t n_params);
void vt_optim_free(vt_optimizer *o);
/* One update of params [n] from grads [n] at learning rate lr; decay[i] != 0
 * marks the parameters weight decay applies to. */
void vt_optim_step(vt_optimizer *o, float *params, const float *grads, const uint8_t *decay,
                   float lr);

/* Learning rate of epoch e (0-based) of `epochs`: constant; cosine from lr to
 * 0 over the epochs; step: times 0.1 every step_epochs epochs. */
float vt_lr_at(vt_lr_schedule s, float lr, int e, int epochs, int step_epochs);

/* Name <-> enum; -1 for unknown names. */
int vt_optimizer_parse(const char *name, vt_optimizer_kind *out);
int vt_lr_schedule_parse(const char *name, vt_lr_schedule *out);
const char *vt_optimizer_name(vt_optimizer_kind k);
const char *vt_lr_schedule_name(vt_lr_schedule s);

#endif
