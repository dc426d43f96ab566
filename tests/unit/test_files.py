import json

import pytest

from llm_engineering.files import atomic_text, staged_folder, write_json_atomic


def test_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "report.json"
    write_json_atomic(target, {"version": 1, "note": "한국어"})
    with pytest.raises(RuntimeError), atomic_text(target) as stream:
        stream.write('{"version": 2')
        raise RuntimeError("crash mid-write")
    assert json.loads(target.read_text(encoding="utf-8")) == {"version": 1, "note": "한국어"}
    assert "한국어" in target.read_text(encoding="utf-8")
    assert [p.name for p in tmp_path.iterdir()] == ["report.json"]


def test_staged_folder_replaces_the_target_only_on_success(tmp_path):
    target = tmp_path / "dataset"
    with staged_folder(target) as staging:
        (staging / "a.txt").write_text("first")
    with pytest.raises(ValueError), staged_folder(target) as staging:
        (staging / "b.txt").write_text("half")
        raise ValueError("stopped")
    assert sorted(p.name for p in target.iterdir()) == ["a.txt"]
    with staged_folder(target) as staging:
        (staging / "c.txt").write_text("second")
    assert sorted(p.name for p in target.iterdir()) == ["c.txt"]
    assert [p.name for p in tmp_path.iterdir()] == ["dataset"]
