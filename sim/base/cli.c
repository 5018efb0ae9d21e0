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

/* Reads all of s as a decimal integer into *v. Returns 0, or -1 when s is
 * not one or does not fit. */
static int parse_whole(const char *s, long long *v)
{
    char *end;
    errno = 0;
    *v = strtoll(s, &end, 10);
    return end == s || *end != '\0' || errno != 0 ? -1 : 0;
}

int cli_parse_id(const char *s, long long *out)
{
    long long v;
    if (parse_whole(s, &v) < 0 || v < 1)
        return -1;
    *out = v;
    return 0;
}

int cli_parse_i64(const char *cmd, const char *name, const char *s, int64_t lo, int64_t hi, int64_t *out)
{
    long long v;
    if (parse_whole(s, &v) < 0) {
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
