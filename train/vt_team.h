/* vt_team.h: a fixed team of threads that run one job together, with a
 * barrier inside the job. The calling thread is member 0, so a team of one
 * is the caller alone (no thread, no locking).
 *
 * Determinism is the job's business: a job that gives member t a fixed set
 * of work items and combines items in a fixed order produces the same bits
 * whatever the team's size (vt_convnet.c's shards). */
#ifndef VT_TEAM_H
#define VT_TEAM_H

typedef void (*vt_team_job)(void *ctx, int member, int members);
typedef struct vt_team vt_team;

/* Starts members - 1 threads. NULL + reason when they cannot be started. */
vt_team *vt_team_start(int members);
/* Ends the threads and frees the team (NULL is fine). */
void vt_team_stop(vt_team *t);
int vt_team_size(const vt_team *t);
/* Runs job(ctx, m, members) on every member m and returns when all are done.
 * t may be NULL: the caller runs job(ctx, 0, 1). */
void vt_team_run(vt_team *t, vt_team_job job, void *ctx);
/* Inside a job: waits until every member has reached it. */
void vt_team_sync(vt_team *t);

#endif
