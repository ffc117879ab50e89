"""Run files: atomic writes and clear errors on foreign or corrupt files."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from seqgrasp_core.errors import RunFileError, SeqGraspError
from seqgrasp_core.runs.runfile import read_run, write_run


def test_corrupt_parquet_is_a_clear_error(tmp_path):
    path = tmp_path / "broken.parquet"
    path.write_bytes(b"PAR1" + b"\x00" * 64)
    with pytest.raises(RunFileError, match="not a readable Parquet file"):
        read_run(path)


def test_foreign_parquet_is_a_clear_error(tmp_path):
    path = tmp_path / "other.parquet"
    pq.write_table(pa.table({"x": [1, 2]}), path)
    with pytest.raises(RunFileError, match="not a seqgrasp run"):
        read_run(path)


def test_write_is_atomic_and_keeps_metadata(tmp_path, monkeypatch):
    table = pa.table({c: [1] for c in ("sequence_id", "step")})
    path = tmp_path / "run.parquet"
    write_run(path, table, {"hand": "x"})
    assert pq.read_schema(path).metadata[b"seqgrasp"].startswith(b"{")

    def fail(*a, **k):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(pq, "write_table", fail)
    with pytest.raises(SeqGraspError, match="cannot write .*second.parquet .No space left"):
        write_run(tmp_path / "second.parquet", table, {})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.parquet"]
