"""gateway-bot: the only service that talks to Telegram (aiogram 3).

Layout: ``handlers/`` (a router per mode and per command group, ordered by ``get_routers()``),
``states.py``, ``callbacks.py``, ``keyboards.py``, ``texts.py`` (every Russian string), ``filters.py``,
``middlewares/``; ``flows/`` (image intake, album assembly, flow inputs, job launching);
``clients/`` (billing, llm, jobs over NATS); ``storage/`` (FSM and shared records in NATS KV);
``telegram/`` (the shared outbound rate limiter); ``delivery/`` (the EVENTS consumer: progress and
results); ``transport.py`` (long polling or webhook); ``app.py`` (the composition root).
"""

from gateway_bot.telegram.models import import_aiogram

# First, before any module of the package imports aiogram: its models are then built when used.
import_aiogram()
