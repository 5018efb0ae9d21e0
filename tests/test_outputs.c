/* test_outputs.c — what a run writes besides its summary: the trace-event timeline (its structure, a single request's slices against closed-form iteration times, transfers against the links' byte counters) and the CSV tables. */
#include <jansson.h>
#include <sqlite3.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cost.h"
#include "export.h"
#include "metrics.h"
#include "runner.h"
#include "scenario.h"
#include "sim.h"
#include "store.h"
#include "testutil.h"
#include "timeline.h"

static scenario *load(const char *rel, char **sets, int n)
{
    kt_err err;
    scenario *sc = scenario_load(tu_path(rel), sets, n, &err);
    if (!sc)
        kt_err_print(&err, stderr);
    return sc;
}

/* Runs sc with a timeline; returns the metrics and, in *doc, the parsed JSON (both the caller's). */
static metrics *run_with_timeline(const scenario *sc, json_t **doc)
{
    FILE *f = tmpfile();
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    timeline *tl = timeline_new(f);
    CU_ASSERT_PTR_NOT_NULL_FATAL(tl);
    sim_opts o = { .check = 1, .timeline = tl };
    metrics *m = NULL;
    sim_stats st;
    kt_err err;
    if (sim_run(sc, &o, &m, &st, &err) < 0)
        kt_err_print(&err, stderr);
    CU_ASSERT_EQUAL(timeline_end(tl, "test"), 0);
    timeline_free(tl);
    rewind(f);
    json_error_t je;
    *doc = json_loadf(f, 0, &je);
    if (!*doc)
        fprintf(stderr, "timeline JSON: line %d: %s\n", je.line, je.text);
    fclose(f);
    return m;
}

/* An event's ts or dur in nanoseconds (the file writes microseconds with three decimals). */
static int64_t ns_of(const json_t *e, const char *key)
{
    return llround(json_number_value(json_object_get(e, key)) * 1000);
}

static const char *str_of(const json_t *e, const char *key) { return json_string_value(json_object_get(e, key)); }

static int64_t arg_of(const json_t *e, const char *key)
{
    return json_integer_value(json_object_get(json_object_get(e, "args"), key));
}

/* The Trace Event Format's rules every event must keep: an object with a
 * one-letter phase, integer pid and tid, a numeric ts; complete events a
 * dur; counters numeric args; async begin/end a cat and an id. Returns the
 * count of events that break them. */
static int bad_events(const json_t *events)
{
    size_t i;
    json_t *e;
    int bad = 0;
    json_array_foreach(events, i, e) {
        const char *ph = str_of(e, "ph");
        int ok = json_is_object(e) && ph && strlen(ph) == 1 && json_is_integer(json_object_get(e, "pid")) &&
                 json_is_integer(json_object_get(e, "tid")) && json_is_number(json_object_get(e, "ts")) &&
                 json_is_string(json_object_get(e, "name"));
        if (ok && !strcmp(ph, "X"))
            ok = json_is_number(json_object_get(e, "dur")) && ns_of(e, "dur") >= 0;
        if (ok && (!strcmp(ph, "b") || !strcmp(ph, "e")))
            ok = json_is_string(json_object_get(e, "cat")) && json_is_integer(json_object_get(e, "id"));
        if (ok && !strcmp(ph, "C")) {
            const char *k;
            json_t *v;
            json_object_foreach(json_object_get(e, "args"), k, v) ok = ok && json_is_number(v);
        }
        bad += !ok;
    }
    return bad;
}

/* Loads rel with the overrides and runs it with a timeline: *sc, *m and
 * *doc (the parsed file) are the caller's; returns its traceEvents, every
 * event checked against the format's rules. */
static json_t *timeline_of(const char *rel, char **sets, int n, scenario **sc, metrics **m, json_t **doc)
{
    *sc = load(rel, sets, n);
    CU_ASSERT_PTR_NOT_NULL_FATAL(*sc);
    *m = run_with_timeline(*sc, doc);
    CU_ASSERT_PTR_NOT_NULL_FATAL(*m);
    CU_ASSERT_PTR_NOT_NULL_FATAL(*doc);
    json_t *events = json_object_get(*doc, "traceEvents");
    CU_ASSERT_FATAL(json_is_array(events));
    CU_ASSERT_EQUAL(bad_events(events), 0);
    return events;
}

/* One request of 1,000 prompt tokens and 5 output tokens under a 512-token
 * budget: by hand, two prefill chunks (512 new tokens, then 488 after 512
 * cached, the second sampling the first token) and four decode steps over
 * 1000..1003 cached tokens, back to back from its arrival at 0; each
 * slice's length is that iteration's cost, computed here by the cost model
 * on the batch worked out by hand. After the last one nothing runs or
 * waits and no block is in use. */
static void test_timeline_single_request(void)
{
    char *sets[] = { "workload.sessions=1", "workload.turns=1", "workload.input_tokens=1000",
                     "workload.output_tokens=5", "workload.system_prompt_tokens=0", "replicas.count=1",
                     "scheduler.token_budget=512" };
    scenario *sc;
    metrics *m;
    json_t *doc, *events = timeline_of("tests/data/e2e.yaml", sets, 7, &sc, &m, &doc);
    CU_ASSERT_STRING_EQUAL(str_of(doc, "displayTimeUnit"), "ns");

    cost_model cm;
    kt_err err;
    CU_ASSERT_EQUAL_FATAL(cost_model_init(&cm, sc->model, sc->hw, 1, DTYPE_BF16, &err), 0);
    const cost_seq want[] = { { 512, 0, 0 }, { 488, 512, 0 }, { 1, 1000, 0 }, { 1, 1001, 0 }, { 1, 1002, 0 },
                              { 1, 1003, 0 } };
    const int64_t prefill[] = { 512, 488, 0, 0, 0, 0 }, logits[] = { 0, 1, 1, 1, 1, 1 };
    int n = 0, named = 0;
    int64_t t = 0;
    const json_t *last_counter = NULL;
    size_t i;
    json_t *e;
    json_array_foreach(events, i, e) {
        const char *ph = str_of(e, "ph");
        if (!strcmp(ph, "M") && !strcmp(str_of(e, "name"), "process_name"))
            named += json_integer_value(json_object_get(e, "pid")) == timeline_replica_pid(0);
        if (!strcmp(ph, "C") && !strcmp(str_of(e, "name"), "requests"))
            last_counter = e;
        if (strcmp(ph, "X"))
            continue;
        CU_ASSERT_FATAL(n < 6);
        cost_iter it;
        cost_iteration(&cm, &want[n], 1, (int)logits[n], &it);
        CU_ASSERT_EQUAL(json_integer_value(json_object_get(e, "pid")), 1);
        CU_ASSERT_EQUAL(json_integer_value(json_object_get(e, "tid")), TIMELINE_TID_ITERATIONS);
        CU_ASSERT_EQUAL(ns_of(e, "ts"), t);
        CU_ASSERT_EQUAL(ns_of(e, "dur"), it.total_ns);
        CU_ASSERT_EQUAL(arg_of(e, "prefill_tokens"), prefill[n]);
        CU_ASSERT_EQUAL(arg_of(e, "decode_tokens"), prefill[n] ? 0 : 1);
        CU_ASSERT_EQUAL(arg_of(e, "batch"), 1);
        t += it.total_ns;
        n++;
    }
    CU_ASSERT_EQUAL(n, 6);
    CU_ASSERT_EQUAL(named, 1);
    CU_ASSERT_EQUAL(m->reqs[0].finish_ns, t);
    CU_ASSERT_PTR_NOT_NULL_FATAL(last_counter);
    CU_ASSERT_EQUAL(arg_of(last_counter, "running"), 0);
    CU_ASSERT_EQUAL(arg_of(last_counter, "waiting"), 0);
    json_decref(doc);
    metrics_free(m);
    scenario_free(sc);
}

/* Transfers in a run whose sessions overflow HBM into DRAM and NVMe: every
 * async begin has one end of the same name, pid and id, no earlier; the
 * bytes of each link's slices add up to what the fabric counted on that
 * link; iteration slices never overlap, and with demand fetch (no wait
 * inside a step) they add up to the replica's busy time. */
static void test_timeline_transfers(void)
{
    char *sets[] = { "workload.sessions=12" };
    scenario *sc;
    metrics *m;
    json_t *doc, *events = timeline_of("tests/data/tiers.yaml", sets, 1, &sc, &m, &doc);
    double *bytes = calloc(m->n_links, sizeof *bytes);
    int begins = 0, ends = 0;
    int64_t busy = 0, end_of_last = 0;
    size_t i, j;
    json_t *e;
    json_array_foreach(events, i, e) {
        const char *ph = str_of(e, "ph");
        if (!strcmp(ph, "X")) {
            CU_ASSERT(ns_of(e, "ts") >= end_of_last);
            end_of_last = ns_of(e, "ts") + ns_of(e, "dur");
            busy += ns_of(e, "dur");
        }
        if (strcmp(ph, "b"))
            continue;
        begins++;
        json_int_t id = json_integer_value(json_object_get(e, "id"));
        for (j = i + 1; j < json_array_size(events); j++) {
            const json_t *f = json_array_get(events, j);
            if (!strcmp(str_of(f, "ph"), "e") && json_integer_value(json_object_get(f, "id")) == id) {
                ends++;
                CU_ASSERT_STRING_EQUAL(str_of(f, "name"), str_of(e, "name"));
                CU_ASSERT(ns_of(f, "ts") >= ns_of(e, "ts"));
                break;
            }
        }
        for (size_t l = 0; l < m->n_links; l++)
            if (!strcmp(m->links[l].name, str_of(e, "name")))
                bytes[l] += json_number_value(json_object_get(json_object_get(e, "args"), "bytes"));
    }
    CU_ASSERT(begins > 0);
    CU_ASSERT_EQUAL(ends, begins);
    for (size_t l = 0; l < m->n_links; l++)
        CU_ASSERT_DOUBLE_EQUAL(bytes[l], m->links[l].bytes_moved, 1 + 1e-9 * m->links[l].bytes_moved);
    CU_ASSERT_EQUAL(busy, m->replicas[0].busy_ns);
    free(bytes);
    json_decref(doc);
    metrics_free(m);
    scenario_free(sc);
}

/* Reads a CSV file into lines (CRLF-terminated records, RFC 4180); returns the count. */
static int csv_lines(const char *path, char lines[][4096], int max)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    int n = 0;
    while (n < max && fgets(lines[n], sizeof lines[n], f)) {
        size_t len = strlen(lines[n]);
        CU_ASSERT(len >= 2 && !strcmp(lines[n] + len - 2, "\r\n"));
        n++;
    }
    fclose(f);
    return n;
}

/* The index of column name in a header line, or -1. */
static int column(const char *header, const char *name)
{
    char buf[4096];
    snprintf(buf, sizeof buf, "%s", header);
    buf[strcspn(buf, "\r\n")] = '\0';
    int k = 0;
    for (char *save, *c = strtok_r(buf, ",", &save); c; c = strtok_r(NULL, ",", &save), k++)
        if (!strcmp(c, name))
            return k;
    return -1;
}

/* Field k of a line (no quoted fields in these tables: numbers and plain names). */
static long long field(const char *line, int k)
{
    const char *p = line;
    for (int i = 0; i < k && p; i++)
        p = strchr(p, ',') ? strchr(p, ',') + 1 : NULL;
    return p ? atoll(p) : -1;
}

/* tiers.yaml's run exported: one requests.csv row per request the run
 * made, whose output tokens add up to the summary's; one replicas.csv row
 * (one replica); tiers.csv the scenario's two tiers in order; the ITL BLOB
 * left out; a header with units in the names. */
static void test_csv_export(void)
{
    char *sets[] = { "workload.sessions=6", "results.itl_gaps=true" };
    scenario *sc = load("tests/data/tiers.yaml", sets, 2);
    CU_ASSERT_PTR_NOT_NULL_FATAL(sc);
    kt_err err;
    store *db = store_open(":memory:", &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(db);
    sim_opts o = { 0 };
    runner_result res;
    CU_ASSERT_EQUAL_FATAL(runner_run(sc, &o, db, NULL, &res, &err), RUNNER_OK);
    char dir[] = "/tmp/kvtier_csv_XXXXXX";
    CU_ASSERT_PTR_NOT_NULL_FATAL(mkdtemp(dir));
    char sub[64];
    snprintf(sub, sizeof sub, "%s/out", dir);
    CU_ASSERT_EQUAL_FATAL(export_run_csv(db, res.run_id, sub, &err), 0);

    static char lines[512][4096];
    int n = csv_lines(tu_path_in(sub, "requests.csv"), lines, 512);
    /* 6 sessions of 4 turns each (tiers.yaml: turns: 4). */
    CU_ASSERT_EQUAL(n, 1 + 6 * 4);
    CU_ASSERT_EQUAL(column(lines[0], "itl_gaps_ns"), -1);
    int out = column(lines[0], "output_tokens");
    CU_ASSERT(column(lines[0], "ttft_ns") >= 0 && out >= 0);
    long long tokens = 0;
    for (int i = 1; i < n; i++)
        tokens += field(lines[i], out);
    CU_ASSERT_EQUAL(tokens, (long long)llround(res.summary.output_tokens));
    CU_ASSERT_EQUAL(csv_lines(tu_path_in(sub, "replicas.csv"), lines, 512), 2);
    CU_ASSERT(column(lines[0], "busy_ns") >= 0);
    CU_ASSERT_EQUAL(csv_lines(tu_path_in(sub, "tiers.csv"), lines, 512), 3);
    CU_ASSERT(strstr(lines[1], ",dram,dram,") && strstr(lines[2], ",nvme,nvme,"));
    for (const char *f = "requests.csv\0replicas.csv\0tiers.csv\0"; *f; f += strlen(f) + 1)
        unlink(tu_path_in(sub, f));
    rmdir(sub);
    rmdir(dir);
    store_close(db);
    scenario_free(sc);
}

static long long query_ll(sqlite3 *q, const char *sql)
{
    sqlite3_stmt *s;
    long long v = -1;
    if (sqlite3_prepare_v2(q, sql, -1, &s, NULL) == SQLITE_OK && sqlite3_step(s) == SQLITE_ROW)
        v = sqlite3_column_int64(s, 0);
    else
        fprintf(stderr, "%s: %s\n", sql, sqlite3_errmsg(q));
    sqlite3_finalize(s);
    return v;
}

static double query_f(sqlite3 *q, const char *sql)
{
    sqlite3_stmt *s;
    double v = NAN;
    if (sqlite3_prepare_v2(q, sql, -1, &s, NULL) == SQLITE_OK && sqlite3_step(s) == SQLITE_ROW)
        v = sqlite3_column_double(s, 0);
    sqlite3_finalize(s);
    return v;
}

/* A database as version 2 wrote it (tiers.hit_blocks; tier_samples with HBM
 * at level 0 and lower tier L at L + 1; no views) is upgraded when opened:
 * the column renamed with its values, the levels numbered as the tiers
 * table's (HBM -1), the views there. The tier_hit_ratio view's DRAM share
 * equals the share of prompt tokens the requests table says came from
 * tier 0, summed here; run_p99 gives the run's p99 TTFT, which is the
 * 99th percentile of the requests' ttft_ns column within one request's
 * spacing. */
static void test_database_upgrade_and_views(void)
{
    char path[] = "/tmp/kvtier-v2-XXXXXX.db";
    int fd = mkstemps(path, 3);
    CU_ASSERT_FATAL(fd >= 0);
    close(fd);
    unlink(path);
    char *sets[] = { "workload.sessions=10" };
    scenario *sc = load("tests/data/tiers.yaml", sets, 1);
    CU_ASSERT_PTR_NOT_NULL_FATAL(sc);
    kt_err err;
    store *db = store_open(path, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(db);
    sim_opts o = { 0 };
    runner_result res;
    CU_ASSERT_EQUAL_FATAL(runner_run(sc, &o, db, NULL, &res, &err), RUNNER_OK);
    store_close(db);
    sqlite3 *q;
    CU_ASSERT_EQUAL_FATAL(sqlite3_open(path, &q), SQLITE_OK);
    long long found = query_ll(q, "SELECT sum(found_blocks) FROM tiers");
    long long hbm = query_ll(q, "SELECT count(*) FROM tier_samples WHERE level = -1");
    long long dram = query_ll(q, "SELECT sum(used_blocks) FROM tier_samples WHERE level = 0");
    CU_ASSERT(found > 0 && hbm > 0 && dram > 0);
    CU_ASSERT_EQUAL(sqlite3_exec(q,
                                 "DROP VIEW run_p99; DROP VIEW tier_hit_ratio;"
                                 "ALTER TABLE tiers RENAME COLUMN found_blocks TO hit_blocks;"
                                 "UPDATE tier_samples SET level = level + 1 + 1000000;"
                                 "UPDATE tier_samples SET level = level - 1000000;"
                                 "PRAGMA user_version = 2;",
                                 NULL, NULL, NULL),
                    SQLITE_OK);
    sqlite3_close(q);
    db = store_open(path, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(db);
    store_close(db);
    CU_ASSERT_EQUAL_FATAL(sqlite3_open(path, &q), SQLITE_OK);
    CU_ASSERT_EQUAL(query_ll(q, "PRAGMA user_version"), STORE_SCHEMA_VERSION);
    CU_ASSERT_EQUAL(query_ll(q, "SELECT sum(found_blocks) FROM tiers"), found);
    CU_ASSERT_EQUAL(query_ll(q, "SELECT count(*) FROM tier_samples WHERE level = -1"), hbm);
    CU_ASSERT_EQUAL(query_ll(q, "SELECT sum(used_blocks) FROM tier_samples WHERE level = 0"), dram);
    double by_requests = query_f(q, "SELECT CAST(sum(tier0_hit_tokens) AS REAL) / sum(prompt_tokens) FROM requests"
                                    " WHERE outcome = 'completed'");
    CU_ASSERT(by_requests > 0);
    CU_ASSERT_DOUBLE_EQUAL(query_f(q, "SELECT hit_ratio FROM tier_hit_ratio WHERE run_id = 1 AND name = 'dram'"),
                           by_requests, 1e-12);
    CU_ASSERT_EQUAL(query_ll(q, "SELECT fetched_blocks FROM tier_hit_ratio WHERE name = 'dram'"),
                    query_ll(q, "SELECT sum(fetched_blocks) FROM tiers WHERE level = 0"));
    /* The 99th percentile of n TTFTs lies between the two order statistics around rank 0.99 (n - 1). */
    long long n = query_ll(q, "SELECT count(ttft_ns) FROM requests WHERE outcome = 'completed'");
    char sql[256];
    snprintf(sql, sizeof sql, "SELECT ttft_ns FROM requests WHERE outcome = 'completed' ORDER BY ttft_ns LIMIT 1 OFFSET %lld",
             (long long)floor(0.99 * (double)(n - 1)));
    double lo = query_f(q, sql) / 1e6;
    snprintf(sql, sizeof sql, "SELECT ttft_ns FROM requests WHERE outcome = 'completed' ORDER BY ttft_ns LIMIT 1 OFFSET %lld",
             (long long)ceil(0.99 * (double)(n - 1)));
    double hi = query_f(q, sql) / 1e6, p99 = query_f(q, "SELECT ttft_p99_ms FROM run_p99 WHERE run_id = 1");
    CU_ASSERT(p99 >= lo - 1e-9 && p99 <= hi + 1e-9);
    sqlite3_close(q);
    unlink(path);
    scenario_free(sc);
}

int main(void)
{
    setenv("KVTIER_DATA", tu_path(""), 1);
    static const tu_test tests[] = {
        { "timeline: a single request's slices by hand", test_timeline_single_request },
        { "timeline: transfers against the links' bytes", test_timeline_transfers },
        { "CSV export of a run", test_csv_export },
        { "database: version 2 upgraded, views", test_database_upgrade_and_views },
        { NULL, NULL },
    };
    return tu_run("outputs", tests);
}
