/*
 * Like lavd and other schedulers that only pass allocator pointers around:
 * sdt_data and sdt_chunk exist in the program BTF only as forward
 * declarations; the walker must fall back to the fixed upstream layout.
 */
#define SDT_FIXTURE_FWD_DATA
#define SDT_FIXTURE_FWD_CHUNK
#include "sdt_types_fixture.h"

struct ktvm_task_ctx {
	int pid;
	unsigned int magic;
	unsigned long long counter;
};

struct scx_allocator task_allocator;
struct sdt_desc desc_anchor;
struct sdt_data __arena *last_data;
struct ktvm_task_ctx task_ctx_anchor;

char _license[] __attribute__((section("license"), used)) = "GPL";
