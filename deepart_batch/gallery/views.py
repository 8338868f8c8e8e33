"""What a page shows of a photo, an output, a print and a trouble: the model's items
(model.py, prints.py) turned into the plain values the templates read, with every link
relative to the page's folder."""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import quote

from ..core.state_texts import plain
from .curve import loss_curve
from .model import OutputItem, PhotoEntry, Trouble, photo_state
from .prints import PrintItem
from .thumbs import PREVIEW_SIDE, Thumbnails


def href(target: Path, page_dir: Path) -> str:
    """A relative, percent-encoded link: works on file://, shares and any web server."""
    return quote(Path(os.path.relpath(target, page_dir)).as_posix(), safe="/")


def photo_view(photo: PhotoEntry, folder: Path, thumbs: Thumbnails) -> dict:
    original = None
    small = thumbs.get(photo.original)
    if small is not None:
        big = thumbs.get(photo.original, PREVIEW_SIDE)
        original = {"thumb": href(small, folder), "href": href(big or small, folder)}
    return {"name": photo.name, "relpath": photo.relpath, "original": original,
            "trouble": None if any(o.trouble for o in photo.outputs)   # said on the card
            else trouble_view(photo.trouble, folder), "held": photo.held,
            "state": photo_state(photo),
            "outputs": [output_view(o, folder, thumbs) for o in photo.outputs]}

def output_view(out: OutputItem, folder: Path, thumbs: Thumbnails) -> dict:
    view = {"slug": out.slug, "state": out.state, "settings": out.settings,
            "summary": out.summary, "message": out.message, "device": out.device,
            "trouble": trouble_view(out.trouble, folder),
            "seconds": out.seconds, "curve": loss_curve(out.trace), "thumb": None,
            "href": None, "progress": None, "file": out.image.name if out.image else None}
    if out.image is not None:
        small = thumbs.get(out.image)
        view["href"] = href(out.image, folder)
        view["thumb"] = href(small, folder) if small else None
        outline = thumbs.outline(out.mask, small)   # the mask's edges over it
        view["outline"] = href(outline, folder) if outline else None
    if out.progress:
        step, total = out.progress
        view["progress"] = {"step": step, "total": total,
                            "percent": round(100 * step / total) if total else 0}
    view["print"] = print_view(out.print, folder, thumbs) if out.print else None
    view["styles"] = []
    for style in out.styles:
        small = thumbs.get(style.path, checked_links=True)
        view["styles"].append({"label": style.label,
                               "weight": None if style.weight is None or len(out.styles) < 2
                               else round(style.weight * 100),
                               "thumb": href(small, folder) if small else None})
    return view

def print_view(item: PrintItem, folder: Path, thumbs: Thumbnails) -> dict:
    """A preview's approval in words, and its print (a print says it is one)."""
    view = {"state": item.state, "words": item.words(), "settings": item.settings(),
            "preview": item.preview, "href": None, "thumb": None, "seconds": item.seconds,
            "device": item.device, "note": href(item.note, folder) if item.note else None,
            "file": item.image.name if item.image else None, "progress": None}
    if item.image is not None:
        small = thumbs.get(item.image)
        view["href"] = href(item.image, folder)
        view["thumb"] = href(small, folder) if small else None
    if item.progress:
        step, total = item.progress
        view["progress"] = {"step": step, "total": total}
    return view


def trouble_view(trouble: Trouble | None, folder: Path) -> dict | None:
    if trouble is None:
        return None
    return {"what": trouble.what, "todo": trouble.todo, "detail": plain(trouble.detail),
            "note": href(trouble.note, folder) if trouble.note else None}
