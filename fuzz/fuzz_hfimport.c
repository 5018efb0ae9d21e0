/* fuzz_hfimport.c — fuzz target: `kvtier model import` of a Hugging Face config.json, and loading the card it writes. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>

#include "fuzz.h"
#include "model.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_scratch_file(data, size);
    char *card = NULL;
    size_t card_len = 0;
    FILE *out = path ? open_memstream(&card, &card_len) : NULL;
    if (!out)
        return 0;
    kt_err err;
    int rc = model_import_hf(path, "fuzz", out, NULL, &err);
    fclose(out);
    if (rc == 0)
        model_free(model_load_string(card, card_len, "imported.yaml", &err));
    free(card);
    return 0;
}
