/* fuzz_hexmap.c — fuzz target: `kvtier hexmap`'s arguments (--kv-dims, --layout, --lines, --at, --coord, ...) and its pool file reader. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "fuzz.h"
#include "hexmap.h"

/* Arguments one input may give. */
#define MAX_ARGS 32
/* Output one input may print before writes fail: enough for every label
 * kind, small enough that "--lines 0.." on a huge pool ends quickly. */
#define OUTPUT_CAP_BYTES (256 * 1024)

static const char *model_dirs[2];

int LLVMFuzzerInitialize(int *argc, char **argv[])
{
    static char models[4096];
    snprintf(models, sizeof models, "%s", fuzz_src_path("models"));
    model_dirs[0] = models;
    return 0;
}

/* A stream that discards what it is given and fails once OUTPUT_CAP_BYTES
 * have gone by, as a full disk would. */
static ssize_t capped_write(void *cookie, const char *buf, size_t n)
{
    size_t *written = cookie;
    if (*written + n > OUTPUT_CAP_BYTES) {
        errno = ENOSPC;
        return -1;
    }
    *written += n;
    return (ssize_t)n;
}

/* 1 when an argument would write a file (-o) or read something other than
 * the pool given here (a path). */
static int refused(char *const *args, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!strcmp(args[i], "-o") || !strncmp(args[i], "--output", strlen("--output")) || strchr(args[i], '/'))
            return 1;
    return 0;
}

/* The input: arguments one a line; after a NUL byte, if any, the bytes of a
 * pool file given as FILE. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *nul = memchr(data, '\0', size);
    size_t args_len = nul ? (size_t)(nul - data) : size;
    char *argv[MAX_ARGS + 3] = { "hexmap" };
    char **args = argv + 1;
    size_t n = fuzz_lines(data, args_len, args, MAX_ARGS);
    char *block = args[0];
    if (!refused(args, n)) {
        const char *pool = nul ? fuzz_scratch_file(nul + 1, size - args_len - 1) : NULL;
        if (pool)
            args[n++] = (char *)pool;
        size_t written = 0;
        FILE *out = fopencookie(&written, "w", (cookie_io_functions_t){ .write = capped_write });
        FILE *saved_out = stdout, *saved_err = stderr;
        stdout = out;
        stderr = out;
        hexmap_main((int)n + 1, argv, model_dirs);
        stdout = saved_out;
        stderr = saved_err;
        fclose(out);
    }
    free(block);
    return 0;
}
