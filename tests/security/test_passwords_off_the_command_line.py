"""Issue 11, finding 9: a server admin can give passwords on standard input, so they stay out of
the shell history and the process list."""

from __future__ import annotations

from pathlib import Path

from servers import cli

from arkitekt import easy, local


def test_user_add_and_passwd_read_the_password_from_stdin(tmp_path: Path) -> None:
    data = tmp_path / "data"
    cli("user", "add", "carol", "--password-stdin", data_dir=data, input="first secret 123\n")
    cli("user", "passwd", "carol", "--password-stdin", data_dir=data, input="second secret 4\n")
    both = cli(
        "user", "add", "dave", "--password", "x", "--password-stdin",
        data_dir=data, input="y\n", check=False,
    )  # fmt: skip
    assert both.returncode == 2 and "not both" in both.stderr
    with local("server", data_dir=data) as server:
        url = str(server.server.url)
        with easy("carol-app", url=url, username="carol", password="second secret 4",
                  no_cache=True) as app:  # fmt: skip
            assert app.auth.user is not None and app.auth.user.username == "carol"
