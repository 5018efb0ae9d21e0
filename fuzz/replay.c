/* replay.c — runs one fuzz target, without libFuzzer, on every file of fuzz/corpus/<target> and fuzz/regressions/<target> (a make check test). */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../tests/testutil.h"
#include "fuzz.h"

/* Program name prefix: fuzz/replay_<target> replays <target>. */
#define REPLAY_PREFIX "replay_"

/* Optional in a target, as it is for libFuzzer. */
int LLVMFuzzerInitialize(int *argc, char ***argv) __attribute__((weak));

static const char *target;

/* Reads path whole. Caller frees; NULL when it cannot be read. */
static uint8_t *read_file(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    uint8_t *buf = NULL;
    long n = f && fseek(f, 0, SEEK_END) == 0 ? ftell(f) : -1;
    if (n >= 0 && fseek(f, 0, SEEK_SET) == 0 && (buf = malloc((size_t)n + 1)) &&
        fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    if (f)
        fclose(f);
    *size = n > 0 ? (size_t)n : 0;
    return buf;
}

/* Feeds every file of fuzz/<set>/<target> to the target. Returns how many
 * (-1: no such directory). A crash, leak (under ASan) or abort fails the
 * test by ending the program. */
static int replay_dir(const char *set)
{
    char dir[512];
    snprintf(dir, sizeof dir, "fuzz/%s/%s", set, target);
    DIR *d = opendir(tu_path(dir));
    if (!d)
        return -1;
    int count = 0;
    for (struct dirent *e; (e = readdir(d));) {
        if (e->d_name[0] == '.')
            continue;
        char rel[1024];
        snprintf(rel, sizeof rel, "%s/%s", dir, e->d_name);
        size_t size;
        uint8_t *data = read_file(tu_path(rel), &size);
        CU_ASSERT_PTR_NOT_NULL(data);
        if (!data)
            continue;
        fprintf(stderr, "  %s\n", rel);
        CU_ASSERT_EQUAL(LLVMFuzzerTestOneInput(data, size), 0);
        free(data);
        count++;
    }
    closedir(d);
    return count;
}

/* The corpus is the seeds: each target has some. */
static void test_corpus(void)
{
    CU_ASSERT(replay_dir("corpus") > 0);
}

/* Inputs that once crashed a target; a target may have none. */
static void test_regressions(void)
{
    replay_dir("regressions");
}

int main(int argc, char **argv)
{
    const char *base = strrchr(argv[0], '/');
    base = base ? base + 1 : argv[0];
    if (strncmp(base, REPLAY_PREFIX, strlen(REPLAY_PREFIX)) != 0) {
        fprintf(stderr, "%s: run as %sTARGET to replay fuzz/corpus/TARGET\n", argv[0], REPLAY_PREFIX);
        return 2;
    }
    target = base + strlen(REPLAY_PREFIX);
    if (LLVMFuzzerInitialize)
        LLVMFuzzerInitialize(&argc, &argv);
    static const tu_test tests[] = {
        { "corpus", test_corpus },
        { "regressions", test_regressions },
        { NULL, NULL },
    };
    return tu_run(target, tests);
}
