"""Keeps secrets out of everything a run writes: logs, run facts, error messages.

TFX's LocalDagRunner logs its metadata connection config at INFO, password
included, and libraries may echo a connection string in an error. Filtering by
log level would hide useful lines and still miss errors, so every line on its
way to a file or the terminal is redacted instead: the secret values
themselves (configs.settings.secret_values), anything that looks like
`password: ...` or `token=...`, and the password of a `scheme://user:password@host` URL.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

MASK = "***"
# `password: "x"` (protobuf text), `password=x`, `"token": "x"`; not `password_env: NAME`.
SECRET_FIELD = re.compile(
    r"""(?i)(\b(?:password|passwd|pwd|token|secret)["']?)(\s*[:=]\s*)("[^"]*"|'[^']*'|[^\s,;}&]+)""")


# The password of `scheme://user:password@host` (a webhook or a database URL).
URL_PASSWORD = re.compile(r"(?i)(\b[a-z][a-z0-9+.-]*://[^\s/:@\"']*:)[^\s/@\"']+@")


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, MASK)
    text = URL_PASSWORD.sub(lambda match: f"{match.group(1)}{MASK}@", text)
    return SECRET_FIELD.sub(lambda match: f"{match.group(1)}{match.group(2)}{MASK}", text)
