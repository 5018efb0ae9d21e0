/* bench_sdpa.c — attention as serving engines run it: cuDNN's fused flash attention (scaled dot product) through the cuDNN 9 backend API for whole causal prefills, chunks after a cached prefix and paged decode, one graph builder for all three; cuDNN is loaded with dlopen so that the program runs where it is absent. */
#include <dlfcn.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench.h"
#include "calib_attn_work.h"
#include "calib_names.h"
#include "kt_kernels.h"

#if defined(__has_include)
#if __has_include(<cudnn_graph.h>)
#define KT_HAVE_CUDNN_HEADERS 1
#endif
#endif

#ifndef KT_HAVE_CUDNN_HEADERS

static int skipped(const char *bench)
{
    printf("%s: skipped: built without cuDNN headers (cudnn_graph.h beside the CUDA headers)\n", bench);
    return KT_BENCH_SKIPPED;
}

int kt_bench_sdpa(kt_bench *b, kt_err *err)
{
    (void)b;
    (void)err;
    return skipped(CALIB_BENCH_SDPA);
}

int kt_bench_sdpa_chunked(kt_bench *b, kt_err *err)
{
    (void)b;
    (void)err;
    return skipped(CALIB_BENCH_SDPA_CHUNKED);
}

int kt_bench_sdpa_decode(kt_bench *b, kt_err *err)
{
    (void)b;
    (void)err;
    return skipped(CALIB_BENCH_SDPA_DECODE);
}

int kt_sdpa_check_graphs(const kt_params *p, kt_err *err)
{
    (void)p;
    (void)err;
    return skipped("cuDNN graphs");
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
#define BF16_BYTES 2

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

/* Up to this many descriptors make one SDPA graph (tensors, operators,
 * operations): the paged graph with both masks takes about 60 and 17. */
#define MAX_DESCS 96
#define MAX_OPS 24

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
    if (g->st == CUDNN_STATUS_SUCCESS && g->n_ops == MAX_OPS)
        check(g, CUDNN_STATUS_INTERNAL_ERROR, "too many operations");
    if (g->st == CUDNN_STATUS_SUCCESS)
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
enum {
    UID_Q = 1, UID_K, UID_V, UID_O, UID_SCALE, UID_MASKED, UID_DIAG_OFFSET, UID_PAGE_TABLE, UID_SEQ_Q, UID_SEQ_KV,
    UID_VIRTUAL = 100
};

/* One attention call: batch sequences of q_tokens queries over kv_tokens
 * keys, q_heads query heads sharing kv_heads KV heads (GQA), head_dim. With
 * causal set the mask is aligned bottom-right: query i sees keys up to
 * kv_tokens - q_tokens + i (a chunk after a cached prefix). With
 * page_tokens > 0, K and V are pools of pages [page][kv_head][slot][dim]
 * read through a page table per sequence, and a padding mask by the
 * sequence lengths bounds the keys (cuDNN's paged attention takes them). */
typedef struct sdpa_shape {
    int64_t batch, q_heads, kv_heads, q_tokens, kv_tokens, head_dim;
    cudnnDataType_t io;        /* Q, K, V and O: BF16 or FP16 */
    int causal;
    int64_t page_tokens, pages;
} sdpa_shape;

/* Dims and strides of [b, h, rows, cols] row-major blocks of rows × cols. */
static void shape4(tensor_spec *t, int64_t b, int64_t h, int64_t rows, int64_t cols)
{
    int64_t dim[RANK] = { b, h, rows, cols }, stride[RANK] = { h * rows * cols, rows * cols, cols, 1 };
    memcpy(t->dim, dim, sizeof dim);
    memcpy(t->stride, stride, sizeof stride);
}

/* The transpose of [b, h, rows, cols] row-major: [b, h, cols, rows]. */
static void shape4_t(tensor_spec *t, int64_t b, int64_t h, int64_t rows, int64_t cols)
{
    int64_t dim[RANK] = { b, h, cols, rows }, stride[RANK] = { h * rows * cols, rows * cols, 1, cols };
    memcpy(t->dim, dim, sizeof dim);
    memcpy(t->stride, stride, sizeof stride);
}

/* A by-value FP32 scalar, bound at execution under uid. */
static cudnnBackendDescriptor_t scalar(graph *g, int64_t uid)
{
    tensor_spec t = { uid, CUDNN_DATA_FLOAT, { 1, 1, 1, 1 }, { 1, 1, 1, 1 }, 0, 1, 0 };
    return tensor(g, &t);
}

/* A virtual tensor of [b, h, rows, cols]. */
static cudnnBackendDescriptor_t scratch(graph *g, int64_t *uid, const sdpa_shape *s, int64_t rows, int64_t cols,
                                        cudnnDataType_t type, int reorder)
{
    tensor_spec t = { (*uid)++, type, { 0 }, { 0 }, 1, 0, reorder };
    shape4(&t, s->batch, s->q_heads, rows, cols);
    return tensor(g, &t);
}

/* An INT32 tensor [batch, 1, rows, 1] in memory: page tables, sequence lengths. */
static cudnnBackendDescriptor_t int_column(graph *g, int64_t uid, int64_t batch, int64_t rows)
{
    tensor_spec t = { uid, CUDNN_DATA_INT32, { batch, 1, rows, 1 }, { rows, rows, 1, 1 }, 0, 0, 0 };
    return tensor(g, &t);
}

/* y = the pages of container that table lists, up to each sequence's length. */
static void paged_load(graph *g, cudnnBackendDescriptor_t container, cudnnBackendDescriptor_t table,
                       cudnnBackendDescriptor_t seq_len, cudnnBackendDescriptor_t y)
{
    cudnnBackendDescriptor_t op = make(g, CUDNN_BACKEND_OPERATION_PAGED_CACHE_LOAD_DESCRIPTOR, "paged cache load");
    set(g, op, CUDNN_ATTR_OPERATION_PAGED_CACHE_LOAD_CONTAINER_DESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &container,
        "paged load container");
    set(g, op, CUDNN_ATTR_OPERATION_PAGED_CACHE_LOAD_PAGE_TABLE_DESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &table,
        "paged load page table");
    set(g, op, CUDNN_ATTR_OPERATION_PAGED_CACHE_LOAD_SEQUENCE_DESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &seq_len,
        "paged load sequence lengths");
    set(g, op, CUDNN_ATTR_OPERATION_PAGED_CACHE_LOAD_YDESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &y, "paged load y");
    add_op(g, op, "paged cache load (cuDNN older than 9.5 has none)");
}

/* Kᵀ and V as the products read them: tensors in memory, or, paged, the
 * virtual results of loading them through the page table. */
static void sdpa_kv(graph *g, int64_t *uid, const sdpa_shape *s, cudnnBackendDescriptor_t seq_kv,
                    cudnnBackendDescriptor_t *kt, cudnnBackendDescriptor_t *v)
{
    tensor_spec k_spec = { UID_K, s->io, { 0 }, { 0 }, 0, 0, 0 }, v_spec = k_spec;
    v_spec.uid = UID_V;
    if (s->page_tokens <= 0) {
        shape4_t(&k_spec, s->batch, s->kv_heads, s->kv_tokens, s->head_dim);
        shape4(&v_spec, s->batch, s->kv_heads, s->kv_tokens, s->head_dim);
        *kt = tensor(g, &k_spec);
        *v = tensor(g, &v_spec);
        return;
    }
    shape4(&k_spec, s->pages, s->kv_heads, s->page_tokens, s->head_dim);
    shape4(&v_spec, s->pages, s->kv_heads, s->page_tokens, s->head_dim);
    cudnnBackendDescriptor_t k_pool = tensor(g, &k_spec), v_pool = tensor(g, &v_spec);
    cudnnBackendDescriptor_t table = int_column(g, UID_PAGE_TABLE, s->batch, s->kv_tokens / s->page_tokens);
    tensor_spec kt_virt = { (*uid)++, s->io, { 0 }, { 0 }, 1, 0, 0 }, v_virt = kt_virt;
    v_virt.uid = (*uid)++;
    shape4_t(&kt_virt, s->batch, s->kv_heads, s->kv_tokens, s->head_dim);
    shape4(&v_virt, s->batch, s->kv_heads, s->kv_tokens, s->head_dim);
    *kt = tensor(g, &kt_virt);
    *v = tensor(g, &v_virt);
    paged_load(g, k_pool, table, seq_kv, *kt);
    paged_load(g, v_pool, table, seq_kv, *v);
}

/* and = a AND b, or a alone when b is NULL. */
static cudnnBackendDescriptor_t both(graph *g, int64_t *uid, const sdpa_shape *s, cudnnBackendDescriptor_t a,
                                     cudnnBackendDescriptor_t b)
{
    if (!b)
        return a;
    cudnnBackendDescriptor_t and = scratch(g, uid, s, s->q_tokens, s->kv_tokens, CUDNN_DATA_BOOLEAN, 0);
    pointwise(g, CUDNN_POINTWISE_LOGICAL_AND, CUDNN_DATA_BOOLEAN, -1, a, b, NULL, and);
    return and;
}

/* Which scores count: the causal mask (row + kv_tokens - q_tokens >= column,
 * the offset added only when there is a prefix), and for paged KV the
 * padding mask (row < seq_len_q and column < seq_len_kv). NULL for none. */
static cudnnBackendDescriptor_t sdpa_keep(graph *g, int64_t *uid, const sdpa_shape *s,
                                          cudnnBackendDescriptor_t scores, cudnnBackendDescriptor_t seq_q,
                                          cudnnBackendDescriptor_t seq_kv)
{
    if (!s->causal && s->page_tokens <= 0)
        return NULL;
    int64_t n = s->q_tokens, m = s->kv_tokens;
    /* Indices compared with the INT32 sequence lengths are INT32 themselves. */
    cudnnDataType_t idx = s->page_tokens > 0 ? CUDNN_DATA_INT32 : CUDNN_DATA_FLOAT;
    cudnnBackendDescriptor_t row = scratch(g, uid, s, n, m, idx, 0);
    cudnnBackendDescriptor_t col = scratch(g, uid, s, n, m, idx, 0);
    pointwise(g, CUDNN_POINTWISE_GEN_INDEX, idx, 2, scores, NULL, NULL, row);
    pointwise(g, CUDNN_POINTWISE_GEN_INDEX, idx, 3, scores, NULL, NULL, col);
    cudnnBackendDescriptor_t keep = NULL;
    if (s->causal) {
        cudnnBackendDescriptor_t diag = row;
        if (m > n) {
            diag = scratch(g, uid, s, n, m, idx, 0);
            pointwise(g, CUDNN_POINTWISE_ADD, idx, -1, row, scalar(g, UID_DIAG_OFFSET), NULL, diag);
        }
        keep = scratch(g, uid, s, n, m, CUDNN_DATA_BOOLEAN, 0);
        pointwise(g, CUDNN_POINTWISE_CMP_GE, CUDNN_DATA_BOOLEAN, -1, diag, col, NULL, keep);
    }
    if (s->page_tokens > 0) {
        cudnnBackendDescriptor_t in_q = scratch(g, uid, s, n, m, CUDNN_DATA_BOOLEAN, 0);
        cudnnBackendDescriptor_t in_kv = scratch(g, uid, s, n, m, CUDNN_DATA_BOOLEAN, 0);
        pointwise(g, CUDNN_POINTWISE_CMP_LT, CUDNN_DATA_BOOLEAN, -1, row, seq_q, NULL, in_q);
        pointwise(g, CUDNN_POINTWISE_CMP_LT, CUDNN_DATA_BOOLEAN, -1, col, seq_kv, NULL, in_kv);
        keep = both(g, uid, s, both(g, uid, s, in_q, in_kv), keep);
    }
    return keep;
}

/* O = softmax(mask(scale · Q Kᵀ)) V — the pattern of cuDNN's fused flash
 * attention forward (inference: no softmax statistics, no dropout), for
 * prefill (causal, with or without a cached prefix) and decode (one query,
 * paged or contiguous KV) alike. */
static void sdpa_graph(graph *g, const sdpa_shape *s)
{
    int64_t uid = UID_VIRTUAL, n = s->q_tokens, m = s->kv_tokens;
    tensor_spec q = { UID_Q, s->io, { 0 }, { 0 }, 0, 0, 0 }, o = q;
    shape4(&q, s->batch, s->q_heads, n, s->head_dim);
    o.uid = UID_O;
    shape4(&o, s->batch, s->q_heads, n, s->head_dim);
    cudnnBackendDescriptor_t tq = tensor(g, &q), to = tensor(g, &o), tk, tv, seq_q = NULL, seq_kv = NULL;
    if (s->page_tokens > 0) {
        seq_q = int_column(g, UID_SEQ_Q, s->batch, 1);
        seq_kv = int_column(g, UID_SEQ_KV, s->batch, 1);
    }
    sdpa_kv(g, &uid, s, seq_kv, &tk, &tv);
    cudnnBackendDescriptor_t sc = scratch(g, &uid, s, n, m, CUDNN_DATA_FLOAT, 0);
    matmul(g, tq, tk, sc);
    cudnnBackendDescriptor_t scaled = scratch(g, &uid, s, n, m, CUDNN_DATA_FLOAT, 0);
    pointwise(g, CUDNN_POINTWISE_MUL, CUDNN_DATA_FLOAT, -1, sc, scalar(g, UID_SCALE), NULL, scaled);
    cudnnBackendDescriptor_t keep = sdpa_keep(g, &uid, s, scaled, seq_q, seq_kv), masked = scaled;
    if (keep) {
        masked = scratch(g, &uid, s, n, m, CUDNN_DATA_FLOAT, 0);
        pointwise(g, CUDNN_POINTWISE_BINARY_SELECT, CUDNN_DATA_FLOAT, -1, scaled, scalar(g, UID_MASKED), keep,
                  masked);
    }
    /* Softmax along the keys. */
    cudnnBackendDescriptor_t max = scratch(g, &uid, s, n, 1, CUDNN_DATA_FLOAT, 0);
    cudnnBackendDescriptor_t shifted = scratch(g, &uid, s, n, m, CUDNN_DATA_FLOAT, 0);
    cudnnBackendDescriptor_t e = scratch(g, &uid, s, n, m, CUDNN_DATA_FLOAT, 0);
    cudnnBackendDescriptor_t sum = scratch(g, &uid, s, n, 1, CUDNN_DATA_FLOAT, 0);
    cudnnBackendDescriptor_t p = scratch(g, &uid, s, n, m, CUDNN_DATA_FLOAT, 1);
    reduction(g, CUDNN_REDUCE_TENSOR_MAX, masked, max);
    pointwise(g, CUDNN_POINTWISE_SUB, CUDNN_DATA_FLOAT, -1, masked, max, NULL, shifted);
    pointwise(g, CUDNN_POINTWISE_EXP, CUDNN_DATA_FLOAT, -1, shifted, NULL, NULL, e);
    reduction(g, CUDNN_REDUCE_TENSOR_ADD, e, sum);
    pointwise(g, CUDNN_POINTWISE_DIV, CUDNN_DATA_FLOAT, -1, e, sum, NULL, p);
    matmul(g, p, tv, to);
}

/* The finalized operation graph of g's operations (owned by g); handle may
 * be NULL, which is enough to check the descriptors and the pattern
 * without a GPU (planning needs one). */
static cudnnBackendDescriptor_t sdpa_op_graph(graph *g, cudnnHandle_t handle)
{
    cudnnBackendDescriptor_t og = make(g, CUDNN_BACKEND_OPERATIONGRAPH_DESCRIPTOR, "operation graph");
    if (handle)
        set(g, og, CUDNN_ATTR_OPERATIONGRAPH_HANDLE, CUDNN_TYPE_HANDLE, 1, &handle, "graph handle");
    set(g, og, CUDNN_ATTR_OPERATIONGRAPH_OPS, CUDNN_TYPE_BACKEND_DESCRIPTOR, g->n_ops, g->ops, "graph ops");
    finish(g, og, "operation graph (cuDNN has no fused engine for this pattern here)");
    return og;
}

/* A finalized execution plan for the graph: the first engine configuration
 * of the heuristics (mode A) that builds. */
static cudnnBackendDescriptor_t sdpa_plan(graph *g, cudnnHandle_t handle, int64_t *workspace_bytes)
{
    cudnnBackendDescriptor_t og = sdpa_op_graph(g, handle);
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

/* ---------- the benchmarks ---------- */

/* What a graph of any shape binds: device buffers and by-value scalars. */
typedef struct sdpa_ctx {
    const cudnn_api *api;
    cudnnHandle_t handle;
    cudnnBackendDescriptor_t plan, pack;
    void *q, *k, *v, *o, *ws;
    int32_t *page_table, *seq_q, *seq_kv;   /* device; paged graphs only */
    float scale, masked, diag_offset;
} sdpa_ctx;

static int op_sdpa(void *v, cudaStream_t s, kt_err *err)
{
    sdpa_ctx *c = v;
    (void)s;                   /* the handle was set to the benchmark stream */
    cudnnStatus_t st = c->api->execute(c->handle, c->plan, c->pack);
    if (st != CUDNN_STATUS_SUCCESS) {
        KT_ERROR(err, NULL, 0, 0, "cudnnBackendExecute: %s", c->api->error_string(st));
        return -1;
    }
    return 0;
}

#define MAX_BOUND 10

/* Binds memory and values to the tensors the graph of s has (descriptor owned by g). */
static void sdpa_pack(graph *g, sdpa_ctx *c, const sdpa_shape *s)
{
    int64_t uids[MAX_BOUND] = { UID_Q, UID_K, UID_V, UID_O, UID_SCALE };
    void *ptrs[MAX_BOUND] = { c->q, c->k, c->v, c->o, &c->scale };
    int64_t n = 5;
    if (s->causal || s->page_tokens > 0) {
        uids[n] = UID_MASKED;
        ptrs[n++] = &c->masked;
    }
    if (s->causal && s->kv_tokens > s->q_tokens) {
        c->diag_offset = (float)(s->kv_tokens - s->q_tokens);
        uids[n] = UID_DIAG_OFFSET;
        ptrs[n++] = &c->diag_offset;
    }
    if (s->page_tokens > 0) {
        int64_t more[] = { UID_PAGE_TABLE, UID_SEQ_Q, UID_SEQ_KV };
        void *at[] = { c->page_table, c->seq_q, c->seq_kv };
        for (size_t i = 0; i < sizeof more / sizeof more[0]; i++) {
            uids[n] = more[i];
            ptrs[n++] = at[i];
        }
    }
    c->pack = make(g, CUDNN_BACKEND_VARIANT_PACK_DESCRIPTOR, "variant pack");
    set(g, c->pack, CUDNN_ATTR_VARIANT_PACK_UNIQUE_IDS, CUDNN_TYPE_INT64, n, uids, "pack ids");
    set(g, c->pack, CUDNN_ATTR_VARIANT_PACK_DATA_POINTERS, CUDNN_TYPE_VOID_PTR, n, ptrs, "pack pointers");
    set(g, c->pack, CUDNN_ATTR_VARIANT_PACK_WORKSPACE, CUDNN_TYPE_VOID_PTR, 1, &c->ws, "pack workspace");
    finish(g, c->pack, "variant pack");
}

/* sdpa_point's result when cuDNN refused the graph (err says why). */
#define SDPA_REFUSED 1

/* One point: builds the graph of s, plans it, samples it and records the
 * samples as (bench, case_name, x, work FLOP or B). Returns 0; SDPA_REFUSED
 * when cuDNN cannot build or plan the graph; -1 on any other error. err
 * set on both. Everything the point made is freed; c's buffers stay. */
static int sdpa_point(kt_bench *b, sdpa_ctx *c, const sdpa_shape *s, const char *bench, const char *case_name,
                      double x, double work, const char *unit, double *ns, kt_err *err)
{
    graph g = { .api = c->api, .st = CUDNN_STATUS_SUCCESS };
    int64_t ws_bytes = 0;
    sdpa_graph(&g, s);
    c->plan = sdpa_plan(&g, c->handle, &ws_bytes);
    int rc = g.st == CUDNN_STATUS_SUCCESS ? 0 : SDPA_REFUSED;
    if (rc == 0 && ws_bytes > 0 && kt_dev_alloc(&c->ws, (size_t)ws_bytes, "cuDNN workspace", err) < 0)
        rc = -1;
    if (rc == 0)
        sdpa_pack(&g, c, s);
    if (rc == 0 && g.st != CUDNN_STATUS_SUCCESS)
        rc = SDPA_REFUSED;
    if (rc == SDPA_REFUSED)
        KT_ERROR(err, NULL, 0, 0, "%s x = %.0f: %s: %s", case_name, x, g.where, c->api->error_string(g.st));
    if (rc == 0)
        rc = kt_sample_gpu(b, NULL, op_sdpa, c, 1, ns, err) < 0 ||
             kt_record(b, bench, case_name, x, work, unit, ns, err) < 0 ? -1 : 0;
    cudaFree(c->ws);
    c->ws = NULL;
    graph_free(&g);
    return rc;
}

/* What every SDPA benchmark sets up and tears down: cuDNN loaded, a handle
 * on the benchmark stream, the sample buffer. */
typedef struct sdpa_env {
    cudnn_api api;
    sdpa_ctx c;
    double *ns;
    struct timespec start;     /* when the benchmark began (sweep budget) */
    int stopped;               /* the budget ran out: no new point */
} sdpa_env;

/* Whether the sweep may start another point: not once p->sweep_budget_s
 * has passed since the benchmark began (said once; what was measured stays). */
static int sdpa_env_go_on(sdpa_env *e, const kt_params *p, const char *bench)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    double elapsed_s = (double)(now.tv_sec - e->start.tv_sec) + (double)(now.tv_nsec - e->start.tv_nsec) * 1e-9;
    if (!e->stopped && p->sweep_budget_s > 0 && elapsed_s > p->sweep_budget_s) {
        e->stopped = 1;
        printf("%s: %.0f s spent, the sweep budget (%.0f s of --bench-timeout): the remaining points are left "
               "out\n", bench, elapsed_s, p->sweep_budget_s);
    }
    return !e->stopped;
}

/* KT_BENCH_OK with env ready, KT_BENCH_SKIPPED (why printed) without
 * cuDNN 9, KT_BENCH_FAILED with err. sdpa_env_free either way. */
static int sdpa_env_init(sdpa_env *e, kt_bench *b, const char *bench, int64_t head_dim, kt_err *err)
{
    char why[512];
    memset(e, 0, sizeof *e);
    clock_gettime(CLOCK_MONOTONIC, &e->start);
    if (api_load(&e->api, why, sizeof why) < 0) {
        printf("%s: skipped: cuDNN 9 cannot be loaded (%s)\n", bench, why);
        return KT_BENCH_SKIPPED;
    }
    e->c.api = &e->api;
    e->c.scale = 1.0f / sqrtf((float)head_dim);
    e->c.masked = MASKED_SCORE;
    e->ns = calloc((size_t)b->p->samples, sizeof *e->ns);
    cudnnStatus_t st = e->ns ? e->api.create(&e->c.handle) : CUDNN_STATUS_ALLOC_FAILED;
    if (st == CUDNN_STATUS_SUCCESS)
        st = e->api.set_stream(e->c.handle, b->stream);
    if (st != CUDNN_STATUS_SUCCESS) {
        KT_ERROR(err, NULL, 0, 0, "%s: cudnnCreate: %s", bench, e->api.error_string(st));
        return KT_BENCH_FAILED;
    }
    return KT_BENCH_OK;
}

static void sdpa_env_free(sdpa_env *e)
{
    void *bufs[] = { e->c.q, e->c.k, e->c.v, e->c.o, e->c.page_table, e->c.seq_q, e->c.seq_kv };
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++)
        cudaFree(bufs[i]);
    if (e->c.handle)
        e->api.destroy(e->c.handle);
    if (e->api.lib)
        dlclose(e->api.lib);
    free(e->ns);
}

/* Fills Q, K and V with 16-bit values of kind in [-1, 1) (zeros would flatter the clocks). */
static int sdpa_fill(sdpa_ctx *c, size_t q_bytes, size_t kv_bytes, kt_fill_kind kind, cudaStream_t stream,
                     kt_err *err)
{
    void *fill[] = { c->q, c->k, c->v };
    size_t bytes[] = { q_bytes, kv_bytes, kv_bytes };
    for (size_t i = 0; i < sizeof fill / sizeof fill[0]; i++)
        if (kt_launch_fill(fill[i], bytes[i] / BF16_BYTES, kind, FILL_SEED + (uint32_t)i, stream) != cudaSuccess)
            return kt_cuda_fail(cudaGetLastError(), "fill Q/K/V", err);
    return 0;
}

/* Allocates Q and O of q_bytes, K and V of kv_bytes, and fills them (sdpa_fill). */
static int sdpa_alloc(sdpa_ctx *c, size_t q_bytes, size_t kv_bytes, kt_fill_kind kind, cudaStream_t stream,
                      kt_err *err)
{
    if (kt_dev_alloc(&c->q, q_bytes, "Q", err) < 0 || kt_dev_alloc(&c->k, kv_bytes, "K", err) < 0 ||
        kt_dev_alloc(&c->v, kv_bytes, "V", err) < 0 || kt_dev_alloc(&c->o, q_bytes, "O", err) < 0)
        return -1;
    return sdpa_fill(c, q_bytes, kv_bytes, kind, stream, err);
}

/* Prefixes a point's error with the benchmark's name for the failure record. */
static int sdpa_fail(const char *bench, kt_err *err)
{
    kt_err inner = *err;
    KT_ERROR(err, NULL, 0, 0, "%s: %s", bench, inner.msg);
    return KT_BENCH_FAILED;
}

/* A causal prefill shape of one sequence: heads query and KV heads of HEAD_DIM. */
static sdpa_shape prefill_shape(int heads, int64_t q_tokens, int64_t kv_tokens)
{
    return (sdpa_shape){ .batch = 1, .q_heads = heads, .kv_heads = heads, .q_tokens = q_tokens,
                         .kv_tokens = kv_tokens, .head_dim = HEAD_DIM, .io = CUDNN_DATA_BFLOAT16, .causal = 1 };
}

int kt_bench_sdpa(kt_bench *b, kt_err *err)
{
    sdpa_env e;
    int heads = b->p->prefill_heads, rc = sdpa_env_init(&e, b, CALIB_BENCH_SDPA, HEAD_DIM, err);
    size_t max_n = (size_t)b->p->prefill_max_tokens, qkv = (size_t)heads * max_n * HEAD_DIM * BF16_BYTES;
    if (rc == KT_BENCH_OK) {
        printf("sdpa: cuDNN fused flash attention (causal, BF16), %d heads of dim %d\n", heads, HEAD_DIM);
        rc = sdpa_alloc(&e.c, qkv, qkv, KT_FILL_BF16, b->stream, err) < 0 ? KT_BENCH_FAILED : rc;
    }
    char name[96];
    snprintf(name, sizeof name, "bf16/h=%d/d=%d/b=1/causal", heads, HEAD_DIM);
    size_t lens[MAX_SWEEP];
    size_t n = kt_pow2_sweep(MIN_TOKENS, max_n, lens, MAX_SWEEP);
    for (size_t i = 0; rc == KT_BENCH_OK && i < n && sdpa_env_go_on(&e, b->p, CALIB_BENCH_SDPA); i++) {
        sdpa_shape s = prefill_shape(heads, (int64_t)lens[i], (int64_t)lens[i]);
        double flops = calib_attn_work_causal_flops(heads, HEAD_DIM, (int64_t)lens[i], 0);
        if (sdpa_point(b, &e.c, &s, CALIB_BENCH_SDPA, name, (double)lens[i], flops, "FLOP", e.ns, err) != 0)
            rc = sdpa_fail(CALIB_BENCH_SDPA, err);
    }
    sdpa_env_free(&e);
    return rc;
}

/* Chunked prefill: each chunk length q of p->chunk_tokens after cached
 * prefixes of p->chunk_min_prefix .. chunk_max_prefix tokens; x is the
 * context (prefix + chunk), the length the cost model looks the curve up by. */
int kt_bench_sdpa_chunked(kt_bench *b, kt_err *err)
{
    const char *bench = CALIB_BENCH_SDPA_CHUNKED;
    const kt_params *p = b->p;
    sdpa_env e;
    int heads = p->prefill_heads, rc = sdpa_env_init(&e, b, bench, HEAD_DIM, err), max_q = 0;
    for (int i = 0; i < p->n_chunk_tokens; i++)
        max_q = p->chunk_tokens[i] > max_q ? p->chunk_tokens[i] : max_q;
    size_t row = (size_t)heads * HEAD_DIM * BF16_BYTES, q_bytes = row * (size_t)max_q;
    size_t kv_bytes = row * ((size_t)p->chunk_max_prefix + (size_t)max_q);
    if (rc == KT_BENCH_OK) {
        printf("%s: cuDNN fused flash attention, causal aligned bottom-right (chunks after a cached prefix), "
               "BF16, %d heads of dim %d\n", bench, heads, HEAD_DIM);
        rc = sdpa_alloc(&e.c, q_bytes, kv_bytes, KT_FILL_BF16, b->stream, err) < 0 ? KT_BENCH_FAILED : rc;
    }
    size_t prefixes[MAX_SWEEP];
    size_t n = kt_pow2_sweep((size_t)p->chunk_min_prefix, (size_t)p->chunk_max_prefix, prefixes, MAX_SWEEP);
    for (int qi = 0; rc == KT_BENCH_OK && qi < p->n_chunk_tokens; qi++) {
        int64_t q = p->chunk_tokens[qi];
        char name[96];
        snprintf(name, sizeof name, "bf16/h=%d/d=%d/b=1/causal/q=%lld", heads, HEAD_DIM, (long long)q);
        for (size_t i = 0; rc == KT_BENCH_OK && i < n && sdpa_env_go_on(&e, p, bench); i++) {
            int64_t ctx = (int64_t)prefixes[i] + q;
            sdpa_shape s = prefill_shape(heads, q, ctx);
            double flops = calib_attn_work_causal_flops(heads, HEAD_DIM, q, (int64_t)prefixes[i]);
            if (sdpa_point(b, &e.c, &s, bench, name, (double)ctx, flops, "FLOP", e.ns, err) != 0)
                rc = sdpa_fail(bench, err);
        }
    }
    sdpa_env_free(&e);
    return rc;
}

/* cuDNN's type and the fill of each KV type of kt_sdpa_decode_cfgs. FP8 KV
 * is left to the own kernel: cuDNN's FP8 forward takes Q, K and V all in
 * FP8 with descale and scale tensors and amax outputs, a different graph. */
static const struct decode_type { const char *name; cudnnDataType_t type; kt_fill_kind fill; } decode_types[] = {
    { "bf16", CUDNN_DATA_BFLOAT16, KT_FILL_BF16 }, { "fp16", CUDNN_DATA_HALF, KT_FILL_FP16 },
};
#define DECODE_HEAD_DIM KT_SDPA_DECODE_HEAD_DIM

/* The entry of decode_types named name (the last when none is). */
static const struct decode_type *decode_type(const char *name)
{
    size_t t = 0;
    while (t + 1 < sizeof decode_types / sizeof decode_types[0] && strcmp(decode_types[t].name, name) != 0)
        t++;
    return &decode_types[t];
}
/* K, V and everything else share the free memory (as bench_attn.c's pools do). */
#define DECODE_MEMORY_SHARE 3
#define KV_POOLS 2

/* Uploads the page table (a fixed shuffle, as the own kernel's curve uses)
 * and the sequence lengths of batch sequences of ctx tokens. */
static int decode_tables(sdpa_ctx *c, int batch, int64_t ctx, int64_t page_tokens, kt_err *err)
{
    int pages_per_seq = (int)(ctx / page_tokens);
    size_t n = (size_t)batch * (size_t)pages_per_seq;
    int32_t *bt = malloc(n * sizeof *bt), *lens = malloc((size_t)batch * 2 * sizeof *lens);
    int rc = bt && lens ? 0 : -1;
    if (rc < 0)
        KT_ERROR(err, NULL, 0, 0, "out of memory for a page table of %zu pages", n);
    if (rc == 0) {
        kt_block_table(bt, batch, pages_per_seq, 1);
        for (int i = 0; i < batch; i++) {
            lens[i] = 1;
            lens[batch + i] = (int32_t)ctx;
        }
        cudaFree(c->page_table);
        c->page_table = NULL;
        rc = kt_dev_alloc((void **)&c->page_table, n * sizeof *bt, "page table", err);
    }
    if (rc == 0)
        rc = cudaMemcpy(c->page_table, bt, n * sizeof *bt, cudaMemcpyHostToDevice) != cudaSuccess ||
             cudaMemcpy(c->seq_q, lens, (size_t)batch * sizeof *lens, cudaMemcpyHostToDevice) != cudaSuccess ||
             cudaMemcpy(c->seq_kv, lens + batch, (size_t)batch * sizeof *lens, cudaMemcpyHostToDevice) != cudaSuccess
             ? kt_cuda_fail(cudaGetLastError(), "upload page table", err) : 0;
    free(bt);
    free(lens);
    return rc;
}

/* One decode point of shape s (its page table uploaded first when paged);
 * sdpa_point's result. */
static int decode_point(kt_bench *b, sdpa_ctx *c, const sdpa_shape *s, int group, const char *type_name,
                        double kv_bytes, double *ns, kt_err *err)
{
    char name[96];
    snprintf(name, sizeof name, "%s/page=%lld/g=%d/d=%lld/b=%lld%s", type_name, (long long)s->page_tokens, group,
             (long long)s->head_dim, (long long)s->batch, s->page_tokens > 0 ? CALIB_SDPA_PAGED : CALIB_SDPA_CONTIGUOUS);
    if (s->page_tokens > 0 && decode_tables(c, (int)s->batch, s->kv_tokens, s->page_tokens, err) < 0)
        return -1;
    return sdpa_point(b, c, s, CALIB_BENCH_SDPA_DECODE, name, (double)s->kv_tokens, kv_bytes, "B", ns, err);
}

/* Decode: one query per sequence over ctx cached tokens, by KV type, GQA
 * group, batch and context; paged through page tables of
 * p->sdpa_decode_page_tokens while cuDNN accepts the paged graph, else (the
 * reason printed once) contiguous KV per sequence. x is the context; the
 * work is the KV bytes read (calib_attn_work_decode_kv_bytes). */
int kt_bench_sdpa_decode(kt_bench *b, kt_err *err)
{
    const char *bench = CALIB_BENCH_SDPA_DECODE;
    const kt_params *p = b->p;
    sdpa_env e;
    int rc = sdpa_env_init(&e, b, bench, DECODE_HEAD_DIM, err), max_b = 0, max_g = 0;
    for (int i = 0; i < p->n_decode_batches; i++)
        max_b = p->decode_batches[i] > max_b ? p->decode_batches[i] : max_b;
    for (size_t i = 0; i < kt_n_sdpa_decode_cfgs; i++)
        max_g = kt_sdpa_decode_cfgs[i].group > max_g ? kt_sdpa_decode_cfgs[i].group : max_g;
    double pool = fmin((double)p->decode_max_bytes / KV_POOLS, (double)kt_dev_free_bytes() / DECODE_MEMORY_SHARE);
    size_t q_bytes = (size_t)max_b * (size_t)max_g * (size_t)p->decode_kv_heads * DECODE_HEAD_DIM * BF16_BYTES;
    if (rc == KT_BENCH_OK) {
        printf("%s: cuDNN fused flash attention, one query per sequence, %d KV heads of dim %d, pages of %d\n",
               bench, p->decode_kv_heads, DECODE_HEAD_DIM, p->sdpa_decode_page_tokens);
        rc = sdpa_alloc(&e.c, q_bytes, (size_t)pool, KT_FILL_BF16, b->stream, err) < 0 ||
             kt_dev_alloc((void **)&e.c.seq_q, (size_t)max_b * sizeof(int32_t), "seq_len_q", err) < 0 ||
             kt_dev_alloc((void **)&e.c.seq_kv, (size_t)max_b * sizeof(int32_t), "seq_len_kv", err) < 0
             ? KT_BENCH_FAILED : rc;
    }
    size_t ctxs[MAX_SWEEP];
    size_t n = kt_geometric_sweep(KT_SDPA_DECODE_MIN_CONTEXT, (size_t)p->decode_max_context,
                                  KT_SDPA_DECODE_CONTEXT_STEP, ctxs, MAX_SWEEP);
    int64_t page = p->sdpa_decode_page_tokens;
    size_t filled = 0;         /* decode_types[filled] is in the buffers */
    for (size_t k = 0; rc == KT_BENCH_OK && k < kt_n_sdpa_decode_cfgs; k++) {
        const kt_sdpa_decode_cfg *cfg = &kt_sdpa_decode_cfgs[k];
        size_t t = (size_t)(decode_type(cfg->kv_type) - decode_types);
        if (t != filled && sdpa_fill(&e.c, q_bytes, (size_t)pool, decode_types[t].fill, b->stream, err) < 0)
            rc = KT_BENCH_FAILED;
        filled = t;
        for (int bi = 0; rc == KT_BENCH_OK && bi < p->n_decode_batches; bi++)
            for (size_t i = 0; rc == KT_BENCH_OK && i < n && sdpa_env_go_on(&e, p, bench); i++) {
                int batch = p->decode_batches[bi];
                int64_t ctx = (int64_t)ctxs[i];
                double kv = calib_attn_work_decode_kv_bytes(batch, p->decode_kv_heads, DECODE_HEAD_DIM, ctx,
                                                            BF16_BYTES);
                if (kv / KV_POOLS > pool)
                    continue;
                sdpa_shape s = { .batch = batch, .q_heads = (int64_t)cfg->group * p->decode_kv_heads,
                                 .kv_heads = p->decode_kv_heads, .q_tokens = 1, .kv_tokens = ctx,
                                 .head_dim = DECODE_HEAD_DIM, .io = decode_types[t].type,
                                 .page_tokens = page, .pages = page > 0 ? batch * (ctx / page) : 0 };
                int res = decode_point(b, &e.c, &s, cfg->group, decode_types[t].name, kv, e.ns, err);
                if (res == SDPA_REFUSED && s.page_tokens > 0) {
                    /* Paged KV refused: contiguous KV from here on, saying why once. */
                    printf("%s: paged KV refused by this cuDNN (%s); measuring contiguous KV instead\n", bench,
                           err->msg);
                    page = s.page_tokens = s.pages = 0;
                    res = decode_point(b, &e.c, &s, cfg->group, decode_types[t].name, kv, e.ns, err);
                }
                if (res != 0)
                    rc = sdpa_fail(bench, err);
            }
    }
    sdpa_env_free(&e);
    return rc;
}

/* Builds the graph of s up to its operation graph and prints whether cuDNN
 * finalized it; 0, or -1 with err naming the shape. */
static int check_shape(const cudnn_api *api, const sdpa_shape *s, const char *label, kt_err *err)
{
    graph g = { .api = api, .st = CUDNN_STATUS_SUCCESS };
    sdpa_graph(&g, s);
    sdpa_op_graph(&g, NULL);
    int rc = g.st == CUDNN_STATUS_SUCCESS ? 0 : -1;
    if (rc == 0)
        printf("cuDNN graph %-36s finalized\n", label);
    else
        printf("cuDNN graph %-36s REFUSED at %s: %s\n", label, g.where, api->error_string(g.st));
    if (rc < 0)
        KT_ERROR(err, NULL, 0, 0, "cuDNN refused the %s graph: %s: %s", label, g.where, api->error_string(g.st));
    graph_free(&g);
    return rc;
}

int kt_sdpa_check_graphs(const kt_params *p, kt_err *err)
{
    cudnn_api api;
    char why[512], label[96];
    if (api_load(&api, why, sizeof why) < 0) {
        printf("cuDNN graphs: not checked: cuDNN 9 cannot be loaded (%s)\n", why);
        if (api.lib)
            dlclose(api.lib);
        return KT_BENCH_SKIPPED;
    }
    int failed = 0, heads = p->prefill_heads;
    sdpa_shape whole = prefill_shape(heads, MIN_TOKENS, MIN_TOKENS);
    snprintf(label, sizeof label, "sdpa n=%d", MIN_TOKENS);
    failed += check_shape(&api, &whole, label, err) < 0;
    for (int i = 0; i < p->n_chunk_tokens; i++) {
        sdpa_shape chunk = prefill_shape(heads, p->chunk_tokens[i], (int64_t)p->chunk_min_prefix + p->chunk_tokens[i]);
        snprintf(label, sizeof label, "sdpa-chunked q=%d prefix=%d", p->chunk_tokens[i], p->chunk_min_prefix);
        failed += check_shape(&api, &chunk, label, err) < 0;
    }
    int64_t ctx = KT_SDPA_DECODE_MIN_CONTEXT, page = p->sdpa_decode_page_tokens, batch = p->decode_batches[0];
    for (size_t k = 0; k < kt_n_sdpa_decode_cfgs; k++)
        for (int paged = 1; paged >= 0; paged--) {
            const kt_sdpa_decode_cfg *cfg = &kt_sdpa_decode_cfgs[k];
            sdpa_shape s = { .batch = batch, .q_heads = (int64_t)cfg->group * p->decode_kv_heads,
                             .kv_heads = p->decode_kv_heads, .q_tokens = 1, .kv_tokens = ctx,
                             .head_dim = DECODE_HEAD_DIM, .io = decode_type(cfg->kv_type)->type,
                             .page_tokens = paged ? page : 0, .pages = paged ? batch * (ctx / page) : 0 };
            snprintf(label, sizeof label, "sdpa-decode %s g=%d %s", cfg->kv_type, cfg->group,
                     paged ? "paged" : "contiguous");
            failed += check_shape(&api, &s, label, err) < 0;
        }
    dlclose(api.lib);
    return failed ? KT_BENCH_FAILED : KT_BENCH_OK;
}

#endif
