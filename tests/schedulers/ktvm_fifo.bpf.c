/*
 * ktvm_fifo: a global-FIFO sched_ext scheduler for ktvm's end-to-end tests.
 * Every task gets a context (struct ktvm_task_ctx) from an sdt allocator in
 * a BPF arena, so a failure dump has a real allocator tree to walk. Modes
 * (set by the loader through .rodata) inject the failures ktvm must catch.
 */
#include "vmlinux.h"

#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "ktvm_fifo.h"

#define __arena __attribute__((address_space(1)))
#define private(name) SEC(".data." #name) __hidden __attribute__((aligned(8)))
#define PAGE_SIZE 4096
#define NUMA_NO_NODE (-1)
#define EINVAL 22
#define ENOMEM 12

#define BPF_STRUCT_OPS(name, args...) \
	SEC("struct_ops/" #name) BPF_PROG(name, ##args)
#define BPF_STRUCT_OPS_SLEEPABLE(name, args...) \
	SEC("struct_ops.s/" #name) BPF_PROG(name, ##args)

/* scx_bpf_error with the kfunc's (format, u64 array) calling convention. */
#define ktvm_error2(fmt, a, b)                                        \
	({                                                            \
		static char ___fmt[] = fmt;                           \
		unsigned long long ___param[2] = { (a), (b) };        \
		scx_bpf_error_bstr(___fmt, ___param, sizeof(___param)); \
	})

char _license[] SEC("license") = "GPL";

#define SHARED_DSQ 0

const volatile __u32 mode = KTVM_MODE_OK;
const volatile __u64 error_after_enqueues = 1000;
const volatile char stall_comm[16] = "ktvm_stall";

struct {
	__uint(type, BPF_MAP_TYPE_ARENA);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, 1 << 12); /* pages */
	__ulong(map_extra, 1ULL << 44); /* user-space start address */
} arena SEC(".maps");

#include "sdt_alloc.bpf.h"

/* Per-task pointer to its context in the arena. */
struct task_slot {
	__s64 tid; /* union sdt_id at allocation time */
	struct sdt_data __arena *data;
};

struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct task_slot);
} task_slots SEC(".maps");

/* Enqueues per pid, counted on the enqueuing CPU: gives failure dumps a
 * PERCPU_HASH to render (one value per CPU per pid). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, 4096);
	__type(key, __s32);
	__type(value, __u64);
} enqueues_by_pid SEC(".maps");

/* The pids of the last KTVM_RECENT_PIDS enqueues, oldest first (a push to
 * the full queue drops the oldest): a QUEUE map for failure dumps. */
struct {
	__uint(type, BPF_MAP_TYPE_QUEUE);
	__uint(max_entries, KTVM_RECENT_PIDS);
	__type(value, __s32);
} recent_pids SEC(".maps");

/* The allocator of every task context (named so a dump can find it). */
struct scx_allocator task_allocator;

/* Counters in .bss, read by the loader and by failure dumps. */
__u64 nr_live_tasks;
__u64 nr_enqueues;
__u64 nr_dispatches;
__u64 nr_stall_drops;
__u64 nr_alloc_failures;

/* The context of the task that exited last, copied before its slot is
 * freed. Also puts struct ktvm_task_ctx into the program BTF, where a dump
 * looks for the allocator's payload type (locals alone do not). */
struct ktvm_task_ctx last_exited_task;

/* Filled by ops.exit for the loader. */
__u32 exited;
__s64 exit_kind;
__s64 exit_code;
char exit_reason[128];
char exit_msg[1024];

/* The verifier ties arena accesses to a program only when the program
 * loads the arena map's address; this makes every caller do so. */
static __always_inline void use_arena(void)
{
	asm volatile("" ::"r"(&arena));
}

static struct ktvm_task_ctx __arena *task_ctx(struct task_struct *p)
{
	struct task_slot *slot = bpf_task_storage_get(&task_slots, p, 0, 0);
	struct sdt_data __arena *data;

	if (!slot)
		return NULL;
	data = slot->data;
	if (!data)
		return NULL;
	return (struct ktvm_task_ctx __arena *)data->payload;
}

static bool is_stall_target(struct task_struct *p)
{
	int i;

	for (i = 0; i < 16; i++) {
		char c = p->comm[i];

		if (c != stall_comm[i])
			return false;
		if (!c)
			return true;
	}
	return true;
}

static void count_enqueue(__s32 pid)
{
	__u64 one = 1, *count;

	count = bpf_map_lookup_elem(&enqueues_by_pid, &pid);
	if (count)
		(*count)++;
	else
		bpf_map_update_elem(&enqueues_by_pid, &pid, &one, BPF_NOEXIST);
	bpf_map_push_elem(&recent_pids, &pid, BPF_EXIST);
}

void BPF_STRUCT_OPS(ktvm_enqueue, struct task_struct *p, __u64 enq_flags)
{
	struct ktvm_task_ctx __arena *tctx;
	__u64 n;

	use_arena();
	n = __sync_fetch_and_add(&nr_enqueues, 1) + 1;
	tctx = task_ctx(p);
	if (tctx)
		tctx->counter++;
	count_enqueue(p->pid);

	if (mode == KTVM_MODE_ERROR && n == error_after_enqueues)
		ktvm_error2("injected error after %llu enqueues (pid %d)",
			    n, p->pid);

	if (mode == KTVM_MODE_STALL && is_stall_target(p)) {
		/* Dropping the task leaves it runnable but never run. */
		__sync_fetch_and_add(&nr_stall_drops, 1);
		return;
	}
	scx_bpf_dsq_insert(p, SHARED_DSQ, SCX_SLICE_DFL, enq_flags);
}

void BPF_STRUCT_OPS(ktvm_dispatch, __s32 cpu, struct task_struct *prev)
{
	if (scx_bpf_dsq_move_to_local(SHARED_DSQ))
		__sync_fetch_and_add(&nr_dispatches, 1);
}

__s32 BPF_STRUCT_OPS_SLEEPABLE(ktvm_init_task, struct task_struct *p,
			       struct scx_init_task_args *args)
{
	struct ktvm_task_ctx __arena *tctx;
	struct sdt_data __arena *data;
	struct task_slot *slot;
	__s32 idx;

	use_arena();
	slot = bpf_task_storage_get(&task_slots, p, 0,
				    BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (!slot)
		return -ENOMEM;

	data = sdt_alloc(&task_allocator);
	if (data && mode == KTVM_MODE_CHURN) {
		/* Free and take the slot again: it comes back with genn + 1. */
		idx = data->tid.idx;
		sdt_free(&task_allocator, idx);
		data = sdt_alloc(&task_allocator);
	}
	if (!data) {
		__sync_fetch_and_add(&nr_alloc_failures, 1);
		ktvm_error2("sdt_alloc failed for pid %d (%d)",
			    p->pid, -ENOMEM);
		return -ENOMEM;
	}
	slot->tid = data->tid.val;
	slot->data = data;
	tctx = (struct ktvm_task_ctx __arena *)data->payload;
	tctx->pid = p->pid;
	tctx->magic = KTVM_TASK_MAGIC;
	tctx->counter = 0;
	__sync_fetch_and_add(&nr_live_tasks, 1);
	return 0;
}

void BPF_STRUCT_OPS(ktvm_exit_task, struct task_struct *p,
		    struct scx_exit_task_args *args)
{
	struct ktvm_task_ctx __arena *tctx;
	struct task_slot *slot;
	union sdt_id id;

	use_arena();
	slot = bpf_task_storage_get(&task_slots, p, 0, 0);
	if (!slot || !slot->data)
		return;
	tctx = (struct ktvm_task_ctx __arena *)slot->data->payload;
	last_exited_task.pid = tctx->pid;
	last_exited_task.magic = tctx->magic;
	last_exited_task.counter = tctx->counter;
	id.val = slot->tid;
	sdt_free(&task_allocator, id.idx);
	slot->data = NULL;
	__sync_fetch_and_sub(&nr_live_tasks, 1);
	bpf_task_storage_delete(&task_slots, p);
}

__s32 BPF_STRUCT_OPS_SLEEPABLE(ktvm_init)
{
	int ret;

	use_arena();
	ret = sdt_allocator_init(&task_allocator, sizeof(struct ktvm_task_ctx));
	if (ret) {
		ktvm_error2("allocator init failed (%d) (%d)", ret, 0);
		return ret;
	}
	return scx_bpf_create_dsq(SHARED_DSQ, -1);
}

void BPF_STRUCT_OPS(ktvm_exit, struct scx_exit_info *ei)
{
	exit_kind = ei->kind;
	exit_code = ei->exit_code;
	bpf_probe_read_kernel_str(exit_reason, sizeof(exit_reason), ei->reason);
	bpf_probe_read_kernel_str(exit_msg, sizeof(exit_msg), ei->msg);
	__sync_fetch_and_add(&exited, 1);
}

SEC(".struct_ops.link")
struct sched_ext_ops ktvm_fifo_ops = {
	.enqueue = (void *)ktvm_enqueue,
	.dispatch = (void *)ktvm_dispatch,
	.init_task = (void *)ktvm_init_task,
	.exit_task = (void *)ktvm_exit_task,
	.init = (void *)ktvm_init,
	.exit = (void *)ktvm_exit,
	.name = "ktvm_fifo",
};
