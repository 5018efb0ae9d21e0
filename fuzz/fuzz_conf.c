/* fuzz_conf.c — fuzz target: the YAML reader (conf_parse_string), and that its YAML and flow writers read back as the same tree. */
#include <stdlib.h>
#include <string.h>

#include "conf.h"
#include "fuzz.h"

/* YAML's spellings of null, which the writers may exchange. */
static int is_null(const conf_node *n)
{
    static const char *const nulls[] = { "", "~", "null", "Null", "NULL", NULL };
    if (n->kind != CONF_SCALAR || n->quoted)
        return 0;
    for (int i = 0; nulls[i]; i++)
        if (!strcmp(n->value, nulls[i]))
            return 1;
    return 0;
}

/* 1 when b reads as a: same kinds, keys and values, nulls alike; a quoted
 * scalar stays quoted (a plain one may gain quotes, which YAML may need). */
static int same_tree(const conf_node *a, const conf_node *b)
{
    if (a->kind != b->kind || a->n_kids != b->n_kids || (!a->key != !b->key) ||
        (a->key && strcmp(a->key, b->key)))
        return 0;
    if (a->kind == CONF_SCALAR)
        return (is_null(a) && is_null(b)) ||
               (!is_null(a) && !strcmp(a->value, b->value) && (!a->quoted || b->quoted));
    for (size_t i = 0; i < a->n_kids; i++)
        if (!same_tree(a->kids[i], b->kids[i]))
            return 0;
    return 1;
}

/* Aborts unless text (a writer's output, owned and freed here) parses back to root. */
static void check_reads_back(const conf_node *root, char *text)
{
    if (!text)
        return;
    kt_err err;
    conf_node *again = conf_parse_string(text, strlen(text), "written.yaml", &err);
    if (!again || !same_tree(root, again))
        abort();
    conf_free(again);
    free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    kt_err err;
    conf_node *root = conf_parse_string((const char *)data, size, "fuzz.yaml", &err);
    if (!root)
        return 0;
    check_reads_back(root, conf_to_yaml(root));
    check_reads_back(root, conf_to_flow(root));
    conf_check_unused(root, &err);
    conf_free(root);
    return 0;
}
