/* admission.h — admission and preemption policies: which waiting requests join a step, and who yields when blocks run out. */
#ifndef KT_ADMISSION_H
#define KT_ADMISSION_H

#include <stdint.h>

/* Adding a policy: a value here, its name in admission_policy_names, its
 * case in admission_fill_batch. */
typedef enum {
    /* vLLM's: running sequences keep their tokens, and when blocks run out
     * the newest running sequence is preempted (its KV freed, computed
     * again later); waiting requests are admitted in arrival order while
     * slots, budget and blocks allow. */
    ADMISSION_PREEMPT_NEWEST,
    ADMISSION_POLICY_COUNT
} admission_policy;
extern const char *const admission_policy_names[ADMISSION_POLICY_COUNT + 1];

struct replica;

/* Fills r's batch (empty on entry) for its next step within *budget
 * tokens, as r->cfg.admission says, and takes what it uses off *budget.
 * Aborts on a value outside the enum. */
void admission_fill_batch(struct replica *r, int64_t *budget, int64_t now);

#endif
