"""What one GraphQL request may cost: size, shape, pages, time, and its user's share.

:class:`Limits` is the Strawberry extension every schema of the server runs with. It reads the
running server's :class:`~arkitekt.server.config.ServerConfig` from the request's context, so
one schema serves servers with different settings:

- a document of more than ``graphql_max_tokens`` tokens is refused before it is parsed
  (Strawberry's ``MaxTokensLimiter`` option);
- deeper than ``graphql_max_depth``, more aliases than ``graphql_max_aliases``
  (Strawberry's ``QueryDepthLimiter`` and ``MaxAliasesLimiter`` rules) or an estimated cost
  above ``graphql_max_cost`` is refused before graphql-core's own (quadratic) validation runs;
- a string (in the document or a variable) holding a NUL character is refused: stored text
  cannot hold one (:mod:`arkitekt.protocol.text`);
- a query or mutation runs at most ``graphql_timeout`` seconds, its wait for a turn included;
- one user runs at most ``graphql_user_concurrency`` operations at once and queues at most
  ``graphql_user_queue`` more (:class:`UserGate`); further ones are refused at once. Over HTTP
  the turn covers parsing and validation as well (a flood of documents that will be refused
  costs as much to refuse as to parse), and one user's documents may total at most
  ``graphql_user_document_rate`` bytes (parsing is paid before any shape limit can refuse).

List fields call :func:`page_size` for their ``limit`` argument.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import inspect
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLNamedType,
    GraphQLResolveInfo,
    GraphQLSchema,
    InlineFragmentNode,
    IntValueNode,
    ObjectValueNode,
    OperationDefinitionNode,
    SchemaMetaFieldDef,
    SelectionSetNode,
    StringValueNode,
    TypeMetaFieldDef,
    ValidationRule,
    VariableNode,
    get_named_type,
    get_nullable_type,
    is_list_type,
    validate,
)
from limits import parse as parse_rate
from limits.aio.storage import Storage
from limits.aio.strategies import SlidingWindowCounterRateLimiter
from limits.storage import storage_from_string
from strawberry.extensions import MaxAliasesLimiter, QueryDepthLimiter, SchemaExtension
from strawberry.types import ExecutionContext, Info
from strawberry.types.graphql import OperationType

from arkitekt.protocol.error_codes import ErrorCode
from arkitekt.protocol.text import NUL, nul_path

from .config import ServerConfig
from .passwords import rate_limit_storage

TIMEOUT = ErrorCode.TIMEOUT.value
"""``extensions.code`` of a query stopped at ``graphql_timeout``."""
WHOLE_REQUEST_TIMED = "arkitekt.timed"
"""Context key: the transport stops the whole operation at the time limit (HTTP), so resolvers
need no deadline of their own (which would report one error per field)."""
TOO_MANY_REQUESTS = ErrorCode.TOO_MANY_REQUESTS.value
"""``extensions.code`` of a request refused because its user has too many waiting."""


def _refused(message: str, code: str = ErrorCode.BAD_INPUT.value) -> GraphQLError:
    return GraphQLError(message, extensions={"code": code})


def config_of(context: Mapping[str, Any]) -> ServerConfig:
    config: ServerConfig = context["state"].config
    return config


def page_size(info: Info, value: int, argument: str = "limit") -> int:
    """``value`` of a page-size argument, refused (naming ``argument``) outside 1..maximum."""
    largest = config_of(info.context).graphql_max_page_size
    if not 1 <= value <= largest:
        raise _refused(f"{argument} must be 1 to {largest} (it was {value})")
    return value


def max_page(info: Info) -> int:
    """How many items a list field without a page argument returns at most."""
    return config_of(info.context).graphql_max_page_size


# -- shape: depth, aliases, cost --------------------------------------------------------------


@functools.lru_cache(maxsize=16)
def _shape_rules(max_depth: int, max_aliases: int) -> tuple[type[ValidationRule], ...]:
    depth = QueryDepthLimiter(max_depth=max_depth)  # introspection included: it nests too
    aliases = MaxAliasesLimiter(max_alias_count=max_aliases)
    return (*depth.validation_rules, *aliases.validation_rules)  # type: ignore[arg-type]


_META = {"__schema": SchemaMetaFieldDef, "__type": TypeMetaFieldDef}
"""Introspection's entry fields (on no type's field list): their lists count like any other."""


class _TooCostly(Exception):
    pass


@dataclass
class _Estimate:
    """The cost of one operation: every field once per item of the lists around it."""

    schema: GraphQLSchema
    fragments: dict[str, FragmentDefinitionNode]
    variables: Mapping[str, Any]
    largest_page: int
    budget: int
    total: int = 0

    def add(self, amount: int) -> None:
        self.total += amount
        if self.total > self.budget:  # stop early: fragments can multiply the walk
            raise _TooCostly

    def walk(
        self,
        selections: SelectionSetNode,
        parent: GraphQLNamedType | None,
        items: int,
        spread: frozenset[str] = frozenset(),
    ) -> None:
        for node in selections.selections:
            if isinstance(node, FieldNode):
                self.add(items)
                fields = getattr(parent, "fields", None) or {}
                field = fields.get(node.name.value) or _META.get(node.name.value)
                if field is None or node.selection_set is None:
                    continue  # a leaf, or an unknown field (validation names it)
                inner = items
                if is_list_type(get_nullable_type(field.type)):
                    inner *= self.page(node)
                self.walk(node.selection_set, get_named_type(field.type), inner, spread)
            elif isinstance(node, InlineFragmentNode):
                condition = node.type_condition
                typed = self.schema.get_type(condition.name.value) if condition else parent
                self.walk(node.selection_set, typed or parent, items, spread)
            elif isinstance(node, FragmentSpreadNode):
                name = node.name.value
                fragment = self.fragments.get(name)
                if fragment is None or name in spread:
                    continue  # unknown or cyclic: validation refuses it
                typed = self.schema.get_type(fragment.type_condition.name.value)
                self.walk(fragment.selection_set, typed or parent, items, spread | {name})

    def page(self, node: FieldNode) -> int:
        """The items a list field asks for: its ``limit`` (or ``pagination.limit``)."""
        for argument in node.arguments or ():
            value: Any = None
            if argument.name.value == "limit":
                value = self.value(argument.value)
            elif argument.name.value == "pagination":
                inner = argument.value
                if isinstance(inner, ObjectValueNode):
                    for field in inner.fields:
                        if field.name.value == "limit":
                            value = self.value(field.value)
                elif isinstance(inner, VariableNode):
                    given = self.variables.get(inner.name.value)
                    value = given.get("limit") if isinstance(given, dict) else None
            if isinstance(value, int) and not isinstance(value, bool):
                return max(1, min(value, self.largest_page))
        return self.largest_page

    def value(self, node: Any) -> Any:
        if isinstance(node, IntValueNode):
            return int(node.value)
        if isinstance(node, VariableNode):
            return self.variables.get(node.name.value)
        return None


def _cost_rule(config: ServerConfig, variables: Mapping[str, Any]) -> type[ValidationRule]:
    budget = config.graphql_max_cost

    class CostLimit(ValidationRule):
        def __init__(self, context: Any) -> None:
            super().__init__(context)
            document = context.document
            fragments = {
                d.name.value: d
                for d in document.definitions
                if isinstance(d, FragmentDefinitionNode)
            }
            for definition in document.definitions:
                if not isinstance(definition, OperationDefinitionNode):
                    continue
                root = context.schema.get_root_type(definition.operation)
                estimate = _Estimate(
                    context.schema, fragments, variables, config.graphql_max_page_size, budget
                )
                try:
                    estimate.walk(definition.selection_set, root, 1)
                except _TooCostly:
                    context.report_error(
                        _refused(
                            f"the query would resolve more than {budget} fields; ask for "
                            "smaller pages (limit) or fewer fields"
                        )
                    )
                    return

    return CostLimit


def _text_rule(variables: Mapping[str, Any]) -> type[ValidationRule]:
    class NoNulInText(ValidationRule):
        def __init__(self, context: Any) -> None:
            super().__init__(context)
            where = nul_path(dict(variables))
            if where is not None:
                context.report_error(_refused(f"the variable ${where} {_NUL_REASON}"))

        def enter_string_value(self, node: StringValueNode, *_args: Any) -> None:
            if NUL in node.value:
                self.report_error(_refused(f"a string in the document {_NUL_REASON}"))

    return NoNulInText


_NUL_REASON = "contains a NUL character (\\x00), which text may not hold"


def _as_bad_input(errors: list[GraphQLError] | None) -> list[GraphQLError] | None:
    """Strawberry's limiters report without a code: these are the client's to fix."""
    for error in errors or ():
        if not (error.extensions or {}).get("code"):
            error.extensions = {**(error.extensions or {}), "code": ErrorCode.BAD_INPUT.value}
    return errors


# -- time and fairness ------------------------------------------------------------------------


@dataclass
class _Turns:
    slots: asyncio.Semaphore
    holders: int = 0


class UserGate:
    """Per user: at most ``concurrency`` operations at once, at most ``queue`` waiting, and
    documents of at most ``document_rate`` bytes (a ``limits`` rate) sent."""

    def __init__(
        self,
        concurrency: int,
        queue: int,
        document_rate: str = "100000/second",
        storage: Storage | None = None,
    ) -> None:
        self.concurrency = max(1, concurrency)
        self.queue = max(0, queue)
        self._users: dict[str, _Turns] = {}
        self._document_rate = parse_rate(document_rate)
        self._documents = SlidingWindowCounterRateLimiter(
            storage or storage_from_string("async+memory://")
        )

    async def spend(self, user: str, document: str) -> None:
        """Count a document against its user's rate, refusing it beyond (before parsing)."""
        rate = self._document_rate
        size = min(len(document.encode()), rate.amount)  # a body never exceeds the burst
        if not await self._documents.hit(rate, "graphql-documents", user or "-", cost=size):
            raise _refused(
                f"you sent more GraphQL than the server takes from one user ({rate}); "
                "send fewer or smaller documents, or wait a moment",
                TOO_MANY_REQUESTS,
            )

    @contextlib.asynccontextmanager
    async def turn(self, user: str, deadline: float) -> AsyncIterator[None]:
        """Wait for the user's turn (until ``deadline``, loop time), then hold it."""
        turns = self._users.get(user)
        if turns is None:
            turns = self._users[user] = _Turns(asyncio.Semaphore(self.concurrency))
        if turns.holders >= self.concurrency + self.queue:
            raise _refused(
                f"you have {turns.holders} GraphQL requests running or waiting; "
                "wait for them before sending more",
                TOO_MANY_REQUESTS,
            )
        turns.holders += 1
        try:
            try:
                async with asyncio.timeout_at(deadline):
                    await turns.slots.acquire()
            except TimeoutError:
                raise timed_out(None) from None
            try:
                yield
            finally:
                turns.slots.release()
        finally:
            turns.holders -= 1
            if turns.holders == 0:
                del self._users[user]


def gate_of(context: Mapping[str, Any]) -> UserGate:
    """The running server's gate (made on first use, kept on the Starlette app's state)."""
    app_state = context["request"].app.state
    gate: UserGate | None = getattr(app_state, "graphql_gate", None)
    if gate is None:
        config = config_of(context)
        gate = UserGate(
            config.graphql_user_concurrency,
            config.graphql_user_queue,
            config.graphql_user_document_rate,
            rate_limit_storage(config),
        )
        app_state.graphql_gate = gate
    return gate


def timed_out(seconds: float | None) -> GraphQLError:
    limit = f" ({seconds:g} s)" if seconds is not None else ""
    return _refused(
        f"the request ran longer than the server allows{limit} and was stopped; ask for "
        "less (smaller pages, fewer fields)",
        TIMEOUT,
    )


def _user_of(context: ExecutionContext) -> str:
    claims = context.context.get("claims")
    return claims.user_id if claims is not None else ""


class Limits(SchemaExtension):
    """The server's limits on one GraphQL operation (see the module's docstring)."""

    execution_context: ExecutionContext

    def __init__(self, *, execution_context: ExecutionContext | None = None) -> None:
        self._deadline: float | None = None
        self._timeout = 0.0
        self._has_turn = False

    def _config(self) -> ServerConfig:
        return config_of(self.execution_context.context)

    async def on_operation(self) -> AsyncIterator[None]:
        context, config = self.execution_context, self._config()
        context.parse_options["max_tokens"] = config.graphql_max_tokens
        await gate_of(context.context).spend(_user_of(context), context.query or "")
        if not context.context.get(WHOLE_REQUEST_TIMED):
            yield  # websockets: subscriptions are long-lived; operations take turns to execute
            return
        # Over HTTP the turn covers parsing and validation too: they cost the server as much
        # as executing a refused document, and must not run for a flood all at once.
        self._timeout = config.graphql_timeout
        deadline = asyncio.get_running_loop().time() + self._timeout
        async with gate_of(context.context).turn(_user_of(context), deadline):
            self._has_turn = True
            yield

    def on_parse(self) -> Iterator[None]:
        yield
        _as_bad_input(self.execution_context.pre_execution_errors)  # too many tokens

    def on_validate(self) -> Iterator[None]:
        # Cheap checks first: a refused document never reaches graphql-core's own rules, some
        # of which grow with the square of the number of fields.
        context, config = self.execution_context, self._config()
        document = context.graphql_document
        if document is not None and context.pre_execution_errors is None:
            rules = (
                *_shape_rules(config.graphql_max_depth, config.graphql_max_aliases),
                _cost_rule(config, context.variables or {}),
                _text_rule(context.variables or {}),
            )
            errors = validate(context.schema._schema, document, rules)
            if errors:
                context.pre_execution_errors = _as_bad_input(errors)
        yield

    async def on_execute(self) -> AsyncIterator[None]:
        context = self.execution_context
        if context.operation_type == OperationType.SUBSCRIPTION:
            yield  # long-lived by nature; their socket is bounded instead
            return
        if self._has_turn:
            yield
            return
        self._timeout = self._config().graphql_timeout
        deadline = asyncio.get_running_loop().time() + self._timeout
        self._deadline = deadline  # websockets: each resolver stops at the deadline
        async with gate_of(context.context).turn(_user_of(context), deadline):
            yield

    def resolve(
        self,
        _next: Callable[..., Any],
        root: Any,
        info: GraphQLResolveInfo[Any],
        *args: Any,
        **kwargs: Any,
    ) -> Any:
        result = _next(root, info, *args, **kwargs)
        if self._deadline is None or not inspect.isawaitable(result):
            return result
        return self._bounded(result, self._deadline)

    async def _bounded(self, result: Awaitable[Any], deadline: float) -> Any:
        try:
            async with asyncio.timeout_at(deadline):
                return await result
        except TimeoutError:
            raise timed_out(self._timeout) from None
