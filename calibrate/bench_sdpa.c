/* bench_sdpa.c — prefill attention as serving engines run it: cuDNN's fused flash attention (scaled dot product, causal, BF16) through the cuDNN 9 backend API, loaded with dlopen so that the program runs where cuDNN is absent. */
#include <dlfcn.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "calib_names.h"
#include "kt_kernels.h"

#if defined(__has_include)
#if __has_include(<cudnn_graph.h>)
#define KT_HAVE_CUDNN_HEADERS 1
#endif
#endif

#ifndef KT_HAVE_CUDNN_HEADERS

int kt_bench_sdpa(kt_bench *b, kt_err *err)
{
    (void)b;
    (void)err;
    printf("sdpa: skipped: built without cuDNN headers (cudnn_graph.h beside the CUDA headers)\n");
    return KT_BENCH_SKIPPED;
}

#else

#include <cudnn_graph.h>

#define MAX_SWEEP 32
#define MIN_TOKENS 512
#define HEAD_DIM 128
#define FILL_SEED 13u
/* The library cuDNN 9 installs; its engines load from beside it. */
#define CUDNN_SONAME "libcudnn.so.9"
/* Tensor cores need 16-byte aligned operands (cuDNN's requirement). */
#define TENSOR_ALIGN_BYTES 16
/* Engine configurations asked of the heuristics; the first that builds a plan is used. */
#define MAX_ENGINE_CONFIGS 8
/* What masked scores become before the softmax: far below any real score. */
#define MASKED_SCORE (-1.0e20f)
#define RANK 4

/* ---------- cuDNN, loaded at run time ---------- */

typedef cudnnStatus_t (*create_fn)(cudnnHandle_t *);
typedef cudnnStatus_t (*destroy_fn)(cudnnHandle_t);
typedef cudnnStatus_t (*set_stream_fn)(cudnnHandle_t, cudaStream_t);
typedef const char *(*error_string_fn)(cudnnStatus_t);
typedef cudnnStatus_t (*desc_create_fn)(cudnnBackendDescriptorType_t, cudnnBackendDescriptor_t *);
typedef cudnnStatus_t (*desc_destroy_fn)(cudnnBackendDescriptor_t);
typedef cudnnStatus_t (*finalize_fn)(cudnnBackendDescriptor_t);
typedef cudnnStatus_t (*set_attr_fn)(cudnnBackendDescriptor_t, cudnnBackendAttributeName_t,
                                     cudnnBackendAttributeType_t, int64_t, const void *);
typedef cudnnStatus_t (*get_attr_fn)(cudnnBackendDescriptor_t const, cudnnBackendAttributeName_t,
                                     cudnnBackendAttributeType_t, int64_t, int64_t *, void *);
typedef cudnnStatus_t (*execute_fn)(cudnnHandle_t, cudnnBackendDescriptor_t, cudnnBackendDescriptor_t);

/* The entry points used, resolved from CUDNN_SONAME. */
typedef struct cudnn_api {
    void *lib;
    create_fn create;
    destroy_fn destroy;
    set_stream_fn set_stream;
    error_string_fn error_string;
    desc_create_fn desc_create;
    desc_destroy_fn desc_destroy;
    finalize_fn finalize;
    set_attr_fn set_attr;
    get_attr_fn get_attr;
    execute_fn execute;
} cudnn_api;

/* Resolves every entry point; 0, or -1 with why (the library is absent). */
static int api_load(cudnn_api *a, char *why, size_t n)
{
    memset(a, 0, sizeof *a);
    a->lib = dlopen(CUDNN_SONAME, RTLD_NOW | RTLD_LOCAL);
    if (!a->lib) {
        snprintf(why, n, "%s", dlerror());
        return -1;
    }
    struct { void **slot; const char *name; } syms[] = {
        { (void **)&a->create, "cudnnCreate" }, { (void **)&a->destroy, "cudnnDestroy" },
        { (void **)&a->set_stream, "cudnnSetStream" }, { (void **)&a->error_string, "cudnnGetErrorString" },
        { (void **)&a->desc_create, "cudnnBackendCreateDescriptor" },
        { (void **)&a->desc_destroy, "cudnnBackendDestroyDescriptor" },
        { (void **)&a->finalize, "cudnnBackendFinalize" }, { (void **)&a->set_attr, "cudnnBackendSetAttribute" },
        { (void **)&a->get_attr, "cudnnBackendGetAttribute" }, { (void **)&a->execute, "cudnnBackendExecute" },
    };
    for (size_t i = 0; i < sizeof syms / sizeof syms[0]; i++)
        if (!(*syms[i].slot = dlsym(a->lib, syms[i].name))) {
            snprintf(why, n, "%s lacks %s", CUDNN_SONAME, syms[i].name);
            return -1;
        }
    return 0;
}

/* ---------- a graph under construction ---------- */

/* Up to this many descriptors make one SDPA graph (tensors, operators, operations). */
#define MAX_DESCS 64
#define MAX_OPS 16

/* The descriptors of one graph; all are destroyed together. The first
 * failing call leaves its status in st and makes every later one a no-op. */
typedef struct graph {
    const cudnn_api *api;
    cudnnBackendDescriptor_t desc[MAX_DESCS];
    int n_desc;
    cudnnBackendDescriptor_t ops[MAX_OPS];
    int n_ops;
    cudnnStatus_t st;
    const char *where;         /* what failed */
} graph;

static void check(graph *g, cudnnStatus_t st, const char *where)
{
    if (g->st == CUDNN_STATUS_SUCCESS && st != CUDNN_STATUS_SUCCESS) {
        g->st = st;
        g->where = where;
    }
}

static cudnnBackendDescriptor_t make(graph *g, cudnnBackendDescriptorType_t type, const char *what)
{
    cudnnBackendDescriptor_t d = NULL;
    if (g->st != CUDNN_STATUS_SUCCESS)
        return NULL;
    if (g->n_desc == MAX_DESCS) {
        check(g, CUDNN_STATUS_INTERNAL_ERROR, "too many descriptors");
        return NULL;
    }
    check(g, g->api->desc_create(type, &d), what);
    if (d)
        g->desc[g->n_desc++] = d;
    return d;
}

static void set(graph *g, cudnnBackendDescriptor_t d, cudnnBackendAttributeName_t name,
                cudnnBackendAttributeType_t type, int64_t count, const void *value, const char *what)
{
    if (g->st == CUDNN_STATUS_SUCCESS)
        check(g, g->api->set_attr(d, name, type, count, value), what);
}

static void finish(graph *g, cudnnBackendDescriptor_t d, const char *what)
{
    if (g->st == CUDNN_STATUS_SUCCESS)
        check(g, g->api->finalize(d), what);
}

static void graph_free(graph *g)
{
    for (int i = g->n_desc - 1; i >= 0; i--)
        g->api->desc_destroy(g->desc[i]);
    g->n_desc = 0;
    g->n_ops = 0;
}

/* A 4-D tensor: uid names it in the variant pack (virtual ones are never bound). */
typedef struct tensor_spec {
    int64_t uid;
    cudnnDataType_t type;
    int64_t dim[RANK], stride[RANK];
    int is_virtual, by_value, reorder_f16x16;
} tensor_spec;

static cudnnBackendDescriptor_t tensor(graph *g, const tensor_spec *t)
{
    cudnnBackendDescriptor_t d = make(g, CUDNN_BACKEND_TENSOR_DESCRIPTOR, "tensor");
    int64_t align = TENSOR_ALIGN_BYTES;
    bool virt = t->is_virtual != 0, by_value = t->by_value != 0;
    set(g, d, CUDNN_ATTR_TENSOR_DATA_TYPE, CUDNN_TYPE_DATA_TYPE, 1, &t->type, "tensor type");
    set(g, d, CUDNN_ATTR_TENSOR_DIMENSIONS, CUDNN_TYPE_INT64, RANK, t->dim, "tensor dims");
    set(g, d, CUDNN_ATTR_TENSOR_STRIDES, CUDNN_TYPE_INT64, RANK, t->stride, "tensor strides");
    set(g, d, CUDNN_ATTR_TENSOR_UNIQUE_ID, CUDNN_TYPE_INT64, 1, &t->uid, "tensor id");
    set(g, d, CUDNN_ATTR_TENSOR_BYTE_ALIGNMENT, CUDNN_TYPE_INT64, 1, &align, "tensor alignment");
    set(g, d, CUDNN_ATTR_TENSOR_IS_VIRTUAL, CUDNN_TYPE_BOOLEAN, 1, &virt, "tensor virtual");
    set(g, d, CUDNN_ATTR_TENSOR_IS_BY_VALUE, CUDNN_TYPE_BOOLEAN, 1, &by_value, "tensor by value");
    if (t->reorder_f16x16) {
        cudnnBackendTensorReordering_t r = CUDNN_TENSOR_REORDERING_F16x16;
        set(g, d, CUDNN_ATTR_TENSOR_REORDERING_MODE, CUDNN_TYPE_TENSOR_REORDERING_MODE, 1, &r, "tensor reorder");
    }
    finish(g, d, "tensor");
    return d;
}

static void add_op(graph *g, cudnnBackendDescriptor_t op, const char *what)
{
    finish(g, op, what);
    if (g->st == CUDNN_STATUS_SUCCESS && g->n_ops < MAX_OPS)
        g->ops[g->n_ops++] = op;
}

/* y = mode(x[, b[, t]]) elementwise (GEN_INDEX along axis when axis >= 0). */
static void pointwise(graph *g, cudnnPointwiseMode_t mode, cudnnDataType_t prec, int64_t axis,
                      cudnnBackendDescriptor_t x, cudnnBackendDescriptor_t b, cudnnBackendDescriptor_t t,
                      cudnnBackendDescriptor_t y)
{
    cudnnBackendDescriptor_t pw = make(g, CUDNN_BACKEND_POINTWISE_DESCRIPTOR, "pointwise");
    set(g, pw, CUDNN_ATTR_POINTWISE_MODE, CUDNN_TYPE_POINTWISE_MODE, 1, &mode, "pointwise mode");
    set(g, pw, CUDNN_ATTR_POINTWISE_MATH_PREC, CUDNN_TYPE_DATA_TYPE, 1, &prec, "pointwise precision");
    if (axis >= 0)
        set(g, pw, CUDNN_ATTR_POINTWISE_AXIS, CUDNN_TYPE_INT64, 1, &axis, "pointwise axis");
    finish(g, pw, "pointwise");
    cudnnBackendDescriptor_t op = make(g, CUDNN_BACKEND_OPERATION_POINTWISE_DESCRIPTOR, "pointwise op");
    set(g, op, CUDNN_ATTR_OPERATION_POINTWISE_PW_DESCRIPTOR, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &pw, "pw desc");
    set(g, op, CUDNN_ATTR_OPERATION_POINTWISE_XDESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &x, "pw x");
    if (b)
        set(g, op, CUDNN_ATTR_OPERATION_POINTWISE_BDESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &b, "pw b");
    if (t)
        set(g, op, CUDNN_ATTR_OPERATION_POINTWISE_TDESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &t, "pw t");
    set(g, op, CUDNN_ATTR_OPERATION_POINTWISE_YDESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &y, "pw y");
    add_op(g, op, "pointwise op");
}

/* c = a · b, FP32 accumulation. */
static void matmul(graph *g, cudnnBackendDescriptor_t a, cudnnBackendDescriptor_t b, cudnnBackendDescriptor_t c)
{
    cudnnDataType_t comp = CUDNN_DATA_FLOAT;
    cudnnBackendDescriptor_t mm = make(g, CUDNN_BACKEND_MATMUL_DESCRIPTOR, "matmul");
    set(g, mm, CUDNN_ATTR_MATMUL_COMP_TYPE, CUDNN_TYPE_DATA_TYPE, 1, &comp, "matmul compute type");
    finish(g, mm, "matmul");
    cudnnBackendDescriptor_t op = make(g, CUDNN_BACKEND_OPERATION_MATMUL_DESCRIPTOR, "matmul op");
    set(g, op, CUDNN_ATTR_OPERATION_MATMUL_ADESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &a, "matmul a");
    set(g, op, CUDNN_ATTR_OPERATION_MATMUL_BDESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &b, "matmul b");
    set(g, op, CUDNN_ATTR_OPERATION_MATMUL_CDESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &c, "matmul c");
    set(g, op, CUDNN_ATTR_OPERATION_MATMUL_DESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &mm, "matmul desc");
    add_op(g, op, "matmul op");
}

/* y = reduce(x) over the dimensions where y has extent 1. */
static void reduction(graph *g, cudnnReduceTensorOp_t how, cudnnBackendDescriptor_t x, cudnnBackendDescriptor_t y)
{
    cudnnDataType_t comp = CUDNN_DATA_FLOAT;
    cudnnBackendDescriptor_t r = make(g, CUDNN_BACKEND_REDUCTION_DESCRIPTOR, "reduction");
    set(g, r, CUDNN_ATTR_REDUCTION_OPERATOR, CUDNN_TYPE_REDUCTION_OPERATOR_TYPE, 1, &how, "reduction operator");
    set(g, r, CUDNN_ATTR_REDUCTION_COMP_TYPE, CUDNN_TYPE_DATA_TYPE, 1, &comp, "reduction compute type");
    finish(g, r, "reduction");
    cudnnBackendDescriptor_t op = make(g, CUDNN_BACKEND_OPERATION_REDUCTION_DESCRIPTOR, "reduction op");
    set(g, op, CUDNN_ATTR_OPERATION_REDUCTION_XDESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &x, "reduction x");
    set(g, op, CUDNN_ATTR_OPERATION_REDUCTION_YDESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &y, "reduction y");
    set(g, op, CUDNN_ATTR_OPERATION_REDUCTION_DESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &r, "reduction desc");
    add_op(g, op, "reduction op");
}

/* ---------- the SDPA graph ---------- */

/* Variant-pack ids of the tensors bound to memory or values. */
enum { UID_Q = 1, UID_K, UID_V, UID_O, UID_SCALE, UID_MASKED, UID_VIRTUAL = 100 };

/* Dims and strides of [1, h, rows, cols] row-major heads of rows × cols. */
static void shape4(tensor_spec *t, int64_t h, int64_t rows, int64_t cols)
{
    int64_t dim[RANK] = { 1, h, rows, cols }, stride[RANK] = { h * rows * cols, rows * cols, cols, 1 };
    memcpy(t->dim, dim, sizeof dim);
    memcpy(t->stride, stride, sizeof stride);
}

static cudnnBackendDescriptor_t scalar(graph *g, int64_t uid)
{
    tensor_spec t = { uid, CUDNN_DATA_FLOAT, { 1, 1, 1, 1 }, { 1, 1, 1, 1 }, 0, 1, 0 };
    return tensor(g, &t);
}

/* A virtual FP32 tensor of [1, h, n, cols]. */
static cudnnBackendDescriptor_t scratch(graph *g, int64_t *uid, int64_t h, int64_t n, int64_t cols,
                                        cudnnDataType_t type, int reorder)
{
    tensor_spec t = { (*uid)++, type, { 0 }, { 0 }, 1, 0, reorder };
    shape4(&t, h, n, cols);
    return tensor(g, &t);
}

/* O = softmax(mask(scale · Q Kᵀ)) V over h heads of n tokens and dim d, Q,
 * K, V and O each [h][n][d] BF16 — the pattern of cuDNN's fused flash
 * attention forward (inference: no softmax statistics, no dropout). */
static void sdpa_graph(graph *g, int64_t h, int64_t n, int64_t d)
{
    int64_t uid = UID_VIRTUAL;
    tensor_spec q = { UID_Q, CUDNN_DATA_BFLOAT16, { 0 }, { 0 }, 0, 0, 0 }, v = q, o = q;
    shape4(&q, h, n, d);
    v.uid = UID_V;
    shape4(&v, h, n, d);
    o.uid = UID_O;
    shape4(&o, h, n, d);
    tensor_spec kt = { UID_K, CUDNN_DATA_BFLOAT16, { 1, h, d, n }, { h * n * d, n * d, 1, d }, 0, 0, 0 };
    cudnnBackendDescriptor_t tq = tensor(g, &q), tk = tensor(g, &kt), tv = tensor(g, &v), to = tensor(g, &o);
    cudnnBackendDescriptor_t s = scratch(g, &uid, h, n, n, CUDNN_DATA_FLOAT, 0);
    matmul(g, tq, tk, s);
    cudnnBackendDescriptor_t scaled = scratch(g, &uid, h, n, n, CUDNN_DATA_FLOAT, 0);
    pointwise(g, CUDNN_POINTWISE_MUL, CUDNN_DATA_FLOAT, -1, s, scalar(g, UID_SCALE), NULL, scaled);
    /* Causal mask: keep (row >= column), else MASKED_SCORE. */
    cudnnBackendDescriptor_t row = scratch(g, &uid, h, n, n, CUDNN_DATA_FLOAT, 0);
    cudnnBackendDescriptor_t col = scratch(g, &uid, h, n, n, CUDNN_DATA_FLOAT, 0);
    cudnnBackendDescriptor_t keep = scratch(g, &uid, h, n, n, CUDNN_DATA_BOOLEAN, 0);
    cudnnBackendDescriptor_t masked = scratch(g, &uid, h, n, n, CUDNN_DATA_FLOAT, 0);
    pointwise(g, CUDNN_POINTWISE_GEN_INDEX, CUDNN_DATA_FLOAT, 2, scaled, NULL, NULL, row);
    pointwise(g, CUDNN_POINTWISE_GEN_INDEX, CUDNN_DATA_FLOAT, 3, scaled, NULL, NULL, col);
    pointwise(g, CUDNN_POINTWISE_CMP_GE, CUDNN_DATA_BOOLEAN, -1, row, col, NULL, keep);
    pointwise(g, CUDNN_POINTWISE_BINARY_SELECT, CUDNN_DATA_FLOAT, -1, scaled, scalar(g, UID_MASKED), keep, masked);
    /* Softmax along the keys. */
    cudnnBackendDescriptor_t max = scratch(g, &uid, h, n, 1, CUDNN_DATA_FLOAT, 0);
    cudnnBackendDescriptor_t shifted = scratch(g, &uid, h, n, n, CUDNN_DATA_FLOAT, 0);
    cudnnBackendDescriptor_t e = scratch(g, &uid, h, n, n, CUDNN_DATA_FLOAT, 0);
    cudnnBackendDescriptor_t sum = scratch(g, &uid, h, n, 1, CUDNN_DATA_FLOAT, 0);
    cudnnBackendDescriptor_t p = scratch(g, &uid, h, n, n, CUDNN_DATA_FLOAT, 1);
    reduction(g, CUDNN_REDUCE_TENSOR_MAX, masked, max);
    pointwise(g, CUDNN_POINTWISE_SUB, CUDNN_DATA_FLOAT, -1, masked, max, NULL, shifted);
    pointwise(g, CUDNN_POINTWISE_EXP, CUDNN_DATA_FLOAT, -1, shifted, NULL, NULL, e);
    reduction(g, CUDNN_REDUCE_TENSOR_ADD, e, sum);
    pointwise(g, CUDNN_POINTWISE_DIV, CUDNN_DATA_FLOAT, -1, e, sum, NULL, p);
    matmul(g, p, tv, to);
}

/* A finalized execution plan for the graph: the first engine configuration
 * of the heuristics (mode A) that builds. */
static cudnnBackendDescriptor_t sdpa_plan(graph *g, cudnnHandle_t handle, int64_t *workspace_bytes)
{
    cudnnBackendDescriptor_t og = make(g, CUDNN_BACKEND_OPERATIONGRAPH_DESCRIPTOR, "operation graph");
    set(g, og, CUDNN_ATTR_OPERATIONGRAPH_HANDLE, CUDNN_TYPE_HANDLE, 1, &handle, "graph handle");
    set(g, og, CUDNN_ATTR_OPERATIONGRAPH_OPS, CUDNN_TYPE_BACKEND_DESCRIPTOR, g->n_ops, g->ops, "graph ops");
    finish(g, og, "operation graph (cuDNN has no fused engine for this pattern here)");
    cudnnBackendDescriptor_t heur = make(g, CUDNN_BACKEND_ENGINEHEUR_DESCRIPTOR, "heuristics");
    cudnnBackendHeurMode_t mode = CUDNN_HEUR_MODE_A;
    set(g, heur, CUDNN_ATTR_ENGINEHEUR_OPERATION_GRAPH, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &og, "heur graph");
    set(g, heur, CUDNN_ATTR_ENGINEHEUR_MODE, CUDNN_TYPE_HEUR_MODE, 1, &mode, "heur mode");
    finish(g, heur, "heuristics");
    cudnnBackendDescriptor_t cfg[MAX_ENGINE_CONFIGS];
    for (int i = 0; i < MAX_ENGINE_CONFIGS; i++)
        cfg[i] = make(g, CUDNN_BACKEND_ENGINECFG_DESCRIPTOR, "engine config");
    int64_t n_cfg = 0;
    if (g->st == CUDNN_STATUS_SUCCESS)
        check(g, g->api->get_attr(heur, CUDNN_ATTR_ENGINEHEUR_RESULTS, CUDNN_TYPE_BACKEND_DESCRIPTOR,
                                  MAX_ENGINE_CONFIGS, &n_cfg, cfg), "heuristics results");
    for (int64_t i = 0; g->st == CUDNN_STATUS_SUCCESS && i < n_cfg; i++) {
        cudnnBackendDescriptor_t plan = make(g, CUDNN_BACKEND_EXECUTION_PLAN_DESCRIPTOR, "plan");
        set(g, plan, CUDNN_ATTR_EXECUTION_PLAN_HANDLE, CUDNN_TYPE_HANDLE, 1, &handle, "plan handle");
        set(g, plan, CUDNN_ATTR_EXECUTION_PLAN_ENGINE_CONFIG, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &cfg[i],
            "plan config");
        if (g->st != CUDNN_STATUS_SUCCESS || g->api->finalize(plan) != CUDNN_STATUS_SUCCESS)
            continue;          /* this engine cannot run the graph here: try the next */
        int64_t got = 0;
        check(g, g->api->get_attr(plan, CUDNN_ATTR_EXECUTION_PLAN_WORKSPACE_SIZE, CUDNN_TYPE_INT64, 1, &got,
                                  workspace_bytes), "plan workspace");
        return g->st == CUDNN_STATUS_SUCCESS ? plan : NULL;
    }
    check(g, CUDNN_STATUS_NOT_SUPPORTED, "no engine configuration builds a plan");
    return NULL;
}

/* ---------- the benchmark ---------- */

typedef struct sdpa_ctx {
    const cudnn_api *api;
    cudnnHandle_t handle;
    cudnnBackendDescriptor_t plan, pack;
    void *q, *k, *v, *o, *ws;
    float scale, masked;
} sdpa_ctx;

static int op_sdpa(void *v, cudaStream_t s, kt_err *err)
{
    sdpa_ctx *c = v;
    (void)s;                   /* the handle was set to the benchmark stream */
    cudnnStatus_t st = c->api->execute(c->handle, c->plan, c->pack);
    if (st != CUDNN_STATUS_SUCCESS) {
        KT_ERROR(err, NULL, 0, 0, "sdpa: cudnnBackendExecute: %s", c->api->error_string(st));
        return -1;
    }
    return 0;
}

/* Binds memory and values to the plan's tensors (descriptor owned by g). */
static void sdpa_pack(graph *g, sdpa_ctx *c)
{
    int64_t uids[] = { UID_Q, UID_K, UID_V, UID_O, UID_SCALE, UID_MASKED };
    void *ptrs[] = { c->q, c->k, c->v, c->o, &c->scale, &c->masked };
    c->pack = make(g, CUDNN_BACKEND_VARIANT_PACK_DESCRIPTOR, "variant pack");
    set(g, c->pack, CUDNN_ATTR_VARIANT_PACK_UNIQUE_IDS, CUDNN_TYPE_INT64, 6, uids, "pack ids");
    set(g, c->pack, CUDNN_ATTR_VARIANT_PACK_DATA_POINTERS, CUDNN_TYPE_VOID_PTR, 6, ptrs, "pack pointers");
    set(g, c->pack, CUDNN_ATTR_VARIANT_PACK_WORKSPACE, CUDNN_TYPE_VOID_PTR, 1, &c->ws, "pack workspace");
    finish(g, c->pack, "variant pack");
}

/* One sequence length: graph, plan, samples. */
static int sdpa_point(kt_bench *b, sdpa_ctx *c, int heads, int64_t n, double *ns, kt_err *err)
{
    graph g = { .api = c->api, .st = CUDNN_STATUS_SUCCESS };
    int64_t ws_bytes = 0;
    sdpa_graph(&g, heads, n, HEAD_DIM);
    c->plan = sdpa_plan(&g, c->handle, &ws_bytes);
    int rc = g.st == CUDNN_STATUS_SUCCESS ? 0 : -1;
    if (rc == 0 && ws_bytes > 0 && kt_dev_alloc(&c->ws, (size_t)ws_bytes, "cuDNN workspace", err) < 0)
        rc = -1;
    if (rc == 0)
        sdpa_pack(&g, c);
    if (rc == 0 && g.st != CUDNN_STATUS_SUCCESS)
        rc = -1;
    if (rc < 0 && g.st != CUDNN_STATUS_SUCCESS)
        KT_ERROR(err, NULL, 0, 0, "sdpa: %s: %s (n = %lld)", g.where, c->api->error_string(g.st), (long long)n);
    char name[96];
    snprintf(name, sizeof name, "bf16/h=%d/d=%d/b=1/causal", heads, HEAD_DIM);
    double flops = 2.0 * heads * HEAD_DIM * (double)n * ((double)n + 1.0);   /* causal: DESIGN.md */
    if (rc == 0)
        rc = kt_sample_gpu(b, NULL, op_sdpa, c, 1, ns, err) < 0 ||
             kt_record(b, CALIB_BENCH_SDPA, name, (double)n, flops, "FLOP", ns, err) < 0 ? -1 : 0;
    cudaFree(c->ws);
    c->ws = NULL;
    graph_free(&g);
    return rc;
}

int kt_bench_sdpa(kt_bench *b, kt_err *err)
{
    cudnn_api api;
    char why[512];
    if (api_load(&api, why, sizeof why) < 0) {
        printf("sdpa: skipped: cuDNN 9 cannot be loaded (%s)\n", why);
        if (api.lib)
            dlclose(api.lib);
        return KT_BENCH_SKIPPED;
    }
    int heads = b->p->prefill_heads;
    size_t max_n = (size_t)b->p->prefill_max_tokens, qkv = (size_t)heads * max_n * HEAD_DIM * 2;
    sdpa_ctx c;
    memset(&c, 0, sizeof c);
    c.api = &api;
    c.scale = 1.0f / sqrtf((float)HEAD_DIM);
    c.masked = MASKED_SCORE;
    printf("sdpa: cuDNN fused flash attention (causal, BF16), %d heads of dim %d\n", heads, HEAD_DIM);
    double *ns = calloc((size_t)b->p->samples, sizeof *ns);
    int rc = ns ? 0 : -1;
    cudnnStatus_t st = rc == 0 ? api.create(&c.handle) : CUDNN_STATUS_ALLOC_FAILED;
    if (st == CUDNN_STATUS_SUCCESS)
        st = api.set_stream(c.handle, b->stream);
    if (st != CUDNN_STATUS_SUCCESS) {
        KT_ERROR(err, NULL, 0, 0, "sdpa: cudnnCreate: %s", api.error_string(st));
        rc = -1;
    }
    rc = rc < 0 || kt_dev_alloc(&c.q, qkv, "Q", err) < 0 || kt_dev_alloc(&c.k, qkv, "K", err) < 0 ||
         kt_dev_alloc(&c.v, qkv, "V", err) < 0 || kt_dev_alloc(&c.o, qkv, "O", err) < 0 ? -1 : 0;
    void *fill[] = { c.q, c.k, c.v };
    for (size_t i = 0; rc == 0 && i < sizeof fill / sizeof fill[0]; i++)
        if (kt_launch_fill(fill[i], qkv / 2, KT_FILL_BF16, FILL_SEED + (uint32_t)i, b->stream) != cudaSuccess)
            rc = kt_cuda_fail(cudaGetLastError(), "fill Q/K/V", err);
    size_t lens[MAX_SWEEP];
    size_t n = kt_pow2_sweep(MIN_TOKENS, max_n, lens, MAX_SWEEP);
    for (size_t i = 0; rc == 0 && i < n; i++)
        rc = sdpa_point(b, &c, heads, (int64_t)lens[i], ns, err);
    void *bufs[] = { c.q, c.k, c.v, c.o };
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++)
        cudaFree(bufs[i]);
    if (c.handle)
        api.destroy(c.handle);
    dlclose(api.lib);
    free(ns);
    return rc < 0 ? KT_BENCH_FAILED : KT_BENCH_OK;
}

#endif
