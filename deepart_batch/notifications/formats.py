"""The bodies each endpoint format takes.

json:  the event itself, as before (one POST per event; signed when a secret is set).
slack: an incoming-webhook message: `text` (the fallback notifications and old clients
       show) and Block Kit blocks (header, a mrkdwn section of lines, context, a button
       to the gallery), held to Slack's limits (section text 3000, header 150).
teams: an incoming-webhook message carrying one Adaptive Card (version 1.2): a bold
       title, one TextBlock per line, an Action.OpenUrl to the gallery.
Chat text is escaped: `&`, `<` and `>` are Slack markup (`<!channel>` pings everyone).
"""

from __future__ import annotations

import json

from .batching import Batch
from .text import gallery_link

SLACK_SECTION_CHARS = 3000
SLACK_HEADER_CHARS = 150
SLACK_TEXT_CHARS = 3000       # the fallback: kept short, the blocks carry the message
LINK_TITLE = "Open the gallery"
ADAPTIVE_CARD_VERSION = "1.2"
ADAPTIVE_CARD_SCHEMA = "http://adaptivecards.io/schemas/adaptive-card.json"
ADAPTIVE_CARD_TYPE = "application/vnd.microsoft.card.adaptive"


def json_body(event: dict) -> bytes:
    return json.dumps(event, ensure_ascii=False).encode("utf-8", "surrogateescape")


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit - 1] + "…"


def slack_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _sections(lines: list[str]) -> list[str]:
    """Lines packed into section texts of at most SLACK_SECTION_CHARS, whole lines each."""
    out: list[str] = []
    for line in lines:
        line = _clip(line, SLACK_SECTION_CHARS)
        if out and len(out[-1]) + 1 + len(line) <= SLACK_SECTION_CHARS:
            out[-1] += "\n" + line
        else:
            out.append(line)
    return out


def slack_payload(batch: Batch, base_url: str | None = None) -> dict:
    title, lines = batch.title(), batch.shown_lines()
    link = gallery_link(base_url, batch.campaign)
    blocks: list[dict] = [
        {"type": "header", "text": {"type": "plain_text",
                                    "text": _clip(title, SLACK_HEADER_CHARS)}}]
    blocks += [{"type": "section", "text": {"type": "mrkdwn", "text": text}}
               for text in _sections([f"• {slack_escape(line)}" for line in lines])]
    box = batch.events[0].get("box") if batch.events else None
    if box:
        blocks.append({"type": "context", "elements": [
            {"type": "mrkdwn", "text": _clip(slack_escape(f"deepart-batch on {box}"), 300)}]})
    if link:
        blocks.append({"type": "actions", "elements": [
            {"type": "button", "text": {"type": "plain_text", "text": LINK_TITLE},
             "url": link}]})
    fallback = title + ": " + "; ".join(lines[:3]) + ("; …" if len(lines) > 3 else "")
    return {"text": _clip(slack_escape(fallback), SLACK_TEXT_CHARS), "blocks": blocks}


def teams_payload(batch: Batch, base_url: str | None = None) -> dict:
    link = gallery_link(base_url, batch.campaign)
    body: list[dict] = [{"type": "TextBlock", "text": batch.title(), "weight": "Bolder",
                         "size": "Medium", "wrap": True}]
    body += [{"type": "TextBlock", "text": line, "wrap": True, "spacing": "Small"}
             for line in batch.shown_lines()]
    card: dict = {"$schema": ADAPTIVE_CARD_SCHEMA, "type": "AdaptiveCard",
                  "version": ADAPTIVE_CARD_VERSION, "body": body}
    if link:
        card["actions"] = [{"type": "Action.OpenUrl", "title": LINK_TITLE, "url": link}]
    return {"type": "message", "attachments": [
        {"contentType": ADAPTIVE_CARD_TYPE, "contentUrl": None, "content": card}]}


CHAT_PAYLOADS = {"slack": slack_payload, "teams": teams_payload}


def chat_body(fmt: str, batch: Batch, base_url: str | None = None) -> bytes:
    """The POST body of one batch for a slack or teams endpoint."""
    return json.dumps(CHAT_PAYLOADS[fmt](batch, base_url), ensure_ascii=False).encode(
        "utf-8", "surrogateescape")
