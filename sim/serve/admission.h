/* admission.h — admission and preemption policies: which waiting requests join a step, and who yields when blocks run out. */
#ifndef KT_ADMISSION_H
#define KT_ADMISSION_H

#include <stdint.h>

/* Adding a policy: a value here, its name in admission_policy_names, its
 * case in admission_fill_batch. Each policy's code in admission.c says
 * which engine source it follows. */
typedef enum {
    /* vLLM's: running sequences keep their tokens, and when blocks run out
     * the newest running sequence is preempted (its KV freed, computed
     * again later); waiting requests are admitted in arrival order while
     * slots, budget and blocks allow. Without chunked prefill a step that
     * admits prompts runs only those (decodes pause), as vLLM's does. */
    ADMISSION_PREEMPT_NEWEST,
    /* TensorRT-LLM's GUARANTEED_NO_EVICT: a request is admitted only when
     * the blocks for its prompt plus its maximum output are free beyond
     * what the running sequences still need to finish; nothing is evicted. */
    ADMISSION_TRTLLM_NO_EVICT,
    /* TensorRT-LLM's MAX_UTILIZATION: admit while the next step fits, pause
     * (free and later recompute) the last started sequence when it does not. */
    ADMISSION_TRTLLM_MAX_UTILIZATION,
    /* SGLang's: admit while the prompt plus the clipped maximum output fits
     * beside a decaying fraction (the new-token ratio) of what running
     * sequences may still write; retract decoding sequences when blocks run
     * out and raise the ratio. */
    ADMISSION_SGLANG_CONSERVATIVE,
    ADMISSION_POLICY_COUNT
} admission_policy;
extern const char *const admission_policy_names[ADMISSION_POLICY_COUNT + 1];

/* SGLang's new-token ratio constants: defaults of the environment
 * variables SGLANG_INIT_NEW_TOKEN_RATIO, SGLANG_MIN_NEW_TOKEN_RATIO_FACTOR,
 * SGLANG_NEW_TOKEN_RATIO_DECAY_STEPS, SGLANG_RETRACT_DECODE_STEPS and
 * SGLANG_CLIP_MAX_NEW_TOKENS_ESTIMATION (python/sglang/srt/environ.py),
 * with schedule_conservativeness 1. */
#define ADMISSION_SGLANG_INIT_RATIO 0.7
#define ADMISSION_SGLANG_MIN_RATIO_FACTOR 0.14
#define ADMISSION_SGLANG_DECAY_STEPS 600
#define ADMISSION_SGLANG_RETRACT_DECODE_STEPS 20
#define ADMISSION_SGLANG_CLIP_MAX_NEW_TOKENS 4096

/* What a policy remembers from step to step (SGLang's ratio).
 * Invariant: min ratio <= new_token_ratio <= 1; iterations_seen is the
 * replica's iteration count when the ratio last decayed. */
typedef struct admission_state {
    double new_token_ratio;
    int64_t iterations_seen;
} admission_state;

/* A fresh policy state (ratio at its initial value). */
void admission_state_init(admission_state *s);

struct replica;
struct serve_req;

/* Fills r's batch (empty on entry) for its next step within *budget
 * tokens, as r->cfg.admission says, and takes what it uses off *budget.
 * Aborts on a value outside the enum. */
void admission_fill_batch(struct replica *r, int64_t *budget, int64_t now);

/* Output tokens the scheduler assumes q may produce at most (it never
 * knows the true length): scheduler.max_output_tokens when set, else the
 * rest of the model's context after the prompt, never more than that
 * rest. */
int64_t admission_max_output_tokens(const struct replica *r, const struct serve_req *q);

#endif
