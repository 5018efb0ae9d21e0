/* sweep_mpi.h — the few MPI calls a distributed sweep makes; without MPI, a start that fails with "built without MPI". */
#ifndef KT_SWEEP_MPI_H
#define KT_SWEEP_MPI_H

#include <stdint.h>

#include "err.h"

/* Starts MPI (under mpirun; alone it is one rank) and gives this rank and
 * the number of ranks. Returns 0, or -1 with err when kvtier was built
 * without MPI. Every rank calls sweepmpi_finalize once started. */
int sweepmpi_init(int *rank, int *size, kt_err *err);
void sweepmpi_finalize(void);

/* Copies rank 0's n bytes at buf to every rank's buf. */
void sweepmpi_bcast(void *buf, int64_t n);

/* The largest v over all ranks, returned on every rank; a barrier too. */
int sweepmpi_max(int v);

/* From a rank other than 0: point ran (ok 1) or failed (ok 0). */
void sweepmpi_report(int64_t point, int ok);
/* From a rank other than 0, after its last report: it is finished. */
void sweepmpi_finished(void);

/* What rank 0 hears from the others. */
typedef enum { SWEEPMPI_NONE, SWEEPMPI_POINT, SWEEPMPI_FINISHED } sweepmpi_msg;

/* On rank 0: the next message from another rank, waiting for one when
 * wait is set (else SWEEPMPI_NONE when none is pending). A rank's reports
 * arrive in the order it sent them, its SWEEPMPI_FINISHED last. */
sweepmpi_msg sweepmpi_receive(int wait, int64_t *point, int *ok);

#endif
