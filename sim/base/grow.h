/* grow.h — growing an array's capacity (by doubling, or to an exact size), with the size arithmetic checked. */
#ifndef KT_GROW_H
#define KT_GROW_H

#include <stddef.h>

/* Capacity an empty array starts with. */
#define GROW_FIRST_CAP 16

/* Makes room for need elements of elem_size bytes in p, whose capacity is
 * *cap elements: the capacity doubles (from GROW_FIRST_CAP for an empty
 * array) until it holds need. Returns the array, p itself when it
 * had room, with *cap updated; NULL when the size would overflow or memory
 * runs out, leaving p valid and owned by the caller and *cap unchanged.
 * The caller owns what is returned (p is freed by the realloc). */
void *grow_array(void *p, size_t *cap, size_t need, size_t elem_size);
/* Resizes p to exactly n elements of elem_size bytes (for arrays whose
 * final size is known, where doubling would waste up to half). Returns the
 * array; NULL when the size would overflow or memory runs out, leaving p
 * valid and owned by the caller. */
void *grow_array_exact(void *p, size_t n, size_t elem_size);

#endif
