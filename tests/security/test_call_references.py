"""A call over the websocket may name only images and files its caller may see.

alice shares a function that reads an image; her agent reads with her rights. bob may call it,
but naming her private image (its id leaked) is refused before anything runs, whether he names
the node, her template or goes through a reservation; an image shared with him, or his own call
naming nothing stored, goes through."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest
import xarray as xr
from raw_protocol import Raw, connect, new_id, token_for
from servers import Servers

from arkitekt import DataNotFoundError, Dataset, Image, Roi, call, dataset, find, from_xarray
from arkitekt.protocol.messages import Assign, Event, EventKind, Failed, ReservationStatus, Reserve

SECRET = "alice-private-scan-8b2c"


def measure(image: Image) -> int:
    """Count the image's pixels."""
    return int(image.data.size)


async def refused(bob: Raw, call_id: str) -> Failed:
    answer = await bob.expect_matching(lambda m: getattr(m, "assignation", None) == call_id)
    assert isinstance(answer, Failed), answer
    return answer


async def bob_attempts(url: str, node: str, template: str, private: str, shared: str) -> None:
    """bob, on a raw link: alice's private image by every route is refused; a shared one runs."""
    bob = await connect(url, token_for(url, "bob"))
    try:
        attempts = {
            "by node and template": Assign(
                id=new_id(), node=node, templates=[template], args={"image": private}
            ),
            "by template only": Assign(id=new_id(), templates=[template], args={"image": private}),
        }
        for what, attempt in attempts.items():
            await bob.send(attempt)
            failed = await refused(bob, attempt.id)
            assert failed.code == "no_such_data", f"{what}: {failed}"
            assert SECRET not in failed.message
        reservation = new_id()
        await bob.send(Reserve(id=reservation, node=node, templates=[template]))
        await bob.expect_matching(lambda m: isinstance(m, ReservationStatus))
        through = Assign(id=new_id(), reservation=reservation, args={"image": private})
        await bob.send(through)
        assert (await refused(bob, through.id)).code == "no_such_data"

        allowed = Assign(id=new_id(), node=node, templates=[template], args={"image": shared})
        await bob.send(allowed)
        done = await bob.expect_matching(
            lambda m: (
                isinstance(m, Event) and m.assignation == allowed.id and m.kind is EventKind.DONE
            ),
            timeout=20,
        )
        assert done.values == [4]
    finally:
        await bob.ws.close()


def test_naming_an_image_you_may_not_see_is_refused(servers: Servers) -> None:
    server = servers.in_process(users=("alice", "bob"))
    with server.app("alice", "scanner") as alice:
        alice.register(measure, interface="measure")
        alice.serve()
        private = from_xarray(xr.DataArray(np.ones((4, 4)), dims=("y", "x")), name=SECRET)
        shared = from_xarray(xr.DataArray(np.ones((2, 2)), dims=("y", "x")), name="shared")
        shared.share(users=["bob"])
        alice.rpc.share("measure", users=["bob"])
        node = find(interface="measure")
        assert node.template_ids
        assert call(node, private) == 16  # alice may, of course
        asyncio.run(bob_attempts(server.url, node.id, node.template_ids[0], private.id, shared.id))
        with server.app("bob", "bob-sdk"):
            theirs = find(interface="measure", owner="alice")
            with pytest.raises(DataNotFoundError, match="no image"):
                call(theirs, private)


def crop_size(roi: Roi) -> int:
    """Count the pixels under a ROI (reading its image with the agent's rights)."""
    return int(roi.crop().data.size)


def members(ds: Dataset) -> int:
    """Count a dataset's images (read with the agent's rights)."""
    return len(ds.images())


def test_naming_a_roi_or_dataset_you_may_not_see_is_refused(servers: Servers) -> None:
    """A ROI opens its image, a dataset its members: naming alice's private ones in a call of
    her shared function is refused like naming her private image."""
    server = servers.in_process(users=("alice", "bob"))
    with server.app("alice", "cropper") as alice:
        alice.register(crop_size, interface="crop_size")
        alice.register(members, interface="members")
        alice.serve()
        private = from_xarray(xr.DataArray(np.ones((4, 4)), dims=("y", "x")), name=SECRET)
        roi = private.add_roi(kind="rectangle", vectors=[[0, 0], [1, 1]])
        hidden = dataset("alice's hidden set")
        hidden.add(private)
        alice.rpc.share("crop_size", users=["bob"])
        alice.rpc.share("members", users=["bob"])
        assert call(find(interface="crop_size"), roi) == 4
        with server.app("bob", "bob-sdk"):
            for interface, argument, what in (
                ("crop_size", roi, "no roi"),
                ("members", hidden, "no dataset"),
            ):
                theirs = find(interface=interface, owner="alice")
                with pytest.raises(DataNotFoundError, match=what):
                    call(theirs, argument)
        hidden.share(users=["bob"])  # shared: bob's call goes through
        with server.app("bob", "bob-sdk"):
            assert call(find(interface="members", owner="alice"), hidden) == 1
