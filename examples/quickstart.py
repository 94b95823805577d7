"""Quickstart: start the integrated server in this process, log in, talk to it.

Run it with ``python examples/quickstart.py``; nothing else needs to run.
Set ARKITEKT_DATA_DIR to keep the server's data somewhere else than the user data folder.
"""

from arkitekt import get_current_app, local


def main() -> None:
    with local("quickstart") as app:  # starts the server, logs in as the local user
        assert get_current_app() is app
        health = app.http_get("/health").json()
        print(f"server {app.server.url} is {health['status']} (version {health['version']})")
        print(f"logged in as {app.auth.user.username} (app {app.identifier})")
    print("server stopped")


if __name__ == "__main__":
    main()
