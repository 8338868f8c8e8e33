"""Contact sheets: one PNG grid to email. Photos are rows, styles are columns, all labelled.

Made from the outbox (finished renders) or, for trying styles, from photos and style images
rendered small right here. The labels are drawn and also stored as PNG text, so a script
can read which row and column is which.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont, ImageOps
from PIL.PngImagePlugin import PngInfo

from ..core.states import ShownState
from ..paths import atomic_write_bytes
from ..report import style_label
from .gather import collect

BACKGROUND, INK, MUTED, EMPTY = (255, 255, 255), (29, 35, 48), (92, 101, 119), (238, 240, 243)


@dataclass
class SheetLayout:
    cell: int = 256      # each picture fits a cell x cell square
    label: int = 28      # text band under every picture
    pad: int = 12

    def size(self, rows: int, columns: int) -> tuple[int, int]:
        """(width, height): a header row of styles and a first column of photos."""
        return (self.pad + (columns + 1) * (self.cell + self.pad),
                self.pad + (rows + 1) * (self.cell + self.label + self.pad))

    def origin(self, row: int, column: int) -> tuple[int, int]:
        """Top-left of grid cell (row, column); row 0 and column 0 are the headers."""
        return (self.pad + column * (self.cell + self.pad),
                self.pad + row * (self.cell + self.label + self.pad))


@dataclass
class SheetGrid:
    """Row and column headers (label, picture) and the pictures at (row, column)."""
    rows: list[tuple[str, Path | Image.Image | None]] = field(default_factory=list)
    columns: list[tuple[str, Path | Image.Image | None]] = field(default_factory=list)
    cells: dict[tuple[int, int], Path | Image.Image] = field(default_factory=dict)


def draw_sheet(grid: SheetGrid, layout: SheetLayout = SheetLayout(), title: str = "") -> Image.Image:
    sheet = Image.new("RGB", layout.size(len(grid.rows), len(grid.columns)), BACKGROUND)
    draw = ImageDraw.Draw(sheet)
    font = _font(max(10, layout.label * 11 // 20))
    _text(draw, layout.origin(0, 0), layout, title, font, MUTED)
    for c, (label, picture) in enumerate(grid.columns, start=1):
        _place(sheet, draw, layout.origin(0, c), layout, picture, label, font)
    for r, (label, picture) in enumerate(grid.rows, start=1):
        _place(sheet, draw, layout.origin(r, 0), layout, picture, label, font)
        for c in range(1, len(grid.columns) + 1):
            _place(sheet, draw, layout.origin(r, c), layout, grid.cells.get((r - 1, c - 1)),
                   "", font)
    return sheet


def save_sheet(sheet: Image.Image, grid: SheetGrid, path: Path) -> Path:
    import io
    info = PngInfo()
    info.add_text("deepart:rows", json.dumps([label for label, _ in grid.rows]))
    info.add_text("deepart:columns", json.dumps([label for label, _ in grid.columns]))
    buf = io.BytesIO()
    sheet.save(buf, "PNG", pnginfo=info, optimize=True)
    return atomic_write_bytes(path, buf.getvalue())


def grid_from_outbox(outbox: Path, state_dir: Path | None, campaign: str | None = None,
                     styles_dir: Path | None = None) -> SheetGrid:
    """Finished renders: one row per photo, one column per style look (output slug);
    `styles_dir`: where the reports' painting paths are relative to."""
    grid = SheetGrid()
    slugs: dict[str, int] = {}
    for camp in collect(outbox, state_dir, styles_dir=styles_dir):
        if campaign is not None and camp.name != campaign:
            continue
        for photo in camp.photos:
            done = [o for o in photo.outputs if o.state == ShownState.DONE and o.image is not None]
            if not done:
                continue
            row = len(grid.rows)
            grid.rows.append((photo.relpath, photo.original))
            for out in done:
                if out.slug not in slugs:
                    slugs[out.slug] = len(grid.columns)
                    label = " + ".join(s.label + (f" {s.weight * 100:.0f}%" if s.weight is
                                                  not None and len(out.styles) > 1 else "")
                                       for s in out.styles) or out.slug
                    grid.columns.append((label, out.styles[0].path if len(out.styles) == 1
                                         else None))
                grid.cells[(row, slugs[out.slug])] = out.image
    return grid


def grid_from_renders(photos: list[Path], styles: list[Path], size: int = 128, steps: int = 60,
                      device: str = "cpu", weights: str = "bundled", log=print) -> SheetGrid:
    """Try styles: render every photo with every style, small, with the engine."""
    from ..engine import RenderParams, StyleTransfer
    from ..pipeline import RenderRequest, StyleFile, render_request
    from ..weights import load_weights

    loaded = load_weights(weights)
    engine = StyleTransfer(loaded.conv, loaded.preprocessing, device)
    params = RenderParams(size=size, steps=steps, log_every=max(1, steps // 20)).validated()
    grid = SheetGrid(rows=[(Path(p).name, Path(p)) for p in photos],
                     columns=[(style_label({"path": str(s)}), Path(s)) for s in styles])
    for r, photo in enumerate(photos):
        for c, style in enumerate(styles):
            log(f"rendering {Path(photo).name} with {Path(style).name} at {size} px")
            image, _ = render_request(engine, loaded, RenderRequest(
                content=str(photo), styles=[StyleFile(str(style))], params=params))
            grid.cells[(r, c)] = image
    return grid


def _place(sheet, draw, origin, layout: SheetLayout, picture, label: str, font) -> None:
    x, y = origin
    image = _open(picture, layout.cell)
    if image is None:
        draw.rectangle((x, y, x + layout.cell - 1, y + layout.cell - 1), fill=EMPTY)
        if picture is not None or not label:
            draw.text((x + layout.cell // 2, y + layout.cell // 2), "-", fill=MUTED, font=font,
                      anchor="mm")
    else:
        sheet.paste(image, (x + (layout.cell - image.width) // 2,
                            y + (layout.cell - image.height) // 2))
    _text(draw, (x, y + layout.cell), layout, label, font, INK)


def _text(draw, origin, layout: SheetLayout, text: str, font, fill) -> None:
    if not text:
        return
    while len(text) > 1 and draw.textlength(text, font=font) > layout.cell:
        text = text[:-2] + "\u2026"
    x, y = origin
    draw.text((x + layout.cell // 2, y + layout.label // 2), text, fill=fill, font=font,
              anchor="mm")


def _open(picture, side: int) -> Image.Image | None:
    if picture is None:
        return None
    try:
        if isinstance(picture, Image.Image):
            image = picture.copy()
        else:
            with Image.open(picture) as im:
                im.draft("RGB", (side, side))
                image = ImageOps.exif_transpose(im).convert("RGB")
    except Exception:
        return None
    return ImageOps.contain(image.convert("RGB"), (side, side), Image.Resampling.LANCZOS)


def _font(size: int):
    try:
        return ImageFont.load_default(size=size)
    except TypeError:   # Pillow without FreeType sizes
        return ImageFont.load_default()
