"""The pure retrieval core: cleaning, splitting, tokenizing, BM25, dense search, fusion, selection.

Nothing here imports telegram, aiosqlite, sqlite3 or asyncio; storage lives in ``index/`` and the
event loop in ``library.py`` / ``bot.py``.
"""
