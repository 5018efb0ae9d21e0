/* grow.c — growing an array's capacity (by doubling, or to an exact size), with the size arithmetic checked. */
#include "grow.h"

#include <stdint.h>
#include <stdlib.h>

void *grow_array(void *p, size_t *cap, size_t need, size_t elem_size)
{
    if (need <= *cap)
        return p;
    size_t limit = elem_size ? SIZE_MAX / elem_size : SIZE_MAX;
    size_t c = *cap ? *cap : GROW_FIRST_CAP;
    while (c < need && c <= limit / 2)
        c *= 2;
    if (c < need) {
        if (need > limit)
            return NULL;
        c = need;
    }
    void *grown = realloc(p, c * elem_size);
    if (grown)
        *cap = c;
    return grown;
}

void *grow_array_exact(void *p, size_t n, size_t elem_size)
{
    if (elem_size && n > SIZE_MAX / elem_size)
        return NULL;
    return realloc(p, n * elem_size);
}
