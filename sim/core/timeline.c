/* timeline.c — Chrome/Perfetto trace-event JSON of a run, written through one large stdio buffer. */
#include "timeline.h"

#include <inttypes.h>
#include <stdlib.h>

/* The stream's buffer: events go to memory and reach the file a few MiB at
 * a time, so an iteration's slice costs a formatted write, no system call. */
#define TIMELINE_BUFFER_BYTES (4u << 20)

/* Invariants: n_events events have been written after the array's opening
 * bracket, comma-separated; next_id is the id of the next async slice. */
struct timeline {
    FILE *out;
    char *buf;
    uint64_t n_events, next_id;
};

timeline *timeline_new(FILE *out)
{
    timeline *tl = calloc(1, sizeof *tl);
    char *buf = malloc(TIMELINE_BUFFER_BYTES);
    if (!tl || !buf) {
        free(tl);
        free(buf);
        return NULL;
    }
    tl->out = out;
    tl->buf = buf;
    setvbuf(out, buf, _IOFBF, TIMELINE_BUFFER_BYTES);
    fputs("{\"traceEvents\":[\n", out);
    return tl;
}

int timeline_end(timeline *tl, const char *program_version)
{
    fprintf(tl->out, "\n],\"displayTimeUnit\":\"ns\",\"otherData\":{\"program\":\"kvtier\",\"version\":\"%s\"}}\n",
            program_version);
    return fflush(tl->out) != 0 || ferror(tl->out) ? -1 : 0;
}

void timeline_free(timeline *tl)
{
    if (!tl)
        return;
    /* The stream outlives its buffer: give it back an unbuffered state first. */
    fflush(tl->out);
    setvbuf(tl->out, NULL, _IONBF, 0);
    free(tl->buf);
    free(tl);
}

int timeline_replica_pid(int replica) { return replica + 1; }

/* Starts an event: the separator, then the fields every event has. ts in
 * microseconds with three decimals is exact in nanoseconds. */
static void event_begin(timeline *tl, const char *ph, int pid, int tid, int64_t t_ns)
{
    fprintf(tl->out, "%s{\"ph\":\"%s\",\"pid\":%d,\"tid\":%d,\"ts\":%" PRId64 ".%03" PRId64, tl->n_events++ ? ",\n" : "",
            ph, pid, tid, t_ns / 1000, t_ns % 1000);
}

/* Writes s as a JSON string (names come from scenario files: quotes and controls escaped). */
static void put_string(FILE *out, const char *s)
{
    fputc('"', out);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            fprintf(out, "\\%c", c);
        else if (c < 0x20)
            fprintf(out, "\\u%04x", c);
        else
            fputc(c, out);
    }
    fputc('"', out);
}

static void name_thread(timeline *tl, int pid, int tid, const char *name)
{
    event_begin(tl, "M", pid, tid, 0);
    fprintf(tl->out, ",\"name\":\"thread_name\",\"args\":{\"name\":\"%s\"}}", name);
}

void timeline_name_process(timeline *tl, int pid, const char *name, int sort_index)
{
    event_begin(tl, "M", pid, 0, 0);
    fputs(",\"name\":\"process_name\",\"args\":{\"name\":", tl->out);
    put_string(tl->out, name);
    fputs("}}", tl->out);
    event_begin(tl, "M", pid, 0, 0);
    fprintf(tl->out, ",\"name\":\"process_sort_index\",\"args\":{\"sort_index\":%d}}", sort_index);
    name_thread(tl, pid, TIMELINE_TID_ITERATIONS, "iterations");
    name_thread(tl, pid, TIMELINE_TID_TRANSFERS, "KV transfers");
}

void timeline_iteration(timeline *tl, int pid, int64_t start_ns, int64_t end_ns, int64_t prefill_tokens,
                        int64_t decode_tokens, int batch)
{
    int64_t dur = end_ns - start_ns;
    event_begin(tl, "X", pid, TIMELINE_TID_ITERATIONS, start_ns);
    fprintf(tl->out,
            ",\"dur\":%" PRId64 ".%03" PRId64 ",\"name\":\"%s\",\"cat\":\"iteration\",\"args\":{\"prefill_tokens\":%" PRId64
            ",\"decode_tokens\":%" PRId64 ",\"batch\":%d}}",
            dur / 1000, dur % 1000,
            prefill_tokens ? decode_tokens ? "prefill+decode" : "prefill" : "decode", prefill_tokens, decode_tokens, batch);
}

void timeline_transfer(timeline *tl, int pid, const char *link, int64_t start_ns, int64_t end_ns, double bytes)
{
    uint64_t id = tl->next_id++;
    event_begin(tl, "b", pid, TIMELINE_TID_TRANSFERS, start_ns);
    fputs(",\"name\":", tl->out);
    put_string(tl->out, link);
    fprintf(tl->out, ",\"cat\":\"transfer\",\"id\":%" PRIu64 ",\"args\":{\"bytes\":%.0f}}", id, bytes);
    event_begin(tl, "e", pid, TIMELINE_TID_TRANSFERS, end_ns);
    fputs(",\"name\":", tl->out);
    put_string(tl->out, link);
    fprintf(tl->out, ",\"cat\":\"transfer\",\"id\":%" PRIu64 "}", id);
}

void timeline_counters(timeline *tl, int pid, int64_t t_ns, int waiting, int running, int64_t kv_in_use_blocks,
                       int64_t kv_cached_blocks)
{
    event_begin(tl, "C", pid, TIMELINE_TID_ITERATIONS, t_ns);
    fprintf(tl->out, ",\"name\":\"requests\",\"args\":{\"waiting\":%d,\"running\":%d}}", waiting, running);
    event_begin(tl, "C", pid, TIMELINE_TID_ITERATIONS, t_ns);
    fprintf(tl->out, ",\"name\":\"HBM KV blocks\",\"args\":{\"in use\":%" PRId64 ",\"cached\":%" PRId64 "}}",
            kv_in_use_blocks, kv_cached_blocks);
}
