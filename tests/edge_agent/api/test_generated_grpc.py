"""Given the committed gRPC code, regenerating it from the protocol's .proto with the pinned grpcio-tools gives the
same files, so nobody hand-edits generated code and the .proto stays the source."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
API = Path("edge_agent") / "api"
GENERATED = ("grpc_predict_v2_pb2.py", "grpc_predict_v2_pb2.pyi", "grpc_predict_v2_pb2_grpc.py")


def test_regenerating_from_the_proto_gives_the_committed_files(tmp_path: Path) -> None:
    # Given only the .proto at its place in the package
    (tmp_path / API).mkdir(parents=True)
    shutil.copy(REPO / API / "grpc_predict_v2.proto", tmp_path / API)
    # When grpcio-tools compiles it the way the committed files were made
    done = subprocess.run(
        [
            sys.executable, "-m", "grpc_tools.protoc", "-I.", "--python_out=.", "--pyi_out=.", "--grpc_python_out=.",
            str(API / "grpc_predict_v2.proto"),
        ],
        cwd=tmp_path, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    # Then every generated file is byte for byte the committed one
    for name in GENERATED:
        assert (tmp_path / API / name).read_bytes() == (REPO / API / name).read_bytes(), name
