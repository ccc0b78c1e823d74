"""Generates the Python gRPC stubs from ../proto into this folder (package `ventros.v1`).

    python agents/scripts/generate_protos.py [OUT_DIR]

Uses grpcio-tools' bundled protoc (no system protoc). tests/test_protos.py fails when the
committed stubs differ from what this produces.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import grpc_tools
from grpc_tools import protoc

AGENTS = Path(__file__).resolve().parent.parent
PROTO_ROOT = AGENTS.parent / "proto"
PROTOS = ["ventros/v1/agent.proto", "ventros/v1/memory.proto"]


def generate(out_dir: Path) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    well_known = Path(grpc_tools.__file__).parent / "_proto"
    args = [
        "protoc",
        f"-I{PROTO_ROOT}",
        f"-I{well_known}",
        f"--python_out={out_dir}",
        f"--pyi_out={out_dir}",
        f"--grpc_python_out={out_dir}",
        *PROTOS,
    ]
    if protoc.main(args) != 0:
        raise SystemExit("protoc failed")
    for grpc_module in (out_dir / "ventros" / "v1").glob("*_pb2_grpc.py"):
        grpc_module.write_text(_without_servicer_bases(grpc_module.read_text()))
    for package in (out_dir / "ventros", out_dir / "ventros" / "v1"):
        init = package / "__init__.py"
        if not init.exists():
            init.write_text(
                '"""Generated from proto/ by agents/scripts/generate_protos.py; do not edit."""\n'
            )


def _without_servicer_bases(source: str) -> str:
    """Drops grpcio-tools' `class <Service>Servicer` bases: every method of theirs only answers
    UNIMPLEMENTED. Our servicers implement each rpc themselves, and `add_<Service>Servicer_to_server`
    reads every method by name, so a missing rpc fails at startup instead of at the first call."""
    pattern = re.compile(
        r"^class \w+Servicer(?:\(object\))?:\n.*?(?=^def add_\w+Servicer_to_server)", re.S | re.M
    )
    stripped, count = pattern.subn("", source)
    if count != 1:
        raise SystemExit("expected exactly one generated servicer base class")
    return stripped


if __name__ == "__main__":
    generate(Path(sys.argv[1]) if len(sys.argv) > 1 else AGENTS)
