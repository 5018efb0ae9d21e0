/* infile.h — files kvtier reads that must be regular files, opened so that a FIFO or device never blocks or streams forever. */
#ifndef KT_INFILE_H
#define KT_INFILE_H

#include <stdio.h>
#include <sys/types.h>

#include "err.h"

/* Opens path for reading. The open does not block (O_NONBLOCK, cleared
 * afterwards), so a FIFO with no writer is refused at once; anything that is
 * not a regular file after symbolic links are followed (a FIFO, a device, a
 * directory, a socket) is refused with err naming path and what it is.
 * Returns a descriptor the caller closes, or -1 with err set. */
int infile_open_fd(const char *path, kt_err *err);

/* infile_open_fd wrapped in a stream opened "rb"; the caller fcloses it.
 * Returns NULL with err set. */
FILE *infile_open(const char *path, kt_err *err);

/* What kind of file a stat mode names, for messages: "a FIFO", "a directory"… */
const char *infile_kind_name(mode_t mode);

#endif
