/* cli.c — argument helpers shared by the kvtier subcommands. */
#include "cli.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "units.h"

int cli_wants_help(int argc, char **argv)
{
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
            return 1;
    return 0;
}

/* 1 when arg spells long option name whole: "--name" or "--name=...". */
static int long_option_whole(const char *arg, const char *name)
{
    size_t n = strlen(name);
    return strncmp(arg, "--", 2) == 0 && strncmp(arg + 2, name, n) == 0 && (arg[2 + n] == '\0' || arg[2 + n] == '=');
}

/* The long name of the option whose val is c (every option has one). */
static const char *option_name(const struct option *opts, int c)
{
    while (opts->name && opts->val != c)
        opts++;
    return opts->name ? opts->name : "?";
}

void cli_usage_error(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "kvtier %s: ", cmd);
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, " (try kvtier %s --help)\n", cmd);
    va_end(ap);
}

int cli_option_next(int argc, char **argv, const char *shortopts, const struct option *opts, const char *cmd)
{
    /* Options come in order, so the element this call reads is argv[at]. */
    int at = optind > 0 ? optind : 1;
    int idx = -1;
    opterr = 0;
    int c = getopt_long(argc, argv, shortopts, opts, &idx);
    if (c == ':') {
        cli_usage_error(cmd, "--%s needs a value", option_name(opts, optopt));
        return '?';
    }
    int bare_dashes = c == -1 && at < argc && strcmp(argv[at], "--") == 0;
    int joined_short = c != -1 && c != 1 && c != '?' && idx < 0 && optarg && optarg != argv[optind - 1];
    int abbreviated = idx >= 0 && !long_option_whole(argv[at], opts[idx].name);
    if (c == '?' || bare_dashes || joined_short || abbreviated) {
        cli_usage_error(cmd, "unknown option '%s'", argv[at]);
        return '?';
    }
    return c;
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

int cli_parse_max_wall(const char *cmd, const char *s, int64_t *deadline_ns)
{
    double d_ns;
    char why[256];
    if (units_parse(s, UNITS_DURATION, &d_ns, why, sizeof why) < 0) {
        fprintf(stderr, "kvtier %s: --max-wall: '%s': %s\n", cmd, s, why);
        return -1;
    }
    if (!(d_ns >= 1 && d_ns <= CLI_MAX_WALL_NS)) {
        fprintf(stderr, "kvtier %s: --max-wall: '%s' is out of range [1ns, 365 days]\n", cmd, s);
        return -1;
    }
    *deadline_ns = cli_wall_now_ns() + (int64_t)d_ns;
    return 0;
}

int64_t cli_wall_now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * INT64_C(1000000000) + t.tv_nsec;
}

int cli_parse_path(const char *cmd, const char *name, const char *s, const char **out)
{
    if (!*s) {
        fprintf(stderr, "kvtier %s: %s: empty path\n", cmd, name);
        return -1;
    }
    *out = s;
    return 0;
}

/* The one flag a signal handler may write; a handler cannot be given a
 * context, so it lives here and callers reach it through cli_catch_stop. */
static volatile sig_atomic_t stop_signal;

static void note_stop(int sig)
{
    stop_signal = sig;
}

const volatile sig_atomic_t *cli_catch_stop(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = note_stop;
    sa.sa_flags = SA_RESTART | SA_RESETHAND;
    sigemptyset(&sa.sa_mask);
    static const int sigs[] = { SIGINT, SIGTERM };
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++) {
        struct sigaction old;
        /* A signal ignored on entry (nohup, a background job) stays ignored. */
        if (sigaction(sigs[i], NULL, &old) == 0 && old.sa_handler != SIG_IGN)
            sigaction(sigs[i], &sa, NULL);
    }
    return &stop_signal;
}

void cli_catch_stop_always(void)
{
    static const int sigs[] = { SIGINT, SIGTERM };
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++) {
        struct sigaction sa;
        /* Only a handler cli_catch_stop put there; an ignored signal stays ignored. */
        if (sigaction(sigs[i], NULL, &sa) == 0 && sa.sa_handler == note_stop) {
            sa.sa_flags &= ~SA_RESETHAND;
            sigaction(sigs[i], &sa, NULL);
        }
    }
}

const char *cli_signal_name(int sig, char *buf, size_t n)
{
    if (sig == SIGINT)
        return "SIGINT";
    if (sig == SIGTERM)
        return "SIGTERM";
    snprintf(buf, n, "signal %d", sig);
    return buf;
}
