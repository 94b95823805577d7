"""The run page: call a function from the browser, then follow the call live.

``GET /dashboard/functions/{node_id}/run``
    A form made from the function's definition (:mod:`.run_form`), and a choice of whose app
    runs it: the user's own apps (their templates of the node), or one template shared with
    them, named on the form (DESIGN §8: a call goes only where its caller chose).
``POST`` the same path
    Checks the arguments with the codec the SDK uses, showing its messages next to the fields
    with what was typed kept, and starts the call the way GraphQL's ``assign`` does
    (:func:`~.rpc.http_calls.start_call`); then on to the call's page.
``GET /dashboard/calls/{call_id}``
    The call: status, progress bar, log, result (images as the dashboard's thumbnails), error,
    and a Cancel button; ``static/run.js`` keeps it live from
``GET /dashboard/calls/{call_id}/events``
    server-sent events (:mod:`.call_stream`), and
``POST /dashboard/calls/{call_id}/cancel``
    cancels it.

Every route needs the web session (pages send the logged-out to the login page; the stream
answers 404), every form its CSRF token. A function, call or image the user may not use is not
found, exactly as one that does not exist.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from arkitekt.errors import ArgumentError
from arkitekt.protocol.ports import Definition

from .call_stream import call_events, no_stream, open_stream
from .call_view import ValueRenderer, event_view, load_call, status_after
from .dashboard import MAX_ID_LENGTH
from .http import read_form, state_of
from .models import WebSession
from .oauth import OAuthError
from .pages import _csrf_ok, _login_redirect, current_session, render
from .rpc.http_calls import (
    CallRefused,
    HttpCaller,
    NoSuchFunction,
    cancel_call,
    definition_for,
    start_call,
)
from .rpc.state import RpcState
from .run_form import (
    FormField,
    Option,
    Stored,
    build_fields,
    check_arguments,
    field_message,
    port_key,
    read_arguments,
    widget_of,
)
from .state import ServerState
from .storage.catalogue import FileFilter, ImageFilter
from .storage.state import StorageState

WEB_CLIENT = "web"
"""The client of calls made on the web pages (no OAuth client has this primary key)."""
WEB_APP = "dashboard"
"""What such calls record as their caller's app."""
CHOICES_SHOWN = 200
"""Images (and files) offered for one port: the newest the user may see."""
PROVIDERS_SHOWN = 100
"""Other users' templates of one function offered on the form."""
MINE = "mine"
"""The provider choice "my own apps" (no template named)."""
TIMES = " \N{MULTIPLICATION SIGN} "
EXPIRED = "Your form expired (or came from elsewhere). Please submit it again."


def web_caller(session: WebSession) -> HttpCaller:
    """The web session's user as a caller over HTTP."""
    return HttpCaller(
        user_id=session.user_id,
        username=session.user.username,
        client_pk=WEB_CLIENT,
        app_identifier=WEB_APP,
        instance_id="run-page",
    )


def _parts(state: ServerState) -> tuple[RpcState, StorageState]:
    if state.rpc is None or state.storage is None:
        raise RuntimeError("the server has not started (its lifespan did not run)")
    return state.rpc, state.storage


def _not_found(request: Request, session: WebSession, what: str) -> Response:
    return render(
        request,
        "message.html",
        404,
        user=session.user,
        title="Not found",
        message=f"No such {what} (or it is not shared with you).",
    )


def _bad_request(request: Request, session: WebSession, status: int, message: str) -> Response:
    return render(
        request, "message.html", status, user=session.user, title="Bad request", message=message
    )


# -- the form -------------------------------------------------------------------------------------


@dataclass
class Target:
    """A function the user may call, and whose apps may run it for them."""

    node_id: str
    definition: Definition
    providers: list[Option]
    """``mine`` (their own apps) when they have templates of it, then others' templates."""
    connected: int
    """Connected agents that offer it to the user."""


async def _target(rpc: RpcState, session: WebSession, node_id: str) -> Target | None:
    if not node_id or len(node_id) > MAX_ID_LENGTH:
        return None
    found = await rpc.catalogue.find(session.user_id, node=node_id, limit=1)
    if not found:
        return None
    node = found[0]
    username = session.user.username
    own = sorted({t.interface for t in node.templates if t.owner == username})
    providers = []
    if own:
        providers.append(Option(MINE, f"Your apps ({', '.join(own)})", True))
    for template in [t for t in node.templates if t.owner != username][:PROVIDERS_SHOWN]:
        label = f"{template.owner}'s app ({template.interface}), shared with you"
        providers.append(Option(template.id, label, not providers))
    return Target(
        node_id=node.id,
        definition=Definition.model_validate(node.definition),
        providers=providers,
        connected=rpc.broker.provider_count(node.id, session.user_id),
    )


async def _stored_choices(
    storage: StorageState, user_id: str, definition: Definition
) -> dict[str, list[Stored]]:
    """What the user may pick for the image and file ports (only what the form needs)."""
    widgets = {widget_of(port) for port in definition.args}
    choices: dict[str, list[Stored]] = {}
    if "image" in widgets:
        images = await storage.catalogue.images(user_id, ImageFilter(), CHOICES_SHOWN, 0)
        choices["image"] = [
            Stored(
                image.id,
                f"{image.name} · {TIMES.join(str(n) for n in image.shape)} {image.dtype}"
                + ("" if image.owner_id == user_id else " · shared with you"),
            )
            for image in images
        ]
    if "file" in widgets:
        files = await storage.catalogue.files(user_id, FileFilter(), CHOICES_SHOWN, 0)
        choices["file"] = [
            Stored(file.id, file.name + ("" if file.owner_id == user_id else " · shared with you"))
            for file in files
        ]
    return choices


def _show_form(
    request: Request,
    session: WebSession,
    target: Target,
    fields: Sequence[FormField],
    *,
    status: int = 200,
    form_error: str | None = None,
    provider: str | None = None,
    provider_error: str | None = None,
) -> Response:
    providers = target.providers
    if provider is not None:
        providers = [Option(o.value, o.label, o.value == provider) for o in providers]
    return render(
        request,
        "run.html",
        status,
        user=session.user,
        csrf=session.csrf_token,
        action=f"/dashboard/functions/{target.node_id}/run",
        function=target.definition,
        fields=fields,
        providers=providers,
        provider_error=provider_error,
        connected=target.connected,
        form_error=form_error,
    )


async def run_page(request: Request) -> Response:
    """``GET /dashboard/functions/{node_id}/run``: the form, with the defaults."""
    session = await current_session(request)
    if session is None:
        return _login_redirect(request)
    rpc, storage = _parts(state_of(request))
    target = await _target(rpc, session, str(request.path_params["node_id"]))
    if target is None:
        return _not_found(request, session, "function")
    stored = await _stored_choices(storage, session.user_id, target.definition)
    return _show_form(request, session, target, build_fields(target.definition, stored))


def _chosen_template(target: Target, chosen: object) -> tuple[str | None, str | None]:
    """(template to name or None for the user's own apps, error) from the provider field."""
    offered = {option.value for option in target.providers}
    if isinstance(chosen, str) and chosen in offered:
        return (None if chosen == MINE else chosen), None
    if not target.providers:
        return None, "Nobody offers this function to you any more."
    return None, "Choose one of the listed apps."


async def run_submit(request: Request) -> Response:
    """``POST /dashboard/functions/{node_id}/run``: check, start, and on to the call's page."""
    session = await current_session(request)
    if session is None:
        return _login_redirect(request)
    state = state_of(request)
    rpc, storage = _parts(state)
    target = await _target(rpc, session, str(request.path_params["node_id"]))
    if target is None:
        return _not_found(request, session, "function")
    try:
        form = await read_form(request, state.config.web_form_max_bytes)
    except OAuthError as e:
        return _bad_request(request, session, e.status, e.description)
    definition = target.definition
    fields = build_fields(
        definition, await _stored_choices(storage, session.user_id, definition), form
    )
    provider = form.get("provider")
    shown = provider if isinstance(provider, str) else None

    def again(status: int, errors: dict[str, str], **context: str | None) -> Response:
        for item in fields:
            item.error = errors.get(item.key)
        return _show_form(
            request, session, target, fields, status=status, provider=shown, **context
        )

    if not _csrf_ok(session.csrf_token, form.get("csrf")):
        return again(400, {}, form_error=EXPIRED)
    kwargs, errors = read_arguments(definition, form)
    template, provider_error = _chosen_template(target, provider)
    _, judged = await check_arguments(definition, kwargs, skip=list(errors))
    errors.update(judged)
    if errors or provider_error:
        summary = errors.pop("", None) or "The call was not started: see the fields marked below."
        return again(400, errors, form_error=summary, provider_error=provider_error)
    try:
        started = await start_call(
            rpc,
            storage.catalogue,
            web_caller(session),
            node_id=target.node_id,
            args=kwargs,
            template=template,
        )
    except NoSuchFunction:
        return _not_found(request, session, "function")
    except ArgumentError as e:  # an image or file the user may not use
        key = port_key(e.port, definition.args) or ""
        return again(400, {key: field_message(e, key)}, form_error="The call was not started.")
    except CallRefused as e:
        status = 503 if e.code == "busy" else 409
        return again(status, {}, form_error=f"The call was not started: {e.message}.")
    return RedirectResponse(f"/dashboard/calls/{started.id}", status_code=303)


# -- the call -------------------------------------------------------------------------------------


async def call_page(request: Request) -> Response:
    """``GET /dashboard/calls/{call_id}``: one of the user's calls, as it stands."""
    session = await current_session(request)
    if session is None:
        return _login_redirect(request)
    state = state_of(request)
    rpc, storage = _parts(state)
    record = await load_call(state, session.user_id, str(request.path_params["call_id"]))
    if record is None:
        return _not_found(request, session, "call")
    renderer = ValueRenderer(storage.catalogue, session.user_id)
    definition = record.definition
    events = [
        await event_view(index, kind, data, definition, renderer)
        for index, kind, data in record.events
    ]
    status = events[-1].status if events else status_after(record.status)
    if record.final:
        status = record.status
    progress = next((e.progress for e in reversed(events) if e.progress is not None), None)
    rerun = None
    try:  # a link to run it again, while the user may
        await definition_for(rpc, session.user_id, record.node_id)
        rerun = f"/dashboard/functions/{record.node_id}/run"
    except NoSuchFunction:
        pass
    return render(
        request,
        "call.html",
        user=session.user,
        csrf=session.csrf_token,
        call=record,
        function=definition,
        arguments=await renderer.values(definition.args, record.args),
        events=events,
        call_status=status,
        progress=progress,
        rerun=rerun,
        stream=f"/dashboard/calls/{record.id}/events?{urlencode({'after': record.last_index})}",
    )


def _after(request: Request) -> int:
    """The last event the page has: a reconnecting browser's ``Last-Event-ID``, else
    ``after``; -1 (from the start) when neither is a sensible index."""
    for given in (request.headers.get("last-event-id"), request.query_params.get("after")):
        if given is not None and given.lstrip("-").isdigit() and len(given) < 12:
            return max(-1, int(given))
    return -1


async def call_stream(request: Request) -> Response:
    """``GET /dashboard/calls/{call_id}/events``: the call's events, live (server-sent)."""
    session = await current_session(request)
    state = state_of(request)
    record = (
        await load_call(state, session.user_id, str(request.path_params["call_id"]))
        if session is not None
        else None
    )
    if session is None or record is None:
        return no_stream("No such call.", 404)
    config = state.config
    user_id = session.user_id

    async def make() -> AsyncIterator[str]:
        return call_events(
            state,
            record,
            user_id,
            _after(request),
            max_seconds=config.web_stream_max_seconds,
            keepalive=config.web_stream_keepalive,
        )

    return await open_stream(
        request,
        user_id,
        config.web_streams_per_user,
        f"You have {config.web_streams_per_user} live call pages open; close one.",
        make,
    )


async def cancel_submit(request: Request) -> Response:
    """``POST /dashboard/calls/{call_id}/cancel``: cancel one of the user's calls."""
    call_id = str(request.path_params["call_id"])
    page = f"/dashboard/calls/{call_id}"
    session = await current_session(request)
    if session is None:
        return RedirectResponse(f"/login?{urlencode({'next': page})}", status_code=303)
    state = state_of(request)
    rpc, _ = _parts(state)
    try:
        form = await read_form(request, state.config.web_form_max_bytes)
    except OAuthError as e:
        return _bad_request(request, session, e.status, e.description)
    if not _csrf_ok(session.csrf_token, form.get("csrf")):
        return _bad_request(request, session, 400, EXPIRED)
    if await load_call(state, session.user_id, call_id) is None:
        return _not_found(request, session, "call")
    cancel_call(rpc, web_caller(session), call_id)  # an ended call stays as it ended
    return RedirectResponse(page, status_code=303)


def routes() -> list[BaseRoute]:
    """The run page's routes, added to the server's app."""
    return [
        Route("/dashboard/functions/{node_id}/run", run_page, methods=["GET"]),
        Route("/dashboard/functions/{node_id}/run", run_submit, methods=["POST"]),
        Route("/dashboard/calls/{call_id}", call_page, methods=["GET"]),
        Route("/dashboard/calls/{call_id}/events", call_stream, methods=["GET"]),
        Route("/dashboard/calls/{call_id}/cancel", cancel_submit, methods=["POST"]),
    ]
