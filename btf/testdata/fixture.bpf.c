/* Globals of every fixture type, so clang emits their BTF and a DATASEC
 * for each of .bss, .data and .rodata. */
#include "fixture_types.h"

struct fx_task_ctx fx_ctx;
struct fx_scalars fx_scalars;
struct fx_node fx_list;
struct fx_big_array fx_big;
int fx_counter = 5;
unsigned long long fx_total = 77;
const char fx_version[] = "fixture-1";
enum fx_signed fx_sign = FX_NEG;
