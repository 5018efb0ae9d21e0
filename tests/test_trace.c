/* test_trace.c — CUnit tests of the trace readers: hand-written fixtures with hand-worked values (ShareGPT's token rule and turns included), located errors, replay options, and the full shared Mooncake and Azure traces checked against independent parses. */
#include <jansson.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "testutil.h"
#include "trace.h"
#include "grow.h"
#include "workload.h"

/* The real traces, as shipped in the repository's data/traces. */
static const char *shipped_trace(const char *name)
{
    static char buf[2][4096];
    static int k;
    char *b = buf[k++ % 2];
    snprintf(b, sizeof buf[0], "%s/data/traces/%s", tu_path(""), name);
    return b;
}
#define MOONCAKE_FILE shipped_trace("mooncake_fast25_conversation_trace.jsonl")
#define AZURE_FILE shipped_trace("AzureLLMInferenceTrace_conv.csv")
#define MOONCAKE_BLOCK_TOKENS 512     /* the Mooncake format's documented block size */
#define NS_PER_MS INT64_C(1000000)
#define NS_PER_S INT64_C(1000000000)
#define NS_PER_100NS 100              /* Azure's fraction unit */
#define MAX_GOT 16                    /* records a fixture test keeps */
#define IDS_KEPT 4                    /* hash ids a fixture test keeps per record */
#define BIG_LINE_IDS 40000            /* hash ids on the long-line test's first line */
#define BIGGER_LINE_IDS 100000        /* and on its third */
#define LONG_BLOCK_TOKENS 16

/* What a fixture test keeps of one record. */
typedef struct got {
    int64_t arrival_ns, in, out, session, hbt, line;
    int turn;
    uint32_t n_ids;
    uint64_t ids[IDS_KEPT];
} got;

static const char *fixture(const char *name)
{
    char rel[256];
    snprintf(rel, sizeof rel, "tests/data/traces/%s", name);
    return tu_path(rel);
}

static trace_opts default_opts(void)
{
    return (trace_opts){ .rate_scale = 1.0, .release = TRACE_RELEASE_BURST };
}

/* Reads a whole fixture (asserting no error) into out; returns the count. */
static int read_fixture(const char *name, trace_format fmt, const trace_opts *o, got *out)
{
    kt_err err = { 0 };
    trace_reader *t = trace_open(fixture(name), fmt, o, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(t);
    trace_record rec;
    int n = 0, r;
    while ((r = trace_next(t, &rec, &err)) == 1) {
        CU_ASSERT_FATAL(n < MAX_GOT);
        got *g = &out[n++];
        *g = (got){ rec.arrival_ns, rec.input_tokens, rec.output_tokens, rec.session_id,
                    rec.hash_block_tokens, rec.line, rec.turn, rec.n_hash_ids, { 0 } };
        for (uint32_t i = 0; i < rec.n_hash_ids && i < IDS_KEPT; i++)
            g->ids[i] = rec.hash_ids[i];
    }
    if (r != 0)
        printf("\nunexpected error: %s:%d: %s\n", err.file, err.line, err.msg);
    CU_ASSERT_EQUAL(r, 0);
    CU_ASSERT_EQUAL(trace_next(t, &rec, &err), 0);  /* stays at the end */
    trace_close(t);
    return n;
}

static void check_arrivals(const got *g, int n, const int64_t *want)
{
    for (int i = 0; i < n; i++)
        CU_ASSERT_EQUAL(g[i].arrival_ns, want[i]);
}

/* ---------- the reuse ratio, for the tests only ---------- */

/* Hash ids fed in trace order, and how many had been seen before. Set of
 * id + 1 by open addressing (0 = empty slot), doubled when half full.
 * Owns slots; free with reuse_free. */
typedef struct reuse_set {
    uint64_t *slots;
    size_t mask, n_distinct;
    int64_t total, reused;
} reuse_set;

static int reuse_insert(reuse_set *s, uint64_t key)
{
    size_t i = (size_t)(key * 0x9e3779b97f4a7c15ULL) & s->mask;  /* Fibonacci hashing */
    while (s->slots[i] && s->slots[i] != key)
        i = (i + 1) & s->mask;
    if (s->slots[i])
        return 0;
    s->slots[i] = key;
    s->n_distinct++;
    return 1;
}

static void reuse_grow(reuse_set *s)
{
    reuse_set old = *s;
    size_t cap = old.slots ? 2 * (old.mask + 1) : 1024;
    s->slots = calloc(cap, sizeof *s->slots);
    CU_ASSERT_PTR_NOT_NULL_FATAL(s->slots);
    s->mask = cap - 1;
    s->n_distinct = 0;
    for (size_t i = 0; old.slots && i <= old.mask; i++)
        if (old.slots[i])
            reuse_insert(s, old.slots[i]);
    free(old.slots);
}

/* Feeds one request's ids. */
void reuse_add(reuse_set *s, const uint64_t *ids, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++) {
        if (!s->slots || 2 * (s->n_distinct + 1) > s->mask + 1)
            reuse_grow(s);
        s->total++;
        s->reused += !reuse_insert(s, ids[i] + 1);
    }
}

double reuse_ratio(const reuse_set *s) { return s->total ? (double)s->reused / (double)s->total : 0; }

static void reuse_free(reuse_set *s) { free(s->slots); }

/* ---------- fixtures of each format ---------- */

static void test_format_names(void)
{
    CU_ASSERT_STRING_EQUAL(trace_format_names[TRACE_MOONCAKE], "mooncake");
    CU_ASSERT_STRING_EQUAL(trace_format_names[TRACE_AZURE], "azure");
    CU_ASSERT_STRING_EQUAL(trace_format_names[TRACE_VIDUR], "vidur");
    CU_ASSERT_STRING_EQUAL(trace_format_names[TRACE_KVTIER], "kvtier");
    CU_ASSERT_PTR_NULL(trace_format_names[TRACE_FORMAT_COUNT]);
}

static void test_mooncake_small(void)
{
    got g[MAX_GOT];
    trace_opts o = default_opts();
    int n = read_fixture("mooncake_small.jsonl", TRACE_MOONCAKE, &o, g);
    CU_ASSERT_EQUAL_FATAL(n, 4);
    const int64_t want[] = { 0, 0, 3000 * NS_PER_MS, 6001 * NS_PER_MS };
    check_arrivals(g, n, want);
    /* line 3 is blank */
    CU_ASSERT_EQUAL(g[0].line, 1);
    CU_ASSERT_EQUAL(g[1].line, 2);
    CU_ASSERT_EQUAL(g[2].line, 4);
    CU_ASSERT_EQUAL(g[3].line, 5);
    CU_ASSERT_EQUAL(g[0].in, 1000);
    CU_ASSERT_EQUAL(g[0].out, 20);
    CU_ASSERT_EQUAL(g[1].in, 512);
    CU_ASSERT_EQUAL(g[1].out, 1);
    CU_ASSERT_EQUAL(g[3].in, 1);
    CU_ASSERT_EQUAL(g[3].out, 2000);
    CU_ASSERT_EQUAL(g[0].n_ids, 2);  /* ceil(1000/512) */
    CU_ASSERT_EQUAL(g[2].n_ids, 3);  /* ceil(1025/512) */
    CU_ASSERT_EQUAL(g[2].ids[2], 5);
    for (int i = 0; i < n; i++) {
        CU_ASSERT_EQUAL(g[i].session, -1);
        CU_ASSERT_EQUAL(g[i].turn, -1);
        CU_ASSERT_EQUAL(g[i].hbt, MOONCAKE_BLOCK_TOKENS);
    }
}

/* CRLF, blank lines with CR and spaces, no final newline. */
static void test_mooncake_crlf(void)
{
    got g[MAX_GOT];
    trace_opts o = default_opts();
    int n = read_fixture("mooncake_crlf.jsonl", TRACE_MOONCAKE, &o, g);
    CU_ASSERT_EQUAL_FATAL(n, 2);
    CU_ASSERT_EQUAL(g[0].arrival_ns, 0);                   /* relative to the first (500 ms) */
    CU_ASSERT_EQUAL(g[1].arrival_ns, 1000 * NS_PER_MS);
    CU_ASSERT_EQUAL(g[1].line, 4);
    CU_ASSERT_EQUAL(g[0].in, 513);
    CU_ASSERT_EQUAL(g[1].out, 9);
    CU_ASSERT_EQUAL(g[0].ids[0], 4);
    CU_ASSERT_EQUAL(g[0].ids[1], 2);
}

/* CRLF, no final newline; crosses midnight, a year, and 2024's leap day. */
static void test_azure_small(void)
{
    got g[MAX_GOT];
    trace_opts o = default_opts();
    int n = read_fixture("azure_small.csv", TRACE_AZURE, &o, g);
    CU_ASSERT_EQUAL_FATAL(n, 5);
    int64_t day_s = 86400, hour_s = 3600;
    /* 2023-12-31 23:59:59.9999999 -> 2024-01-01 00:00:00.0000001: 2 x 100 ns */
    int64_t jan1 = 100;
    const int64_t want[] = {
        0, 2 * 100, 2 * 100,
        /* -> 2024-02-28 23:00:00.5: Jan (31 days) + 27 days + 23 h + 0.5 s */
        jan1 + ((31 + 27) * day_s + 23 * hour_s) * NS_PER_S + NS_PER_S / 2,
        /* -> 2024-03-01 01:00:00: Jan 31 + Feb 29 (leap year) days + 1 h */
        jan1 + ((31 + 29) * day_s + hour_s) * NS_PER_S,
    };
    check_arrivals(g, n, want);
    CU_ASSERT_EQUAL(want[3], INT64_C(5094000500000100));
    CU_ASSERT_EQUAL(g[0].in, 374);
    CU_ASSERT_EQUAL(g[0].out, 44);
    CU_ASSERT_EQUAL(g[2].in, 14050);
    CU_ASSERT_EQUAL(g[4].out, 20);
    CU_ASSERT_EQUAL(g[4].line, 6);
    for (int i = 0; i < n; i++) {
        CU_ASSERT_EQUAL(g[i].n_ids, 0);
        CU_ASSERT_EQUAL(g[i].hbt, 0);
        CU_ASSERT_EQUAL(g[i].session, -1);
    }
}

/* Decimal seconds as pandas writes them, read exactly to the ns. */
static void test_vidur_small(void)
{
    got g[MAX_GOT];
    trace_opts o = default_opts();
    int n = read_fixture("vidur_small.csv", TRACE_VIDUR, &o, g);
    CU_ASSERT_EQUAL_FATAL(n, 7);
    const int64_t want[] = {
        0, INT64_C(4314579000),
        INT64_C(5892655000),    /* 5.892654999|9999995 rounds up at the ns */
        INT64_C(138576003000),  /* 138.576003000|00001 */
        150 * NS_PER_S,         /* 1.5e2 */
        200 * NS_PER_S + 1,     /* 200.000000000|5: a half rounds up */
        200 * NS_PER_S + 1,     /* 200.000000001|4999 */
    };
    check_arrivals(g, n, want);
    CU_ASSERT_EQUAL(g[3].in, 4086);
    CU_ASSERT_EQUAL(g[3].out, 64);
    CU_ASSERT_EQUAL(g[4].line, 6);
}

/* A byte order mark, CRLF, spaces around names, columns in another order,
 * an extra column. */
static void test_vidur_bom_reordered(void)
{
    got g[MAX_GOT];
    trace_opts o = default_opts();
    int n = read_fixture("vidur_bom_reordered.csv", TRACE_VIDUR, &o, g);
    CU_ASSERT_EQUAL_FATAL(n, 1);
    CU_ASSERT_EQUAL(g[0].arrival_ns, 0);
    CU_ASSERT_EQUAL(g[0].in, 30);
    CU_ASSERT_EQUAL(g[0].out, 7);
    CU_ASSERT_EQUAL(g[0].line, 2);
}

/* BurstGPT as its README's Schema describes it (HPMLL/BurstGPT: Timestamp in
 * seconds from the first day's midnight, Model, Request tokens, Response
 * tokens, Total tokens, Log Type). Line 3 is a failed request (0 response
 * tokens, as BurstGPT_1.csv keeps them): an error, or skipped with
 * skip_bad. Arrivals are relative to the first row at 5 s: 0, 113, 113,
 * 3595.5 s. */
static void test_burstgpt_small(void)
{
    got g[MAX_GOT];
    trace_opts o = default_opts();
    o.skip_bad = 1;
    int n = read_fixture("burstgpt_small.csv", TRACE_BURSTGPT, &o, g);
    CU_ASSERT_EQUAL_FATAL(n, 4);
    const int64_t want[] = { 0, 113 * NS_PER_S, 113 * NS_PER_S, 3595 * NS_PER_S + NS_PER_S / 2 };
    check_arrivals(g, n, want);
    CU_ASSERT_EQUAL(g[0].in, 472);
    CU_ASSERT_EQUAL(g[0].out, 18);
    CU_ASSERT_EQUAL(g[1].line, 4);
    CU_ASSERT_EQUAL(g[2].in, 2310);
    CU_ASSERT_EQUAL(g[3].out, 1024);
    CU_ASSERT_EQUAL(g[3].session, -1);
    CU_ASSERT_STRING_EQUAL(trace_format_names[TRACE_BURSTGPT], "burstgpt");

    /* Without skip_bad the failed request stops the read at its line. */
    kt_err err = { 0 };
    trace_opts strict = default_opts();
    trace_reader *t = trace_open(fixture("burstgpt_small.csv"), TRACE_BURSTGPT, &strict, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(t);
    trace_record rec;
    CU_ASSERT_EQUAL(trace_next(t, &rec, &err), 1);
    CU_ASSERT_EQUAL(trace_next(t, &rec, &err), -1);
    CU_ASSERT_EQUAL(err.line, 3);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "Response tokens must be a whole number >= 1, got \"0\""));
    trace_close(t);
}

static void test_kvtier_small(void)
{
    got g[MAX_GOT];
    trace_opts o = default_opts();
    int n = read_fixture("kvtier_small.jsonl", TRACE_KVTIER, &o, g);
    CU_ASSERT_EQUAL_FATAL(n, 4);
    /* relative to the first arrival, 10.5 s */
    const int64_t want[] = { 0, 0, NS_PER_S * 7 / 4, NS_PER_S * 5 / 2 };
    check_arrivals(g, n, want);
    CU_ASSERT_EQUAL(g[0].session, -1);
    CU_ASSERT_EQUAL(g[0].turn, -1);
    CU_ASSERT_EQUAL(g[0].n_ids, 2);
    CU_ASSERT_EQUAL(g[0].hbt, 512);
    CU_ASSERT_EQUAL(g[1].session, 7);
    CU_ASSERT_EQUAL(g[1].turn, 0);
    CU_ASSERT_EQUAL(g[1].n_ids, 0);
    CU_ASSERT_EQUAL(g[1].hbt, 0);
    CU_ASSERT_EQUAL(g[1].in, 300);
    CU_ASSERT_EQUAL(g[1].out, 120);
    CU_ASSERT_EQUAL(g[2].turn, 1);
    CU_ASSERT_EQUAL(g[2].n_ids, 3);
    CU_ASSERT_EQUAL(g[2].ids[0], 3);
    CU_ASSERT_EQUAL(g[2].hbt, 256);
    CU_ASSERT_EQUAL(g[3].hbt, 16);
    CU_ASSERT_EQUAL(g[3].ids[0], 8);
}

/* ---------- malformed input ---------- */

/* What one trace_next call should give: a record from line, or an error
 * at line with exactly msg (or starting with prefix when msg is NULL). */
typedef struct step {
    int rc;
    int line;
    const char *msg, *prefix;
    int64_t arrival_ns;
} step;

static void expect_steps(const char *name, trace_format fmt, const trace_opts *o, const step *s, int n)
{
    kt_err err = { 0 };
    const char *path = fixture(name);
    trace_reader *t = trace_open(path, fmt, o, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(t);
    for (int i = 0; i < n; i++) {
        trace_record rec;
        memset(&err, 0, sizeof err);
        int r = trace_next(t, &rec, &err);
        CU_ASSERT_EQUAL(r, s[i].rc);
        if (r == 1) {
            CU_ASSERT_EQUAL(rec.line, s[i].line);
            CU_ASSERT_EQUAL(rec.arrival_ns, s[i].arrival_ns);
        }
        if (r != -1 || s[i].rc != -1)
            continue;
        CU_ASSERT_EQUAL(err.line, s[i].line);
        CU_ASSERT_EQUAL(err.col, 0);
        CU_ASSERT_STRING_EQUAL(err.file, path);
        if (s[i].msg)
            CU_ASSERT_STRING_EQUAL(err.msg, s[i].msg);
        if (s[i].prefix)
            CU_ASSERT_NSTRING_EQUAL(err.msg, s[i].prefix, strlen(s[i].prefix));
    }
    trace_close(t);
}

static void test_mooncake_bad_strict(void)
{
    const step s[] = {
        { 1, 1, NULL, NULL, 0 },
        { -1, 2, NULL, "bad JSON: ", 0 },
        { -1, 3, "missing field \"input_length\"", NULL, 0 },
        { -1, 4, "field \"input_length\" must be >= 1, got -5", NULL, 0 },
        { 1, 5, NULL, NULL, 2000 * NS_PER_MS },
        { -1, 6, "timestamp 1500 is before the previous record's timestamp 2000 (line 5): "
                 "timestamps must not go backwards", NULL, 0 },
        { -1, 7, "hash_ids has 2 ids, but input_length 1025 needs ceil(1025/512) = 3", NULL, 0 },
        { -1, 8, "field \"output_length\" must be >= 1, got 0", NULL, 0 },
        { -1, 9, "field \"timestamp\" must be an integer, not a string", NULL, 0 },
        { 1, 10, NULL, NULL, 3000 * NS_PER_MS },
        { 0, 0, NULL, NULL, 0 },
    };
    int n_steps = sizeof s / sizeof *s;
    trace_opts o = default_opts();
    expect_steps("mooncake_bad.jsonl", TRACE_MOONCAKE, &o, s, n_steps);
    o.release = TRACE_RELEASE_SPREAD;  /* each error ends a group; the same steps */
    expect_steps("mooncake_bad.jsonl", TRACE_MOONCAKE, &o, s, n_steps);
}

/* Lines of every shape the fast Mooncake reader takes or leaves to the
 * JSON parser: each must give what JSON (RFC 8259) and the Mooncake
 * fields say, whichever path read it. Keys in another order or spaced
 * out, and an extra key, are records; a leading zero, a repeated key,
 * trailing text, a trailing comma and a 20-digit integer are not JSON
 * (jansson rejects duplicates as asked); 600.0 is a real; [] is 0 ids
 * where ceil(10/512) = 1 are needed; -1 is not an id. An id above 2^53
 * (9007199254740993 = 2^53 + 1) stays exact. Arrivals are relative to
 * the first record's 100 ms: 0, 100, 200 and 900 ms. */
static void test_mooncake_shapes(void)
{
    const step s[] = {
        { 1, 1, NULL, NULL, 0 },
        { 1, 2, NULL, NULL, 100 * NS_PER_MS },
        { 1, 3, NULL, NULL, 200 * NS_PER_MS },
        { -1, 4, NULL, "bad JSON: ", 0 },
        { -1, 5, NULL, "bad JSON: ", 0 },
        { -1, 6, "field \"timestamp\" must be an integer, not a real number", NULL, 0 },
        { -1, 7, NULL, "bad JSON: ", 0 },
        { -1, 8, "hash_ids has 0 ids, but input_length 10 needs ceil(10/512) = 1", NULL, 0 },
        { -1, 9, NULL, "bad JSON: ", 0 },
        { -1, 10, NULL, "bad JSON: ", 0 },
        { 1, 11, NULL, NULL, 900 * NS_PER_MS },
        { -1, 12, "hash_ids[0] must be a non-negative integer, not a negative one", NULL, 0 },
        { 0, 0, NULL, NULL, 0 },
    };
    trace_opts o = default_opts();
    expect_steps("mooncake_shapes.jsonl", TRACE_MOONCAKE, &o, s, sizeof s / sizeof *s);
    got g[MAX_GOT];
    o.skip_bad = 1;
    CU_ASSERT_EQUAL_FATAL(read_fixture("mooncake_shapes.jsonl", TRACE_MOONCAKE, &o, g), 4);
    CU_ASSERT_EQUAL(g[0].in, 10);
    CU_ASSERT_EQUAL(g[0].out, 3);
    CU_ASSERT_EQUAL(g[0].n_ids, 1);
    CU_ASSERT_EQUAL(g[0].ids[0], 7);
    CU_ASSERT_EQUAL(g[1].in, 513);
    CU_ASSERT_EQUAL(g[1].out, 1);
    CU_ASSERT_EQUAL(g[1].n_ids, 2);     /* ceil(513/512) */
    CU_ASSERT_EQUAL(g[1].ids[1], 2);
    CU_ASSERT_EQUAL(g[2].ids[0], 7);
    CU_ASSERT_EQUAL(g[3].ids[0], UINT64_C(9007199254740993));
    for (int i = 0; i < 4; i++) {
        CU_ASSERT_EQUAL(g[i].session, -1);
        CU_ASSERT_EQUAL(g[i].hbt, MOONCAKE_BLOCK_TOKENS);
    }
}

static void test_mooncake_bad_skip(void)
{
    got g[MAX_GOT];
    trace_opts o = default_opts();
    o.skip_bad = 1;
    int n = read_fixture("mooncake_bad.jsonl", TRACE_MOONCAKE, &o, g);
    CU_ASSERT_EQUAL_FATAL(n, 3);
    CU_ASSERT_EQUAL(g[0].line, 1);
    CU_ASSERT_EQUAL(g[1].line, 5);
    CU_ASSERT_EQUAL(g[2].line, 10);
    CU_ASSERT_EQUAL(g[1].arrival_ns, 2000 * NS_PER_MS);
    CU_ASSERT_EQUAL(g[2].arrival_ns, 3000 * NS_PER_MS);

    kt_err err;
    trace_reader *t = trace_open(fixture("mooncake_bad.jsonl"), TRACE_MOONCAKE, &o, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(t);
    trace_record rec;
    while (trace_next(t, &rec, &err) == 1)
        ;
    int64_t lines[3] = { 0 }, all[16] = { 0 };
    CU_ASSERT_EQUAL(trace_bad_lines(t, lines, 3), 7);
    CU_ASSERT_EQUAL(lines[0], 2);
    CU_ASSERT_EQUAL(lines[1], 3);
    CU_ASSERT_EQUAL(lines[2], 4);
    CU_ASSERT_EQUAL(trace_bad_lines(t, all, 16), 7);
    const int64_t want[7] = { 2, 3, 4, 6, 7, 8, 9 };
    for (int i = 0; i < 7; i++)
        CU_ASSERT_EQUAL(all[i], want[i]);
    CU_ASSERT_EQUAL(trace_bad_lines(t, NULL, 0), 7);
    trace_close(t);
}

static void test_kvtier_bad(void)
{
    const step s[] = {
        { 1, 1, NULL, NULL, 0 },
        { -1, 2, NULL, "unknown field \"sesion_id\"", 0 },
        { -1, 3, "field \"turn\" needs a \"session_id\"", NULL, 0 },
        { -1, 4, "hash_ids has 1 ids, but input_tokens 1000 needs at least ceil(1000/512) = 2", NULL, 0 },
        { -1, 5, "arrival 0.5 is before the previous record's arrival 1 (line 1): "
                 "timestamps must not go backwards", NULL, 0 },
        { -1, 6, "expected a JSON object, got an array", NULL, 0 },
        { 1, 7, NULL, NULL, 2 * NS_PER_S },
        { 0, 0, NULL, NULL, 0 },
    };
    trace_opts o = default_opts();
    expect_steps("kvtier_bad.jsonl", TRACE_KVTIER, &o, s, sizeof s / sizeof *s);
}

static void test_azure_bad(void)
{
    const step s[] = {
        { 1, 2, NULL, NULL, 0 },
        { -1, 3, "TIMESTAMP \"2023-02-29 00:00:00.0000000\": a field is out of range", NULL, 0 },
        { -1, 4, "expected 3 comma-separated fields as in the header, got 4", NULL, 0 },
        { -1, 5, "ContextTokens must be a whole number >= 1, got \"0\"", NULL, 0 },
        { -1, 6, "TIMESTAMP 2023-11-16 18:15:45.0000000 is before the previous record's TIMESTAMP "
                 "2023-11-16 18:15:46.6805900 (line 2): timestamps must not go backwards", NULL, 0 },
        { 1, 7, NULL, NULL, (INT64_C(491234567) - INT64_C(466805900)) * NS_PER_100NS },
        { 0, 0, NULL, NULL, 0 },
    };
    trace_opts o = default_opts();
    expect_steps("azure_bad.csv", TRACE_AZURE, &o, s, sizeof s / sizeof *s);

    got g[MAX_GOT];
    o.skip_bad = 1;
    int n = read_fixture("azure_bad.csv", TRACE_AZURE, &o, g);
    CU_ASSERT_EQUAL_FATAL(n, 2);
    /* 18:15:49.1234567 - 18:15:46.6805900 */
    CU_ASSERT_EQUAL(g[1].arrival_ns, (INT64_C(491234567) - INT64_C(466805900)) * NS_PER_100NS);
}

static void test_wrong_header(void)
{
    kt_err err = { 0 };
    const char *path = fixture("azure_bad_header.csv");
    trace_opts o = default_opts();
    CU_ASSERT_PTR_NULL(trace_open(path, TRACE_AZURE, &o, &err));
    CU_ASSERT_STRING_EQUAL(err.file, path);
    CU_ASSERT_EQUAL(err.line, 1);
    CU_ASSERT_STRING_EQUAL(err.msg, "wrong header for the azure format: expected "
                                    "\"TIMESTAMP,ContextTokens,GeneratedTokens\", got "
                                    "\"TIMESTAMP,ContextTokens\" (no column \"GeneratedTokens\")");
    /* An Azure file is not a Vidur one. */
    CU_ASSERT_PTR_NULL(trace_open(fixture("azure_small.csv"), TRACE_VIDUR, &o, &err));
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "arrived_at,num_prefill_tokens,num_decode_tokens"));
}

static void test_empty_files(void)
{
    kt_err err = { 0 };
    trace_opts o = default_opts();
    CU_ASSERT_PTR_NULL(trace_open(fixture("empty.jsonl"), TRACE_MOONCAKE, &o, &err));
    CU_ASSERT_STRING_EQUAL(err.msg, "empty file: a mooncake trace needs at least one request");
    CU_ASSERT_PTR_NULL(trace_open(fixture("empty.jsonl"), TRACE_AZURE, &o, &err));
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "empty file"));
    CU_ASSERT_PTR_NULL(trace_open(fixture("no_such_file.jsonl"), TRACE_KVTIER, &o, &err));
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "cannot open"));

    const char *blank[][2] = { { "blank_only.jsonl", "kvtier" }, { "azure_header_only.csv", "azure" } };
    for (int i = 0; i < 2; i++) {
        trace_format fmt = i == 0 ? TRACE_KVTIER : TRACE_AZURE;
        trace_reader *t = trace_open(fixture(blank[i][0]), fmt, &o, &err);
        CU_ASSERT_PTR_NOT_NULL_FATAL(t);
        trace_record rec;
        CU_ASSERT_EQUAL(trace_next(t, &rec, &err), -1);
        CU_ASSERT_STRING_EQUAL(err.msg, "no requests in the file");
        CU_ASSERT_EQUAL(trace_next(t, &rec, &err), 0);
        trace_close(t);
    }
}

static void test_bad_opts(void)
{
    kt_err err = { 0 };
    const char *path = fixture("spread.jsonl");
    trace_opts o = default_opts();
    o.rate_scale = -1;
    CU_ASSERT_PTR_NULL(trace_open(path, TRACE_MOONCAKE, &o, &err));
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "rate_scale"));
    o = default_opts();
    o.limit = -3;
    CU_ASSERT_PTR_NULL(trace_open(path, TRACE_MOONCAKE, &o, &err));
    CU_ASSERT_PTR_NULL(trace_open(path, TRACE_FORMAT_COUNT, NULL, &err));

    /* NULL options and a zero rate_scale both mean "as recorded". */
    got g[MAX_GOT];
    trace_opts zero = { 0 };
    CU_ASSERT_EQUAL(read_fixture("spread.jsonl", TRACE_MOONCAKE, &zero, g), 8);
    CU_ASSERT_EQUAL(g[7].arrival_ns, 6 * NS_PER_S);
    CU_ASSERT_EQUAL(read_fixture("spread.jsonl", TRACE_MOONCAKE, NULL, g), 8);
    CU_ASSERT_EQUAL(g[3].arrival_ns, 3 * NS_PER_S);
}

/* ---------- replay options (spread.jsonl: 3 requests at 0, 2 at 3 s, 3 at 6 s) ---------- */

static void test_rate_scale(void)
{
    got g[MAX_GOT];
    trace_opts o = default_opts();
    o.rate_scale = 2;
    CU_ASSERT_EQUAL_FATAL(read_fixture("spread.jsonl", TRACE_MOONCAKE, &o, g), 8);
    const int64_t burst[] = { 0, 0, 0, 1500 * NS_PER_MS, 1500 * NS_PER_MS,
                              3 * NS_PER_S, 3 * NS_PER_S, 3 * NS_PER_S };
    check_arrivals(g, 8, burst);

    CU_ASSERT_EQUAL_FATAL(read_fixture("vidur_small.csv", TRACE_VIDUR, &o, g), 7);
    CU_ASSERT_EQUAL(g[1].arrival_ns, INT64_C(4314579000) / 2);
    CU_ASSERT_EQUAL(g[4].arrival_ns, 75 * NS_PER_S);

    o.release = TRACE_RELEASE_SPREAD;
    CU_ASSERT_EQUAL_FATAL(read_fixture("spread.jsonl", TRACE_MOONCAKE, &o, g), 8);
    const int64_t spread[] = { 0, 500 * NS_PER_MS, 1000 * NS_PER_MS, 1500 * NS_PER_MS,
                               2250 * NS_PER_MS, 3000 * NS_PER_MS, 3500 * NS_PER_MS, 4000 * NS_PER_MS };
    check_arrivals(g, 8, spread);
}

static void test_window(void)
{
    got g[MAX_GOT];
    trace_opts o = default_opts();
    o.start_ns = 3 * NS_PER_S;
    o.duration_ns = 3 * NS_PER_S;   /* [3 s, 6 s): the middle group only */
    CU_ASSERT_EQUAL_FATAL(read_fixture("spread.jsonl", TRACE_MOONCAKE, &o, g), 2);
    CU_ASSERT_EQUAL(g[0].line, 4);
    CU_ASSERT_EQUAL(g[1].line, 5);
    CU_ASSERT_EQUAL(g[0].arrival_ns, 0);  /* relative to the window's start */
    CU_ASSERT_EQUAL(g[1].arrival_ns, 0);

    o.release = TRACE_RELEASE_SPREAD;     /* the tick is still the gap to 6 s */
    CU_ASSERT_EQUAL_FATAL(read_fixture("spread.jsonl", TRACE_MOONCAKE, &o, g), 2);
    CU_ASSERT_EQUAL(g[0].arrival_ns, 0);
    CU_ASSERT_EQUAL(g[1].arrival_ns, 1500 * NS_PER_MS);

    o = default_opts();
    o.start_ns = 2 * NS_PER_S;            /* no request at 2 s: the next comes 1 s later */
    CU_ASSERT_EQUAL_FATAL(read_fixture("spread.jsonl", TRACE_MOONCAKE, &o, g), 5);
    CU_ASSERT_EQUAL(g[0].arrival_ns, 1 * NS_PER_S);
    CU_ASSERT_EQUAL(g[4].arrival_ns, 4 * NS_PER_S);

    o = default_opts();
    o.duration_ns = 6 * NS_PER_S + 1;     /* takes the 6 s group too */
    CU_ASSERT_EQUAL(read_fixture("spread.jsonl", TRACE_MOONCAKE, &o, g), 8);
    o.duration_ns = 6 * NS_PER_S;
    CU_ASSERT_EQUAL(read_fixture("spread.jsonl", TRACE_MOONCAKE, &o, g), 5);
    o.start_ns = 7 * NS_PER_S;            /* past the end: nothing, and no error */
    CU_ASSERT_EQUAL(read_fixture("spread.jsonl", TRACE_MOONCAKE, &o, g), 0);
}

static void test_limit(void)
{
    got g[MAX_GOT];
    trace_opts o = default_opts();
    o.limit = 4;
    CU_ASSERT_EQUAL_FATAL(read_fixture("spread.jsonl", TRACE_MOONCAKE, &o, g), 4);
    CU_ASSERT_EQUAL(g[3].line, 4);
    CU_ASSERT_EQUAL(g[3].arrival_ns, 3 * NS_PER_S);
    o.release = TRACE_RELEASE_SPREAD;     /* the limit does not change the spread */
    CU_ASSERT_EQUAL_FATAL(read_fixture("spread.jsonl", TRACE_MOONCAKE, &o, g), 4);
    CU_ASSERT_EQUAL(g[2].arrival_ns, 2 * NS_PER_S);
    CU_ASSERT_EQUAL(g[3].arrival_ns, 3 * NS_PER_S);
    o.limit = 1;
    o.start_ns = 3 * NS_PER_S;
    CU_ASSERT_EQUAL_FATAL(read_fixture("spread.jsonl", TRACE_MOONCAKE, &o, g), 1);
    CU_ASSERT_EQUAL(g[0].line, 4);
}

static void test_spread_vs_burst(void)
{
    got g[MAX_GOT];
    trace_opts o = default_opts();
    CU_ASSERT_EQUAL_FATAL(read_fixture("spread.jsonl", TRACE_MOONCAKE, &o, g), 8);
    const int64_t burst[] = { 0, 0, 0, 3 * NS_PER_S, 3 * NS_PER_S,
                              6 * NS_PER_S, 6 * NS_PER_S, 6 * NS_PER_S };
    check_arrivals(g, 8, burst);

    /* Record k of n at t + k * tick / n; tick = gap to the next timestamp;
     * the last group has none and reuses the previous gap (3 s). */
    o.release = TRACE_RELEASE_SPREAD;
    CU_ASSERT_EQUAL_FATAL(read_fixture("spread.jsonl", TRACE_MOONCAKE, &o, g), 8);
    const int64_t spread[] = { 0, 1 * NS_PER_S, 2 * NS_PER_S, 3 * NS_PER_S, 4500 * NS_PER_MS,
                               6 * NS_PER_S, 7 * NS_PER_S, 8 * NS_PER_S };
    check_arrivals(g, 8, spread);
    for (int i = 0; i < 8; i++) {
        CU_ASSERT_EQUAL(g[i].in, i + 1);          /* order and content kept */
        CU_ASSERT_EQUAL(g[i].ids[0], (uint64_t)i + 1);
        CU_ASSERT_EQUAL(g[i].line, i + 1);
    }

    /* A set tick: 1.5 s; and 6 s, which is capped at the 3 s gaps but
     * used as given for the last group. */
    o.tick_ns = 1500 * NS_PER_MS;
    CU_ASSERT_EQUAL_FATAL(read_fixture("spread.jsonl", TRACE_MOONCAKE, &o, g), 8);
    const int64_t tick15[] = { 0, 500 * NS_PER_MS, 1000 * NS_PER_MS, 3000 * NS_PER_MS,
                               3750 * NS_PER_MS, 6000 * NS_PER_MS, 6500 * NS_PER_MS, 7000 * NS_PER_MS };
    check_arrivals(g, 8, tick15);
    o.tick_ns = 6 * NS_PER_S;
    CU_ASSERT_EQUAL_FATAL(read_fixture("spread.jsonl", TRACE_MOONCAKE, &o, g), 8);
    const int64_t tick6[] = { 0, 1 * NS_PER_S, 2 * NS_PER_S, 3 * NS_PER_S, 4500 * NS_PER_MS,
                              6 * NS_PER_S, 8 * NS_PER_S, 10 * NS_PER_S };
    check_arrivals(g, 8, tick6);

    /* A tick that 3 does not divide: floor(k * 1,000,000,001 / 3). */
    o.tick_ns = NS_PER_S + 1;
    CU_ASSERT_EQUAL_FATAL(read_fixture("spread.jsonl", TRACE_MOONCAKE, &o, g), 8);
    CU_ASSERT_EQUAL(g[1].arrival_ns, 333333333);
    CU_ASSERT_EQUAL(g[2].arrival_ns, 666666667);
}

/* SPREAD with skip_bad keeps a group whole across bad lines. */
static void test_spread_skip_bad(void)
{
    got g[MAX_GOT];
    trace_opts o = default_opts();
    o.release = TRACE_RELEASE_SPREAD;
    o.skip_bad = 1;
    /* good lines: 1 (t=0), 5 (2 s), 10 (3 s): three groups of one */
    CU_ASSERT_EQUAL_FATAL(read_fixture("mooncake_bad.jsonl", TRACE_MOONCAKE, &o, g), 3);
    const int64_t want[] = { 0, 2 * NS_PER_S, 3 * NS_PER_S };
    check_arrivals(g, 3, want);
}

/* A strict error inside a SPREAD group splits it; the part after the
 * error would restart at the group's time, so it is held at the last
 * arrival instead of going backwards. */
static void test_spread_split_by_error(void)
{
    const step s[] = {
        { 1, 1, NULL, NULL, 0 },
        { 1, 2, NULL, NULL, 1500 * NS_PER_MS },  /* tick_ns: the next time is unknown */
        { -1, 3, "missing field \"output_length\"", NULL, 0 },
        { 1, 4, NULL, NULL, 1500 * NS_PER_MS },  /* t = 0 again: held at 1.5 s */
        { 1, 5, NULL, NULL, 3 * NS_PER_S },
        { 0, 0, NULL, NULL, 0 },
    };
    trace_opts o = default_opts();
    o.release = TRACE_RELEASE_SPREAD;
    o.tick_ns = 3 * NS_PER_S;
    expect_steps("spread_split.jsonl", TRACE_MOONCAKE, &o, s, sizeof s / sizeof *s);
}

/* ---------- long lines ---------- */

static void write_long_line(FILE *f, double arrival_s, int64_t n_ids, uint64_t mul)
{
    fprintf(f, "{\"arrival\": %.1f, \"input_tokens\": %lld, \"output_tokens\": 1, "
               "\"hash_block_tokens\": %d, \"hash_ids\": [", arrival_s,
            (long long)(n_ids * LONG_BLOCK_TOKENS), LONG_BLOCK_TOKENS);
    for (int64_t i = 0; i < n_ids; i++)
        fprintf(f, "%s%llu", i ? ", " : "", (unsigned long long)((uint64_t)i * mul));
    fprintf(f, "]}\n");
}

/* Lines of ~300 KB and ~700 KB, with a short one between. */
static void test_long_lines(void)
{
    char path[] = "/tmp/kvtier_test_trace_XXXXXX";
    int fd = mkstemp(path);
    CU_ASSERT_FATAL(fd >= 0);
    FILE *f = fdopen(fd, "w");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    write_long_line(f, 0.0, BIG_LINE_IDS, 3);
    fprintf(f, "{\"arrival\": 1.0, \"input_tokens\": 5, \"output_tokens\": 2}\n");
    write_long_line(f, 2.0, BIGGER_LINE_IDS, 7);
    fclose(f);

    kt_err err = { 0 };
    trace_opts o = default_opts();
    trace_reader *t = trace_open(path, TRACE_KVTIER, &o, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(t);
    trace_record rec;
    const int64_t want_ids[3] = { BIG_LINE_IDS, 0, BIGGER_LINE_IDS };
    const uint64_t mul[3] = { 3, 0, 7 };
    for (int k = 0; k < 3; k++) {
        CU_ASSERT_EQUAL_FATAL(trace_next(t, &rec, &err), 1);
        CU_ASSERT_EQUAL(rec.line, k + 1);
        CU_ASSERT_EQUAL(rec.arrival_ns, k * NS_PER_S);
        CU_ASSERT_EQUAL_FATAL(rec.n_hash_ids, want_ids[k]);
        int ok = 1;
        for (uint32_t i = 0; i < rec.n_hash_ids; i++)
            ok &= rec.hash_ids[i] == i * mul[k];
        CU_ASSERT(ok);
    }
    CU_ASSERT_EQUAL(trace_next(t, &rec, &err), 0);
    trace_close(t);
    unlink(path);
}

/* ---------- the full traces ---------- */

/* Mooncake as read independently: jansson per line, no trace.c. */
typedef struct mooncake_raw {
    int64_t n, sum_in, sum_out, first_ms, last_ms, n_ids, n_distinct, reused;
} mooncake_raw;

/* Marks id in a growing byte map; returns whether it was already marked. */
static int mark_seen(unsigned char **seen, size_t *cap, uint64_t id)
{
    if (id >= *cap) {
        size_t old = *cap;
        *seen = grow_array(*seen, cap, (size_t)id + 1, 1);
        CU_ASSERT_PTR_NOT_NULL_FATAL(*seen);
        memset(*seen + old, 0, *cap - old);
    }
    int was = (*seen)[id];
    (*seen)[id] = 1;
    return was;
}

static mooncake_raw mooncake_independent(void)
{
    mooncake_raw m = { 0 };
    FILE *f = fopen(MOONCAKE_FILE, "r");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    char *line = NULL;
    size_t cap = 0, seen_cap = 0;
    unsigned char *seen = NULL;
    ssize_t len;
    while ((len = getline(&line, &cap, f)) > 0) {
        json_t *o = json_loadb(line, (size_t)len, 0, NULL);
        CU_ASSERT_PTR_NOT_NULL_FATAL(o);
        int64_t ts = json_integer_value(json_object_get(o, "timestamp"));
        m.first_ms = m.n ? m.first_ms : ts;
        m.last_ms = ts;
        m.sum_in += json_integer_value(json_object_get(o, "input_length"));
        m.sum_out += json_integer_value(json_object_get(o, "output_length"));
        json_t *ids = json_object_get(o, "hash_ids");
        for (size_t i = 0; i < json_array_size(ids); i++) {
            int was = mark_seen(&seen, &seen_cap, (uint64_t)json_integer_value(json_array_get(ids, i)));
            m.reused += was;
            m.n_distinct += !was;
            m.n_ids++;
        }
        m.n++;
        json_decref(o);
    }
    free(line);
    free(seen);
    fclose(f);
    return m;
}

static void test_mooncake_full(void)
{
    mooncake_raw m = mooncake_independent();
    CU_ASSERT_EQUAL(m.n, 12031);

    kt_err err = { 0 };
    trace_opts o = default_opts();
    trace_reader *t = trace_open(MOONCAKE_FILE, TRACE_MOONCAKE, &o, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(t);
    trace_record rec;
    int64_t n = 0, sum_in = 0, sum_out = 0, first = -1, last = 0, bad_blocks = 0, backwards = 0;
    reuse_set rs = { 0 };
    int r;
    while ((r = trace_next(t, &rec, &err)) == 1) {
        if (first < 0)
            first = rec.arrival_ns;
        backwards += rec.arrival_ns < last;
        last = rec.arrival_ns;
        n++;
        sum_in += rec.input_tokens;
        sum_out += rec.output_tokens;
        bad_blocks += rec.n_hash_ids != (rec.input_tokens + MOONCAKE_BLOCK_TOKENS - 1) / MOONCAKE_BLOCK_TOKENS;
        reuse_add(&rs, rec.hash_ids, rec.n_hash_ids);
    }
    CU_ASSERT_EQUAL(r, 0);
    CU_ASSERT_EQUAL(trace_bad_lines(t, NULL, 0), 0);
    trace_close(t);

    CU_ASSERT_EQUAL(n, 12031);
    CU_ASSERT_EQUAL(n, m.n);
    CU_ASSERT_EQUAL(sum_in, m.sum_in);
    CU_ASSERT_EQUAL(sum_out, m.sum_out);
    CU_ASSERT_EQUAL(first, 0);
    CU_ASSERT_EQUAL(last, (m.last_ms - m.first_ms) * NS_PER_MS);
    /* The file's last timestamp is 3,536,999 ms: README's "3,537.0 s" is
     * that rounded to 0.1 s, not 3,537,000 ms. */
    CU_ASSERT_EQUAL(m.first_ms, 0);
    CU_ASSERT_EQUAL(m.last_ms, 3536999);
    CU_ASSERT(llabs(m.last_ms - 3537000) <= 50);
    CU_ASSERT_EQUAL(bad_blocks, 0);
    CU_ASSERT_EQUAL(backwards, 0);

    /* The block reuse ratio, from the reader's records and from the raw
     * file; README: 288,500 ids, 182,790 distinct, ratio 0.3664. */
    double from_reader = reuse_ratio(&rs), from_file = (double)m.reused / (double)m.n_ids;
    CU_ASSERT_EQUAL(rs.total, m.n_ids);
    CU_ASSERT_EQUAL(rs.reused, m.reused);
    CU_ASSERT_EQUAL(m.n_ids, 288500);
    CU_ASSERT_EQUAL(m.n_distinct, 182790);
    CU_ASSERT_DOUBLE_EQUAL(from_reader, from_file, 1e-12);
    CU_ASSERT_DOUBLE_EQUAL(from_reader, 0.3664, 0.00005);
    CU_ASSERT_DOUBLE_EQUAL(from_file, 0.3664, 0.00005);
    printf("\n  mooncake: %lld requests, %lld + %lld tokens, reuse ratio %.6f\n", (long long)n,
           (long long)sum_in, (long long)sum_out, from_reader);
    reuse_free(&rs);
}

/* SPREAD on the real trace: same records, each arriving in [its tick,
 * its tick + the gap to the next tick), which README gives as 3000 +- 3 ms. */
static void test_mooncake_full_spread(void)
{
    kt_err err = { 0 };
    trace_opts ob = default_opts(), os = default_opts();
    os.release = TRACE_RELEASE_SPREAD;
    trace_reader *b = trace_open(MOONCAKE_FILE, TRACE_MOONCAKE, &ob, &err);
    trace_reader *s = trace_open(MOONCAKE_FILE, TRACE_MOONCAKE, &os, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(b);
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    trace_record rb, rsp;
    int64_t n = 0, mismatched = 0, outside = 0, backwards = 0, last = 0, max_tick_ns = 3003 * NS_PER_MS;
    while (trace_next(b, &rb, &err) == 1) {
        CU_ASSERT_EQUAL_FATAL(trace_next(s, &rsp, &err), 1);
        n++;
        mismatched += rb.line != rsp.line || rb.input_tokens != rsp.input_tokens ||
                      rb.n_hash_ids != rsp.n_hash_ids ||
                      memcmp(rb.hash_ids, rsp.hash_ids, rb.n_hash_ids * sizeof *rb.hash_ids);
        outside += rsp.arrival_ns < rb.arrival_ns || rsp.arrival_ns >= rb.arrival_ns + max_tick_ns;
        backwards += rsp.arrival_ns < last;
        last = rsp.arrival_ns;
    }
    CU_ASSERT_EQUAL(trace_next(s, &rsp, &err), 0);
    CU_ASSERT_EQUAL(n, 12031);
    CU_ASSERT_EQUAL(mismatched, 0);
    CU_ASSERT_EQUAL(outside, 0);
    CU_ASSERT_EQUAL(backwards, 0);
    trace_close(b);
    trace_close(s);
}

/* An Azure timestamp by sscanf and timegm (not trace.c's calendar code). */
static int azure_independent_ns(const char *line, int64_t *ns, int64_t *in, int64_t *out)
{
    struct tm tm = { 0 };
    char frac[8];
    long long a, b;
    if (sscanf(line, "%d-%d-%d %d:%d:%d.%7[0-9],%lld,%lld", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
               &tm.tm_hour, &tm.tm_min, &tm.tm_sec, frac, &a, &b) != 9 || strlen(frac) != 7)
        return -1;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    *ns = (int64_t)timegm(&tm) * NS_PER_S + atoll(frac) * NS_PER_100NS;
    *in = a;
    *out = b;
    return 0;
}

static void test_azure_full(void)
{
    FILE *f = fopen(AZURE_FILE, "r");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    char line[256];
    int64_t n_raw = 0, raw_in = 0, raw_out = 0, first_ns = 0, last_ns = 0;
    CU_ASSERT_PTR_NOT_NULL(fgets(line, sizeof line, f));  /* header */
    while (fgets(line, sizeof line, f)) {
        int64_t ns = 0, in = 0, out = 0;
        CU_ASSERT_EQUAL_FATAL(azure_independent_ns(line, &ns, &in, &out), 0);
        first_ns = n_raw ? first_ns : ns;
        last_ns = ns;
        raw_in += in;
        raw_out += out;
        n_raw++;
    }
    fclose(f);

    kt_err err = { 0 };
    trace_opts o = default_opts();
    trace_reader *t = trace_open(AZURE_FILE, TRACE_AZURE, &o, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(t);
    trace_record rec;
    int64_t n = 0, sum_in = 0, sum_out = 0, last = 0, not_increasing = 0;
    int r;
    while ((r = trace_next(t, &rec, &err)) == 1) {
        not_increasing += n > 0 && rec.arrival_ns <= last;  /* README: no ties */
        last = rec.arrival_ns;
        n++;
        sum_in += rec.input_tokens;
        sum_out += rec.output_tokens;
    }
    CU_ASSERT_EQUAL(r, 0);
    trace_close(t);

    CU_ASSERT_EQUAL(n, 19366);
    CU_ASSERT_EQUAL(n_raw, 19366);
    CU_ASSERT_EQUAL(sum_in, raw_in);
    CU_ASSERT_EQUAL(sum_out, raw_out);
    CU_ASSERT_EQUAL(not_increasing, 0);
    /* The duration: exactly the independent value (within 0.1 ms would do),
     * and README's 3,501.7 s at its 0.1 s precision. */
    CU_ASSERT_EQUAL(last, last_ns - first_ns);
    CU_ASSERT(llabs(last - (last_ns - first_ns)) <= NS_PER_MS / 10);
    CU_ASSERT_DOUBLE_EQUAL((double)last / (double)NS_PER_S, 3501.7, 0.05);
    printf("\n  azure: %lld requests, %lld + %lld tokens, duration %.7f s\n", (long long)n,
           (long long)sum_in, (long long)sum_out, (double)last / (double)NS_PER_S);
}

/* ---------- ShareGPT ---------- */

#define SG_THINK_NS (30 * NS_PER_S)
#define SG_SEED 7

/* One conversation a second (Poisson, seed 7), 30 s between a session's
 * turns, conversations opening with a gpt turn passed over. */
static trace_opts sharegpt_opts(void);

/* Writes doc to a scratch file and reads it whole with sharegpt_opts (and
 * skip_bad): the error's line (0 for a file-level one), or -1 with no error. */
static int sharegpt_error_of(const char *doc, int skip_bad, kt_err *err)
{
    char tmp[] = "/tmp/kvtier_sharegpt_XXXXXX";
    int fd = mkstemp(tmp);
    CU_ASSERT_FATAL(fd >= 0);
    CU_ASSERT_FATAL(write(fd, doc, strlen(doc)) == (ssize_t)strlen(doc));
    close(fd);
    trace_opts o = sharegpt_opts();
    o.skip_bad = skip_bad;
    memset(err, 0, sizeof *err);
    trace_reader *t = trace_open(tmp, TRACE_SHAREGPT, &o, err);
    int r = t ? 1 : -1;
    trace_record rec;
    while (t && (r = trace_next(t, &rec, err)) == 1)
        ;
    trace_close(t);
    unlink(tmp);
    return r == 0 ? -1 : err->line;
}

static trace_opts sharegpt_opts(void)
{
    trace_opts o = default_opts();
    o.sharegpt.arrivals.arrival = ARRIVAL_POISSON;
    o.sharegpt.arrivals.rate_per_s = 1;
    o.sharegpt.arrivals.think_ns = (dist){ .kind = DIST_CONSTANT, .mean = (double)SG_THINK_NS, .hi = 1e18 };
    o.sharegpt.arrivals.seed = SG_SEED;
    o.sharegpt.skip_not_human_first = 1;
    return o;
}

/* sharegpt_small.json, written from the published layout (a JSON array of
 * {"id", "conversations": [{"from": "human"|"gpt", "value": text}]}, as
 * ShareGPT_V3_unfiltered_cleaned_split.json has it). Tokens at 4 characters
 * each, rounded up:
 *   conversation 0 (line 2): "What is a KV cache?" 19 chars -> 5; "It keeps
 *     attention keys and values." 35 -> 9; "Why page it?" 12 -> 3; its reply
 *     gives "tokens": 40, which wins over its 12 chars.
 *   conversation 1 (line 11) opens with a gpt turn: passed over.
 *   conversation 2 (line 19): "Résumé, naïve café." 19 code points (23
 *     bytes: 6 tokens had bytes been counted) -> 5; "" -> 1 (at least one);
 *     its final "Thanks" has no reply, so no request.
 *   conversation 3 (line 27): "Summarise this." 15 -> 4; "Done." 5 -> 2.
 * Starts: conversation 0 at 0, then the arrival process's gaps (the passed
 * over conversation draws none); turn 1 of conversation 0 follows its turn 0
 * by the 30 s think time, after the other two sessions began. */
static void test_sharegpt_small(void)
{
    got g[MAX_GOT];
    trace_opts o = sharegpt_opts();
    int n = read_fixture("sharegpt_small.json", TRACE_SHAREGPT, &o, g);
    CU_ASSERT_EQUAL_FATAL(n, 4);
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(r, SG_SEED);
    int64_t gap1 = workload_next_gap_ns(&o.sharegpt.arrivals, r), gap2 = workload_next_gap_ns(&o.sharegpt.arrivals, r);
    gsl_rng_free(r);
    CU_ASSERT_FATAL(gap1 + gap2 < SG_THINK_NS);  /* so sessions 2 and 3 come before session 0's turn 1 */
    const struct { int64_t session; int turn; int64_t in, out, line, arrival_ns; } want[] = {
        { 0, 0, 5, 9, 2, 0 },
        { 2, 0, 5, 1, 19, gap1 },
        { 3, 0, 4, 2, 27, gap1 + gap2 },
        { 0, 1, 3, 40, 2, SG_THINK_NS },
    };
    for (int i = 0; i < n; i++) {
        CU_ASSERT_EQUAL(g[i].session, want[i].session);
        CU_ASSERT_EQUAL(g[i].turn, want[i].turn);
        CU_ASSERT_EQUAL(g[i].in, want[i].in);
        CU_ASSERT_EQUAL(g[i].out, want[i].out);
        CU_ASSERT_EQUAL(g[i].line, want[i].line);
        CU_ASSERT_EQUAL(g[i].arrival_ns, want[i].arrival_ns);
        CU_ASSERT_EQUAL(g[i].n_ids, 0);
    }
    CU_ASSERT_STRING_EQUAL(trace_format_names[TRACE_SHAREGPT], "sharegpt");

    /* 2 characters a token: 19 -> 10, 35 -> 18; "Résumé, naïve café." 19 -> 10,
     * "" -> 1; "Summarise this." 15 -> 8, "Done." 5 -> 3; "Why page it?" 12 -> 6
     * and its reply's "tokens": 40, which does not depend on the rule. */
    o.sharegpt.chars_per_token = 2;
    n = read_fixture("sharegpt_small.json", TRACE_SHAREGPT, &o, g);
    CU_ASSERT_EQUAL_FATAL(n, 4);
    const int64_t halved[][3] = { { 0, 10, 18 }, { 1, 10, 1 }, { 2, 8, 3 }, { 3, 6, 40 } };  /* record, in, out */
    for (int k = 0; k < 4; k++)
        CU_ASSERT(g[halved[k][0]].in == halved[k][1] && g[halved[k][0]].out == halved[k][2]);

    /* max_conversations 2: conversations 0 and 2 (1 is passed over, not
     * counted), so records: session 0 turn 0, session 2, session 0 turn 1. */
    o = sharegpt_opts();
    o.sharegpt.max_conversations = 2;
    n = read_fixture("sharegpt_small.json", TRACE_SHAREGPT, &o, g);
    CU_ASSERT_EQUAL_FATAL(n, 3);
    const int64_t kept[][2] = { { 0, 0 }, { 2, 0 }, { 0, 1 } };  /* session, turn */
    for (int k = 0; k < 3; k++)
        CU_ASSERT(g[k].session == kept[k][0] && g[k].turn == kept[k][1]);

    /* Without skip_not_human_first, conversation 1 is malformed, at its line. */
    o = sharegpt_opts();
    o.sharegpt.skip_not_human_first = 0;
    kt_err err = { 0 };
    CU_ASSERT_PTR_NULL(trace_open(fixture("sharegpt_small.json"), TRACE_SHAREGPT, &o, &err));
    CU_ASSERT_EQUAL(err.line, 11);
    CU_ASSERT_STRING_EQUAL(err.file, fixture("sharegpt_small.json"));
    CU_ASSERT_STRING_EQUAL(err.msg, "conversation 1: conversations[0] is a gpt turn where a human turn was due "
                                    "(turns go human, gpt, human, ...)");
}

/* sharegpt_bad.json: conversations 0 (line 2) and 7 (line 9) are sound,
 * "abcdefgh"/"abcd" -> 2/1 tokens and "abcdefghi"/"abcde" -> 3/2; the six
 * between are each malformed in one way, one per line. */
static void test_sharegpt_bad(void)
{
    static const struct { int line; const char *msg; } bad[] = {
        { 3, "conversation 1: conversations[1].from must be \"human\" or \"gpt\", got \"bot\"" },
        { 4, "conversation 2: expected an object {\"id\", \"conversations\"}, got an array" },
        { 5, "conversation 3: conversations[0].value must be a string, not missing" },
        { 6, "conversation 4: conversations[1] is a human turn where a gpt turn was due (turns go human, gpt, "
             "human, ...)" },
        { 7, "conversation 5: no human turn answered by a gpt turn (1 turns)" },
        { 8, "conversation 6: conversations[0].tokens must be an integer >= 1, not a smaller one" },
    };
    /* Strict: the first one fails the open, located. */
    trace_opts o = sharegpt_opts();
    kt_err err = { 0 };
    const char *path = fixture("sharegpt_bad.json");
    CU_ASSERT_PTR_NULL(trace_open(path, TRACE_SHAREGPT, &o, &err));
    CU_ASSERT_STRING_EQUAL(err.file, path);
    CU_ASSERT_EQUAL(err.line, bad[0].line);
    CU_ASSERT_EQUAL(err.col, 0);
    CU_ASSERT_STRING_EQUAL(err.msg, bad[0].msg);

    /* skip_bad: each is counted at its line, the two sound ones replayed. */
    o.skip_bad = 1;
    got g[MAX_GOT];
    int n = read_fixture("sharegpt_bad.json", TRACE_SHAREGPT, &o, g);
    CU_ASSERT_EQUAL_FATAL(n, 2);
    CU_ASSERT_EQUAL(g[0].session, 0);
    CU_ASSERT_EQUAL(g[0].in, 2);
    CU_ASSERT_EQUAL(g[0].out, 1);
    CU_ASSERT_EQUAL(g[1].session, 7);
    CU_ASSERT_EQUAL(g[1].line, 9);
    CU_ASSERT_EQUAL(g[1].in, 3);
    CU_ASSERT_EQUAL(g[1].out, 2);
    trace_reader *t = trace_open(path, TRACE_SHAREGPT, &o, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(t);
    int64_t lines[16] = { 0 };
    CU_ASSERT_EQUAL(trace_bad_lines(t, lines, 16), 6);
    for (int i = 0; i < 6; i++)
        CU_ASSERT_EQUAL(lines[i], bad[i].line);
    trace_close(t);

    /* Each message: the malformed conversation alone, on line 2. */
    for (size_t i = 1; i < sizeof bad / sizeof *bad; i++) {
        char line[512] = "";
        FILE *in = fopen(path, "r");
        CU_ASSERT_PTR_NOT_NULL_FATAL(in);
        for (int k = 0; k < bad[i].line && fgets(line, sizeof line, in); k++)
            ;
        fclose(in);
        *strrchr(line, ',') = '\0';   /* the element without its comma */
        char doc[1024];
        snprintf(doc, sizeof doc, "[\n%s\n]\n", line);
        CU_ASSERT_EQUAL(sharegpt_error_of(doc, 0, &err), 2);
        char want[600];
        snprintf(want, sizeof want, "conversation 0%s", strchr(bad[i].msg, ':'));
        CU_ASSERT_STRING_EQUAL(err.msg, want);
    }
}

/* The array itself: what is not a conversation's fault. */
static void test_sharegpt_syntax(void)
{
    kt_err err;
    /* Bad JSON inside conversation 1 stops the read even with skip_bad: its
     * end, and so the next conversation's start, is unknown. jansson finds
     * the second '}' on line 3, at column 22 of that line. */
    const char *bad_json = "[{\"conversations\": [{\"from\": \"human\", \"value\": \"a\"}, "
                           "{\"from\": \"gpt\", \"value\": \"b\"}]},\n"
                           " {\"conversations\":\n"
                           "   [{\"from\": \"human\"}}\n]\n";
    CU_ASSERT_EQUAL(sharegpt_error_of(bad_json, 1, &err), 3);
    CU_ASSERT_NSTRING_EQUAL(err.msg, "bad JSON in conversation 1: ", 28);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "(column 22)"));
    /* On the line the conversation opens, the column counts from the line's
     * start: two spaces, then {"conversations": ] puts the ']' at 21. */
    CU_ASSERT_EQUAL(sharegpt_error_of("[\n  {\"conversations\": ]}]", 0, &err), 2);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "(column 21)"));
    /* Two conversations with no comma between them: at the second's line. */
    const char *no_comma = "[\n{\"conversations\": []}\n{\"conversations\": []}\n]";
    CU_ASSERT_EQUAL(sharegpt_error_of(no_comma, 1, &err), 3);
    CU_ASSERT_STRING_EQUAL(err.msg, "expected ',' or ']' after conversation 0");
    /* Not an array; text after it; an empty one. */
    CU_ASSERT_EQUAL(sharegpt_error_of("\n{\"id\": 1}", 1, &err), 2);
    CU_ASSERT_STRING_EQUAL(err.msg, "expected a JSON array of conversations, '[', at the start of the file");
    const char *one = "[{\"conversations\": [{\"from\": \"human\", \"value\": \"a\"}, "
                      "{\"from\": \"gpt\", \"value\": \"b\"}]}]\n\n[]";
    CU_ASSERT_EQUAL(sharegpt_error_of(one, 1, &err), 3);
    CU_ASSERT_STRING_EQUAL(err.msg, "text after the array's closing ']'");
    CU_ASSERT_EQUAL(sharegpt_error_of(" [ ]\n", 0, &err), 0);  /* opens; its first read finds nothing */
    CU_ASSERT_STRING_EQUAL(err.msg, "no requests in the file");
    /* A bad conversation of nothing but an empty array counts as bad. */
    CU_ASSERT_EQUAL(sharegpt_error_of("[[]]", 1, &err), 0);
    CU_ASSERT_STRING_EQUAL(err.msg, "no valid requests: all 1 non-blank lines are malformed");
}

int main(void)
{
    static const tu_test tests[] = {
        { "format names", test_format_names },
        { "mooncake fixture", test_mooncake_small },
        { "mooncake CRLF, no final newline", test_mooncake_crlf },
        { "azure fixture: CRLF, midnight, leap day", test_azure_small },
        { "vidur fixture: exact decimal seconds", test_vidur_small },
        { "burstgpt fixture: seconds, a failed request", test_burstgpt_small },
        { "vidur: BOM, reordered and extra columns", test_vidur_bom_reordered },
        { "kvtier native fixture", test_kvtier_small },
        { "mooncake bad lines: exact errors", test_mooncake_bad_strict },
        { "mooncake bad lines: skip_bad", test_mooncake_bad_skip },
        { "mooncake lines of every shape, read fast or by jansson", test_mooncake_shapes },
        { "kvtier bad lines", test_kvtier_bad },
        { "azure bad lines", test_azure_bad },
        { "wrong CSV header", test_wrong_header },
        { "empty and blank files", test_empty_files },
        { "bad options", test_bad_opts },
        { "rate_scale", test_rate_scale },
        { "start/duration window", test_window },
        { "limit", test_limit },
        { "SPREAD vs BURST", test_spread_vs_burst },
        { "SPREAD with skip_bad", test_spread_skip_bad },
        { "SPREAD group split by an error", test_spread_split_by_error },
        { "long lines", test_long_lines },
        { "sharegpt fixture: tokens by rule and field, turns, arrivals", test_sharegpt_small },
        { "sharegpt malformed conversations: located, skip_bad", test_sharegpt_bad },
        { "sharegpt array syntax", test_sharegpt_syntax },
        { "full Mooncake trace", test_mooncake_full },
        { "full Mooncake trace, SPREAD", test_mooncake_full_spread },
        { "full Azure trace", test_azure_full },
        { NULL, NULL },
    };
    return tu_run("trace", tests);
}
