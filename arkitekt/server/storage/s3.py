"""The S3 datalayer: image and file bytes in any S3-compatible store (AWS, MinIO, Ceph RGW).

Clients read and write the store directly; the server never proxies bytes. A grant is a set
of temporary credentials from STS ``AssumeRole`` carrying an inline *session policy* that
allows only the objects under one key prefix (and listing only that prefix). The effective
permissions of such credentials are the intersection of the role's policy and the session
policy, so it is the store itself that keeps a client inside its prefix: a leaked or misused
grant reaches nothing else, and it expires on its own (at least 15 minutes, STS's minimum).
The server keeps its own (admin) credentials, used only to create the bucket, read small
metadata objects (``zarr.json``) when verifying an upload, sum sizes and delete.

AWS, MinIO and Ceph evaluate session policies. moto, which the tests run against, issues the
credentials and records the policy but does NOT evaluate it (nor, by default, check the
credentials at all); the tests therefore check the policy itself (:func:`session_policy` is a
pure function) and that the issued credentials work, not that the store refuses other
prefixes.

boto3 (for STS and bucket creation) is imported lazily: this module is imported only when
``ARKITEKT_DATALAYER=s3``. The object operations use obstore's async API.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import re
from typing import TYPE_CHECKING, Any

import obstore
from obstore.store import S3Store

from ..config import ServerConfig
from .datalayer import MAX_METADATA_BYTES, Grant

if TYPE_CHECKING:
    from obstore.store import ClientConfig

logger = logging.getLogger("arkitekt.server.storage.s3")

READ_ACTIONS = ("s3:GetObject",)
WRITE_ACTIONS = (
    "s3:PutObject",
    "s3:DeleteObject",
    "s3:AbortMultipartUpload",
    "s3:ListMultipartUploadParts",
)
MIN_GRANT_SECONDS = 900
"""STS refuses shorter sessions."""


def session_policy(bucket: str, prefix: str, write: bool) -> dict[str, Any]:
    """The inline session policy that narrows a role's credentials to ``prefix``."""
    prefix = prefix.strip("/")
    actions = [*READ_ACTIONS, *(WRITE_ACTIONS if write else ())]
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "ObjectsUnderPrefix",
                "Effect": "Allow",
                "Action": actions,
                "Resource": [f"arn:aws:s3:::{bucket}/{prefix}/*"],
            },
            {
                "Sid": "ListPrefix",
                "Effect": "Allow",
                "Action": ["s3:ListBucket"],
                "Resource": [f"arn:aws:s3:::{bucket}"],
                "Condition": {"StringLike": {"s3:prefix": [f"{prefix}/*"]}},
            },
        ],
    }


def session_name(subject: str) -> str:
    """An STS ``RoleSessionName`` naming the subject: ``[\\w+=,.@-]``, 2 to 64 characters."""
    name = re.sub(r"[^\w+=,.@-]", "_", f"arkitekt-{subject}", flags=re.ASCII)
    return name[:64]


def _error_code(error: Exception) -> str:
    response: Any = getattr(error, "response", None)
    if isinstance(response, dict):
        code = response.get("Error", {}).get("Code")
        if code is not None:
            return str(code)
    return ""


class S3Datalayer:
    """Any S3-compatible store; grants are STS credentials scoped to one prefix."""

    name = "s3"
    delete_batch = 1000
    """Keys per bulk delete (S3's ``DeleteObjects`` takes at most 1000)."""

    def __init__(self, config: ServerConfig, store: S3Store, s3: Any, sts: Any) -> None:
        self.config = config
        self.bucket = config.s3_bucket
        self.store = store
        self._s3 = s3
        self._sts = sts

    @classmethod
    async def open(cls, config: ServerConfig) -> S3Datalayer:
        """Connect with the server's credentials and create the bucket when it is missing."""
        import boto3

        secret = (
            config.s3_secret_access_key.get_secret_value() if config.s3_secret_access_key else None
        )
        store_options: dict[str, Any] = {"region": config.s3_region}
        if config.s3_endpoint_url:
            store_options["endpoint"] = config.s3_endpoint_url
        if config.s3_access_key_id:
            store_options["access_key_id"] = config.s3_access_key_id
        if secret:
            store_options["secret_access_key"] = secret
        client_options: ClientConfig = {}
        if (config.s3_endpoint_url or "").startswith("http://"):
            client_options["allow_http"] = True
        store = S3Store(config.s3_bucket, client_options=client_options, **store_options)

        session = boto3.session.Session(
            aws_access_key_id=config.s3_access_key_id,
            aws_secret_access_key=secret,
            region_name=config.s3_region,
        )
        s3 = session.client("s3", endpoint_url=config.s3_endpoint_url)
        sts = session.client(
            "sts", endpoint_url=config.s3_sts_endpoint_url or config.s3_endpoint_url
        )
        layer = cls(config, store, s3, sts)
        await asyncio.to_thread(layer._ensure_bucket)
        return layer

    def _ensure_bucket(self) -> None:
        from botocore.exceptions import ClientError

        try:
            self._s3.head_bucket(Bucket=self.bucket)
            return
        except ClientError as e:
            if _error_code(e) not in ("404", "NoSuchBucket", "NotFound"):
                raise
        kwargs: dict[str, Any] = {"Bucket": self.bucket}
        if self.config.s3_region != "us-east-1":
            kwargs["CreateBucketConfiguration"] = {"LocationConstraint": self.config.s3_region}
        try:
            self._s3.create_bucket(**kwargs)
            logger.info("created bucket %s", self.bucket)
        except ClientError as e:
            if _error_code(e) != "BucketAlreadyOwnedByYou":
                raise

    async def grant(self, prefix: str, *, write: bool, subject: str, base_url: str) -> Grant:
        prefix = prefix.strip("/")
        policy = json.dumps(session_policy(self.bucket, prefix, write), separators=(",", ":"))
        response = await asyncio.to_thread(
            self._sts.assume_role,
            RoleArn=self.config.s3_role_arn,
            RoleSessionName=session_name(subject),
            DurationSeconds=self.grant_seconds,
            Policy=policy,
        )
        credentials: dict[str, Any] = response["Credentials"]
        expiration = credentials["Expiration"]
        if isinstance(expiration, dt.datetime):
            if expiration.tzinfo is None:
                expiration = expiration.replace(tzinfo=dt.UTC)
            expires_at = expiration.timestamp()
        else:
            expires_at = dt.datetime.fromisoformat(str(expiration)).timestamp()
        logger.debug(
            "granted %s access to %s/%s to %s",
            "write" if write else "read",
            self.bucket,
            prefix,
            subject,
        )
        return Grant(
            kind="s3",
            prefix=prefix,
            write=write,
            expires_at=expires_at,
            bucket=self.bucket,
            endpoint=self.config.s3_public_endpoint_url or self.config.s3_endpoint_url,
            region=self.config.s3_region,
            access_key_id=str(credentials["AccessKeyId"]),
            secret_access_key=str(credentials["SecretAccessKey"]),
            session_token=str(credentials["SessionToken"]),
        )

    @property
    def grant_seconds(self) -> int:
        """How long the credentials of a grant live (STS has a minimum)."""
        return max(MIN_GRANT_SECONDS, self.config.storage_grant_ttl)

    async def put(self, key: str, data: bytes) -> None:
        await obstore.put_async(self.store, key, data)

    async def read(self, key: str, max_bytes: int = MAX_METADATA_BYTES) -> bytes | None:
        """At most ``max_bytes + 1`` bytes of an object (so a caller can tell it is too big)."""
        try:
            result = await obstore.get_async(self.store, key)
            if result.meta["size"] <= max_bytes:
                return bytes(await result.bytes_async())
            data = bytearray()
            async for chunk in result.stream(min_chunk_size=64 * 1024):
                data += chunk
                if len(data) > max_bytes:
                    break
            return bytes(data[: max_bytes + 1])
        except FileNotFoundError:
            return None

    async def read_range(self, key: str, start: int, length: int) -> bytes | None:
        try:
            data = await obstore.get_range_async(self.store, key, start=start, length=length)
        except FileNotFoundError:
            return None
        return bytes(data)

    async def usage(self, prefix: str) -> tuple[int, int]:
        count = size = 0
        async for batch in obstore.list(self.store, _folder(prefix), chunk_size=1000):
            count += len(batch)
            size += sum(meta["size"] for meta in batch)
        return count, size

    async def delete(self, prefix: str) -> None:
        stream = obstore.list(self.store, _folder(prefix), chunk_size=self.delete_batch)
        async for batch in stream:
            paths = [meta["path"] for meta in batch]
            if paths:
                await obstore.delete_async(self.store, paths)

    async def ready(self) -> None:
        await asyncio.to_thread(self._s3.head_bucket, Bucket=self.bucket)

    async def close(self) -> None:
        for client in (self._s3, self._sts):
            close = getattr(client, "close", None)
            if close is not None:
                await asyncio.to_thread(close)


def _folder(prefix: str) -> str:
    """``prefix`` as a folder: ``images/a`` must not match ``images/ab``."""
    folder = prefix.strip("/")
    if not folder:
        raise ValueError("an empty prefix would be the whole bucket")
    return folder + "/"
