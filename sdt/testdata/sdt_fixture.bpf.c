/*
 * Program BTF for the sdt walker tests: every sdt_alloc struct in full, two
 * allocators (one in .bss, one in .data) and payload structs whose sizes
 * collide on purpose so payload-type discovery has to choose.
 */
#include "sdt_types_fixture.h"

/* The payload of task_allocator: 16 bytes, so elem_size 24. */
struct ktvm_task_ctx {
	int pid;
	unsigned int magic;
	unsigned long long counter;
};

/* Same size as ktvm_task_ctx but no conventional name. */
struct pair_stats {
	u64 first;
	u64 second;
};

/* The payload of cgrp_allocator (24 bytes). node_arena_ctx has the same
 * size and a name the generic patterns rank higher; the allocator's own
 * name must win. */
struct cgrp_ctx {
	u64 weight;
	u64 nr_tasks;
	u64 flags;
};

struct node_arena_ctx {
	u64 node;
	u64 nr_cpus;
	u64 load;
};

/* The payload of link_allocator: an arena pointer to another allocator's
 * payload, which the renderer must follow through the arena window. */
struct ktvm_link_ctx {
	struct ktvm_task_ctx __arena *peer;
	u64 tag;
};

/* Zero-initialised: lands in .bss. */
struct scx_allocator task_allocator;

/* Initialised: lands in .data, after a non-allocator variable so its
 * offset inside the section is not 0. */
u64 fixture_data_marker = 0x5eed;
struct scx_allocator cgrp_allocator = { .pool = { .elem_size = 32 } };

/* Clang puts a struct body into BTF only for types of globals and function
 * signatures (pointees become forward declarations), so these keep the
 * full bodies and the payload types in the program BTF. */
struct sdt_desc desc_anchor;
struct sdt_chunk chunk_anchor;
struct sdt_data data_anchor;
struct ktvm_task_ctx task_ctx_anchor;
struct pair_stats pair_stats_anchor;
struct cgrp_ctx cgrp_ctx_anchor;
struct node_arena_ctx node_arena_ctx_anchor;
struct ktvm_link_ctx link_ctx_anchor;

char _license[] __attribute__((section("license"), used)) = "GPL";
