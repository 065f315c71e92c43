"""ktvm_test: kernel + scheduler + workload + expectations as a test target.

Boots the project's Debian kernel (@kernel//:bzImage) under the QEMU TCG
backend with ktvm's init and //tests/schedulers:ktvm_fifo, runs `run` in the
guest and checks the kernel console, the workload's and the scheduler's exit
statuses and how the guest ended.
"""

def ktvm_test(
        name,
        run,
        scheduler = "//tests/schedulers:ktvm_fifo",
        scheduler_args = [],
        with_scheduler = True,
        expect_console = [],
        expect_workload_status = 0,
        expect_scheduler_status = -1,
        expect_exit = "poweroff",
        expect_events = [],
        expect_no_events = [],
        enable_timeout_ms = 30000,
        extra_cmdline = "",
        cpus = 2,
        memory_mib = 512,
        tags = [],
        **kwargs):
    for text in expect_console:
        if "," in text:
            fail("ktvm_test %s: expect_console entries cannot contain ','" % name)
    native.cc_test(
        name = name,
        size = "large",
        timeout = "moderate",
        args = [
            "--with_scheduler=%s" % ("true" if with_scheduler else "false"),
            "--scheduler=$(rootpath %s)" % scheduler,
            "--sched_args='%s'" % " ".join(scheduler_args),
            "--run='%s'" % run.replace("$", "$$").replace("'", "'\\''"),
            "--expect_console='%s'" % ",".join(expect_console),
            "--expect_workload_status=%d" % expect_workload_status,
            "--expect_scheduler_status=%d" % expect_scheduler_status,
            "--expect_exit=%s" % expect_exit,
            "--expect_event=%s" % ",".join(expect_events),
            "--expect_no_event=%s" % ",".join(expect_no_events),
            "--enable_timeout_ms=%d" % enable_timeout_ms,
            "--extra_cmdline='%s'" % extra_cmdline.replace("$", "$$"),
            "--cpus=%d" % cpus,
            "--memory_mib=%d" % memory_mib,
        ],
        data = depset([
            scheduler,
            "//tests/schedulers:ktvm_fifo",
            "//vmm/guest:init",
            "@kernel//:VERSION",
            "@kernel//:bzImage",
        ]).to_list(),
        tags = ["qemu"] + tags,
        deps = ["//tests/e2e:guest_expectations_main"],
        **kwargs
    )
