/* cli.h — small helpers the kvtier subcommands share when reading their arguments. */
#ifndef KT_CLI_H
#define KT_CLI_H

/* 1 when --help or -h appears among argv[1..argc). */
int cli_wants_help(int argc, char **argv);

#endif
