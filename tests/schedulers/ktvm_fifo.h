/* Shared between the ktvm_fifo BPF scheduler and its loader. */
#ifndef KTVM_TESTS_SCHEDULERS_KTVM_FIFO_H_
#define KTVM_TESTS_SCHEDULERS_KTVM_FIFO_H_

/* Scheduler modes, chosen by the loader before the program is loaded. */
enum ktvm_fifo_mode {
	KTVM_MODE_OK = 0,
	/* scx_bpf_error() once error_after_enqueues enqueues have happened. */
	KTVM_MODE_ERROR = 1,
	/* Never dispatch tasks whose comm equals stall_comm: the watchdog fires. */
	KTVM_MODE_STALL = 2,
	/* Every task context is allocated, freed and allocated again, so live
	 * slots carry genn > 0; tasks exiting free slots for new ones. */
	KTVM_MODE_CHURN = 3,
};

/* Written into every task context; the dump engine looks for it. */
#define KTVM_TASK_MAGIC 0xfeedc0deU

/* Entries of the recent_pids QUEUE map (the last enqueued pids). */
#define KTVM_RECENT_PIDS 8

/* The per-task payload the sdt allocator hands out (named fields so a dump
 * can render them). */
struct ktvm_task_ctx {
	int pid;
	unsigned int magic;
	unsigned long long counter; /* enqueues of this task */
};

#endif /* KTVM_TESTS_SCHEDULERS_KTVM_FIFO_H_ */
