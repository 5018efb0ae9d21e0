/* infile.c — files kvtier reads that must be regular files, opened so that a FIFO or device never blocks or streams forever. */
#include "infile.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

const char *infile_kind_name(mode_t mode)
{
    if (S_ISREG(mode))
        return "a regular file";
    if (S_ISDIR(mode))
        return "a directory";
    if (S_ISCHR(mode))
        return "a character device";
    if (S_ISBLK(mode))
        return "a block device";
    if (S_ISFIFO(mode))
        return "a FIFO";
    if (S_ISSOCK(mode))
        return "a socket";
    return "not a regular file";
}

int infile_open_fd(const char *path, kt_err *err)
{
    if (!path || !*path) {
        KT_ERROR(err, NULL, 0, 0, "an input file needs a name (empty path)");
        return -1;
    }
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
        KT_ERROR(err, path, 0, 0, "cannot open: %s", strerror(errno));
        return -1;
    }
    struct stat sb;
    if (fstat(fd, &sb) != 0) {
        KT_ERROR(err, path, 0, 0, "cannot read: %s", strerror(errno));
        close(fd);
        return -1;
    }
    if (!S_ISREG(sb.st_mode)) {
        KT_ERROR(err, path, 0, 0, "cannot read: it is %s, not a regular file", infile_kind_name(sb.st_mode));
        close(fd);
        return -1;
    }
    /* Reads of a regular file never block; clearing the flag keeps stdio's
     * short-read handling ordinary on every system. */
    int flags = fcntl(fd, F_GETFL);
    if (flags < 0 || fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) != 0) {
        KT_ERROR(err, path, 0, 0, "cannot read: %s", strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
}

FILE *infile_open(const char *path, kt_err *err)
{
    int fd = infile_open_fd(path, err);
    if (fd < 0)
        return NULL;
    FILE *f = fdopen(fd, "rb");
    if (!f) {
        KT_ERROR(err, path, 0, 0, "cannot read: %s", strerror(errno));
        close(fd);
    }
    return f;
}
