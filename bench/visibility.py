"""Benchmark: what dataset shares add to every image visibility check. Prints a table; run with
``python bench/visibility.py`` (``--postgresql`` to use the local PostgreSQL as well).

Every image query, read-grant check and call reference asks whether a user may see an image;
with datasets that question includes "is it a member, owned by the dataset's owner, of a
dataset shared with you or below one" (a recursive CTE). The database holds 20,000 images of
alice, 400 datasets of hers (two levels: 40 roots with 9 children each) of 50 images each, a
tenth of the roots shared with bob, and 2,000 images of bob. Measured, directly on the
catalogue's SQL (no HTTP): bob's and alice's first page of ``images()`` and a single-image
lookup, with the condition as it was before datasets and as it is now.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from sqlalchemy import exists, insert, or_, select, text  # noqa: E402
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine  # noqa: E402

import arkitekt.server.rpc.models  # noqa: E402, F401
from arkitekt.server.models import Base, User, new_id, utcnow  # noqa: E402
from arkitekt.server.storage.catalogue import IMAGE, _visible  # noqa: E402
from arkitekt.server.storage.collection_models import (  # noqa: E402
    DATASET,
    Dataset,
    DatasetImage,
)
from arkitekt.server.storage.models import READY, Image, StorageShare  # noqa: E402

IMAGES, ROOTS, CHILDREN, PER_DATASET, ROUNDS = 20_000, 40, 9, 50, 200


def before(user_id: str) -> Any:
    """The visibility condition before datasets."""
    return or_(
        Image.owner_id == user_id,
        Image.shared_with_everyone.is_(True),
        exists().where(
            StorageShare.kind == IMAGE,
            StorageShare.object_id == Image.id,
            StorageShare.user_id == user_id,
        ),
    )


async def fill(engine: AsyncEngine) -> dict[str, Any]:
    async with engine.begin() as c:
        await c.run_sync(Base.metadata.create_all)
        alice, bob = new_id(), new_id()
        await c.execute(
            insert(User), [{"id": alice, "username": "alice"}, {"id": bob, "username": "bob"}]
        )
        now = utcnow()

        def image(owner: str, n: int) -> dict[str, Any]:
            i = new_id()
            return dict(
                id=i, owner_id=owner, name=f"image {n}", store=f"images/{i}", datalayer="local",
                status=READY, shape=[8, 8], dims=["y", "x"], dtype="uint8", chunks=[8, 8],
                shared_with_everyone=False, created_at=now,
            )  # fmt: skip

        alices = [image(alice, n) for n in range(IMAGES)]
        await c.execute(insert(Image), alices + [image(bob, n) for n in range(2000)])
        datasets, members, shares = [], [], []
        n = 0
        for r in range(ROOTS):
            root = new_id()
            datasets.append({"id": root, "owner_id": alice, "name": f"root {r}", "parent_id": None})
            if r % 10 == 0:
                shares.append({"kind": DATASET, "object_id": root, "user_id": bob})
            for k in range(CHILDREN):
                child = new_id()
                datasets.append(
                    {"id": child, "owner_id": alice, "name": f"day {k}", "parent_id": root}
                )
                for _ in range(PER_DATASET):
                    members.append({"dataset_id": child, "image_id": alices[n % IMAGES]["id"]})
                    n += 1
        rows = [{**d, "shared_with_everyone": False, "created_at": now} for d in datasets]
        await c.execute(insert(Dataset), rows)
        await c.execute(insert(DatasetImage), [{**m, "added_at": now} for m in members])
        await c.execute(insert(StorageShare), [{**s, "created_at": now} for s in shares])
    async with engine.connect() as c:  # statistics, as a live database has them
        await c.execute(text("ANALYZE"))
        await c.commit()
    return {"alice": alice, "bob": bob, "probe": alices[-1]["id"]}


async def timed(engine: AsyncEngine, query: Any) -> list[float]:
    took = []
    async with engine.connect() as c:
        for _ in range(ROUNDS):
            start = time.perf_counter()
            (await c.execute(query)).all()
            took.append(time.perf_counter() - start)
    return took


async def measure(url: str, engine_name: str) -> list[list[str]]:
    engine = create_async_engine(url)
    try:
        ids = await fill(engine)
        rows = []
        for who in ("bob", "alice"):
            user = ids[who]
            for label, condition, lookup in (
                ("before", before(user), before(user)),
                # a lookup names its id, as StorageCatalogue.visible does
                ("now", _visible(Image, IMAGE, user), _visible(Image, IMAGE, user, [ids["probe"]])),
            ):
                page = (
                    select(Image.id).where(Image.status == READY, condition)
                    .order_by(Image.created_at.desc(), Image.id).limit(100)
                )  # fmt: skip
                one = select(Image.id).where(Image.id == ids["probe"], lookup)
                for what, query in (("images() page", page), ("one image", one)):
                    took = await timed(engine, query)
                    p50 = statistics.median(took) * 1000
                    p99 = sorted(took)[int(0.99 * (len(took) - 1))] * 1000
                    rows.append(
                        [engine_name, f"{what} ({who})", label, f"{p50:.2f} ms", f"{p99:.2f} ms"]
                    )
        return rows
    finally:
        await engine.dispose()


def table(rows: list[list[str]]) -> str:
    head = ["engine", "query", "condition", "median", "p99"]
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
    lines = [" | ".join(c.ljust(w) for c, w in zip(head, widths, strict=True))]
    lines.append("-+-".join("-" * w for w in widths))
    lines += [" | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--postgresql", action="store_true", help="also on local PostgreSQL")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite+aiosqlite:///{tmp}/bench.db"
        rows += asyncio.run(measure(url, "sqlite"))
    if args.postgresql:
        sys.path.insert(0, str(HERE.parent / "tests"))
        import databases

        try:
            rows += asyncio.run(measure(databases.new_postgres_database(empty=True), "postgresql"))
        finally:
            databases.drop_test_databases()
    print(table(rows))


if __name__ == "__main__":
    main()
