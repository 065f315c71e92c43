/*
 * A three-level radix allocator in a BPF arena with the same memory layout
 * and the same semantics as the scx project's sdt_alloc, so that ktvm's sdt
 * walker can be tested against a real scheduler:
 *
 *  - union sdt_id {s64 val; {s32 idx; s32 genn;}}, struct sdt_data {tid;
 *    payload[]}, struct sdt_desc {allocated[8]; nr_free; chunk}, struct
 *    sdt_chunk {descs[512] | data[512]}, struct sdt_pool {slab; elem_size;
 *    max_elems; idx}, struct scx_allocator {pool; root}.
 *  - idx = pos0 << 18 | pos1 << 9 | pos2.
 *  - alloc: first clear bit at every level; bits are set leaf-upward, each
 *    level's nr_free drops, and the parent's bit is set only when a child
 *    became full (so interior bits mean "subtree full").
 *  - free: header rewritten to {idx 0, genn + 1}, payload zeroed, bits
 *    cleared upward while the level's nr_free becomes exactly 1. The data
 *    pointer stays in the leaf chunk for reuse.
 *
 * Written for ktvm; include once, after the arena map named `arena`.
 */
#ifndef KTVM_TESTS_SCHEDULERS_SDT_ALLOC_BPF_H_
#define KTVM_TESTS_SCHEDULERS_SDT_ALLOC_BPF_H_

#include "sdt_types.h"

/* Pools for interior nodes, shared by every allocator of this program. */
struct sdt_pool sdt_desc_pool;
struct sdt_pool sdt_chunk_pool;

/* One lock for every tree: allocations are rare (task creation/exit). */
private(SDT_LOCK) struct bpf_spin_lock sdt_lock;

static int sdt_pool_init(struct sdt_pool *pool, __u64 elem_size, __u64 pages)
{
	if (elem_size == 0 || elem_size % 8 || pages == 0)
		return -EINVAL;
	pool->elem_size = elem_size;
	pool->max_elems = pages * PAGE_SIZE / elem_size;
	/* An exhausted pool: the first take allocates the first slab. */
	pool->idx = pool->max_elems;
	pool->slab = NULL;
	return 0;
}

static void __arena *sdt_pool_take(struct sdt_pool *pool)
{
	void __arena *slab;
	__u64 pages;

	if (pool->idx >= pool->max_elems) {
		pages = (pool->max_elems * pool->elem_size + PAGE_SIZE - 1) /
			PAGE_SIZE;
		slab = bpf_arena_alloc_pages(&arena, NULL, pages, NUMA_NO_NODE,
					     0);
		if (!slab)
			return NULL;
		pool->slab = slab;
		pool->idx = 0;
	}
	slab = (void __arena *)((__u64)pool->slab +
				pool->idx * pool->elem_size);
	pool->idx++;
	return slab;
}

/* A fresh, empty interior or leaf node: descriptor plus its chunk. */
static struct sdt_desc __arena *sdt_node_new(void)
{
	struct sdt_chunk __arena *chunk;
	struct sdt_desc __arena *desc;

	chunk = sdt_pool_take(&sdt_chunk_pool);
	if (!chunk)
		return NULL;
	desc = sdt_pool_take(&sdt_desc_pool);
	if (!desc) {
		/* Give the chunk back: it was the pool's last take. */
		sdt_chunk_pool.idx--;
		return NULL;
	}
	desc->nr_free = SDT_FANOUT;
	desc->chunk = chunk;
	return desc;
}

/* Index of the lowest set bit of a non-zero word. */
static __always_inline __u32 sdt_lowest_bit(__u64 w)
{
	__u32 pos = 0;

	if (!(w & 0xffffffffULL)) { pos += 32; w >>= 32; }
	if (!(w & 0xffffULL)) { pos += 16; w >>= 16; }
	if (!(w & 0xffULL)) { pos += 8; w >>= 8; }
	if (!(w & 0xfULL)) { pos += 4; w >>= 4; }
	if (!(w & 0x3ULL)) { pos += 2; w >>= 2; }
	if (!(w & 0x1ULL)) pos += 1;
	return pos;
}

/* First clear bit of a node's bitmap, SDT_FANOUT when full. */
static __always_inline __u64 sdt_first_clear(struct sdt_desc __arena *desc)
{
	__u64 word;
	int i;

	for (i = 0; i < SDT_BITMAP_WORDS; i++) {
		word = ~desc->allocated[i];
		if (word)
			return i * 64 + sdt_lowest_bit(word);
	}
	return SDT_FANOUT;
}

static __always_inline void sdt_set_bit(struct sdt_desc __arena *desc,
					__u64 pos, bool on)
{
	__u64 mask = 1ULL << (pos & 63);
	__u64 w = (pos / 64) & (SDT_BITMAP_WORDS - 1);

	if (on)
		desc->allocated[w] |= mask;
	else
		desc->allocated[w] &= ~mask;
}

static int sdt_allocator_init(struct scx_allocator *alloc, __u64 payload_size)
{
	__u64 elem_size = (payload_size + sizeof(struct sdt_data) + 7) & ~7ULL;
	__u64 slab_pages = (SDT_MIN_ELEMS_PER_SLAB * elem_size + PAGE_SIZE - 1) /
			   PAGE_SIZE;
	struct sdt_desc __arena *root;
	int ret;

	ret = sdt_pool_init(&sdt_chunk_pool, sizeof(struct sdt_chunk), 1);
	if (ret)
		return ret;
	ret = sdt_pool_init(&sdt_desc_pool, sizeof(struct sdt_desc), 1);
	if (ret)
		return ret;
	ret = sdt_pool_init(&alloc->pool, elem_size, slab_pages);
	if (ret)
		return ret;

	bpf_spin_lock(&sdt_lock);
	root = sdt_node_new();
	alloc->root = root;
	bpf_spin_unlock(&sdt_lock);
	return root ? 0 : -ENOMEM;
}

/* Takes the lowest free index; NULL when out of memory or full. */
static struct sdt_data __arena *sdt_alloc(struct scx_allocator *alloc)
{
	struct sdt_desc __arena *path[SDT_LEVELS];
	struct sdt_desc __arena *desc, *child;
	struct sdt_data __arena *data = NULL;
	__u64 pos[SDT_LEVELS];
	__u64 idx = 0, p;
	int lvl;

	bpf_spin_lock(&sdt_lock);
	desc = alloc->root;
	for (lvl = 0; lvl < SDT_LEVELS; lvl++) {
		if (!desc)
			goto out;
		p = sdt_first_clear(desc);
		if (p >= SDT_FANOUT)
			goto out;
		path[lvl] = desc;
		pos[lvl] = p;
		idx = (idx << SDT_SHIFT) | p;
		if (lvl == SDT_LEVELS - 1)
			break;
		child = desc->chunk->descs[p];
		if (!child) {
			child = sdt_node_new();
			if (!child)
				goto out;
			desc->chunk->descs[p] = child;
		}
		desc = child;
	}

	data = desc->chunk->data[p];
	if (!data) {
		data = sdt_pool_take(&alloc->pool);
		if (!data)
			goto out;
		desc->chunk->data[p] = data;
	}

	/* Leaf upward: a parent's bit means its child subtree is full. */
	for (lvl = SDT_LEVELS - 1; lvl >= 0; lvl--) {
		sdt_set_bit(path[lvl], pos[lvl], true);
		path[lvl]->nr_free--;
		if (path[lvl]->nr_free > 0)
			break;
	}
	data->tid.idx = idx;
out:
	bpf_spin_unlock(&sdt_lock);
	return data;
}

/* Releases index `idx`: bumps genn, zeroes the payload, clears bits. */
static int sdt_free(struct scx_allocator *alloc, __u64 idx)
{
	struct sdt_desc __arena *path[SDT_LEVELS];
	struct sdt_desc __arena *desc;
	struct sdt_data __arena *data;
	__u64 pos[SDT_LEVELS];
	__u64 words, i;
	__s32 genn;
	int lvl, ret = 0;

	bpf_spin_lock(&sdt_lock);
	desc = alloc->root;
	for (lvl = 0; lvl < SDT_LEVELS; lvl++) {
		if (!desc) {
			ret = -EINVAL;
			goto out;
		}
		path[lvl] = desc;
		pos[lvl] = (idx >> ((SDT_LEVELS - 1 - lvl) * SDT_SHIFT)) &
			   (SDT_FANOUT - 1);
		if (lvl == SDT_LEVELS - 1)
			break;
		desc = desc->chunk->descs[pos[lvl]];
	}

	data = desc->chunk->data[pos[SDT_LEVELS - 1]];
	if (data) {
		genn = data->tid.genn;
		data->tid.val = 0;
		data->tid.genn = genn + 1;
		words = (alloc->pool.elem_size - sizeof(struct sdt_data)) / 8;
		/* volatile: keeps clang from turning this into memset(),
		 * which BPF cannot call. */
		for (i = 0; i < SDT_MAX_PAYLOAD_WORDS && i < words; i++)
			*(volatile __u64 __arena *)&data->payload[i] = 0;
	}

	/* Go up only while this level just stopped being full. */
	for (lvl = SDT_LEVELS - 1; lvl >= 0; lvl--) {
		sdt_set_bit(path[lvl], pos[lvl], false);
		path[lvl]->nr_free++;
		if (path[lvl]->nr_free != 1)
			break;
	}
out:
	bpf_spin_unlock(&sdt_lock);
	return ret;
}

#endif /* KTVM_TESTS_SCHEDULERS_SDT_ALLOC_BPF_H_ */
