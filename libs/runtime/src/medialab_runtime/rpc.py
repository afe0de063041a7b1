"""Typed request-reply over core NATS: nats.micro endpoints on the server, ``call`` on the client.

Errors travel as nats.micro error headers plus an ``ErrorReply`` body, so a caller gets the same
``MediaLabError`` subclass the handler raised — never a stack trace.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from medialab_contracts.errors import (
    BadRequest,
    ErrorCode,
    ErrorReply,
    InternalError,
    MediaLabError,
    ServiceUnavailable,
)
from nats.aio.client import Client
from nats.errors import NoRespondersError
from nats.errors import TimeoutError as NatsTimeoutError
from nats.micro.request import ERROR_CODE_HEADER, ERROR_HEADER, Request
from nats.micro.service import Service
from pydantic import BaseModel, ValidationError

from medialab_runtime.metrics import MESSAGES, RPC_LATENCY

log = logging.getLogger(__name__)

Req = TypeVar("Req", bound=BaseModel)
Rep = TypeVar("Rep", bound=BaseModel)


def _short_validation_message(error: ValidationError) -> str:
    errors = error.errors()
    if not errors:
        return "invalid request: body: malformed"
    where = ".".join(str(p) for p in errors[0]["loc"]) or "body"
    return f"invalid request: {where}: {errors[0]['msg']}"[:300]


async def _respond_error(request: Request, error: MediaLabError) -> None:
    reply = error.to_reply()
    await request.respond_error(reply.code.value, reply.message[:200], data=reply.model_dump_json().encode())


def _from_a_client(request: Request) -> bool:
    """A request a client sent asks for its answer in a client inbox (``_INBOX`` or a service's own
    ``_INBOX_<user>``). JetStream can be made to hand a message to any subject past the publish
    permissions of the user who set it up: a push consumer delivers to whatever ``deliver_subject``
    its creator named (nats-server issue #8274), with a ``$JS.ACK…`` reply; such a message is
    stored data replayed by the server, never a request, and is refused."""
    reply = request._msg.reply  # nats.micro's Request does not expose it
    return reply.startswith("_INBOX")


async def add_endpoint(
    service: Service,
    service_name: str,
    subject: str,
    request_type: type[Req],
    handler: Callable[[Req], Awaitable[BaseModel]],
    *,
    in_flight: set[asyncio.Task[None]] | None = None,
) -> None:
    """Serve ``subject`` with ``handler``; the queue group spreads calls over replicas. Only requests
    a client sent are answered (``_from_a_client``).

    nats-py runs one subscription's callbacks one after another. With ``in_flight`` every request
    runs in its own task, kept in that set until it is answered: slow handlers then serve many
    requests at once, and stopping the service (which cancels the subscription's callback) leaves
    them running — the owner awaits the set on shutdown.
    """

    async def handle(request: Request) -> None:
        started = time.perf_counter()
        outcome = "ok"
        MESSAGES.labels(service_name, subject, "in").inc()
        if not _from_a_client(request):
            log.warning(
                "%s: dropped a message that is not a client's request (reply %r)",
                subject,
                request._msg.reply[:40],
            )
            RPC_LATENCY.labels(service_name, subject, "not_a_request").observe(time.perf_counter() - started)
            return
        try:
            try:
                payload = request_type.model_validate_json(request.data)
            except ValidationError as error:
                raise BadRequest(_short_validation_message(error)) from None
            reply = await handler(payload)
            await request.respond(reply.model_dump_json().encode())
        except MediaLabError as error:
            outcome = error.code.value
            await _respond_error(request, error)
        except Exception:
            outcome = ErrorCode.internal.value
            log.exception("handler of %s failed", subject)
            await _respond_error(request, InternalError("internal error"))
        finally:
            RPC_LATENCY.labels(service_name, subject, outcome).observe(time.perf_counter() - started)

    name = subject.replace(".", "_")
    if in_flight is None:
        await service.add_endpoint(name=name, subject=subject, handler=handle)
        return
    tasks = in_flight

    async def detach(request: Request) -> None:
        task = asyncio.create_task(handle(request), name=f"rpc {subject}")
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    await service.add_endpoint(name=name, subject=subject, handler=detach)


async def call(
    nc: Client, subject: str, request: BaseModel, reply_type: type[Rep], timeout: float = 5.0
) -> Rep:
    """Send ``request`` and return the typed reply, or raise the typed error the server raised."""
    try:
        msg = await nc.request(subject, request.model_dump_json().encode(), timeout=timeout)
    except NoRespondersError:
        raise ServiceUnavailable(f"no responders on {subject}") from None
    except NatsTimeoutError:
        raise ServiceUnavailable(f"{subject} timed out after {timeout}s") from None
    headers = msg.headers or {}
    if ERROR_CODE_HEADER in headers:
        try:
            reply = ErrorReply.model_validate_json(msg.data)
        except ValidationError:
            code = headers.get(ERROR_CODE_HEADER, "internal")
            known = code if code in ErrorCode.__members__ else ErrorCode.internal.value
            reply = ErrorReply(code=ErrorCode(known), message=headers.get(ERROR_HEADER, "")[:500])
        raise MediaLabError.from_reply(reply)
    return reply_type.model_validate_json(msg.data)
