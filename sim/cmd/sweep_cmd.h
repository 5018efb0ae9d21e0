/* sweep_cmd.h — the `kvtier sweep` command, and the sweep registration `kvtier run --point` shares with it. */
#ifndef KT_SWEEP_CMD_H
#define KT_SWEEP_CMD_H

#include <stdint.h>

#include "err.h"
#include "store.h"
#include "sweep.h"

/* `kvtier sweep FILE [options]` with argv[0] == "sweep". Returns the exit
 * code (cli.h); under --mpi every rank calls it. */
int sweepcmd_main(int argc, char **argv);

/* The id of sw in db, recording it first when db has never seen it. */
int64_t sweepcmd_register(store *db, const sweep *sw, kt_err *err);

#endif
