/* export.c — a stored run's tables as CSV: one SELECT per table, streamed row by row into an outfile. */
#include "export.h"

#include <errno.h>
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "outfile.h"

/* The tables exported, each ordered as a reader expects its rows. */
static const struct {
    const char *table, *order;
} export_tables[] = {
    { "requests", "id" },
    { "replicas", "replica" },
    { "tiers", "replica, level" },
};

/* Writes s as a CSV field: quoted (quotes doubled) when it holds a comma, quote or line break. */
static void put_field(FILE *f, const char *s)
{
    if (!strpbrk(s, ",\"\r\n")) {
        fputs(s, f);
        return;
    }
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"')
            fputc('"', f);
        fputc(*s, f);
    }
    fputc('"', f);
}

/* 1 when column i is declared BLOB (left out). */
static int is_blob(sqlite3_stmt *q, int i)
{
    const char *d = sqlite3_column_decltype(q, i);
    return d && !strcmp(d, "BLOB");
}

/* Writes the statement's header and rows to f. Returns SQLITE_DONE or an error code. */
static int write_rows(sqlite3_stmt *q, FILE *f)
{
    int n = sqlite3_column_count(q), first = 1;
    for (int i = 0; i < n; i++)
        if (!is_blob(q, i)) {
            fputs(first ? "" : ",", f);
            put_field(f, sqlite3_column_name(q, i));
            first = 0;
        }
    fputs("\r\n", f);
    int rc;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        first = 1;
        for (int i = 0; i < n; i++) {
            if (is_blob(q, i))
                continue;
            fputs(first ? "" : ",", f);
            const unsigned char *v = sqlite3_column_text(q, i);
            put_field(f, v ? (const char *)v : "");
            first = 0;
        }
        fputs("\r\n", f);
    }
    return rc;
}

/* Writes one table's rows of run_id to dir/TABLE.csv. Returns 0 or -1 with err. */
static int export_table(sqlite3 *db, int k, int64_t run_id, const char *dir, kt_err *err)
{
    char sql[160], path[OUTFILE_PATH_MAX];
    snprintf(sql, sizeof sql, "SELECT * FROM %s WHERE run_id = ?1 ORDER BY %s", export_tables[k].table,
             export_tables[k].order);
    if (snprintf(path, sizeof path, "%s/%s.csv", dir, export_tables[k].table) >= (int)sizeof path) {
        KT_ERROR(err, dir, 0, 0, "--csv: the path is too long");
        return -1;
    }
    sqlite3_stmt *q;
    if (sqlite3_prepare_v2(db, sql, -1, &q, NULL) != SQLITE_OK) {
        KT_ERROR(err, path, 0, 0, "SQLite: %s", sqlite3_errmsg(db));
        return -1;
    }
    sqlite3_bind_int64(q, 1, run_id);
    outfile of;
    int rc = outfile_open(&of, path, err);
    if (rc == 0 && write_rows(q, of.f) != SQLITE_DONE) {
        KT_ERROR(err, path, 0, 0, "SQLite: %s", sqlite3_errmsg(db));
        outfile_abort(&of);
        rc = -1;
    } else if (rc == 0) {
        rc = outfile_commit(&of, err);
    }
    sqlite3_finalize(q);
    return rc;
}

int export_run_csv(store *st, int64_t run_id, const char *dir, kt_err *err)
{
    if (mkdir(dir, 0777) != 0 && errno != EEXIST) {
        KT_ERROR(err, dir, 0, 0, "--csv: cannot create the folder: %s", strerror(errno));
        return -1;
    }
    for (size_t k = 0; k < sizeof export_tables / sizeof *export_tables; k++)
        if (export_table(store_db(st), (int)k, run_id, dir, err) < 0)
            return -1;
    return 0;
}
