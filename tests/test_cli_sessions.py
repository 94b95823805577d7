"""One CLI session for every command: ``arkitekt login`` once, then the other commands reuse it;
scripts log in with a password from stdin; nobody approving ends soon, with a hint."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from servers import PASSWORD, TestServer, cli


def _env(server: TestServer, cache: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ARKITEKT_", "FAKTS_"))}
    return {**env, "ARKITEKT_URL": server.url, "ARKITEKT_CACHE_DIR": str(cache)}


def test_one_login_serves_every_command(standalone: TestServer, tmp_path: Path) -> None:
    env = _env(standalone, tmp_path / "cache")
    login = cli("login", "--username", "alice", "--password-stdin", env=env, input=PASSWORD + "\n")
    assert "as alice (app arkitekt-cli)" in login.stdout
    status = cli("status", env=env)
    assert "arkitekt-cli: logged in" in status.stdout and "as alice" in status.stdout
    # no --username, no password, no browser: the cached session of arkitekt-cli is used
    for command in (["nodes", "--json"], ["agents", "--json"], ["images", "--json"]):
        result = cli(*command, "--headless", "--wait", "5", env=env, check=False)
        assert result.returncode == 0, (command, result.stderr)
        assert isinstance(json.loads(result.stdout), list)
    assert "logged out" in cli("logout", env=env).stdout
    assert cli("status", env=env, check=False).returncode == 1


def test_password_from_the_environment(standalone: TestServer, tmp_path: Path) -> None:
    env = {**_env(standalone, tmp_path / "cache"), "ARKITEKT_PASSWORD": PASSWORD}
    result = cli("nodes", "--username", "bob", "--json", env=env, check=False)
    assert result.returncode == 0, result.stderr


def test_password_stdin_needs_a_username(standalone: TestServer, tmp_path: Path) -> None:
    result = cli(
        "login", "--password-stdin", env=_env(standalone, tmp_path / "c"), input="x\n", check=False
    )
    assert result.returncode == 2 and "--password-stdin needs --username" in result.stderr


def test_nobody_approving_ends_soon_with_a_hint(standalone: TestServer, tmp_path: Path) -> None:
    started = time.monotonic()
    result = cli(
        "nodes", "--headless", "--wait", "2", env=_env(standalone, tmp_path / "c"), check=False
    )
    assert result.returncode == 1
    assert time.monotonic() - started < 30
    assert "nobody approved the login in time" in result.stderr
    assert "open the link" in result.stderr


def _expire(cache: Path) -> None:
    """Make the cached access token look expired (as after a night away)."""

    def visit(value: object) -> object:
        if isinstance(value, dict):
            return {k: (1 if k == "expires_at" else visit(v)) for k, v in value.items()}
        if isinstance(value, list):
            return [visit(v) for v in value]
        return value

    sessions = [p for p in cache.glob("arkitekt-cli-*.json")]
    assert sessions, list(cache.iterdir())
    for path in sessions:
        path.write_text(json.dumps(visit(json.loads(path.read_text()))))


def test_status_says_an_expired_token_will_be_renewed(
    standalone: TestServer, tmp_path: Path
) -> None:
    cache = tmp_path / "cache"
    env = _env(standalone, cache)
    cli("login", "--username", "alice", "--password-stdin", env=env, input=PASSWORD + "\n")
    _expire(cache)
    status = cli("status", env=env).stdout
    assert "access token expired at" in status and "refresh token on next use" in status
    assert cli("nodes", "--json", env=env, check=False).returncode == 0  # and it is


def test_bad_usage_exits_with_2(tmp_path: Path) -> None:
    env = {"ARKITEKT_URL": "http://127.0.0.1:9", "ARKITEKT_CACHE_DIR": str(tmp_path)}
    for command in (
        ["images", "--limit", "0"],
        ["assignations", "--limit", "100000"],
        ["nodes", "--wait", "0"],
        ["call"],
        ["no-such-command"],
    ):
        assert cli(*command, env=env, check=False).returncode == 2, command
