/*
 * Memory layout of the scx sdt_alloc allocator (see sdt_alloc.bpf.h), shared
 * by the BPF program and its user-space loader (whose BPF skeleton names
 * these types). In user space arena pointers are plain pointers.
 */
#ifndef KTVM_TESTS_SCHEDULERS_SDT_TYPES_H_
#define KTVM_TESTS_SCHEDULERS_SDT_TYPES_H_

#ifndef __BPF__
#include <linux/types.h>
#ifndef __arena
#define __arena
#endif
#endif

#define SDT_SHIFT 9
#define SDT_LEVELS 3
#define SDT_FANOUT (1 << SDT_SHIFT)
#define SDT_BITMAP_WORDS (SDT_FANOUT / 64)
/* A data slab holds at least this many elements. */
#define SDT_MIN_ELEMS_PER_SLAB 8
/* Upper bound for the payload-zeroing loop (elem_size up to 4 KiB). */
#define SDT_MAX_PAYLOAD_WORDS 512

union sdt_id {
	__s64 val;
	struct {
		__s32 idx;
		__s32 genn;
	};
};

struct sdt_data {
	union sdt_id tid;
	__u64 payload[];
};

struct sdt_chunk;

struct sdt_desc {
	__u64 allocated[SDT_BITMAP_WORDS];
	__u64 nr_free;
	struct sdt_chunk __arena *chunk;
};

struct sdt_chunk {
	union {
		struct sdt_desc __arena *descs[SDT_FANOUT];
		struct sdt_data __arena *data[SDT_FANOUT];
	};
};

struct sdt_pool {
	void __arena *slab;
	__u64 elem_size;
	__u64 max_elems;
	__u64 idx;
};

struct scx_allocator {
	struct sdt_pool pool;
	struct sdt_desc __arena *root;
};

_Static_assert(sizeof(union sdt_id) == 8, "sdt_id layout");
_Static_assert(sizeof(struct sdt_data) == 8, "sdt_data layout");
_Static_assert(sizeof(struct sdt_desc) == 80, "sdt_desc layout");
_Static_assert(sizeof(struct sdt_chunk) == 4096, "sdt_chunk layout");
_Static_assert(sizeof(struct sdt_pool) == 32, "sdt_pool layout");
_Static_assert(sizeof(struct scx_allocator) == 40, "scx_allocator layout");

#endif /* KTVM_TESTS_SCHEDULERS_SDT_TYPES_H_ */
