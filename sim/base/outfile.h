/* outfile.h — files kvtier writes for the user, made in a temporary file beside the target and renamed into place only on success. */
#ifndef KT_OUTFILE_H
#define KT_OUTFILE_H

#include <stdio.h>

#include "err.h"

/* Path lengths outfile accepts, terminating NUL included. */
#define OUTFILE_PATH_MAX 4096

/* One file being written.
 * Invariants: after a successful outfile_open, tmp names a regular file
 * this process created (mode 0666 less the umask, or the mode of the file it
 * will replace) in the directory of path, and path is not an existing
 * non-regular file; f is that file opened for writing, or NULL once the
 * caller closed it (outfile_close_stream) to let another program write it.
 * Nothing outside tmp is ever truncated or removed. */
typedef struct outfile {
    FILE *f;
    char path[OUTFILE_PATH_MAX]; /* the file the user named (a symlink's target) */
    char tmp[OUTFILE_PATH_MAX];  /* where the bytes go until outfile_commit */
} outfile;

/* Starts writing path. Refuses, with err naming path, a path that exists
 * and is not a regular file (a device, FIFO, directory or socket); a
 * symbolic link to a regular file is followed, so the link survives.
 * Returns 0 with o ready, or -1 with err set (nothing created). */
int outfile_open(outfile *o, const char *path, kt_err *err);

/* Closes o->f (checking every buffered write) so that another program may
 * write o->tmp by name. Returns 0, or -1 with err set. */
int outfile_close_stream(outfile *o, kt_err *err);

/* Flushes, syncs and closes the temporary file and renames it over path.
 * Returns 0, or -1 with err set and the temporary file removed; in either
 * case o holds no resources afterwards. */
int outfile_commit(outfile *o, kt_err *err);

/* Drops what was written: closes and removes the temporary file. path is
 * left as it was. Safe on an outfile whose open failed or that was committed. */
void outfile_abort(outfile *o);

/* Flushes and closes standard output, so that a write that failed at any
 * time (a full disk, a file-size limit, a closed pipe's reader) is seen.
 * Returns 0, or -1 with err saying what failed. Call once, at exit. */
int outfile_stdout_close(kt_err *err);

#endif
