#!/usr/bin/env python3
# SPDX-License-Identifier: MIT OR Apache-2.0
"""Check gst-ghost's KServe v2 / Triton protocol subset (proto/inference.proto) against the descriptors that the
`tritonclient` package ships (installed with nvidia-pytriton in the test-server venv).

Usage: check_kserve_proto.py FDS   (FDS: the encoded FileDescriptorSet that build.rs compiles; tests/triton.rs
writes it from gstghost::runtime::triton::KSERVE_DESCRIPTOR_SET)

For every service method, message, field and enum value of the subset, the reference must have the same full name,
the same field number, type, label (repeated or not) and type name; map fields must have the same key/value types.
Exits 1 on the first mismatch list, 0 when everything matches."""
import sys

from google.protobuf import descriptor_pb2, descriptor_pool
from tritonclient.grpc import service_pb2  # noqa: F401  (registers the reference descriptors)

ref = descriptor_pool.Default()
fds = descriptor_pb2.FileDescriptorSet.FromString(open(sys.argv[1], "rb").read())
errors, checked = [], 0


def check_message(msg, prefix):
    global checked
    full = f"{prefix}.{msg.name}"
    try:
        r = ref.FindMessageTypeByName(full)
    except KeyError:
        errors.append(f"message {full}: not in the reference")
        return
    for f in msg.field:
        rf = r.fields_by_name.get(f.name)
        if rf is None:
            errors.append(f"{full}.{f.name}: no such field in the reference")
            continue
        mine = (f.number, f.type, f.label == f.LABEL_REPEATED, f.type_name.lstrip("."))
        theirs = (
            rf.number,
            rf.type,
            rf.is_repeated,
            (rf.message_type or rf.enum_type).full_name if (rf.message_type or rf.enum_type) else "",
        )
        if mine != theirs:
            errors.append(f"{full}.{f.name}: (number, type, repeated, type name) {mine} != reference {theirs}")
        checked += 1
    for n in msg.nested_type:
        check_message(n, full)
    for e in msg.enum_type:
        check_enum(e, full)


def check_enum(enum, prefix):
    global checked
    full = f"{prefix}.{enum.name}"
    try:
        r = ref.FindEnumTypeByName(full)
    except KeyError:
        errors.append(f"enum {full}: not in the reference")
        return
    for v in enum.value:
        rv = r.values_by_name.get(v.name)
        if rv is None or rv.number != v.number:
            errors.append(f"{full}.{v.name} = {v.number}: reference has {rv.number if rv else 'none'}")
        checked += 1


for fd in fds.file:
    pkg = fd.package
    for s in fd.service:
        rs = ref.FindServiceByName(f"{pkg}.{s.name}")
        for m in s.method:
            rm = rs.methods_by_name.get(m.name)
            if rm is None:
                errors.append(f"rpc {s.name}.{m.name}: not in the reference")
                continue
            if (m.input_type.lstrip("."), m.output_type.lstrip(".")) != (
                rm.input_type.full_name,
                rm.output_type.full_name,
            ):
                errors.append(f"rpc {m.name}: types differ from the reference")
            if m.client_streaming or m.server_streaming:
                errors.append(f"rpc {m.name}: streaming differs")
            checked += 1
    for msg in fd.message_type:
        check_message(msg, pkg)
    for e in fd.enum_type:
        check_enum(e, pkg)

if errors:
    print("\n".join(errors))
    sys.exit(1)
print(f"OK: {checked} RPCs, fields and enum values match the tritonclient descriptors")
