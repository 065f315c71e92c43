/*
 * The scx sdt_alloc layout (lib/sdt_task_defs.h) as a BPF program sees it,
 * for host-side tests of the sdt walker. Each fixture includes this after
 * choosing which of the structs it defines in full (SDT_FIXTURE_FWD_*), so
 * the program BTF carries full structs or forward declarations exactly like
 * real schedulers do.
 */
#ifndef KTVM_SDT_TESTDATA_SDT_TYPES_FIXTURE_H_
#define KTVM_SDT_TESTDATA_SDT_TYPES_FIXTURE_H_

typedef signed int s32;
typedef signed long long s64;
typedef unsigned long long u64;

#define __arena __attribute__((address_space(1)))

union sdt_id {
	s64 val;
	struct {
		s32 idx;
		s32 genn;
	};
};

#ifndef SDT_FIXTURE_FWD_DATA
struct sdt_data {
	union sdt_id tid;
	u64 payload[];
};
#else
struct sdt_data;
#endif

struct sdt_chunk;

struct sdt_desc {
	u64 allocated[8];
	u64 nr_free;
	struct sdt_chunk __arena *chunk;
};

#ifndef SDT_FIXTURE_FWD_CHUNK
struct sdt_chunk {
	union {
		struct sdt_desc __arena *descs[512];
		struct sdt_data __arena *data[512];
	};
};
#endif

struct sdt_pool {
	void __arena *slab;
	u64 elem_size;
	u64 max_elems;
	u64 idx;
};

#ifndef SDT_FIXTURE_FWD_ALLOCATOR
struct scx_allocator {
	struct sdt_pool pool;
	struct sdt_desc __arena *root;
};
#else
struct scx_allocator;
#endif

#endif /* KTVM_SDT_TESTDATA_SDT_TYPES_FIXTURE_H_ */
