"""Quickstart: the integrated server in this process; serve a function and call it.

Run it with ``python examples/quickstart.py``; nothing else needs to run.
Set ARKITEKT_DATA_DIR to keep the server's data somewhere else than the user data folder.
"""

from arkitekt import call, find, get_current_app, local


def main() -> None:
    with local("quickstart") as app:  # starts the server, logs in as the local user
        assert get_current_app() is app
        health = app.http_get("/health").json()
        print(f"server {app.server.url} is {health['status']} (version {health['version']})")
        print(f"logged in as {app.auth.user.username} (app {app.identifier})")

        @app.register
        def greet(name: str, times: int = 1) -> str:
            """Say hello.  name: who to greet"""
            return " ".join([f"Hello {name}!"] * times)

        app.serve()  # this app is its own agent here; another process could be
        print(call(find(interface="greet"), "world", times=2))
    print("server stopped")


if __name__ == "__main__":
    main()
