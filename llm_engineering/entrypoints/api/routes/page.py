"""The chat page on ``GET /``: one static HTML file that talks to ``/v1/chat/completions``."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse

STATIC = Path(__file__).parent.parent / "static"

router = APIRouter()


@router.get("/", include_in_schema=False)
async def chat_page():
    return FileResponse(STATIC / "index.html", media_type="text/html; charset=utf-8")
