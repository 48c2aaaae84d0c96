"""Pushes are atomic, versioned and idempotent, on a real SavedModel."""

from __future__ import annotations

import os
import shutil

import pytest

from components.versioned_pusher.push import PARTIAL_PREFIX, push_model, pushed_versions, read_push_record

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def saved_model(tmp_path_factory):
    import tensorflow as tf

    module = tf.Module()
    module.weight = tf.Variable([[2.0]] * 64)  # a few files worth copying
    module.serve = tf.function(lambda x: {"y": x * module.weight[0]},
                               input_signature=[tf.TensorSpec([None, 1], tf.float32)])
    path = tmp_path_factory.mktemp("model") / "saved"
    tf.saved_model.save(module, str(path), signatures={"serving_default": module.serve})
    return str(path)


def _clock(*times):
    values = iter(times)
    return lambda: next(values)


def test_push_creates_a_numbered_version_with_a_record(saved_model, tmp_path):
    serving = tmp_path / "serving"
    result = push_model(saved_model, str(serving), {"pipeline_run": "r1"}, clock=_clock(1000, 1000))
    assert (result.version, result.reused) == ("1000", False)
    assert pushed_versions(str(serving)) == [1000]
    assert (serving / "1000" / "saved_model.pb").is_file()
    assert read_push_record(str(serving / "1000"))["pipeline_run"] == "r1"


def test_same_model_again_reuses_the_latest_version(saved_model, tmp_path):
    serving = str(tmp_path / "serving")
    push_model(saved_model, serving, clock=_clock(1000, 1000))
    again = push_model(saved_model, serving, clock=_clock(2000, 2000))
    assert again.reused and again.version == "1000"
    assert pushed_versions(serving) == [1000]


def test_versions_increase_even_within_one_second_and_old_ones_stay(saved_model, tmp_path):
    serving = str(tmp_path / "serving")
    other = str(tmp_path / "other")
    shutil.copytree(saved_model, other)
    (tmp_path / "other" / "fingerprint.pb").write_bytes(b"a different model")
    push_model(saved_model, serving, clock=_clock(1000, 1000))
    second = push_model(other, serving, clock=_clock(1000, 1000))
    assert second.version == "1001"
    assert pushed_versions(serving) == [1000, 1001]


def test_a_copy_failing_midway_leaves_only_complete_versions(saved_model, tmp_path):
    import tensorflow as tf

    serving = tmp_path / "serving"
    push_model(saved_model, str(serving), clock=_clock(1000, 1000))

    def copy_then_fail(source, destination):
        shutil.copytree(source, destination, ignore=shutil.ignore_patterns("saved_model.pb"))
        raise OSError("disk full (injected)")

    other = tmp_path / "other"
    shutil.copytree(saved_model, other)
    (other / "fingerprint.pb").write_bytes(b"another model")
    with pytest.raises(OSError, match="injected"):
        push_model(str(other), str(serving), copy_tree=copy_then_fail, clock=_clock(2000, 2000))
    assert sorted(os.listdir(serving)) == ["1000"], "no partial or half-written version"
    loaded = tf.saved_model.load(str(serving / "1000"))
    assert float(loaded.signatures["serving_default"](x=tf.constant([[3.0]]))["y"][0][0]) == 6.0


def test_leftovers_of_a_killed_push_are_cleaned_and_never_listed(saved_model, tmp_path):
    serving = tmp_path / "serving"
    (serving / f"{PARTIAL_PREFIX}999-dead").mkdir(parents=True)
    assert pushed_versions(str(serving)) == []
    push_model(saved_model, str(serving), clock=_clock(1000, 1000))
    assert sorted(os.listdir(serving)) == ["1000"]


def test_a_version_without_its_record_is_incomplete_ignored_and_removed(saved_model, tmp_path):
    serving = tmp_path / "serving"
    push_model(saved_model, str(serving), clock=_clock(1000, 1000))
    # What a push killed mid-copy on object storage leaves: model files, no record.
    shutil.copytree(saved_model, serving / "5000", ignore=shutil.ignore_patterns("variables"))
    assert pushed_versions(str(serving)) == [1000]
    other = tmp_path / "other"
    shutil.copytree(saved_model, other)
    (other / "fingerprint.pb").write_bytes(b"another model")
    result = push_model(str(other), str(serving), clock=_clock(2000, 2000))
    assert result.version == "2000", "the incomplete 5000 does not raise the next version number"
    assert sorted(os.listdir(serving)) == ["1000", "2000"]


def test_on_object_storage_the_record_written_last_is_what_makes_a_version(saved_model, tmp_path):
    """TensorFlow's in-memory file system (ram://) has no atomic folder rename either."""
    serving = f"ram://serving-{tmp_path.name}"
    seen_mid_push = {}

    def copy_then_die(source, destination):
        from tfx.dsl.io import fileio
        from tfx.utils import io_utils

        io_utils.copy_dir(source, destination)
        # The model is all there, in its version folder, but the record is not written yet.
        seen_mid_push["files"] = fileio.exists(f"{destination}/saved_model.pb")
        seen_mid_push["versions"] = pushed_versions(serving)
        raise KeyboardInterrupt("killed after the copy, before the record")

    with pytest.raises(KeyboardInterrupt):
        push_model(saved_model, serving, copy_tree=copy_then_die, clock=_clock(1000, 1000))
    assert seen_mid_push == {"files": True, "versions": []}
    result = push_model(saved_model, serving, clock=_clock(3000, 3000))
    assert (result.version, result.reused) == ("3000", False)
    assert pushed_versions(serving) == [3000]
    assert read_push_record(f"{serving}/3000")["fingerprint"]


KILLED_PUSH = """
import shutil, sys, time
from components.versioned_pusher.push import push_model

def copy_then_hang(source, destination):
    shutil.copytree(source, destination)
    print("copied", flush=True)
    time.sleep(600)

push_model(sys.argv[1], sys.argv[2], copy_tree=copy_then_hang)
"""


def test_a_push_killed_with_sigkill_leaves_no_version_and_the_next_push_cleans_up(saved_model, tmp_path):
    import signal
    import subprocess
    import sys

    from tests.conftest import PROJECT_ROOT

    serving = tmp_path / "serving"
    process = subprocess.Popen([sys.executable, "-c", KILLED_PUSH, saved_model, str(serving)],
                               cwd=PROJECT_ROOT, stdout=subprocess.PIPE, text=True)
    assert process.stdout.readline().strip() == "copied"
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=60)
    leftovers = os.listdir(serving)
    assert len(leftovers) == 1 and leftovers[0].startswith(PARTIAL_PREFIX)
    assert pushed_versions(str(serving)) == []
    result = push_model(saved_model, str(serving), clock=_clock(1000, 1000))
    assert sorted(os.listdir(serving)) == [result.version] == ["1000"]
