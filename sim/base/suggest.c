/* suggest.c — "did you mean" for misspelt names: the closest of the known names by edit distance. */
#include "suggest.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#define SUGGEST_MAX_LEN 64

size_t suggest_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    size_t row[SUGGEST_MAX_LEN + 1];
    if (la >= SUGGEST_MAX_LEN || lb >= SUGGEST_MAX_LEN)
        return SIZE_MAX;
    for (size_t j = 0; j <= lb; j++)
        row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t up = row[j];
            size_t best = diag + (a[i - 1] != b[j - 1]);
            if (up + 1 < best)
                best = up + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[lb];
}

const char *suggest_closest(const char *word, const char *const *cands, size_t n)
{
    size_t len = strlen(word);
    /* A shortened name ("h100" for "h100-sxm") is a likelier slip than one
     * a few edits away: the shortest candidate it begins wins. */
    const char *prefixed = NULL;
    for (size_t i = 0; len > 0 && i < n; i++)
        if (cands[i] && strlen(cands[i]) > len && !strncmp(cands[i], word, len) &&
            (!prefixed || strlen(cands[i]) < strlen(prefixed)))
            prefixed = cands[i];
    if (prefixed)
        return prefixed;
    size_t limit = len / 3 > 2 ? len / 3 : 2;
    const char *best = NULL;
    size_t best_d = SIZE_MAX;
    for (size_t i = 0; i < n; i++) {
        if (!cands[i] || !strcmp(cands[i], word))
            continue;
        size_t d = suggest_distance(word, cands[i]);
        if (d <= limit && d < best_d) {
            best = cands[i];
            best_d = d;
        }
    }
    return best;
}

void suggest_append(char *buf, size_t cap, const char *word, const char *const *cands, size_t n)
{
    const char *s = suggest_closest(word, cands, n);
    size_t used = strlen(buf);
    if (s && used < cap)
        snprintf(buf + used, cap - used, " (did you mean '%s'?)", s);
}
