/* err.c — filling and printing kt_err records. */
#include "err.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

void kt_err_set(kt_err *e, const char *src_file, int src_line, const char *file,
                int line, int col, const char *fmt, ...)
{
    if (!e)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->msg, sizeof e->msg, fmt, ap);
    va_end(ap);
    snprintf(e->file, sizeof e->file, "%s", file ? file : "");
    e->line = line;
    e->col = col;
    e->src_file = src_file;
    e->src_line = src_line;
}

void kt_err_print(const kt_err *e, FILE *out)
{
    if (e->file[0] && e->line > 0 && e->col > 0)
        fprintf(out, "%s:%d:%d: %s\n", e->file, e->line, e->col, e->msg);
    else if (e->file[0] && e->line > 0)
        fprintf(out, "%s:%d: %s\n", e->file, e->line, e->msg);
    else if (e->file[0])
        fprintf(out, "%s: %s\n", e->file, e->msg);
    else
        fprintf(out, "%s\n", e->msg);
    if (getenv("KVTIER_DEBUG") && e->src_file)
        fprintf(out, "  (raised at %s:%d)\n", e->src_file, e->src_line);
}
