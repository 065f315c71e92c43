"""A repository of Debian's Abseil: one cc_library per absl_*.pc file.

Target names drop the "absl_" prefix: absl_status.pc -> @absl//:status.
Link flags come from pkg-config, so each target carries its whole closure.
Headers are listed (not added with `includes`) so that #include_next in
/usr/include keeps working under local spawns.
"""

def _absl_repository_impl(ctx):
    ctx.symlink("/usr/include/absl", "absl")
    listed = ctx.execute(["pkg-config", "--list-all"])
    if listed.return_code != 0:
        fail("pkg-config --list-all failed: " + listed.stderr)
    modules = []
    for line in listed.stdout.split("\n"):
        name = line.split(" ")[0]
        if name.startswith("absl_"):
            modules.append(name[len("absl_"):])
    if not modules:
        fail("no absl_*.pc files found: install libabsl-dev (tools/setup.sh)")
    build = [
        'package(default_visibility = ["//visibility:public"])',
        "",
        "cc_library(",
        '    name = "headers",',
        '    hdrs = glob(["absl/**/*.h", "absl/**/*.inc"]),',
        ")",
        "",
    ]
    for m in sorted(modules):
        libs = ctx.execute(["pkg-config", "--libs", "absl_" + m])
        if libs.return_code != 0:
            fail("pkg-config --libs absl_%s failed: %s" % (m, libs.stderr))
        flags = [f for f in libs.stdout.strip().split(" ") if f and not f.startswith("-L")]
        build += [
            "cc_library(",
            '    name = "%s",' % m,
            '    deps = [":headers"],',
            "    linkopts = %s," % repr(flags + ["-pthread"]),
            ")",
            "",
        ]
    ctx.file("BUILD.bazel", "\n".join(build))
    ctx.file("WORKSPACE", 'workspace(name = "%s")\n' % ctx.name)

absl_repository = repository_rule(
    implementation = _absl_repository_impl,
    local = True,
)
