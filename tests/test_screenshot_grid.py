"""The ``screenshot_grid`` option: a labelled coordinate grid on the screenshot the worker is sent."""

from __future__ import annotations

import io

import pytest

from halo_core.model import AXNode, Observation
from halo_core.prompts import GRID_NOTE, worker_messages

Image = pytest.importorskip("PIL.Image")

from halo_core.screenshot_grid import GridUnavailable, draw_grid  # noqa: E402


def _blank(width: int, height: int, kind: str = "PNG") -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (255, 255, 255)).save(out, format=kind)
    return out.getvalue()


def _open(data: bytes):
    return Image.open(io.BytesIO(data))


def _is_white(pixel) -> bool:
    return all(c >= 245 for c in pixel[:3])


def test_lines_fall_on_every_nth_viewport_pixel_and_carry_their_numbers():
    drawn = _open(draw_grid(_blank(400, 300), 100))
    assert drawn.format == "PNG" and drawn.size == (400, 300)
    rgb = drawn.convert("RGB")
    for x in (100, 200, 300):
        assert not _is_white(rgb.getpixel((x, 150))), x
    for y in (100, 200):
        assert not _is_white(rgb.getpixel((50, y))), y
    assert _is_white(rgb.getpixel((150, 150)))  # between lines the page shows as it was
    # each label sits by its line: along the top for x, down the left side for y
    assert any(not _is_white(rgb.getpixel((x, y))) for x in range(103, 120) for y in range(1, 10))
    assert any(not _is_white(rgb.getpixel((x, y))) for x in range(1, 20) for y in range(202, 212))


def test_a_high_density_screenshot_gets_lines_at_viewport_coordinates():
    # 800 image pixels for a 400-pixel-wide viewport (device pixel ratio 2)
    rgb = _open(draw_grid(_blank(800, 600), 100, viewport_width=400)).convert("RGB")
    assert not _is_white(rgb.getpixel((200, 300))) and not _is_white(rgb.getpixel((400, 300)))
    assert _is_white(rgb.getpixel((300, 300)))


def test_a_jpeg_stays_a_jpeg_and_bad_bytes_are_one_error():
    assert _open(draw_grid(_blank(200, 100, "JPEG"), 50)).format == "JPEG"
    with pytest.raises(GridUnavailable, match="not an image"):
        draw_grid(b"not an image", 50)
    with pytest.raises(ValueError):
        draw_grid(_blank(10, 10), 0)


def _observation(screenshot: bytes | None) -> Observation:
    return Observation(url="http://127.0.0.1:9/", title="t", text="[3] button 'OK'",
                       elements=(AXNode("button", "OK", bid="3", props={"bbox": (10, 20, 80, 30)}),),
                       page_type="other", fingerprint="f", screenshot=screenshot,
                       info={"viewport": {"width": 400, "height": 300, "scroll_x": 0, "scroll_y": 0}})


def test_only_the_copy_the_worker_is_sent_gets_the_grid_and_the_prompt_says_so():
    shot = _blank(400, 300)
    obs = _observation(shot)
    plain = worker_messages("Click OK", obs, [], images=True)
    assert plain[1].images == (shot,) and "grid" not in plain[1].content
    gridded = worker_messages("Click OK", obs, [], images=True, grid=100)
    assert gridded[1].images[0] != shot
    assert obs.screenshot == shot  # the observation (and the trajectory's screenshot) as captured
    assert GRID_NOTE.format(every=100) in gridded[1].content
    assert gridded[1].content.endswith("Next action:")
    # no image sent (a text-only model, or no screenshot): nothing to draw on, nothing said
    assert worker_messages("Click OK", obs, [], images=False, grid=100)[1].content == \
        worker_messages("Click OK", obs, [], images=False)[1].content
    assert "grid" not in worker_messages("Click OK", _observation(None), [], images=True, grid=100)[1].content


def test_the_option_is_declared_with_its_default_off():
    from halo_core.testing import make_runtime

    option = make_runtime().options.options["screenshot_grid"]  # a built-in's, as prompt_boxes
    assert option.default == 0 and option.type is int and option.minimum == 0
