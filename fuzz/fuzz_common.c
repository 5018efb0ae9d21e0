/* fuzz_common.c — helpers shared by the fuzz targets: the source tree, input as text or lines, a scratch file, the trace driver. */
#include "fuzz.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef KT_FUZZ_SRCDIR
#define KT_FUZZ_SRCDIR "."
#endif

const char *fuzz_srcdir(void)
{
    const char *top = getenv("top_srcdir");
    return top && *top ? top : KT_FUZZ_SRCDIR;
}

const char *fuzz_src_path(const char *rel)
{
    static char buf[4096];
    snprintf(buf, sizeof buf, "%s/%s", fuzz_srcdir(), rel);
    return buf;
}

void fuzz_use_source_data(void)
{
    setenv("KVTIER_DATA", fuzz_srcdir(), 1);
}

char *fuzz_cstr(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    if (!s)
        abort();
    memcpy(s, data, size);
    s[size] = '\0';
    return s;
}

size_t fuzz_lines(const uint8_t *data, size_t size, char **lines, size_t max)
{
    char *text = fuzz_cstr(data, size), *p = text;
    size_t n = 0;
    lines[0] = text;  /* the block to free, even with no line */
    while (n < max && *p) {
        char *nl = strchr(p, '\n');
        lines[n++] = p;
        if (!nl)
            break;
        *nl = '\0';
        p = nl + 1;
    }
    return n;
}

int fuzz_names_device(const char *s, size_t len)
{
    static const char *const roots[] = { "/dev", "/proc", "/sys", NULL };
    for (int i = 0; roots[i]; i++) {
        size_t n = strlen(roots[i]);
        for (size_t k = 0; k + n <= len; k++)
            if (!memcmp(s + k, roots[i], n))
                return 1;
    }
    return 0;
}

/* ---------- scratch file ---------- */

static char scratch_dir[] = "/tmp/kvtier-fuzz-XXXXXX";
static char scratch_path[sizeof scratch_dir + 16];

static void scratch_remove(void)
{
    unlink(scratch_path);
    rmdir(scratch_dir);
}

const char *fuzz_scratch_file(const uint8_t *data, size_t size)
{
    if (!scratch_path[0]) {
        if (!mkdtemp(scratch_dir))
            return NULL;
        snprintf(scratch_path, sizeof scratch_path, "%s/input", scratch_dir);
        atexit(scratch_remove);
    }
    int fd = open(scratch_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0)
        return NULL;
    size_t done = 0;
    while (done < size) {
        ssize_t w = write(fd, data + done, size - done);
        if (w <= 0)
            break;
        done += (size_t)w;
    }
    close(fd);
    return done == size ? scratch_path : NULL;
}

/* ---------- traces ---------- */

/* FNV-1a over data: picks the replay options, the same for the same input. */
static uint64_t input_hash(const uint8_t *data, size_t size)
{
    uint64_t h = UINT64_C(14695981039346656037);
    for (size_t i = 0; i < size; i++)
        h = (h ^ data[i]) * UINT64_C(1099511628211);
    return h;
}

/* Options that input bits choose: the values reach every branch of the
 * window, limit and release code, and a rate_scale that overflows int64 ns. */
static trace_opts options_of(uint64_t h)
{
    static const double rate_scales[] = { 1, 2, 0.5, 1e-6 };
    const int64_t ns_per_s = INT64_C(1000000000), ns_per_ms = INT64_C(1000000);
    trace_opts o = { 0 };
    o.release = h & 1 ? TRACE_RELEASE_SPREAD : TRACE_RELEASE_BURST;
    o.skip_bad = (h >> 1) & 1;
    o.limit = ((h >> 2) & 3) == 3 ? 2 : 0;
    o.start_ns = ((h >> 4) & 3) == 1 ? ns_per_s : 0;
    o.duration_ns = ((h >> 6) & 3) == 1 ? 10 * ns_per_s : 0;
    o.tick_ns = (h >> 8) & 1 ? ns_per_ms : 0;
    o.rate_scale = rate_scales[(h >> 9) & 3];
    /* ShareGPT's own: times drawn at 1 conversation/s, turns 1 s apart. */
    static const double chars_per_token[] = { 0, 0.5, 4, 1e6 };
    o.sharegpt.chars_per_token = chars_per_token[(h >> 11) & 3];
    o.sharegpt.max_conversations = (h >> 13) & 1;
    o.sharegpt.skip_not_human_first = (h >> 14) & 1;
    o.sharegpt.arrivals.rate_per_s = 1;
    o.sharegpt.arrivals.think_ns = (dist){ .kind = DIST_CONSTANT, .mean = (double)ns_per_s, .hi = 1e18 };
    o.sharegpt.arrivals.seed = h;
    return o;
}

/* Aborts (a finding) when rec breaks trace_record's documented invariants. */
static void check_record(const trace_record *rec, trace_format fmt, int64_t prev_arrival_ns)
{
    const int64_t mooncake_block_tokens = 512;
    if (rec->arrival_ns < 0 || rec->arrival_ns < prev_arrival_ns || rec->input_tokens < 1 ||
        rec->output_tokens < 1 || (rec->n_hash_ids && !rec->hash_ids) || rec->line < 1)
        abort();
    if (fmt == TRACE_SHAREGPT && (rec->session_id < 0 || rec->turn < 0 || rec->n_hash_ids))
        abort();
    if (fmt == TRACE_MOONCAKE &&
        (int64_t)rec->n_hash_ids != (rec->input_tokens + mooncake_block_tokens - 1) / mooncake_block_tokens)
        abort();
}

int fuzz_trace(const uint8_t *data, size_t size, trace_format fmt)
{
    const char *path = fuzz_scratch_file(data, size);
    if (!path)
        return 0;
    trace_opts opts = options_of(input_hash(data, size));
    kt_err err;
    trace_reader *t = trace_open(path, fmt, &opts, &err);
    if (!t)
        return 0;
    trace_record rec;
    int64_t prev_ns = 0;
    /* Every call consumes a line, so more calls than lines is a hang. */
    size_t calls = 0, max_calls = size + 2;
    for (int rc; (rc = trace_next(t, &rec, &err)) != 0;) {
        if (++calls > max_calls)
            abort();
        if (rc > 0) {
            check_record(&rec, fmt, prev_ns);
            prev_ns = rec.arrival_ns;
        }
    }
    trace_close(t);
    return 0;
}
