/* bench_storage.c — storage reads into GPU memory: cuFile/GPUDirect Storage (libcufile loaded with dlopen when present) against pread into pinned memory plus cudaMemcpy. */
#define _GNU_SOURCE    /* O_DIRECT */

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include "bench.h"
#include "calib_names.h"

#define MIN_READ_BYTES ((size_t)4096)
#define MAX_SWEEP 32
/* O_DIRECT needs buffer, offset and size aligned to the logical block size;
 * 4 KiB covers NVMe drives. */
#define DIRECT_ALIGN ((off_t)4096)

/* The slice of cufile.h used here, by its documented ABI. */
typedef struct cufile_error { int err; int cu_err; } cufile_error;
typedef struct cufile_descr {
    int type;
    union { int fd; void *handle; } handle;
    const void *fs_ops;
} cufile_descr;
#define CU_FILE_HANDLE_TYPE_OPAQUE_FD 1
#define CU_FILE_SUCCESS 0

typedef struct cufile_api {
    void *lib;
    cufile_error (*driver_open)(void);
    cufile_error (*driver_close)(void);
    cufile_error (*handle_register)(void **fh, cufile_descr *d);
    void (*handle_deregister)(void *fh);
    cufile_error (*buf_register)(const void *p, size_t len, int flags);
    cufile_error (*buf_deregister)(const void *p);
    ssize_t (*read)(void *fh, void *buf, size_t size, off_t file_off, off_t buf_off);
} cufile_api;

/* Loads libcufile; 0 with why filled when it is absent or incomplete. */
static int cufile_load(cufile_api *api, char *why, size_t n)
{
    memset(api, 0, sizeof *api);
    api->lib = dlopen("libcufile.so.0", RTLD_NOW | RTLD_LOCAL);
    if (!api->lib)
        api->lib = dlopen("libcufile.so", RTLD_NOW | RTLD_LOCAL);
    if (!api->lib) {
        snprintf(why, n, "libcufile not found (%s)", dlerror());
        return 0;
    }
    *(void **)&api->driver_open = dlsym(api->lib, "cuFileDriverOpen");
    *(void **)&api->driver_close = dlsym(api->lib, "cuFileDriverClose_v2");
    if (!api->driver_close)
        *(void **)&api->driver_close = dlsym(api->lib, "cuFileDriverClose");
    *(void **)&api->handle_register = dlsym(api->lib, "cuFileHandleRegister");
    *(void **)&api->handle_deregister = dlsym(api->lib, "cuFileHandleDeregister");
    *(void **)&api->buf_register = dlsym(api->lib, "cuFileBufRegister");
    *(void **)&api->buf_deregister = dlsym(api->lib, "cuFileBufDeregister");
    *(void **)&api->read = dlsym(api->lib, "cuFileRead");
    if (!api->driver_open || !api->driver_close || !api->handle_register || !api->handle_deregister ||
        !api->buf_register || !api->buf_deregister || !api->read) {
        snprintf(why, n, "libcufile lacks an entry point this benchmark uses");
        dlclose(api->lib);
        api->lib = NULL;
        return 0;
    }
    return 1;
}

typedef struct storage_ctx {
    int fd;
    off_t file_bytes;
    size_t bytes;              /* per read */
    unsigned calls;            /* rotates the file offset */
    void *host;                /* pinned */
    void *dev;
    cufile_api api;
    void *fh;
} storage_ctx;

/* Successive calls read successive aligned slices, wrapping around. */
static off_t next_offset(storage_ctx *c)
{
    off_t span = c->file_bytes - (off_t)c->bytes;
    off_t off = span > 0 ? ((off_t)c->calls * (off_t)c->bytes) % span : 0;
    c->calls++;
    return off - off % DIRECT_ALIGN;
}

static int op_pread(void *v, cudaStream_t s, kt_err *err)
{
    storage_ctx *c = v;
    ssize_t got = pread(c->fd, c->host, c->bytes, next_offset(c));
    if (got != (ssize_t)c->bytes) {
        KT_ERROR(err, NULL, 0, 0, "pread of %zu bytes returned %zd: %s", c->bytes, got, strerror(errno));
        return -1;
    }
    KT_CUDA(cudaMemcpyAsync(c->dev, c->host, c->bytes, cudaMemcpyHostToDevice, s), "cudaMemcpyAsync", err);
    KT_CUDA(cudaStreamSynchronize(s), "cudaStreamSynchronize", err);
    return 0;
}

static int op_cufile(void *v, cudaStream_t s, kt_err *err)
{
    (void)s;
    storage_ctx *c = v;
    ssize_t got = c->api.read(c->fh, c->dev, c->bytes, next_offset(c), 0);
    if (got != (ssize_t)c->bytes) {
        KT_ERROR(err, NULL, 0, 0, "cuFileRead of %zu bytes returned %zd", c->bytes, got);
        return -1;
    }
    return 0;
}

static int sweep(kt_bench *b, storage_ctx *c, const char *name, kt_op op, double *ns, kt_err *err)
{
    size_t sizes[MAX_SWEEP], top = b->p->storage_max_bytes;
    while (top > MIN_READ_BYTES && (off_t)top > c->file_bytes)
        top /= 2;
    size_t n = kt_pow2_sweep(MIN_READ_BYTES, top, sizes, MAX_SWEEP);
    for (size_t i = 0; i < n; i++) {
        c->bytes = sizes[i];
        if (kt_sample_host(b, op, c, 1, ns, err) < 0 ||
            kt_record(b, CALIB_BENCH_STORAGE, name, (double)sizes[i], (double)sizes[i], "B", ns, err) < 0)
            return -1;
    }
    return 0;
}

/* cuFile: driver, handle and registered buffer around the sweep. */
static int cufile_sweep(kt_bench *b, storage_ctx *c, const char *path, double *ns, kt_err *err)
{
    char why[256];
    if (!cufile_load(&c->api, why, sizeof why)) {
        printf("  storage cufile: skipped: %s\n", why);
        return 0;
    }
    int fd = open(path, O_RDONLY | O_DIRECT), rc = 0;
    cufile_descr d;
    memset(&d, 0, sizeof d);
    d.type = CU_FILE_HANDLE_TYPE_OPAQUE_FD;
    d.handle.fd = fd;
    if (fd < 0 || c->api.driver_open().err != CU_FILE_SUCCESS || c->api.handle_register(&c->fh, &d).err != CU_FILE_SUCCESS) {
        printf("  storage cufile: skipped: %s\n", fd < 0 ? "O_DIRECT open failed" : "cuFile driver or handle registration failed");
    } else {
        int registered = c->api.buf_register(c->dev, b->p->storage_max_bytes, 0).err == CU_FILE_SUCCESS;
        int saved_fd = c->fd;
        c->fd = fd;
        rc = sweep(b, c, "cufile", op_cufile, ns, err);
        c->fd = saved_fd;
        if (registered)
            c->api.buf_deregister(c->dev);
        c->api.handle_deregister(c->fh);
        c->api.driver_close();
    }
    if (fd >= 0)
        close(fd);
    dlclose(c->api.lib);
    return rc;
}

int kt_bench_storage(kt_bench *b, kt_err *err)
{
    const char *path = b->p->storage_file;
    if (!path[0]) {
        printf("storage: skipped: no --storage-file given\n");
        return KT_BENCH_SKIPPED;
    }
    storage_ctx c;
    memset(&c, 0, sizeof c);
    struct stat st;
    if (stat(path, &st) != 0 || st.st_size < (off_t)MIN_READ_BYTES) {
        KT_ERROR(err, path, 0, 0, "cannot use as the storage benchmark file (missing or under 4 KiB)");
        return KT_BENCH_FAILED;
    }
    c.file_bytes = st.st_size;
    const char *pread_case = "pread+memcpy";
    c.fd = open(path, O_RDONLY | O_DIRECT);
    if (c.fd < 0) {
        c.fd = open(path, O_RDONLY);
        pread_case = "pread+memcpy/buffered";
        printf("storage: O_DIRECT refused for %s; buffered reads (the page cache may serve them)\n", path);
    }
    double *ns = calloc((size_t)b->p->samples, sizeof *ns);
    int rc = c.fd < 0 || !ns ? -1 : 0;
    if (rc < 0)
        KT_ERROR(err, path, 0, 0, "cannot open");
    if (rc == 0 && cudaMallocHost(&c.host, b->p->storage_max_bytes) != cudaSuccess)
        rc = kt_cuda_fail(cudaGetLastError(), "cudaMallocHost", err);
    if (rc == 0 && kt_dev_alloc(&c.dev, b->p->storage_max_bytes, "storage buffer", err) < 0)
        rc = -1;
    printf("storage: reads of %s into GPU memory: %s, cuFile when libcufile is present\n", path, pread_case);
    if (rc == 0)
        rc = sweep(b, &c, pread_case, op_pread, ns, err);
    if (rc == 0)
        rc = cufile_sweep(b, &c, path, ns, err);
    if (c.fd >= 0)
        close(c.fd);
    if (c.host)
        cudaFreeHost(c.host);
    cudaFree(c.dev);
    free(ns);
    return rc < 0 ? KT_BENCH_FAILED : KT_BENCH_OK;
}
