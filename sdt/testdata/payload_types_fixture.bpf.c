/*
 * Structs whose sizes collide, for payload-type discovery: each size has
 * the candidates that exercise one step of the name-pattern order.
 */
typedef unsigned long long u64;

/* 16 bytes: the exact name task_ctx beats every suffix pattern. */
struct task_ctx { u64 a, b; };
struct a_task_ctx { u64 a, b; };
struct b_arena_ctx { u64 a, b; };

/* 24 bytes: two *_arena_ctx tie, so the next pattern (*_task_ctx) decides. */
struct x_arena_ctx { u64 a, b, c; };
struct y_arena_ctx { u64 a, b, c; };
struct z_task_ctx { u64 a, b, c; };

/* 32 bytes: two *_ctx and nothing more specific: ambiguous. */
struct p_ctx { u64 a, b, c, d; };
struct q_ctx { u64 a, b, c, d; };

/* 40 bytes: a single candidate wins whatever its name. */
struct only_one { u64 a, b, c, d, e; };

/* 48 bytes: no name pattern at all: ambiguous. */
struct m_stats { u64 a[6]; };
struct n_stats { u64 a[6]; };

/* 56 bytes: a struct named after the allocator variable "dsq_allocator"
 * beats a *_arena_ctx of the same size. */
struct dsq_ctx { u64 a[7]; };
struct w_arena_ctx { u64 a[7]; };

struct task_ctx v1;
struct a_task_ctx v2;
struct b_arena_ctx v3;
struct x_arena_ctx v4;
struct y_arena_ctx v5;
struct z_task_ctx v6;
struct p_ctx v7;
struct q_ctx v8;
struct only_one v9;
struct m_stats v10;
struct n_stats v11;
struct dsq_ctx v12;
struct w_arena_ctx v13;

char _license[] __attribute__((section("license"), used)) = "GPL";
