"""The ``arkitekt`` command: in-process through typer's CliRunner, and as real subprocesses.

Server-side commands work on a data folder (``--data-dir`` or ``ARKITEKT_DATA_DIR``); whatever they
set up is checked against a real server on that folder, not by reading the database.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from servers import PASSWORD, TestServer, approve_device_code, cli, free_port
from typer.testing import CliRunner, Result

from arkitekt import LoginError, easy
from arkitekt._version import __version__
from arkitekt.cli import app
from arkitekt.services.logins import DeviceCodeLogin

runner = CliRunner()


def run(*args: str, input: str | None = None) -> Result:
    """``arkitekt ARGS`` in this process."""
    return runner.invoke(app, list(args), input=input)


def ok(*args: str, input: str | None = None) -> Result:
    result = run(*args, input=input)
    assert result.exit_code == 0, (result.stdout, result.stderr, result.exception)
    return result


def users(data_dir: Path) -> list[dict[str, object]]:
    listed: list[dict[str, object]] = json.loads(
        ok("user", "list", "--json", "--data-dir", str(data_dir)).stdout
    )
    return listed


def names(data_dir: Path) -> list[object]:
    return [user["username"] for user in users(data_dir)]


def can_log_in(data_dir: Path, username: str, password: str) -> bool:
    """Whether a server on ``data_dir`` accepts this password (a real password-grant login)."""
    with TestServer.in_process(data_dir, database_url=None) as server:  # the folder's SQLite
        response = httpx.post(
            f"{server.url}/f/token/",
            data={
                "grant_type": "password",
                "username": username,
                "password": password,
                "manifest": json.dumps({"identifier": "cli-check", "version": "1"}),
            },
            timeout=10,
        )
    if response.status_code == 200:
        return True
    assert response.json()["error"] == "invalid_grant", response.text  # not some other failure
    return False


@pytest.fixture
def data(tmp_path: Path) -> Path:
    """A server data folder with the user alice (password PASSWORD)."""
    folder = tmp_path / "data"
    ok("user", "add", "alice", "--password", PASSWORD, "--data-dir", str(folder))
    return folder


def ed25519_pair() -> tuple[str, str]:
    """(private PEM, public PEM) of a new Ed25519 key."""
    key = ed25519.Ed25519PrivateKey.generate()
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    public = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return private, public


# -- version and help ------------------------------------------------------------------------------


def test_version() -> None:
    assert ok("version").stdout == f"arkitekt {__version__}\n"
    assert ok("--version").stdout == f"arkitekt {__version__}\n"


def test_version_as_a_subprocess(tmp_path: Path) -> None:
    result = cli("version", data_dir=tmp_path)
    assert result.stdout == f"arkitekt {__version__}\n"


COMMANDS = [
    [],
    ["server"],
    ["user"],
    ["user", "add"],
    ["user", "list"],
    ["user", "remove"],
    ["user", "passwd"],
    ["user", "key"],
    ["user", "mandate"],
    ["login"],
    ["logout"],
    ["status"],
    ["version"],
]


@pytest.mark.parametrize("command", COMMANDS, ids=[" ".join(c) or "arkitekt" for c in COMMANDS])
def test_help(command: list[str]) -> None:
    result = ok(*command, "--help")
    assert "Usage" in result.stdout


def test_help_as_a_subprocess(tmp_path: Path) -> None:
    result = cli("--help", data_dir=tmp_path)
    assert "server" in result.stdout and "user" in result.stdout


def test_no_command_is_bad_usage() -> None:
    result = run()
    assert result.exit_code == 2
    assert "Usage" in result.output


def test_unknown_command_is_bad_usage() -> None:
    result = run("serve")
    assert result.exit_code == 2
    assert "serve" in result.stderr


# -- user add / list -------------------------------------------------------------------------------


def test_user_add_then_list(tmp_path: Path) -> None:
    result = ok("user", "add", "alice", "--password", "pw", "--data-dir", str(tmp_path))
    assert result.stdout == "created user alice\n"
    ok("user", "add", "root", "--password", "pw", "--admin", "--data-dir", str(tmp_path))

    listing = ok("user", "list", "--data-dir", str(tmp_path)).stdout.splitlines()
    assert listing == ["alice", "root  (admin)"]
    listed = users(tmp_path)
    assert [u["username"] for u in listed] == ["alice", "root"]
    alice, root = listed
    assert alice["admin"] is False and root["admin"] is True
    assert alice["active"] is True and alice["password"] is True
    assert isinstance(alice["created"], str)
    assert can_log_in(tmp_path, "alice", "pw")


def test_user_list_of_a_new_folder_is_empty(tmp_path: Path) -> None:
    assert ok("user", "list", "--data-dir", str(tmp_path)).stdout == ""
    assert users(tmp_path) == []


def test_user_add_duplicate_fails(data: Path) -> None:
    result = run("user", "add", "alice", "--password", "other", "--data-dir", str(data))
    assert result.exit_code == 1
    assert result.stderr == "error: a user named 'alice' already exists\n"
    assert result.stdout == ""
    assert names(data) == ["alice"]
    assert can_log_in(data, "alice", PASSWORD)  # the first password still holds


def test_user_add_duplicate_fails_as_a_subprocess(data: Path) -> None:
    result = cli("user", "add", "alice", "--password", "x", data_dir=data, check=False)
    assert result.returncode == 1
    assert result.stderr == "error: a user named 'alice' already exists\n"
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    "name", ["bad name", "", "a" * 151, "a/b", "ünïcode", "semi;colon"], ids=repr
)
def test_user_add_invalid_name_fails(tmp_path: Path, name: str) -> None:
    result = run("user", "add", name, "--password", "pw", "--data-dir", str(tmp_path))
    assert result.exit_code == 1
    assert result.stderr.startswith(f"error: username {name!r} is not allowed")
    assert "letters, digits" in result.stderr
    assert users(tmp_path) == []


def test_user_add_empty_password_fails(tmp_path: Path) -> None:
    result = run("user", "add", "alice", "--password", "", "--data-dir", str(tmp_path))
    assert result.exit_code == 1
    assert result.stderr == "error: password must not be empty\n"
    assert users(tmp_path) == []


def test_user_add_prompts_for_the_password(tmp_path: Path) -> None:
    result = ok("user", "add", "carol", "--data-dir", str(tmp_path), input="pw\npw\n")
    assert "Password for carol" in result.stdout
    assert "created user carol" in result.stdout
    assert can_log_in(tmp_path, "carol", "pw")


def test_user_add_prompt_asks_again_when_the_confirmation_differs(tmp_path: Path) -> None:
    result = ok("user", "add", "carol", "--data-dir", str(tmp_path), input="pw\ntypo\nnew\nnew\n")
    assert "do not match" in result.output
    assert can_log_in(tmp_path, "carol", "new")
    assert not can_log_in(tmp_path, "carol", "pw")


def test_user_add_in_a_file_instead_of_a_folder_fails(tmp_path: Path) -> None:
    not_a_folder = tmp_path / "file"
    not_a_folder.write_text("")
    result = run("user", "add", "alice", "--password", "pw", "--data-dir", str(not_a_folder))
    assert result.exit_code == 1
    assert result.stderr.startswith(f"error: cannot create the data folder {not_a_folder}")


# -- user remove / passwd --------------------------------------------------------------------------


def test_user_remove(data: Path) -> None:
    ok("user", "add", "bob", "--password", "pw", "--data-dir", str(data))
    assert ok("user", "remove", "alice", "--data-dir", str(data)).stdout == "removed user alice\n"
    assert names(data) == ["bob"]
    assert not can_log_in(data, "alice", PASSWORD)

    again = run("user", "remove", "alice", "--data-dir", str(data))
    assert again.exit_code == 1
    assert again.stderr == "error: there is no user named 'alice'\n"


def test_user_passwd(data: Path) -> None:
    result = ok("user", "passwd", "alice", "--password", "new secret", "--data-dir", str(data))
    assert result.stdout == "password of alice changed\n"
    assert can_log_in(data, "alice", "new secret")
    assert not can_log_in(data, "alice", PASSWORD)


def test_user_passwd_prompts(data: Path) -> None:
    ok("user", "passwd", "alice", "--data-dir", str(data), input="fresh\nfresh\n")
    assert can_log_in(data, "alice", "fresh")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["nobody", "--password", "x"], "error: there is no user named 'nobody'\n"),
        (["alice", "--password", ""], "error: password must not be empty\n"),
    ],
    ids=["unknown user", "empty password"],
)
def test_user_passwd_fails(data: Path, args: list[str], message: str) -> None:
    result = run("user", "passwd", *args, "--data-dir", str(data))
    assert result.exit_code == 1
    assert result.stderr == message
    assert can_log_in(data, "alice", PASSWORD)


# -- user mandate / key ----------------------------------------------------------------------------


def test_user_mandate_prints_a_key(data: Path) -> None:
    result = ok("user", "mandate", "alice", "--app", "X", "--data-dir", str(data))
    key = result.stdout.strip()
    assert key.startswith("arkm_")
    assert result.stdout == key + "\n"  # only the key: KEY=$(arkitekt user mandate ...)
    other = ok("user", "mandate", "alice", "--days", "30", "--label", "ci", "--data-dir", str(data))
    assert other.stdout.strip().startswith("arkm_") and other.stdout.strip() != key


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["nobody"], 1, "there is no user named 'nobody'"),
        (["alice", "--days", "0"], 2, "--days"),
        (["alice", "--days", "soon"], 2, "--days"),
    ],
    ids=["unknown user", "zero days", "days not a number"],
)
def test_user_mandate_fails(data: Path, args: list[str], code: int, message: str) -> None:
    result = run("user", "mandate", *args, "--data-dir", str(data))
    assert result.exit_code == code
    assert message in result.stderr
    assert "arkm_" not in result.stdout


def test_user_key_registers_an_ed25519_key(data: Path, tmp_path: Path) -> None:
    _, public = ed25519_pair()
    pem = tmp_path / "pubkey.pem"
    pem.write_text(public)
    result = ok("user", "key", "alice", str(pem), "--label", "laptop", "--data-dir", str(data))
    assert result.stdout.startswith("registered key ")
    assert result.stdout.endswith(" for alice\n")

    again = run("user", "key", "alice", str(pem), "--data-dir", str(data))
    assert again.exit_code == 1
    assert again.stderr == "error: this key is already registered\n"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"not a key\n", "not a PEM public key"),
        (b"", "not a PEM public key"),
        (ed25519_pair()[0].encode(), "public key"),
        (b"\x30\x2a\x30\x05\xff\xfe", "not a PEM file"),
    ],
    ids=["garbage", "empty", "a private key", "binary (DER)"],
)
def test_user_key_refuses_what_is_not_a_public_key(
    data: Path, tmp_path: Path, content: bytes, message: str
) -> None:
    pem = tmp_path / "key.pem"
    pem.write_bytes(content)
    result = run("user", "key", "alice", str(pem), "--data-dir", str(data))
    assert result.exit_code == 1
    assert result.stderr.startswith("error: ") and message in result.stderr


def test_user_key_for_unknown_user_or_missing_file(data: Path, tmp_path: Path) -> None:
    pem = tmp_path / "pubkey.pem"
    pem.write_text(ed25519_pair()[1])
    unknown = run("user", "key", "nobody", str(pem), "--data-dir", str(data))
    assert unknown.exit_code == 1
    assert unknown.stderr == "error: there is no user named 'nobody'\n"
    missing = run("user", "key", "alice", str(tmp_path / "missing.pem"), "--data-dir", str(data))
    assert missing.exit_code == 2
    assert "does not exist" in missing.stderr


# -- where the data lives --------------------------------------------------------------------------


def test_data_dir_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    env_dir, other = tmp_path / "env", tmp_path / "other"
    monkeypatch.setenv("ARKITEKT_DATA_DIR", str(env_dir))
    ok("user", "add", "bob", "--password", "pw")
    assert "bob" in ok("user", "list").stdout.split()
    assert names(env_dir) == ["bob"]
    assert names(other) == []


def test_data_dir_option_beats_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env_dir, flag_dir = tmp_path / "env", tmp_path / "flag"
    monkeypatch.setenv("ARKITEKT_DATA_DIR", str(env_dir))
    ok("user", "add", "bob", "--password", "pw", "--data-dir", str(flag_dir))
    assert names(flag_dir) == ["bob"]
    assert ok("user", "list").stdout == ""  # the environment's folder: empty


def test_data_dir_option_and_environment_as_subprocesses(tmp_path: Path) -> None:
    env_dir, flag_dir = tmp_path / "env", tmp_path / "flag"
    cli("user", "add", "bob", "--password", "pw", data_dir=env_dir)  # ARKITEKT_DATA_DIR=env_dir
    cli("user", "add", "carol", "--password", "pw", "--data-dir", str(flag_dir), data_dir=env_dir)
    assert cli("user", "list", data_dir=env_dir).stdout.split() == ["bob"]
    assert cli("user", "list", data_dir=flag_dir).stdout.split() == ["carol"]


@pytest.fixture
def server_process(tmp_path: Path) -> Iterator[tuple[str, Path, Path]]:
    """``ARKITEKT_DATA_DIR=d arkitekt user add bob --password pw`` then ``... arkitekt server``.

    Yields (url, data folder, server log).
    """
    data_dir = tmp_path / "d"
    cli("user", "add", "bob", "--password", "pw", data_dir=data_dir)
    log = tmp_path / "server.log"
    with TestServer.standalone(data_dir, log=log, database_url=None) as server:  # the CLI's folder
        yield server.url, data_dir, log


def test_user_added_through_the_environment_logs_in_to_the_server(
    server_process: tuple[str, Path, Path],
) -> None:
    url, data_dir, log = server_process
    with easy("cli-test", url=url, username="bob", password="pw") as client:
        assert client.auth.user.username == "bob"
    assert f"data in {data_dir}" in log.read_text()


def test_credentials_made_by_the_cli_log_in_to_a_running_server(
    server_process: tuple[str, Path, Path], tmp_path: Path
) -> None:
    url, data_dir, _ = server_process
    key = cli("user", "mandate", "bob", "--app", "cli-agent", data_dir=data_dir).stdout.strip()
    with easy("cli-agent", url=url, mandate_key=key, no_cache=True) as client:
        assert client.auth.user.username == "bob"
    with pytest.raises(LoginError, match="cli-agent"):  # the key is for that app only
        with easy("another-app", url=url, mandate_key=key, no_cache=True):
            pass

    private, public = ed25519_pair()
    (tmp_path / "pubkey.pem").write_text(public)
    cli("user", "key", "bob", str(tmp_path / "pubkey.pem"), data_dir=data_dir)
    with easy("cli-keys", url=url, username="bob", private_key=private, no_cache=True) as client:
        assert client.auth.user.username == "bob"

    cli("user", "passwd", "bob", "--password", "changed", data_dir=data_dir)
    with pytest.raises(LoginError):
        with easy("cli-old", url=url, username="bob", password="pw", no_cache=True):
            pass
    with easy("cli-new", url=url, username="bob", password="changed", no_cache=True) as client:
        assert client.auth.user.username == "bob"


def test_server_refuses_a_file_as_data_folder(tmp_path: Path) -> None:
    not_a_folder = tmp_path / "file"
    not_a_folder.write_text("")
    result = cli("server", "--port", str(free_port()), data_dir=not_a_folder, check=False)
    assert result.returncode == 1
    assert "error: cannot create the data folder" in result.stderr
    assert "Traceback" not in result.stderr


# -- client side: login / status / logout ----------------------------------------------------------


def test_status_and_logout_of_a_session_made_by_the_sdk(
    standalone: TestServer, tmp_path: Path
) -> None:
    """The session of ``easy(username=, password=)`` is what ``arkitekt login --username`` makes."""
    url = standalone.url
    with easy("cli-client", "0.0.1", url=url, username="alice", password=PASSWORD) as client:
        assert client.auth.user.username == "alice"
        session = client.fakts.client.loaded_fakts.auth
    target = ["--url", url, "--app", "cli-client", "--username", "alice"]

    status = ok("status", *target)
    assert status.stdout.startswith(f"cli-client: logged in to {url} as alice;")
    assert "refresh token" in status.stdout
    in_subprocess = cli("status", *target, data_dir=tmp_path)
    assert in_subprocess.stdout == status.stdout

    other_app = run("status", "--url", url, "--app", "cli-other", "--username", "alice")
    assert other_app.exit_code == 1
    assert other_app.stdout == f"cli-other: not logged in to {url} as alice\n"
    other_login = run("status", "--url", url, "--app", "cli-client")  # the browser login's
    assert other_login.exit_code == 1
    assert "pass it here too" in other_login.stdout

    assert ok("logout", *target).stdout == "logged out\n"
    refresh = httpx.post(
        f"{url}/f/token/",
        data={
            "grant_type": "refresh_token",
            "refresh_token": session.refresh_token,
            "client_id": session.client_id,
        },
    )
    assert "revoked" in refresh.json()["error_description"]  # ended on the server too
    after = run("status", *target)
    assert after.exit_code == 1
    assert f"not logged in to {url}" in after.stdout
    again = cli("logout", *target, data_dir=tmp_path)
    assert "not logged in" in again.stdout


def test_status_and_logout_of_a_browser_approved_session(standalone: TestServer) -> None:
    """A device-code session (``arkitekt login --url URL --app X``) needs no --username."""

    async def approve(challenge: Any) -> None:
        await asyncio.to_thread(
            approve_device_code, standalone.url, challenge.verification_uri_complete, "bob"
        )

    client = easy("cli-device", url=standalone.url, headless=True)
    client.fakts.login = DeviceCodeLogin(headless=True, hook=approve)
    with client:
        assert client.auth.user.username == "bob"
    target = ["--url", standalone.url, "--app", "cli-device"]
    assert f"cli-device: logged in to {standalone.url} as bob;" in ok("status", *target).stdout
    assert ok("logout", *target).stdout == "logged out\n"
    assert run("status", *target).exit_code == 1


def test_login_without_a_terminal_asks_for_no_password_and_fails_clearly(
    standalone: TestServer, tmp_path: Path
) -> None:
    result = cli(
        "login",
        "--url",
        standalone.url,
        "--app",
        "cli-login",
        "--username",
        "alice",
        data_dir=tmp_path,
        check=False,
        stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 1
    assert result.stderr.startswith("error: a password is needed to log in as 'alice'")
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("command", ["login", "status", "logout"])
def test_client_commands_need_a_url(command: str) -> None:
    result = run(command, "--app", "cli-client")
    assert result.exit_code == 2
    assert result.stderr == "error: no server given: pass --url or set ARKITEKT_URL\n"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--app", "bad id", "--url", "http://127.0.0.1:9"], "identifier 'bad id' is not valid"),
        (["--app", "x", "--url", "ftp://example.org"], "must start with http:// or https://"),
    ],
    ids=["bad app identifier", "bad url"],
)
@pytest.mark.parametrize("command", ["login", "status", "logout"])
def test_client_commands_refuse_bad_arguments(command: str, args: list[str], message: str) -> None:
    result = run(command, *args)
    assert result.exit_code == 2
    assert result.stderr.startswith("error: ") and message in result.stderr
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_login_to_a_server_that_is_not_there(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    result = cli(
        "login", "--url", url, "--app", "cli-none", "--headless", data_dir=tmp_path, check=False
    )
    assert result.returncode == 1
    assert result.stderr.startswith(f"error: could not reach an arkitekt server at {url}")
    assert "Traceback" not in result.stderr
