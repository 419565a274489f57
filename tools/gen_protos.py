"""Regenerate the protobuf modules in src/restate_core/protocol from proto/.

Usage (needs the `codegen` extra: pip install -e ".[codegen]"):

    python tools/gen_protos.py          # rewrite the generated modules
    python tools/gen_protos.py --check  # exit 1 if they differ from proto/
"""

from __future__ import annotations

import argparse
import pathlib
import shutil
import sys
import tempfile

ROOT = pathlib.Path(__file__).resolve().parent.parent
PROTO_ROOT = ROOT / "proto"
PROTOS = ["restate_core/protocol/v2.proto", "restate_core/protocol/v5.proto"]
OUT = ROOT / "src"


def generate(out_dir: pathlib.Path) -> None:
    from grpc_tools import protoc  # imported here: only code generation needs it

    for proto in PROTOS:
        args = [
            "protoc",
            f"-I{PROTO_ROOT}",
            f"--python_out={out_dir}",
            f"--pyi_out={out_dir}",
            proto,
        ]
        if protoc.main(args) != 0:
            raise SystemExit(f"protoc failed for {proto}")


def generated_files(base: pathlib.Path) -> list[pathlib.Path]:
    files = []
    for proto in PROTOS:
        stem = proto.removesuffix(".proto")
        files += [base / f"{stem}_pb2.py", base / f"{stem}_pb2.pyi"]
    return files


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only compare, write nothing")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp_dir = pathlib.Path(tmp)
        generate(tmp_dir)
        stale = []
        for fresh, committed in zip(generated_files(tmp_dir), generated_files(OUT)):
            if not committed.exists() or committed.read_bytes() != fresh.read_bytes():
                stale.append(committed)
                if not args.check:
                    committed.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copyfile(fresh, committed)
    if args.check and stale:
        print("out of date:", *(str(p.relative_to(ROOT)) for p in stale), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
