/* err.h — error records carrying a message, the input location it is about and the kvtier source line that raised it. */
#ifndef KT_ERR_H
#define KT_ERR_H

#include <stdio.h>

/* An error in the user's input or in the environment.
 * Invariants: msg is NUL-terminated; line == 0 means "no input location"
 * (then col is 0 and file may still name a file); src_file/src_line are
 * always set by KT_ERROR. */
typedef struct kt_err {
    char msg[1024];
    char file[512];
    int line, col;             /* 1-based position in file, 0 when unknown */
    const char *src_file;      /* kvtier source that raised it (__FILE__) */
    int src_line;
} kt_err;

void kt_err_set(kt_err *e, const char *src_file, int src_line, const char *file,
                int line, int col, const char *fmt, ...)
    __attribute__((format(printf, 7, 8)));

/* Records an error at an input location (file may be NULL, line/col 0). */
#define KT_ERROR(e, file, line, col, ...) \
    kt_err_set((e), __FILE__, __LINE__, (file), (line), (col), __VA_ARGS__)

/* Prints "file:line:col: msg" (or "file:line: msg" when col is 0, "file:
 * msg", or "msg") and a newline.
 * With KVTIER_DEBUG set in the environment the raising source line follows. */
void kt_err_print(const kt_err *e, FILE *out);

#endif
