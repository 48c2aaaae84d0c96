"""What MLMD's C++ code logs: glog writes to file descriptor 2, past Python's sys.stderr.

A store that cannot be opened logged its reason there, on the user's terminal,
while the Python exception said less. `open_store` captures it meanwhile and
keeps the error line.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import tempfile


@contextlib.contextmanager
def native_stderr_captured():
    """File descriptor 2 goes to a temporary file meanwhile; the list gets what was written to it."""
    captured: list[str] = []
    with tempfile.TemporaryFile() as sink:
        sys.stderr.flush()
        saved = os.dup(2)
        os.dup2(sink.fileno(), 2)
        try:
            yield captured
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            sink.seek(0)
            captured.append(sink.read().decode("utf-8", "replace"))


GLOG_ERROR = re.compile(r"^[EF]\d{4} [^\]]*\] (.*)$")


def first_glog_error(text: str) -> str | None:
    """The first error that glog logged, with its continuation lines, on one line."""
    lines = text.splitlines()
    for index, line in enumerate(lines):
        match = GLOG_ERROR.match(line)
        if match:
            rest = [more.strip() for more in lines[index + 1:] if more.startswith(("\t", " "))]
            return " ".join([match.group(1).strip(), *rest])
    return None
