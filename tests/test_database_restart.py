"""PostgreSQL crashes and restarts under a running server (issue 12): calls go on where they
need no database (their history waits in memory), what needs the database fails clearly
meanwhile and works again once it is back, and nothing stored is lost."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from databases import PostgresProcess
from servers import FAST_RPC, ROOT, TestServer, start_agent, wait_for

from arkitekt import ArkitektError, find

WORKER = ROOT / "tests" / "agents" / "worker.py"


def _ready(server: TestServer) -> httpx.Response:
    return httpx.get(f"{server.url}/health/ready", timeout=30)


def test_postgresql_restarted_under_a_running_server(tmp_path: Path) -> None:
    with PostgresProcess() as postgres:
        server = TestServer.standalone(
            tmp_path / "server",
            users=("alice",),
            log=tmp_path / "server.log",
            database_url=postgres.new_database(),
            **FAST_RPC,
        )
        with server:
            agent = start_agent(
                WORKER,
                server=server,
                tmp_path=tmp_path,
                env={"WORKER_NAME": "w", "WORKER_MARK": str(tmp_path / "mark")},
            )
            try:
                agent.wait_for_output("ready")
                with server.app("alice", "caller"):
                    add = find(interface="add")
                    assert [add(i) for i in range(20)] == list(range(1, 21))
                    postgres.stop(crash=True)
                    # routing needs no database: calls go on, their history waits in memory
                    assert [add(i) for i in range(20)] == list(range(1, 21))
                    down = _ready(server)
                    assert down.status_code == 503
                    assert down.json()["checks"]["database"].startswith("failed")
                    with pytest.raises(ArkitektError, match="cannot reach its database"):
                        find(interface="whoami")  # finding needs the database
                    postgres.start()
                    wait_for(lambda: _ready(server).status_code == 200, 30, "ready again")
                    assert find(interface="whoami")() == "w"
                    assert [add(i) for i in range(20)] == list(range(1, 21))
            finally:
                agent.stop()
        done = server.stored_rows("SELECT count(*) FROM rpc_assignations WHERE status = 'done'")
        assert done[0][0] == 61, server.log and server.log.read_text()[-3000:]
