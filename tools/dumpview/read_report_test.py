#!/usr/bin/env python3
"""A downstream Python script reads reports the C++ writer wrote, and the C++
reader (dumpview) reads a report Python wrote. Paths come from the
environment (set by read_report_py_test.sh)."""

import json
import os
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.environ["KTVM_READ_REPORT"]))
import read_report  # noqa: E402
from google.protobuf import json_format  # noqa: E402

pb2 = read_report.pb2
BINARY = os.environ["KTVM_FIXTURE_BINARY"]
JSON = os.environ["KTVM_FIXTURE_JSON"]
DUMPVIEW = os.environ["KTVM_DUMPVIEW"]
# The value ktvm_fifo writes into every task context
# (tests/schedulers/ktvm_fifo.h KTVM_TASK_MAGIC).
TASK_MAGIC = 0xFEEDC0DE


class ReadReportTest(unittest.TestCase):

    def test_binary_and_json_give_the_same_message(self):
        self.assertEqual(read_report.read_report(BINARY),
                         read_report.read_report(JSON))

    def test_fields_and_enums(self):
        r = read_report.read_report(BINARY)
        self.assertEqual(r.header.format_version, pb2.FORMAT_VERSION_1)
        self.assertEqual(r.trigger.kind, pb2.TRIGGER_KIND_SCHED_EXT_ERROR)
        self.assertEqual(pb2.ScxExitKind.Name(r.scx_exit.kind),
                         "SCX_EXIT_ERROR_BPF")
        self.assertEqual(r.scx_exit.kind_value, 1025)
        self.assertIn("error after", r.scx_exit.msg)
        self.assertTrue(r.scx_exit.backtrace[0].symbol.startswith(
            "scx_bpf_error"))
        self.assertEqual(len(r.vcpus), r.header.vcpu_count)
        self.assertTrue(all(v.HasField("x86_64") for v in r.vcpus))
        types = {m.name: pb2.BpfMapType.Name(m.type) for m in r.bpf_maps}
        self.assertEqual(types["arena"], "BPF_MAP_TYPE_ARENA")
        arena = next(m.arena for m in r.bpf_maps if m.HasField("arena"))
        self.assertTrue(all(len(p.data) == arena.page_size
                            for p in arena.pages))

    def test_sdt_entries_decode_to_named_fields(self):
        summary = read_report.summarize(read_report.read_report(BINARY))
        tasks = summary["sdt"]["task_allocator"]
        self.assertGreater(len(tasks), 0)
        self.assertEqual(len({e["idx"] for e in tasks}), len(tasks))
        for e in tasks:
            self.assertEqual(set(e["payload"]), {"pid", "magic", "counter"})
            self.assertEqual(e["payload"]["magic"], TASK_MAGIC)
            self.assertGreaterEqual(e["genn"], 0)
        self.assertIn("BPF_MAP_TYPE", repr(pb2.BpfMapType.keys()))
        json.dumps(summary)  # Serialisable for CI tooling.

    def test_cpp_json_equals_python_view_of_binary(self):
        cpp_json = subprocess.run([DUMPVIEW, "--format=json", BINARY],
                                  check=True, capture_output=True).stdout
        python_view = json_format.MessageToDict(
            read_report.read_report(BINARY))
        self.assertEqual(json.loads(cpp_json), python_view)

    def test_dumpview_reads_a_report_python_wrote(self):
        r = pb2.FailureDumpReport()
        r.header.format_version = pb2.FORMAT_VERSION_1
        r.trigger.kind = pb2.TRIGGER_KIND_STALL
        r.scx_exit.kind = pb2.SCX_EXIT_ERROR_STALL
        r.scx_exit.kind_value = 1026
        r.scx_exit.msg = "ktvm_stall[42] failed to run for 4.464s"
        entry = r.sdt_allocators.add(allocator_name="py_alloc").entries.add()
        entry.idx, entry.genn = 7, 3
        member = entry.payload.struct_value.members.add(name="pid")
        member.value.int_value = 42
        with tempfile.NamedTemporaryFile(suffix=".ktvm-dump") as f:
            f.write(r.SerializeToString())
            f.flush()
            text = subprocess.run([DUMPVIEW, f.name], check=True,
                                  capture_output=True, text=True).stdout
        self.assertIn("== trigger: STALL", text)
        self.assertIn("SCX_EXIT_ERROR_STALL", json.dumps(
            json_format.MessageToDict(r)))
        self.assertIn("ERROR_STALL (kind 1026)", text)
        self.assertIn(r.scx_exit.msg, text)
        self.assertIn("idx=7 genn=3", text)
        self.assertIn("pid = 42", text)

    def test_every_header_length_reads_back(self):
        # A 123-byte header makes a binary report start "\n{" (JSON-like).
        for pad in range(200):
            r = read_report.read_report(BINARY)
            r.header.Clear()
            r.header.format_version = pb2.FORMAT_VERSION_1
            r.header.ktvm_version = "v" * pad
            data = r.SerializeToString()
            self.assertEqual(read_report.parse_report(data), r,
                             f"header of {r.header.ByteSize()} bytes")
            with self.assertRaisesRegex(read_report.ReportError,
                                        "not a valid binary report"):
                read_report.parse_report(data[:len(data) // 3])
        with open(JSON, "rb") as f:
            indented = b"\n  " + f.read()
        self.assertEqual(read_report.parse_report(indented),
                         read_report.read_report(BINARY))

    def test_bad_files_raise_report_error(self):
        with tempfile.NamedTemporaryFile() as f:
            with open(BINARY, "rb") as src:
                f.write(src.read()[:-100])
            f.flush()
            with self.assertRaises(read_report.ReportError):
                read_report.read_report(f.name)
        with self.assertRaises(read_report.ReportError):
            read_report.parse_report(b'{"unrelated": 1}')

    def test_command_line(self):
        out = subprocess.run(
            [sys.executable, os.environ["KTVM_READ_REPORT"], "--json", BINARY],
            check=True, capture_output=True, text=True).stdout
        summary = json.loads(out)
        self.assertEqual(summary["scx_exit"]["kind"], "SCX_EXIT_ERROR_BPF")
        self.assertEqual(summary["trigger"], "TRIGGER_KIND_SCHED_EXT_ERROR")


if __name__ == "__main__":
    unittest.main(verbosity=2)
