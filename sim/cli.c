/* cli.c — argument helpers shared by the kvtier subcommands. */
#include "cli.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int cli_wants_help(int argc, char **argv)
{
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
            return 1;
    return 0;
}

int cli_parse_i64(const char *cmd, const char *name, const char *s, int64_t lo, int64_t hi, int64_t *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (end == s || *end || errno == ERANGE) {
        fprintf(stderr, "kvtier %s: %s: expected an integer, found '%s'\n", cmd, name, s);
        return -1;
    }
    if (v < lo || v > hi) {
        fprintf(stderr, "kvtier %s: %s: %lld is out of range [%lld, %lld]\n", cmd, name, v, (long long)lo,
                (long long)hi);
        return -1;
    }
    *out = v;
    return 0;
}
