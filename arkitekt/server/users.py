"""User accounts: create, list, remove, check passwords (argon2)."""

from __future__ import annotations

import re

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from .models import User

_hasher = PasswordHasher()
_USERNAME = re.compile(r"^[A-Za-z0-9_.@+-]{1,150}$")
# Verifying against this keeps the time of "no such user" equal to "wrong password".
_DUMMY_HASH = _hasher.hash("arkitekt-timing-equaliser")


class UserError(ValueError):
    """A user operation was refused (bad name, duplicate, unknown user)."""


def validate_username(username: str) -> str:
    if not _USERNAME.match(username):
        raise UserError(
            f"username {username!r} is not allowed: use 1-150 letters, digits or _ . @ + -"
        )
    return username


def hash_password(password: str) -> str:
    if not password:
        raise UserError("password must not be empty")
    return _hasher.hash(password)


async def create_user(
    session: AsyncSession, username: str, password: str | None, *, is_admin: bool = False
) -> User:
    """Create a user; ``password=None`` makes one that cannot log in with a password."""
    validate_username(username)
    user = User(
        username=username,
        password_hash=hash_password(password) if password is not None else None,
        is_admin=is_admin,
    )
    session.add(user)
    try:
        await session.commit()
    except IntegrityError as e:
        await session.rollback()
        raise UserError(f"a user named {username!r} already exists") from e
    return user


async def get_user(session: AsyncSession, username: str) -> User | None:
    result = await session.execute(select(User).where(User.username == username))
    return result.scalar_one_or_none()


async def ensure_user(session: AsyncSession, username: str) -> User:
    """The user of that name, created (without a password) when missing."""
    user = await get_user(session, username)
    if user is not None:
        return user
    try:
        return await create_user(session, username, None, is_admin=True)
    except UserError:  # created concurrently by another process
        user = await get_user(session, username)
        assert user is not None
        return user


async def list_users(session: AsyncSession) -> list[User]:
    return list((await session.execute(select(User).order_by(User.username))).scalars())


async def remove_user(session: AsyncSession, username: str) -> None:
    result = await session.execute(delete(User).where(User.username == username))
    if result.rowcount == 0:  # type: ignore[attr-defined]
        raise UserError(f"there is no user named {username!r}")
    await session.commit()


async def set_password(session: AsyncSession, username: str, password: str) -> None:
    user = await get_user(session, username)
    if user is None:
        raise UserError(f"there is no user named {username!r}")
    user.password_hash = hash_password(password)
    await session.commit()


def check_password(user: User | None, password: str) -> bool:
    """Whether ``password`` is the user's; constant effort whether or not the user exists."""
    stored = user.password_hash if user is not None and user.is_active else None
    try:
        _hasher.verify(stored or _DUMMY_HASH, password)
    except (VerificationError, InvalidHashError):
        return False
    return stored is not None
