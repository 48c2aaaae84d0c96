"""Release records in a real (SQLite) ML Metadata store: an action a kill left running is settled."""

from __future__ import annotations

import pytest

from pipeline.metadata import releases
from pipeline.metadata import store as mlmd

pytestmark = pytest.mark.unit

SERVING = "/srv/models/taxi"


@pytest.fixture
def store(tmp_path):
    return mlmd.open_store(mlmd.sqlite_connection(tmp_path / "metadata.sqlite"))


def test_an_action_a_kill_left_running_is_settled_from_what_the_disk_holds(store):
    rollback_done = releases.begin(store, "taxi", {"action": releases.ROLLBACK, "new_version": "7",
                                                   "to_version": "1", "serving_dir": SERVING})
    rollback_cut = releases.begin(store, "taxi", {"action": releases.ROLLBACK, "new_version": "8",
                                                  "to_version": "1", "serving_dir": SERVING})
    pin_written = releases.begin(store, "taxi", {"action": releases.PIN, "to_version": "7"})
    pin_cut = releases.begin(store, "taxi", {"action": releases.PIN, "to_version": "7"})
    unpin_cut = releases.begin(store, "taxi", {"action": releases.UNPIN, "to_version": "7"})
    settled = releases.settle_unfinished(store, "taxi", {"1", "7"}, pin_action_id=pin_written.id)
    assert sorted(settled) == sorted(a.id for a in (rollback_done, rollback_cut, pin_written, pin_cut,
                                                    unpin_cut))
    states = {record.id: record.state for record in releases.release_history(store, "taxi")}
    assert states == {rollback_done.id: "COMPLETE", rollback_cut.id: "CANCELED", pin_written.id: "COMPLETE",
                      pin_cut.id: "CANCELED", unpin_cut.id: "CANCELED"}
    published = [a for a in mlmd.artifacts_by_type(store, "PushedModel")
                 if mlmd.custom_value(a, "pushed_version") == "7"]
    assert [mlmd.custom_value(a, "rolled_back_to") for a in published] == ["1"]
    unpin_done = releases.begin(store, "taxi", {"action": releases.UNPIN, "to_version": "7"})
    releases.settle_unfinished(store, "taxi", {"1", "7"}, pin_action_id=None)
    assert releases.release_history(store, "taxi")[0].id == unpin_done.id
    assert releases.release_history(store, "taxi")[0].state == "COMPLETE"
    assert releases.release_history(store, "other") == []
