#!/usr/bin/env python3
"""Reads a ktvm FailureDumpReport from Python: an example downstream consumer.

Uses failure_dump_pb2, generated from proto/failure_dump.proto by protoc
(`bazel build //tools/dumpview:failure_dump_pb2`; needs python3-protobuf).

    python3 tools/dumpview/read_report.py report.ktvm-dump
    python3 tools/dumpview/read_report.py --json report.ktvm-dump | jq .sdt

As a module: read_report(path) -> FailureDumpReport, summarize(report) -> dict,
rendered_to_python(RenderedValue) -> plain Python value.
"""

import argparse
import json
import os
import sys


def _import_pb2():
    """Finds failure_dump_pb2: already importable, $KTVM_PB2_DIR, next to
    this script, or the Bazel output tree of the checkout it lives in."""
    here = os.path.dirname(os.path.abspath(__file__))
    candidates = [os.environ.get("KTVM_PB2_DIR"), here,
                  os.path.join(here, "..", "..", "bazel-bin", "tools", "dumpview")]
    try:
        import failure_dump_pb2  # noqa: F401
    except ImportError:
        for directory in candidates:
            if directory and os.path.exists(
                    os.path.join(directory, "failure_dump_pb2.py")):
                sys.path.insert(0, directory)
                break
    import failure_dump_pb2
    return failure_dump_pb2


pb2 = _import_pb2()

from google.protobuf import json_format  # noqa: E402


class ReportError(Exception):
    """The file is missing, corrupt, or not a ktvm report."""


def parse_report(data):
    """Parses binary or proto3 JSON bytes.

    A binary report starts with its header's tag, 0x0a (a newline), then the
    header's length: a 123-byte header reads "\\n{" like indented JSON. So
    bytes starting with the tag are tried as binary first, as JSON only
    when that fails.
    """
    report = pb2.FailureDumpReport()
    looks_like_json = data.lstrip()[:1] == b"{"
    binary_error = None
    if data[:1] == b"\n":
        try:
            report.ParseFromString(data)
            if report.HasField("header"):
                return report
        except Exception as e:  # DecodeError; the C++ backend raises others.
            binary_error = ReportError(f"not a valid binary report: {e}")
        report.Clear()
    if looks_like_json:
        try:
            json_format.Parse(data.decode("utf-8"), report,
                              ignore_unknown_fields=True)
        except (json_format.ParseError, UnicodeDecodeError) as e:
            # Failing both ways: more likely a cut binary report.
            if binary_error is not None:
                raise binary_error from e
            raise ReportError(f"not a valid JSON report: {e}") from e
    elif binary_error is not None:
        raise binary_error
    elif data[:1] != b"\n":
        try:
            report.ParseFromString(data)
        except Exception as e:  # DecodeError; the C++ backend raises others.
            raise ReportError(f"not a valid binary report: {e}") from e
    if not report.HasField("header"):
        raise ReportError("no report header: not a ktvm report")
    return report


def read_report(path):
    with open(path, "rb") as f:
        return parse_report(f.read())


def rendered_to_python(value):
    """A RenderedValue as plain Python: structs -> dict, arrays -> list,
    pointers -> {"address", "target"}, bytes -> hex string."""
    kind = value.WhichOneof("kind")
    if kind is None:
        return None
    if kind in ("int_value", "uint_value", "bool_value", "char_value",
                "float_value"):
        return getattr(value, kind)
    if kind == "enum_value":
        return value.enum_value.variant or value.enum_value.value
    if kind == "struct_value":
        return {m.name or f"<anon@{m.bit_offset}>": rendered_to_python(m.value)
                for m in value.struct_value.members}
    if kind == "array_value":
        return [rendered_to_python(e) for e in value.array_value.elements]
    if kind == "pointer_value":
        p = value.pointer_value
        return {"address": p.address,
                "target": rendered_to_python(p.target)
                if p.HasField("target") else None}
    if kind == "bytes_value":
        return value.bytes_value.hex()
    if kind == "truncated":
        return rendered_to_python(value.truncated.partial)
    if kind == "unsupported":
        return {"unsupported": value.unsupported.reason}
    if kind == "cpu_list":
        return list(value.cpu_list.cpus)
    return None


def _enum_name(enum_type, number):
    try:
        return enum_type.Name(number)
    except ValueError:
        return f"unknown({number})"


def summarize(report):
    """The parts a CI job usually wants, as JSON-serialisable data."""
    exit_info = report.scx_exit
    return {
        "trigger": _enum_name(pb2.TriggerKind, report.trigger.kind),
        "backend": _enum_name(pb2.Backend, report.header.backend),
        "kernel_release": report.header.kernel_release,
        "scx_exit": {
            "kind": _enum_name(pb2.ScxExitKind, exit_info.kind),
            "kind_value": exit_info.kind_value,
            "msg": exit_info.msg,
            "backtrace": [f.symbol or hex(f.address)
                          for f in exit_info.backtrace],
        },
        "maps": [m.name for m in report.bpf_maps],
        "sdt": {
            a.allocator_name: [
                {"idx": e.idx, "genn": e.genn,
                 "payload": rendered_to_python(e.payload)}
                for e in a.entries]
            for a in report.sdt_allocators
        },
        "diagnostics": [f"{d.subject}: {d.reason}" for d in report.diagnostics],
    }


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("report")
    parser.add_argument("--json", action="store_true",
                        help="print the summary as JSON")
    args = parser.parse_args(argv)
    try:
        report = read_report(args.report)
    except OSError as e:
        print(f"read_report: error: {e}", file=sys.stderr)
        return 3
    except ReportError as e:
        print(f"read_report: error: {args.report}: {e}", file=sys.stderr)
        return 4
    summary = summarize(report)
    if args.json:
        json.dump(summary, sys.stdout, indent=2)
        print()
        return 0
    print(f"{summary['trigger']}: {summary['scx_exit']['kind']} "
          f"{summary['scx_exit']['msg']}")
    for name, entries in summary["sdt"].items():
        print(f"sdt {name}: {len(entries)} live")
        for e in entries:
            print(f"  idx={e['idx']} genn={e['genn']} payload={e['payload']}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
