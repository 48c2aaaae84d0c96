"""Keeps secrets out of everything a run writes: logs, run facts, error messages.

TFX's LocalDagRunner logs its metadata connection config at INFO, password
included, and libraries may echo a connection string in an error. Filtering by
log level would hide useful lines and still miss errors, so every line on its
way to a file or the terminal is redacted instead: the secret values
themselves (configs.settings.secret_values) and anything that looks like
`password: ...` or `token=...`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

MASK = "***"
# `password: "x"` (protobuf text), `password=x`, `"token": "x"`; not `password_env: NAME`.
SECRET_FIELD = re.compile(
    r"""(?i)(\b(?:password|passwd|pwd|token|secret)["']?)(\s*[:=]\s*)("[^"]*"|'[^']*'|[^\s,;}&]+)""")


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, MASK)
    return SECRET_FIELD.sub(lambda match: f"{match.group(1)}{match.group(2)}{MASK}", text)
