/* fuzz.h — helpers shared by the fuzz targets (fuzz_*.c) and their replay driver: input as text, lines or a file. */
#ifndef KT_FUZZ_H
#define KT_FUZZ_H

#include <stddef.h>
#include <stdint.h>

#include "trace.h"

/* libFuzzer's entry points; replay.c calls them the same way without libFuzzer. */
int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The source tree: $top_srcdir when set (make check sets it), else the one
 * this was configured from. Static string. */
const char *fuzz_srcdir(void);

/* A path under the source tree, in a static buffer that the next call
 * overwrites. */
const char *fuzz_src_path(const char *rel);

/* Points KVTIER_DATA at the source tree, so scenarios find models/ and
 * hwprofiles/ whatever the working directory. */
void fuzz_use_source_data(void);

/* data as a NUL-terminated string (an embedded NUL ends it early).
 * Caller frees. */
char *fuzz_cstr(const uint8_t *data, size_t size);

/* data split at '\n' into at most max NUL-terminated lines (a trailing
 * empty line dropped). *lines points into one block the caller frees with
 * free(*lines); lines[i] for i < returned count are valid. */
size_t fuzz_lines(const uint8_t *data, size_t size, char **lines, size_t max);

/* 1 when s names something under /dev, /proc or /sys: a fuzzer that
 * finds "/dev/stdin" or "/dev/zero" would wait or read forever, which
 * says nothing about the parsers. */
int fuzz_names_device(const char *s, size_t len);

/* Writes data to this process's scratch file (replaced on every call,
 * removed at exit) and returns its path (static). NULL when it cannot be
 * written. */
const char *fuzz_scratch_file(const uint8_t *data, size_t size);

/* Reads every record of data as a trace of format fmt, with replay options
 * that data's own bytes choose (release, window, limit, skip_bad), so one
 * corpus covers them. Always returns 0. */
int fuzz_trace(const uint8_t *data, size_t size, trace_format fmt);

#endif
