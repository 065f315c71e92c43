/*
 * scx_allocator only as a forward declaration: the walker cannot know where
 * pool and root are and must say so.
 */
#define SDT_FIXTURE_FWD_ALLOCATOR
#include "sdt_types_fixture.h"

struct scx_allocator *allocator_ptr;
struct sdt_desc desc_anchor;
struct sdt_chunk chunk_anchor;
struct sdt_data data_anchor;
struct sdt_pool pool_anchor;

char _license[] __attribute__((section("license"), used)) = "GPL";
