"""A stand-in for the Kubeflow Pipelines API server, on loopback, for contract tests.

It answers the v2beta1 REST endpoints kfp.Client 2.5 calls for uploading a
pipeline (which, as on the real server, makes the package its first version,
named like the pipeline) and its versions, experiments, runs and recurring runs
(listing, enabling, disabling and deleting them too), keeps what was created (so
that lookups by name, and versions sorted by `created_at`, behave like the real
server's), and records every request. `fire` does what the ScheduledWorkflow
controller of a KFP 2.5 server does at a trigger: one run of the recurring run's
pinned version, or of its pipeline's newest version when it names none
(kubeflow/pipelines#11560). It proves the shape of the requests this project
sends, not that a real cluster would run the pipeline.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

API = "/apis/v2beta1"


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes

    def json(self) -> dict:
        return json.loads(self.body or b"{}")


@dataclass
class FakeKfp:
    requests: list[Request] = field(default_factory=list)
    pipelines: dict[str, dict] = field(default_factory=dict)
    versions: dict[str, dict] = field(default_factory=dict)
    experiments: dict[str, dict] = field(default_factory=dict)
    runs: dict[str, dict] = field(default_factory=dict)
    recurring_runs: dict[str, dict] = field(default_factory=dict)
    versions_made: int = 0

    def fire(self, recurring_run_id: str) -> dict:
        """One run of the recurring run, as its ScheduledWorkflow would start it."""
        recurring = self.recurring_runs[recurring_run_id]
        reference = dict(recurring["pipeline_version_reference"])
        if not reference.get("pipeline_version_id"):
            newest = self.newest_version(reference["pipeline_id"])
            reference["pipeline_version_id"] = newest["pipeline_version_id"]
        run_id = f"run-{len(self.runs) + 1}"
        self.runs[run_id] = {"run_id": run_id, "recurring_run_id": recurring_run_id, "state": "PENDING",
                             "display_name": recurring["display_name"],
                             "pipeline_version_reference": reference}
        return self.runs[run_id]

    def newest_version(self, pipeline_id: str) -> dict:
        return self.versions_of(pipeline_id)[0]

    def versions_of(self, pipeline_id: str) -> list[dict]:
        """Newest first, as `sort_by=created_at desc` lists them."""
        return sorted((v for v in self.versions.values() if v["pipeline_id"] == pipeline_id),
                      key=lambda v: v["created_at"], reverse=True)

    def _add_version(self, pipeline_id: str, name: str) -> dict:
        self.versions_made += 1  # ids are never reused, also after a version is deleted
        version_id = f"version-{self.versions_made}"
        # A distinct second each: the real server's created_at has seconds only.
        created = f"2026-12-04T06:{self.versions_made // 60:02d}:{self.versions_made % 60:02d}Z"
        self.versions[version_id] = {"pipeline_version_id": version_id, "display_name": name,
                                     "pipeline_id": pipeline_id, "created_at": created}
        return self.versions[version_id]

    def calls(self, method: str, path: str) -> list[Request]:
        return [r for r in self.requests if r.method == method and r.path == API + path]

    def handle(self, request: Request) -> tuple[int, dict]:
        self.requests.append(request)
        route = request.path.removeprefix(API)
        name = _filtered_name(request.query)
        if request.method == "GET" and route == "/healthz":
            return 200, {"multi_user": False}
        if request.method == "GET" and route == "/pipelines":
            return 200, {"pipelines": _named(self.pipelines.values(), name)}
        if request.method == "POST" and route == "/pipelines/upload":
            pipeline_id = f"pipeline-{len(self.pipelines) + 1}"
            self.pipelines[pipeline_id] = {"pipeline_id": pipeline_id,
                                           "display_name": request.query["name"][0]}
            self._add_version(pipeline_id, request.query["name"][0])
            return 200, self.pipelines[pipeline_id]
        if request.method == "GET" and route.startswith("/pipelines/") and route.endswith("/versions"):
            mine = self.versions_of(route.split("/")[2])
            if request.query.get("sort_by", [""])[0] != "created_at desc":
                mine.reverse()  # oldest first unless asked
            size = int(request.query.get("page_size", ["0"])[0]) or None
            return 200, {"pipeline_versions": _named(mine, name)[:size]}
        if request.method == "POST" and route == "/pipelines/upload_version":
            pipeline_id, wanted = request.query["pipelineid"][0], request.query["name"][0]
            if any(v["display_name"] == wanted for v in self.versions_of(pipeline_id)):
                return 409, {"error": f"pipeline {pipeline_id} already has a version named {wanted}"}
            return 200, self._add_version(pipeline_id, wanted)
        if request.method == "DELETE" and route.startswith("/pipelines/") and "/versions/" in route:
            self.versions.pop(route.split("/")[4], None)
            return 200, {}
        if request.method == "GET" and route == "/experiments":
            return 200, {"experiments": _named(self.experiments.values(), name)}
        if request.method == "POST" and route == "/experiments":
            experiment_id = f"experiment-{len(self.experiments) + 1}"
            self.experiments[experiment_id] = {**request.json(), "experiment_id": experiment_id}
            return 200, self.experiments[experiment_id]
        if request.method == "POST" and route == "/runs":
            run_id = f"run-{len(self.runs) + 1}"
            self.runs[run_id] = {**request.json(), "run_id": run_id, "state": "PENDING"}
            return 200, self.runs[run_id]
        if request.method == "GET" and route == "/runs":
            return 200, {"runs": list(self.runs.values())}
        if request.method == "GET" and route.startswith("/pipelines/") and "/versions/" in route:
            version = self.versions.get(route.split("/")[4])
            return (200, version) if version else (404, {"error": "no such pipeline version"})
        if request.method == "GET" and route == "/recurringruns":
            # The one camelCase list key of the v2beta1 API (the proto field is recurringRuns).
            return 200, {"recurringRuns": _named(self.recurring_runs.values(), name)}
        if request.method == "POST" and route == "/recurringruns":
            recurring_run_id = f"recurring-{len(self.requests)}"
            body = request.json()
            # The server answers with the status the requested mode gives.
            status = "ENABLED" if body.get("mode") == "ENABLE" else "DISABLED"
            self.recurring_runs[recurring_run_id] = {**body, "recurring_run_id": recurring_run_id,
                                                     "status": status, "created_at": "2026-12-04T06:00:00Z"}
            return 200, self.recurring_runs[recurring_run_id]
        if request.method == "POST" and route.startswith("/recurringruns/") and ":" in route:
            recurring_run_id, verb = route.split("/")[2].split(":")
            if recurring_run_id not in self.recurring_runs or verb not in ("enable", "disable"):
                return 404, {"error": f"no recurring run {recurring_run_id}"}
            self.recurring_runs[recurring_run_id]["status"] = "ENABLED" if verb == "enable" else "DISABLED"
            return 200, {}
        if request.method == "DELETE" and route.startswith("/recurringruns/"):
            self.recurring_runs.pop(route.split("/")[2], None)
            return 200, {}
        return 404, {"error": f"the fake server does not implement {request.method} {request.path}"}


def _filtered_name(query: dict[str, list[str]]) -> str | None:
    if "filter" not in query:
        return None
    predicates = json.loads(query["filter"][0]).get("predicates", [])
    names = [p.get("stringValue") for p in predicates if p.get("key") == "display_name"]
    return names[0] if names else None


def _named(items, name: str | None) -> list[dict]:
    return [item for item in items if name is None or item.get("display_name") == name]


class _Handler(BaseHTTPRequestHandler):
    fake: FakeKfp

    def _serve(self) -> None:
        url = urlparse(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        headers = {key.lower(): value for key, value in self.headers.items()}
        request = Request(self.command, url.path, parse_qs(url.query), headers,
                          self.rfile.read(length) if length else b"")
        status, payload = self.fake.handle(request)
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_DELETE = _serve

    def log_message(self, *args) -> None:  # keep test output clean
        pass


class LoopbackServer:
    """Context manager: a fake API (anything with handle(Request)) served on 127.0.0.1 at a free port."""

    def __init__(self, fake) -> None:
        self.fake = fake

    def __enter__(self):
        handler = type("Handler", (_Handler,), {"fake": self.fake})
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.host = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()


class FakeKfpServer(LoopbackServer):
    """A FakeKfp served on loopback."""

    def __init__(self) -> None:
        super().__init__(FakeKfp())
