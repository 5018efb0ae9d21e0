/* test_base.c — the base layer's small helpers: option reading, progress lines, array growth, did-you-mean, the id index. */
#include <stdint.h>
#include <string.h>

#include "cli.h"
#include "grow.h"
#include "idxtab.h"
#include "progress.h"
#include "suggest.h"
#include "testutil.h"

enum { OPT_SIZE = 256, OPT_QUIET };

static const struct option opts[] = {
    { "size", required_argument, NULL, OPT_SIZE },
    { "quiet", no_argument, NULL, OPT_QUIET },
    { "output", required_argument, NULL, 'o' },
    { NULL, 0, NULL, 0 },
};

/* What reading argv option by option gave: the codes, joined by spaces
 * ("size=4 quiet 1=F"), and stderr's first line. */
static void read_options(int argc, char **argv, char *codes, size_t n, char *err_line, size_t m)
{
    FILE *saved = stderr, *tmp = tmpfile();
    stderr = tmp;
    codes[0] = err_line[0] = '\0';
    int c;
    optind = 0;
    while ((c = cli_option_next(argc, argv, "-:o:", opts, "t")) != -1) {
        size_t used = strlen(codes);
        const char *name = c == OPT_SIZE ? "size" : c == OPT_QUIET ? "quiet" : c == 'o' ? "o" : c == 1 ? "1" : "?";
        snprintf(codes + used, n - used, "%s%s%s%s", used ? " " : "", name, optarg && c != '?' ? "=" : "",
                 optarg && c != '?' ? optarg : "");
        if (c == '?')
            break;
    }
    stderr = saved;
    rewind(tmp);
    if (!fgets(err_line, (int)m, tmp))
        err_line[0] = '\0';
    fclose(tmp);
}

static void check_options(const char *const *args, const char *want_codes, const char *want_err)
{
    char *argv[8] = { "t" }, codes[256], err[256];
    int argc = 1;
    while (args[argc - 1])
        argv[argc] = (char *)args[argc - 1], argc++;
    read_options(argc, argv, codes, sizeof codes, err, sizeof err);
    if (strcmp(codes, want_codes) != 0 || strcmp(err, want_err) != 0)
        fprintf(stderr, "\n  got '%s' / '%s'", codes, err);
    CU_ASSERT_STRING_EQUAL(codes, want_codes);
    CU_ASSERT_STRING_EQUAL(err, want_err);
}

static void test_options_in_order(void)
{
    check_options((const char *[]){ "--size", "4", "F", "--quiet", "--size=5", "-o", "x", NULL },
                  "size=4 1=F quiet size=5 o=x", "");
}

static void test_options_whole_names_only(void)
{
    check_options((const char *[]){ "--si", "4", NULL }, "?", "kvtier t: unknown option '--si' (try kvtier t --help)\n");
    check_options((const char *[]){ "-ox", NULL }, "?", "kvtier t: unknown option '-ox' (try kvtier t --help)\n");
    check_options((const char *[]){ "--", "F", NULL }, "?", "kvtier t: unknown option '--' (try kvtier t --help)\n");
    check_options((const char *[]){ "--quiet=1", NULL }, "?",
                  "kvtier t: unknown option '--quiet=1' (try kvtier t --help)\n");
    check_options((const char *[]){ "-xy", NULL }, "?", "kvtier t: unknown option '-xy' (try kvtier t --help)\n");
}

static void test_options_missing_value(void)
{
    check_options((const char *[]){ "--size", NULL }, "?",
                  "kvtier t: --size needs a value (try kvtier t --help)\n");
    check_options((const char *[]){ "F", "-o", NULL }, "1=F ?",
                  "kvtier t: --output needs a value (try kvtier t --help)\n");
}

/* What a file holds, into buf. */
static const char *file_text(FILE *f, char *buf, size_t n)
{
    rewind(f);
    size_t got = fread(buf, 1, n - 1, f);
    buf[got] = '\0';
    return buf;
}

static void test_progress_notes_and_statuses(void)
{
    FILE *f = tmpfile();
    char buf[512];
    progress p;
    progress_start_unsized(&p, f, "plan", 0);
    progress_note(&p, "probe %d: %s", 1, "meets");
    progress_status(&p, "%d s simulated", 3);
    progress_finish(&p);
    CU_ASSERT_STRING_EQUAL(file_text(f, buf, sizeof buf), "plan: probe 1: meets\nplan 3 s simulated\n");
    fclose(f);

    /* A status comes at most once an interval, the first one interval after the start. */
    f = tmpfile();
    progress_start_unsized(&p, f, "[sim]", 3600);
    progress_status(&p, "%d s simulated", 3);
    progress_finish(&p);
    CU_ASSERT_STRING_EQUAL(file_text(f, buf, sizeof buf), "");
    fclose(f);

    progress_start_unsized(&p, NULL, "quiet", 0);
    progress_note(&p, "nothing");
    progress_status(&p, "nothing");
    progress_finish(&p);
}

static void test_progress_counts(void)
{
    FILE *f = tmpfile();
    char buf[512];
    progress p;
    progress_start(&p, f, "sweep", "points", 2, 1);
    progress_step(&p);
    progress_finish(&p);
    CU_ASSERT(strncmp(file_text(f, buf, sizeof buf), "sweep: 2/2 points done in ", 26) == 0);
    fclose(f);
}

/* Edit distances counted by hand: kitten -> sitting is the textbook 3
 * (k->s, e->i, +g); blocktokens -> block_tokens one insertion; bf61 ->
 * bf16 two substitutions; identical strings 0; a 64-character word is
 * refused as no typo. */
static void test_suggest_distance(void)
{
    CU_ASSERT_EQUAL(suggest_distance("kitten", "sitting"), 3);
    CU_ASSERT_EQUAL(suggest_distance("blocktokens", "block_tokens"), 1);
    CU_ASSERT_EQUAL(suggest_distance("bf61", "bf16"), 2);
    CU_ASSERT_EQUAL(suggest_distance("", "abc"), 3);
    CU_ASSERT_EQUAL(suggest_distance("same", "same"), 0);
    char long_word[65];
    memset(long_word, 'a', 64);
    long_word[64] = '\0';
    CU_ASSERT_EQUAL(suggest_distance(long_word, "a"), SIZE_MAX);
}

/* The closest name within the limit: 2 edits for short words, a third of
 * the length for long ones; a word that begins a name picks the shortest
 * such name; nothing close gives NULL; the word itself is never suggested. */
static void test_suggest_closest(void)
{
    const char *dtypes[] = { "fp32", "bf16", "fp16", "fp8" };
    CU_ASSERT_STRING_EQUAL(suggest_closest("bf61", dtypes, 4), "bf16");
    CU_ASSERT_PTR_NULL(suggest_closest("banana", dtypes, 4));
    const char *gpus[] = { "a100-sxm-80gb", "b200", "h100-sxm", "h200-sxm" };
    /* "h100" is 2 edits from "b200" but begins "h100-sxm": the prefix wins. */
    CU_ASSERT_STRING_EQUAL(suggest_closest("h100", gpus, 4), "h100-sxm");
    const char *keys[] = { "block_tokens", "dtype", NULL, "hbm_fraction" };
    /* 12 letters: up to 4 edits ("blk_tokns" is 3 deletions away). */
    CU_ASSERT_STRING_EQUAL(suggest_closest("blk_tokns", keys, 4), "block_tokens");
    CU_ASSERT_PTR_NULL(suggest_closest("dtype", keys, 4));
    char buf[64] = "unknown key";
    suggest_append(buf, sizeof buf, "dtpye", keys, 4);
    CU_ASSERT_STRING_EQUAL(buf, "unknown key (did you mean 'dtype'?)");
    suggest_append(buf + strlen(buf), 1, "x", keys, 4);   /* no room: untouched */
    CU_ASSERT_STRING_EQUAL(buf, "unknown key (did you mean 'dtype'?)");
}

static void test_grow_doubles(void)
{
    size_t cap = 0;
    int *a = grow_array(NULL, &cap, 1, sizeof *a);
    CU_ASSERT_PTR_NOT_NULL_FATAL(a);
    CU_ASSERT_EQUAL(cap, GROW_FIRST_CAP);
    a[0] = 7;
    CU_ASSERT_PTR_EQUAL(grow_array(a, &cap, GROW_FIRST_CAP, sizeof *a), a);
    CU_ASSERT_EQUAL(cap, GROW_FIRST_CAP);
    /* 16 -> 32 -> 64 -> 128 holds 100. */
    a = grow_array(a, &cap, 100, sizeof *a);
    CU_ASSERT_PTR_NOT_NULL_FATAL(a);
    CU_ASSERT_EQUAL(cap, 128);
    CU_ASSERT_EQUAL(a[0], 7);
    free(a);
}

static void test_grow_overflow_keeps_array(void)
{
    size_t cap = 4;
    int *a = malloc(cap * sizeof *a);
    CU_ASSERT_PTR_NULL(grow_array(a, &cap, SIZE_MAX / 2, sizeof *a));
    CU_ASSERT_EQUAL(cap, 4);
    a[3] = 7;
    CU_ASSERT_EQUAL(a[3], 7);
    free(a);
}

/* An exact resize keeps the contents and takes no more than asked; a size
 * past SIZE_MAX bytes is refused with the array left as it was. */
static void test_grow_exact(void)
{
    int *a = grow_array_exact(NULL, 3, sizeof *a);
    CU_ASSERT_PTR_NOT_NULL_FATAL(a);
    a[2] = 9;
    int *b = grow_array_exact(a, 5, sizeof *b);
    CU_ASSERT_PTR_NOT_NULL_FATAL(b);
    CU_ASSERT_EQUAL(b[2], 9);
    CU_ASSERT_PTR_NULL(grow_array_exact(b, SIZE_MAX / 2, sizeof *b));
    CU_ASSERT_EQUAL(b[2], 9);
    free(b);
}

/* Slots: the smallest power of two (at least 16) at most three quarters
 * full with max_ids + 1 ids: 11 ids -> 16 (4 x 12 = 48 = 3 x 16); 12 -> 32;
 * a 19,098-block pool -> 32,768 (3 x 16,384 = 49,152 < 76,396). */
static void test_idxtab_sizes(void)
{
    static const uint32_t ids[][2] = { { 0, 16 }, { 11, 16 }, { 12, 32 }, { 19098, 32768 } };
    for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++) {
        idxtab t;
        CU_ASSERT_FATAL(idxtab_init(&t, ids[i][0]) == 0);
        CU_ASSERT_EQUAL(idxtab_slots(&t), ids[i][1]);
        idxtab_destroy(&t);
    }
}

/* Random puts, deletes and lookups against a plain array of which ids are
 * indexed: keys drawn from 40 values over 11 ids in 16 slots, so probe runs
 * collide, wrap and shift back; a full index refuses the twelfth id. */
static void test_idxtab_against_scan(void)
{
    enum { IDS = 11, STEPS = 20000 };
    uint64_t keys[IDS] = { 0 }, rng = 12345;
    int in[IDS] = { 0 };
    idxtab t;
    CU_ASSERT_FATAL(idxtab_init(&t, IDS) == 0);
    int mismatches = 0, full_refused = 0;
    for (int step = 0; step < STEPS; step++) {
        rng = rng * 6364136223846793005ULL + 1442695040888963407ULL;
        uint32_t id = (uint32_t)(rng >> 33) % IDS;
        uint64_t key = 1 + (rng >> 20) % 40;
        int taken = 0;
        for (int j = 0; j < IDS; j++)
            taken |= in[j] && keys[j] == key;
        if (in[id]) {
            idxtab_del(&t, keys, keys[id]);
            in[id] = 0;
        } else if (!taken) {
            keys[id] = key;
            CU_ASSERT(idxtab_put(&t, keys, id) == 0);
            in[id] = 1;
        }
        for (uint64_t k = 1; k <= 40; k++) {
            uint32_t want = HTAB_NONE;
            for (uint32_t j = 0; j < IDS; j++)
                if (in[j] && keys[j] == k)
                    want = j;
            mismatches += idxtab_get(&t, keys, k) != want;
        }
        uint32_t n = 0;
        for (int j = 0; j < IDS; j++)
            n += in[j];
        mismatches += t.n != n;
        if (n == IDS) {
            uint64_t more[IDS + 1];
            memcpy(more, keys, sizeof keys);
            more[IDS] = 41;    /* a key no id holds */
            full_refused += idxtab_put(&t, more, IDS) == -1;
        }
    }
    CU_ASSERT_EQUAL(mismatches, 0);
    CU_ASSERT(full_refused > 0);
    idxtab_destroy(&t);
}

int main(void)
{
    static const tu_test tests[] = {
        { "options come in order", test_options_in_order },
        { "options by their whole names only", test_options_whole_names_only },
        { "a missing value names the option", test_options_missing_value },
        { "progress notes and statuses", test_progress_notes_and_statuses },
        { "progress counts", test_progress_counts },
        { "edit distances by hand", test_suggest_distance },
        { "the closest name, or none", test_suggest_closest },
        { "arrays grow by doubling", test_grow_doubles },
        { "an impossible size leaves the array", test_grow_overflow_keeps_array },
        { "an exact resize, and an impossible one", test_grow_exact },
        { "the id index's sizes by hand", test_idxtab_sizes },
        { "the id index answers as a scan does", test_idxtab_against_scan },
        { NULL, NULL },
    };
    return tu_run("base", tests);
}
