"""Checks a `lineage trace --json` tree edge by edge against the store's own events."""

from __future__ import annotations

from ml_metadata.proto import metadata_store_pb2

from pipeline.metadata import store as mlmd


def walk(node):
    yield node
    for child in node["children"]:
        yield from walk(child)


def assert_every_edge_is_recorded(store_path, tree: dict, downstream: bool = False) -> int:
    """Each child of an artifact is an execution that output it (downstream: read it), and each child of
    an execution an artifact it read (downstream: output). Returns the number of edges checked."""
    store = mlmd.open_store(mlmd.connection_from_url(str(store_path)))
    checked = 0
    for node in walk(tree):
        for child in node["children"]:
            assert child["kind"] != node["kind"], (node["label"], child["label"])
            execution, artifact = (child, node) if node["kind"] == "artifact" else (node, child)
            events = [e for e in store.get_events_by_execution_ids([execution["id"]])
                      if e.artifact_id == artifact["id"]]
            reads = any(e.type == metadata_store_pb2.Event.INPUT for e in events)
            writes = any(e.type in mlmd.OUTPUT_EVENTS for e in events)
            child_is_consumer = (node["kind"] == "artifact") == downstream
            assert (reads if child_is_consumer else writes), \
                f"{node['label']} #{node['id']} -> {child['label']} #{child['id']}: not in the store"
            checked += 1
    return checked
