/* cli.h — small helpers the kvtier subcommands share when reading their arguments. */
#ifndef KT_CLI_H
#define KT_CLI_H

#include <getopt.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>

/* Exit codes of every subcommand: 0 done, 1 the work itself failed (an
 * invariant check, a database write), 2 bad input or usage (nothing was
 * simulated or written). */
enum { CLI_EXIT_RUN_FAILED = 1, CLI_EXIT_BAD_INPUT = 2 };

/* Exit status of a run ended by signal sig: 128 + sig, as a shell reports it. */
#define CLI_EXIT_SIGNALED(sig) (128 + (sig))

/* Makes SIGINT and SIGTERM set a flag instead of ending the process, so that
 * a long run, sweep or plan can stop between events, roll back what is open
 * and say so. A second signal ends the process at once (the handler is reset
 * after the first). Returns the flag: the signal's number once one came, 0
 * before. Not thread-safe to call; call once from the main thread. */
const volatile sig_atomic_t *cli_catch_stop(void);

/* For a worker process forked after cli_catch_stop: every SIGINT or SIGTERM
 * sets the flag, the second too. A terminal's signal reaches the worker
 * and its parent, which then forwards it: the worker must stop between
 * events, not die in a transaction. Its parent's second signal still ends
 * everything (the parent dies, and its workers with it). */
void cli_catch_stop_always(void);

/* "SIGINT", "SIGTERM" or "signal N" for messages. */
const char *cli_signal_name(int sig, char *buf, size_t n);

/* 1 when --help or -h appears among argv[1..argc). */
int cli_wants_help(int argc, char **argv);

/* Reports a usage error as one line on stderr: "kvtier CMD: MESSAGE (try
 * kvtier CMD --help)". */
void cli_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* getopt_long for the subcommands that take options by their whole names
 * only, in the order given. shortopts must start with "-:" (operands come
 * back in order as 1 with optarg set; a missing value comes back as ':'),
 * and every opts[].val must be distinct. Start a parse with optind = 0.
 * An abbreviated long option, a short option with its value joined to it
 * ("-oFILE"), a bare "--" or an unknown option is reported as
 * "kvtier CMD: unknown option 'ARG' (try kvtier CMD --help)", a missing
 * value as "kvtier CMD: --NAME needs a value (try kvtier CMD --help)"; both
 * return '?'. Otherwise
 * returns what getopt_long does. */
int cli_option_next(int argc, char **argv, const char *shortopts, const struct option *opts, const char *cmd);

/* Reads option `name`'s value s as a decimal integer in [lo, hi]. Returns 0,
 * or -1 after saying on stderr what was wrong ("kvtier CMD: --jobs: ..."). */
int cli_parse_i64(const char *cmd, const char *name, const char *s, int64_t lo, int64_t hi, int64_t *out);

/* The longest --max-wall: a year of 86,400-second days, far inside int64 nanoseconds. */
#define CLI_MAX_WALL_NS (365.0 * 86400e9)

/* Reads --max-wall's value s, a duration ("90s", "2h") of at most a year,
 * into the monotonic-clock time at which the work must give up (now + s,
 * as cli_wall_now_ns counts). Returns 0, or -1 after saying on stderr
 * "kvtier CMD: --max-wall: ..." what was wrong. */
int cli_parse_max_wall(const char *cmd, const char *s, int64_t *deadline_ns);

/* CLOCK_MONOTONIC now, in nanoseconds. */
int64_t cli_wall_now_ns(void);

/* Takes option `name`'s value s as a path: *out = s. An empty path (as
 * `--db ''` gives) names no file and is refused. Returns 0, or -1 after
 * saying on stderr "kvtier CMD: --NAME: empty path". */
int cli_parse_path(const char *cmd, const char *name, const char *s, const char **out);

/* Parses s as a whole number >= 1 (an id or a count), the whole string.
 * Returns 0, or -1 leaving *out unchanged. */
int cli_parse_id(const char *s, long long *out);

#endif
