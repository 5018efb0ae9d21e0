/* testutil.h — shared helpers for the CUnit test programs: data paths and the runner. */
#ifndef KT_TESTUTIL_H
#define KT_TESTUTIL_H

#include <CUnit/Basic.h>
#include <stdio.h>
#include <stdlib.h>

/* Path of a source-tree file: $top_srcdir/rel (top_srcdir is set by make check).
 * Returns a static buffer, overwritten by the next call. */
static inline const char *tu_path(const char *rel)
{
    static char buf[4][4096];
    static int next;
    const char *top = getenv("top_srcdir");
    char *b = buf[next++ % 4];
    snprintf(b, sizeof buf[0], "%s/%s", top && *top ? top : ".", rel);
    return b;
}

/* Path of a build-tree file: $top_builddir/rel. */
static inline const char *tu_build_path(const char *rel)
{
    static char buf[4][4096];
    static int next;
    const char *top = getenv("top_builddir");
    char *b = buf[next++ % 4];
    snprintf(b, sizeof buf[0], "%s/%s", top && *top ? top : ".", rel);
    return b;
}

/* One suite's tests. */
typedef struct tu_test { const char *name; void (*fn)(void); } tu_test;

/* Registers the tests as one suite, runs them verbosely, and returns the
 * process exit code: 0 all passed, 1 a failure, 2 CUnit itself failed. */
static inline int tu_run(const char *suite_name, const tu_test *tests)
{
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 2;
    CU_pSuite s = CU_add_suite(suite_name, NULL, NULL);
    if (!s)
        return 2;
    for (const tu_test *t = tests; t->name; t++)
        if (!CU_add_test(s, t->name, t->fn))
            return 2;
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    unsigned fails = CU_get_number_of_failures() + CU_get_number_of_tests_failed();
    CU_cleanup_registry();
    return fails ? 1 : 0;
}

#endif
