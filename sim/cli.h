/* cli.h — small helpers the kvtier subcommands share when reading their arguments. */
#ifndef KT_CLI_H
#define KT_CLI_H

/* 1 when --help or -h appears among argv[1..argc). */
int cli_wants_help(int argc, char **argv);

/* Parses s as a whole number >= 1 (an id or a count), the whole string.
 * Returns 0, or -1 leaving *out unchanged. */
int cli_parse_id(const char *s, long long *out);

#endif
