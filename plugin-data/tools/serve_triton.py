#!/usr/bin/env python3
# SPDX-License-Identifier: MIT OR Apache-2.0
"""Run a real NVIDIA Triton Inference Server (the `tritonserver` 2.51 binary of the nvidia-pytriton wheel) on a
model repository written by `ghost-models triton-repo --backend python`: the models run onnxruntime inside Triton's
python-backend stub processes. For the tests (tests/triton.rs) and the benchmark (examples/bench_triton.rs).

    serve_triton.py REPO [--host 127.0.0.1] [--grpc-port 0] [--http-port 0] [--metrics-port 0]
                    [--exit-on-stdin-eof] [--log-verbose 0] [--ready-timeout 120]

Ports of 0 are chosen free here. Prints one line on stdout when every model is ready:
    READY grpc=HOST:PORT http=HOST:PORT metrics=HOST:PORT pid=PID shm_prefix=P work=DIR models=a,b,...
(tritonserver's own log goes to stderr). SIGTERM / SIGINT / EOF on stdin (with --exit-on-stdin-eof: a parent that
dies closes the pipe) stop it cleanly. Run it with the python of the venv that ./ghost.sh makes (Debian's python3
with nvidia-pytriton, onnxruntime, numpy): the stub links libpython3.X.so and imports numpy and onnxruntime from
that venv, which it finds through PATH (set here).

When this script leads its process group (the tests start it so), it kills whatever is left in the group at the
end: python-backend stubs can outlive a tritonserver that was killed.
"""

import argparse
import json
import os
import pathlib
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

import pytriton

DIST = pathlib.Path(pytriton.__file__).parent / "tritonserver"


def free_port(host):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def backend_dir(tmp):
    """backends/python with the stub built for this interpreter's Python version (the wheel ships one per version)."""
    version = f"{sys.version_info[0]}.{sys.version_info[1]}"
    python = tmp / "backends" / "python"
    python.mkdir(parents=True)
    for f in ("libtriton_python.so", "triton_python_backend_utils.py"):
        os.symlink(DIST / "backends" / "python" / f, python / f)
    stub = DIST / "python_backend_stubs" / version / "triton_python_backend_stub"
    os.symlink(stub, python / "triton_python_backend_stub")
    return tmp / "backends"


def reap_group():
    """SIGKILL every other process of our process group (when we lead it)."""
    me = os.getpid()
    if os.getpgrp() != me:
        return
    for entry in pathlib.Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == me:
            continue
        try:
            if os.getpgid(int(entry.name)) == me:
                os.kill(int(entry.name), signal.SIGKILL)
        except OSError:
            pass


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("repo", type=pathlib.Path)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--grpc-port", type=int, default=0)
    ap.add_argument("--http-port", type=int, default=0)
    ap.add_argument("--metrics-port", type=int, default=0)
    ap.add_argument("--exit-on-stdin-eof", action="store_true")
    ap.add_argument("--log-verbose", type=int, default=0)
    ap.add_argument("--ready-timeout", type=float, default=120)
    args = ap.parse_args()
    ports = {
        k: v or free_port(args.host)
        for k, v in (("grpc", args.grpc_port), ("http", args.http_port), ("metrics", args.metrics_port))
    }
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="ghost-triton-"))
    env = dict(os.environ)
    # The stub embeds libpython, which finds its prefix through the first `python3` on PATH: the venv's bin first
    # makes the stub see the venv's site-packages (numpy, onnxruntime). PYTHONPATH alone is not enough.
    env["PATH"] = os.pathsep.join([str(pathlib.Path(sys.executable).parent), env.get("PATH", "")])
    # A prefix of our own for the python backend's shared-memory regions: servers side by side must not collide,
    # and what a killed server leaves is removed below.
    prefix = f"ghost-triton-{os.getpid()}-{secrets.token_hex(4)}-"
    cmd = [
        str(DIST / "bin" / "tritonserver"),
        f"--model-repository={args.repo.resolve()}",
        f"--backend-directory={backend_dir(tmp)}",
        f"--cache-directory={DIST / 'caches'}",
        f"--backend-config=python,shm-region-prefix-name={prefix}",
        f"--grpc-address={args.host}",
        f"--grpc-port={ports['grpc']}",
        f"--http-address={args.host}",
        f"--http-port={ports['http']}",
        f"--metrics-address={args.host}",
        f"--metrics-port={ports['metrics']}",
        "--allow-gpu-metrics=false",
        "--strict-readiness=true",
        "--exit-timeout-secs=5",
        f"--log-verbose={args.log_verbose}",
    ]
    # tritonserver's stdout goes to our stderr: stdout carries only the READY line.
    proc = subprocess.Popen(
        cmd, env=env, stdout=sys.stderr, stderr=sys.stderr, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL)
    )
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    if args.exit_on_stdin_eof:

        def watch():
            while sys.stdin.buffer.read(4096):
                pass
            stop.set()

        threading.Thread(target=watch, daemon=True).start()
    url = f"http://{args.host}:{ports['http']}"
    try:
        deadline = time.monotonic() + args.ready_timeout
        ready = False
        while time.monotonic() < deadline and proc.poll() is None and not stop.is_set():
            try:
                with urllib.request.urlopen(f"{url}/v2/health/ready", timeout=1) as r:
                    ready = r.status == 200
            except OSError:
                pass
            if ready:
                break
            time.sleep(0.1)
        if not ready:
            print("tritonserver did not become ready", file=sys.stderr)
            return 1
        req = urllib.request.Request(f"{url}/v2/repository/index", data=b"{}", method="POST")
        with urllib.request.urlopen(req, timeout=5) as r:
            models = [m["name"] for m in json.load(r) if m.get("state") == "READY"]
        print(
            f"READY grpc={args.host}:{ports['grpc']} http={args.host}:{ports['http']} "
            f"metrics={args.host}:{ports['metrics']} pid={os.getpid()} shm_prefix={prefix} work={tmp} "
            f"models={','.join(sorted(models))}",
            flush=True,
        )
        while not stop.wait(0.2):
            if proc.poll() is not None:
                print(f"tritonserver exited with {proc.returncode}", file=sys.stderr)
                return 1
        return 0
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        shutil.rmtree(tmp, ignore_errors=True)
        reap_group()
        # The python backend's regions outlive a tritonserver that was killed; the prefix is ours alone.
        for leftover in pathlib.Path("/dev/shm").glob(f"{prefix}*"):
            leftover.unlink(missing_ok=True)


if __name__ == "__main__":
    sys.exit(main())
