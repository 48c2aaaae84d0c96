"""Real PostgreSQL and MariaDB servers on loopback, started from Debian's packages.

Each server runs from a throw-away data folder on a free port and is stopped
afterwards. When a server is not installed, the tests that need it are skipped
with the package to install, never silently passed.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator

from tests.conftest import missing_system_package

INSTALLED_BY = "make test-deps (called by make test) installs it as root"
POSTGRES_MISSING = f"PostgreSQL server not installed (Debian package postgresql; {INSTALLED_BY})"
MARIADB_MISSING = f"MariaDB server not installed (Debian package mariadb-server; {INSTALLED_BY})"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _wait_for_port(port: int, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
            return
        time.sleep(0.2)
    raise TimeoutError(f"no server answered on 127.0.0.1:{port} within {seconds} s")


def _as_service_user(command: list[str], user: str) -> list[str]:
    """Database servers refuse to run as root; as root, run them as their own user."""
    return ["runuser", "-u", user, "--", *command] if os.geteuid() == 0 else command


@contextlib.contextmanager
def postgres_server(password: str | None = None) -> Iterator[str]:
    """Yields a postgresql:// URL of a fresh server: trusting local connections, or requiring `password`."""
    binaries = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not binaries:
        missing_system_package(POSTGRES_MISSING)
    bin_dir = os.path.dirname(binaries[-1])
    root = tempfile.mkdtemp(prefix="mlmd-postgres-")
    data = os.path.join(root, "data")
    if os.geteuid() == 0:
        os.chmod(root, 0o755)
        os.makedirs(data)
        user = pwd.getpwnam("postgres")
        os.chown(data, user.pw_uid, user.pw_gid)
    port = free_port()
    run = lambda *args: subprocess.run(_as_service_user(list(args), "postgres"), check=True,  # noqa: E731
                                       capture_output=True, text=True, timeout=120)
    auth = ["--auth=trust"]
    if password is not None:
        password_file = os.path.join(root, "password")
        with open(password_file, "w", encoding="utf-8") as writer:
            writer.write(password)
        os.chmod(password_file, 0o644)
        auth = ["--auth=scram-sha-256", f"--pwfile={password_file}"]
    try:
        run(f"{bin_dir}/initdb", "-D", data, *auth, "-U", "postgres")
        run(f"{bin_dir}/pg_ctl", "-D", data, "-w", "-l", os.path.join(data, "server.log"), "-o",
            f"-p {port} -k {data} -c listen_addresses=127.0.0.1", "start")
        _wait_for_port(port)
        yield f"postgresql://postgres@127.0.0.1:{port}/mlmd"
    finally:
        subprocess.run(_as_service_user([f"{bin_dir}/pg_ctl", "-D", data, "-m", "fast", "stop"],
                                        "postgres"), capture_output=True, timeout=60)
        shutil.rmtree(root, ignore_errors=True)


@contextlib.contextmanager
def mariadb_server(password: str | None = None) -> Iterator[str]:
    """Yields a mysql:// URL of a fresh MariaDB server: root without a password, or user mlmd with one."""
    server = shutil.which("mariadbd") or shutil.which("mysqld")
    install = shutil.which("mariadb-install-db") or shutil.which("mysql_install_db")
    if not server or not install:
        missing_system_package(MARIADB_MISSING)
    root = tempfile.mkdtemp(prefix="mlmd-mariadb-")
    data = os.path.join(root, "data")
    port = free_port()
    user = "mysql" if os.geteuid() == 0 else pwd.getpwuid(os.getuid()).pw_name
    if os.geteuid() == 0:
        os.chmod(root, 0o755)
        os.makedirs(data)
        account = pwd.getpwnam(user)
        os.chown(data, account.pw_uid, account.pw_gid)
    subprocess.run([install, "--no-defaults", f"--datadir={data}", f"--user={user}",
                    "--auth-root-authentication-method=normal", "--skip-test-db"],
                   check=True, capture_output=True, text=True, timeout=180)
    process = subprocess.Popen(
        [server, "--no-defaults", f"--datadir={data}", f"--socket={data}/mysqld.sock",
         f"--port={port}", "--bind-address=127.0.0.1", f"--user={user}", "--skip-name-resolve",
         f"--pid-file={data}/mysqld.pid", f"--log-error={data}/error.log"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        _wait_for_port(port)
        if password is None:
            yield f"mysql://root@127.0.0.1:{port}/mlmd"
            return
        import pymysql

        admin = pymysql.connect(host="127.0.0.1", port=port, user="root", password="")
        with admin.cursor() as cursor:
            cursor.execute("CREATE USER 'mlmd'@'%%' IDENTIFIED BY %s", (password,))
            cursor.execute("GRANT ALL PRIVILEGES ON *.* TO 'mlmd'@'%'")
        admin.close()
        yield f"mysql://mlmd@127.0.0.1:{port}/mlmd"
    finally:
        process.terminate()
        process.wait(timeout=60)
        shutil.rmtree(root, ignore_errors=True)


def dump_database(url: str, password: str) -> str:
    """The whole database behind a postgresql:// or mysql:// URL as SQL text, with the server's own tool."""
    from urllib.parse import urlparse

    parsed = urlparse(url)
    database = parsed.path.lstrip("/")
    if parsed.scheme.startswith("postgres"):
        pg_dump = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_dump"))[-1]
        command = [pg_dump, "-h", parsed.hostname, "-p", str(parsed.port), "-U", parsed.username, database]
        env = {**os.environ, "PGPASSWORD": password}
    else:
        dump = shutil.which("mariadb-dump") or shutil.which("mysqldump")
        command = [dump, "-h", parsed.hostname, "-P", str(parsed.port), "-u", parsed.username,
                   f"-p{password}", "--skip-comments", database]
        env = dict(os.environ)
    result = subprocess.run(command, capture_output=True, text=True, timeout=120, env=env, check=True)
    return result.stdout
