"""Run the real newsbot Application inside the caller's event loop (tests, transcript, load test).

``run_polling`` owns its loop and cannot run inside a test's, so this drives PTB's lifecycle by
hand: initialize, post_init (which ``run_polling`` would call), start, start_polling; and the
reverse on exit.
"""

from __future__ import annotations

import datetime as dtm
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from telegram.ext import Application

from bot import build_application
from settings import Settings


@asynccontextmanager
async def running_bot(settings: Settings, library: Any) -> AsyncIterator[Application]:  # type: ignore[type-arg]
    app = build_application(settings, library=library)
    await app.initialize()
    assert app.post_init is not None and app.updater is not None
    await app.post_init(app)
    await app.start()
    await app.updater.start_polling(poll_interval=0, timeout=dtm.timedelta(seconds=10))
    try:
        yield app
    finally:
        await app.updater.stop()
        await app.stop()
        await app.shutdown()
