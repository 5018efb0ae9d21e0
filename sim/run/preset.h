/* preset.h — engine presets: the scenario defaults `engine: vllm | trtllm | sglang` sets, read from engines/NAME.yaml. */
#ifndef KT_PRESET_H
#define KT_PRESET_H

#include "conf.h"
#include "err.h"

/* Engines with a preset; engines/NAME.yaml holds each one's defaults. */
typedef enum { PRESET_VLLM, PRESET_TRTLLM, PRESET_SGLANG, PRESET_COUNT } preset_engine;
extern const char *const preset_engine_names[PRESET_COUNT + 1];

/* Reads the scenario's optional top-level `engine:` key and writes every
 * default of its preset (a dotted scenario key, such as
 * scheduler.token_budget) into root where root does not set that key
 * itself, so keys the scenario or --set gives override the preset. The
 * preset file is found like a model card (scenario_data_dirs, "engines"
 * beside file) and read strictly: each default names its value and its
 * source. Returns 0 (nothing done without `engine:`), or -1 with err
 * located at the engine key or in the preset file. root stays the
 * caller's. *engine gets the preset_engine applied, or -1 without one. */
int preset_apply(conf_node *root, const char *file, int *engine, kt_err *err);

#endif
