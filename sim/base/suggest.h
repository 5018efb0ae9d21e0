/* suggest.h — "did you mean" for misspelt names: the closest of the known names by edit distance. */
#ifndef KT_SUGGEST_H
#define KT_SUGGEST_H

#include <stddef.h>

/* Levenshtein distance between a and b (insert, delete, substitute, each 1);
 * SIZE_MAX when either is 64 characters or longer (too long to be a typo of
 * a key or a name). */
size_t suggest_distance(const char *a, const char *b);

/* The candidate closest to word, when close enough to be a likely typo: the
 * shortest candidate that begins with word, else the nearest within 2 edits
 * (a third of word's length for longer words), never word itself. NULL when
 * none is. cands holds n strings (NULL entries are
 * skipped); the result points into cands (borrowed). */
const char *suggest_closest(const char *word, const char *const *cands, size_t n);

/* Appends " (did you mean 'X'?)" to buf (cap bytes, NUL-terminated) when
 * suggest_closest finds an X, else leaves buf as it is. */
void suggest_append(char *buf, size_t cap, const char *word, const char *const *cands, size_t n);

#endif
