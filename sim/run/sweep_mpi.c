/* sweep_mpi.c — MPI start and stop, broadcast, max-reduction and rank 0's progress messages for distributed sweeps (stubs without MPI). */
#include "sweep_mpi.h"

#include "config.h"

#ifdef KT_HAVE_MPI
#include <mpi.h>

/* One message kind for all reports, so that MPI's ordering between a pair
 * of ranks keeps a rank's finished message after its point reports. */
#define REPORT_TAG 7
/* Payload: point, then 1 ok / 0 failed / FINISHED_MARK. */
#define FINISHED_MARK (-1)

int sweepmpi_init(int *rank, int *size, kt_err *err)
{
    int started;
    MPI_Initialized(&started);
    if (!started && MPI_Init(NULL, NULL) != MPI_SUCCESS) {
        KT_ERROR(err, NULL, 0, 0, "kvtier sweep: --mpi: MPI_Init failed");
        return -1;
    }
    MPI_Comm_rank(MPI_COMM_WORLD, rank);
    MPI_Comm_size(MPI_COMM_WORLD, size);
    return 0;
}

void sweepmpi_finalize(void)
{
    MPI_Finalize();
}

void sweepmpi_bcast(void *buf, int64_t n)
{
    char *p = buf;
    /* MPI counts are ints: send large buffers in pieces. */
    while (n > 0) {
        int piece = n > INT32_MAX ? INT32_MAX : (int)n;
        MPI_Bcast(p, piece, MPI_BYTE, 0, MPI_COMM_WORLD);
        p += piece;
        n -= piece;
    }
}

int sweepmpi_max(int v)
{
    int out = v;
    MPI_Allreduce(&v, &out, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
    return out;
}

static void send_pair(int64_t point, int64_t status)
{
    int64_t msg[2] = { point, status };
    MPI_Send(msg, 2, MPI_INT64_T, 0, REPORT_TAG, MPI_COMM_WORLD);
}

void sweepmpi_report(int64_t point, int ok)
{
    send_pair(point, ok ? 1 : 0);
}

void sweepmpi_finished(void)
{
    send_pair(0, FINISHED_MARK);
}

sweepmpi_msg sweepmpi_receive(int wait, int64_t *point, int *ok)
{
    int pending = 1;
    MPI_Status st;
    if (!wait)
        MPI_Iprobe(MPI_ANY_SOURCE, REPORT_TAG, MPI_COMM_WORLD, &pending, &st);
    if (!pending)
        return SWEEPMPI_NONE;
    int64_t msg[2];
    MPI_Recv(msg, 2, MPI_INT64_T, MPI_ANY_SOURCE, REPORT_TAG, MPI_COMM_WORLD, &st);
    if (msg[1] == FINISHED_MARK)
        return SWEEPMPI_FINISHED;
    *point = msg[0];
    *ok = msg[1] == 1;
    return SWEEPMPI_POINT;
}

#else

int sweepmpi_init(int *rank, int *size, kt_err *err)
{
    *rank = 0;
    *size = 1;
    KT_ERROR(err, NULL, 0, 0,
             "kvtier sweep: --mpi: built without MPI (install openmpi-bin and libopenmpi-dev, then rerun ./bootstrap)");
    return -1;
}

/* Without MPI nothing starts, so nothing below is reached. */
void sweepmpi_finalize(void) {}
void sweepmpi_bcast(void *buf, int64_t n) {}
int sweepmpi_max(int v) { return v; }
void sweepmpi_report(int64_t point, int ok) {}
void sweepmpi_finished(void) {}
sweepmpi_msg sweepmpi_receive(int wait, int64_t *point, int *ok) { return SWEEPMPI_FINISHED; }

#endif
