"""A labelled coordinate grid drawn over a screenshot (the ``screenshot_grid`` option).

A model that sees the page as an image names points for ``mouse_*`` actions in viewport
pixels; lines every N pixels, each labelled with its x (along the top) or y (down the left
side), let it read those numbers off the image instead of guessing them. Only the copy a
model is sent gets the grid: the observation and the saved screenshot stay as captured.

Drawing needs Pillow, imported only when the option is on.
"""

from __future__ import annotations

import io

__all__ = ["GridUnavailable", "draw_grid"]

_LINE = (255, 0, 160, 110)  # magenta, mostly transparent: the page stays readable beneath
_LABEL_INK = (160, 0, 100, 255)
_LABEL_BACK = (255, 255, 255, 210)


class GridUnavailable(RuntimeError):
    """The grid cannot be drawn (Pillow is missing, or the bytes are not an image)."""


def draw_grid(image: bytes, every: int, viewport_width: float | None = None) -> bytes:
    """``image`` with a line every ``every`` viewport pixels, labelled; in the image's own format.

    ``viewport_width``: the viewport's width in CSS pixels, when the screenshot has more
    pixels than that (a device pixel ratio above 1); lines then still fall on viewport
    coordinates, which is what the actions take.
    """
    if every <= 0:
        raise ValueError("every must be a positive number of pixels")
    try:
        from PIL import Image, ImageDraw, ImageFont
    except ImportError:
        raise GridUnavailable("the screenshot_grid option needs Pillow: pip install 'halo-core[grid]'") from None
    try:
        with Image.open(io.BytesIO(image)) as source:
            kind = source.format or "PNG"
            base = source.convert("RGBA")
    except (OSError, ValueError) as exc:
        raise GridUnavailable(f"the screenshot is not an image Pillow reads: {exc}") from None
    scale = base.width / viewport_width if viewport_width and viewport_width > 0 else 1.0
    layer = Image.new("RGBA", base.size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(layer)
    font = ImageFont.load_default()
    for axis, extent in (("x", base.width), ("y", base.height)):
        for value in range(every, int(extent / scale) + 1, every):
            at = round(value * scale)
            line = [(at, 0), (at, base.height)] if axis == "x" else [(0, at), (base.width, at)]
            draw.line(line, fill=_LINE, width=max(1, round(scale)))
            where = (at + 2, 1) if axis == "x" else (1, at + 1)
            box = draw.textbbox(where, str(value), font=font)
            draw.rectangle(box, fill=_LABEL_BACK)
            draw.text(where, str(value), fill=_LABEL_INK, font=font)
    out = io.BytesIO()
    merged = Image.alpha_composite(base, layer)
    if kind == "JPEG":
        merged.convert("RGB").save(out, format="JPEG", quality=85)
    else:
        merged.save(out, format=kind)
    return out.getvalue()
