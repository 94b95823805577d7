"""Database models of remote functions (terms from rekuest).

- **Node**: a function's contract, content-addressed by the hash of its definition;
- **Template**: an app's implementation of a node under an interface name (one per user, app
  and interface), with who it is shared with;
- **Agent**: one running instance of an app (user + OAuth client + instance id);
- **Provision**: an agent's commitment to serve a template (active while it is connected);
- **Reservation**: a caller's booking of a node; calls through it are routed among providers;
- **Assignation**: one call, with its ordered **AssignationEvent**s;
- **AgentState**: the latest published value of one of an agent's ``@state``s.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from ..models import Base, new_id, utcnow


class Node(Base):
    __tablename__ = "rpc_nodes"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    hash: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(255), index=True)
    description: Mapped[str | None] = mapped_column(Text, default=None)
    kind: Mapped[str] = mapped_column(String(16))
    definition: Mapped[dict[str, Any]] = mapped_column()
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class Template(Base):
    __tablename__ = "rpc_templates"
    __table_args__ = (UniqueConstraint("user_id", "app_identifier", "interface"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    node_id: Mapped[str] = mapped_column(ForeignKey("rpc_nodes.id"), index=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    app_identifier: Mapped[str] = mapped_column(String(255))
    interface: Mapped[str] = mapped_column(String(200))
    shared_with_everyone: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class TemplateShare(Base):
    """One user a template is shared with."""

    __tablename__ = "rpc_template_shares"

    template_id: Mapped[str] = mapped_column(
        ForeignKey("rpc_templates.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[str] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class Agent(Base):
    __tablename__ = "rpc_agents"
    __table_args__ = (UniqueConstraint("client_pk", "instance_id"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    client_pk: Mapped[str] = mapped_column(ForeignKey("oauth_clients.id", ondelete="CASCADE"))
    app_identifier: Mapped[str] = mapped_column(String(255))
    instance_id: Mapped[str] = mapped_column(String(200))
    connected: Mapped[bool] = mapped_column(default=False)
    session: Mapped[str | None] = mapped_column(String(32), default=None)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class Provision(Base):
    __tablename__ = "rpc_provisions"
    __table_args__ = (UniqueConstraint("agent_id", "template_id"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    agent_id: Mapped[str] = mapped_column(
        ForeignKey("rpc_agents.id", ondelete="CASCADE"), index=True
    )
    template_id: Mapped[str] = mapped_column(
        ForeignKey("rpc_templates.id", ondelete="CASCADE"), index=True
    )
    active: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class Reservation(Base):
    __tablename__ = "rpc_reservations"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    node_id: Mapped[str] = mapped_column(ForeignKey("rpc_nodes.id"))
    agents: Mapped[list[Any] | None] = mapped_column(default=None)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    ended_at: Mapped[dt.datetime | None] = mapped_column(default=None)


class Assignation(Base):
    __tablename__ = "rpc_assignations"
    __table_args__ = (Index("ix_rpc_assignations_user_created", "user_id", "created_at"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    """The caller."""
    app_identifier: Mapped[str] = mapped_column(String(255))
    """The caller's app."""
    node_id: Mapped[str] = mapped_column(ForeignKey("rpc_nodes.id"), index=True)
    template_id: Mapped[str | None] = mapped_column(
        ForeignKey("rpc_templates.id", ondelete="SET NULL"), default=None
    )
    agent_id: Mapped[str | None] = mapped_column(
        ForeignKey("rpc_agents.id", ondelete="SET NULL"), default=None, index=True
    )
    reservation_id: Mapped[str | None] = mapped_column(String(32), default=None)
    parent_id: Mapped[str | None] = mapped_column(String(32), default=None, index=True)
    args: Mapped[dict[str, Any]] = mapped_column()
    status: Mapped[str] = mapped_column(String(16))
    """The kind of the latest event."""
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[dt.datetime | None] = mapped_column(default=None)


class AssignationEvent(Base):
    __tablename__ = "rpc_assignation_events"
    __table_args__ = (Index("ix_rpc_events_assignation", "assignation_id", "index"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    assignation_id: Mapped[str] = mapped_column(
        ForeignKey("rpc_assignations.id", ondelete="CASCADE")
    )
    index: Mapped[int] = mapped_column()
    """Position in the assignation's history, from 0."""
    kind: Mapped[str] = mapped_column(String(16))
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)
    """The event's fields beyond its kind (progress, message, values, error)."""
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class AgentState(Base):
    """The latest value an agent published of one of its states (written behind, throttled)."""

    __tablename__ = "rpc_agent_states"

    agent_id: Mapped[str] = mapped_column(
        ForeignKey("rpc_agents.id", ondelete="CASCADE"), primary_key=True
    )
    name: Mapped[str] = mapped_column(String(200), primary_key=True)
    revision: Mapped[int] = mapped_column()
    value: Mapped[dict[str, Any]] = mapped_column()
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
