/* outfile.c — files kvtier writes for the user, made in a temporary file beside the target and renamed into place only on success. */
#include "outfile.h"

#include "infile.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The permission bits a new file gets: 0666 less the process's umask. */
static mode_t new_file_mode(void)
{
    mode_t mask = umask(0);
    umask(mask);
    return 0666 & ~mask;
}

/* Sets o->path to the file to replace (path, or the target of a symbolic
 * link) and *mode to the bits the new file gets. Returns 0, or -1 with err
 * when that file exists and is not a regular file. */
static int resolve_target(outfile *o, const char *path, mode_t *mode, kt_err *err)
{
    struct stat sb;
    if (lstat(path, &sb) != 0) {
        if (errno != ENOENT) {
            KT_ERROR(err, path, 0, 0, "cannot write: %s", strerror(errno));
            return -1;
        }
        *mode = new_file_mode();
        return snprintf(o->path, sizeof o->path, "%s", path) < (int)sizeof o->path ? 0 : -1;
    }
    if (S_ISLNK(sb.st_mode)) {
        char real[PATH_MAX];
        if (!realpath(path, real) || stat(real, &sb) != 0) {
            KT_ERROR(err, path, 0, 0, "refusing to write through a symbolic link that leads nowhere");
            return -1;
        }
        snprintf(o->path, sizeof o->path, "%s", real);
    } else {
        snprintf(o->path, sizeof o->path, "%s", path);
    }
    if (!S_ISREG(sb.st_mode)) {
        KT_ERROR(err, path, 0, 0, "refusing to write: it is %s, not a regular file", infile_kind_name(sb.st_mode));
        return -1;
    }
    *mode = sb.st_mode & 07777;
    return 0;
}

int outfile_open(outfile *o, const char *path, kt_err *err)
{
    memset(o, 0, sizeof *o);
    mode_t mode;
    if (!path || !*path) {
        KT_ERROR(err, NULL, 0, 0, "an output file needs a name (empty path)");
        return -1;
    }
    if (strlen(path) + 16 > sizeof o->path) {
        KT_ERROR(err, NULL, 0, 0, "output path longer than %d bytes", OUTFILE_PATH_MAX - 16);
        return -1;
    }
    if (resolve_target(o, path, &mode, err) != 0)
        return -1;
    /* The temporary file sits in the target's directory so that rename()
     * replaces it atomically (same file system). */
    const char *slash = strrchr(o->path, '/');
    int dir_len = slash ? (int)(slash - o->path + 1) : 0;
    int n = snprintf(o->tmp, sizeof o->tmp, "%.*s.%s.XXXXXX", dir_len, o->path, slash ? slash + 1 : o->path);
    if (n < 0 || n >= (int)sizeof o->tmp) {
        KT_ERROR(err, path, 0, 0, "output path too long");
        o->tmp[0] = '\0';
        return -1;
    }
    int fd = mkstemp(o->tmp);
    if (fd < 0) {
        KT_ERROR(err, path, 0, 0, "cannot create a file beside it: %s", strerror(errno));
        o->tmp[0] = '\0';
        return -1;
    }
    if (fchmod(fd, mode) != 0 || !(o->f = fdopen(fd, "wb"))) {
        KT_ERROR(err, path, 0, 0, "cannot write: %s", strerror(errno));
        close(fd);
        unlink(o->tmp);
        o->tmp[0] = '\0';
        return -1;
    }
    return 0;
}

int outfile_close_stream(outfile *o, kt_err *err)
{
    if (!o->f)
        return 0;
    int bad = ferror(o->f);
    int rc = fclose(o->f);
    o->f = NULL;
    if (bad || rc != 0) {
        KT_ERROR(err, o->path, 0, 0, "write error: %s", bad ? "a write failed" : strerror(errno));
        return -1;
    }
    return 0;
}

int outfile_commit(outfile *o, kt_err *err)
{
    int rc = 0;
    if (o->f && (fflush(o->f) != 0 || ferror(o->f) || fsync(fileno(o->f)) != 0)) {
        KT_ERROR(err, o->path, 0, 0, "write error: %s", strerror(errno));
        rc = -1;
    }
    if (rc == 0)
        rc = outfile_close_stream(o, err);
    if (rc == 0 && rename(o->tmp, o->path) != 0) {
        KT_ERROR(err, o->path, 0, 0, "cannot move %s into place: %s", o->tmp, strerror(errno));
        rc = -1;
    }
    if (rc == 0)
        o->tmp[0] = '\0';
    outfile_abort(o);
    return rc;
}

void outfile_abort(outfile *o)
{
    if (o->f)
        fclose(o->f);
    o->f = NULL;
    if (o->tmp[0])
        unlink(o->tmp);
    o->tmp[0] = '\0';
}

int outfile_stdout_close(kt_err *err)
{
    /* ferror keeps a failure from an earlier flush whose errno is gone. */
    errno = 0;
    int flushed = fflush(stdout) == 0, bad = ferror(stdout);
    int saved = errno;
    int closed = fclose(stdout) == 0;
    if (flushed && !bad && closed)
        return 0;
    if (!saved)
        saved = errno;
    KT_ERROR(err, NULL, 0, 0, "write error on standard output: %s",
             saved ? strerror(saved) : "a write failed; the output is incomplete");
    return -1;
}
