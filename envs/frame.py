"""``render_mode="rgb_array"``: the conversation drawn as an image, with numpy only.

The frame shows, as labelled gauges, the hidden anger (red) and trust (green) and the
patience left (blue); the tone the customer shows (a coloured swatch from calm to
hostile, with its name); the turn (a progress bar); the moves so far as coloured
blocks marked with their initials; the last lines of the conversation; and, at the
end, the outcome (a green or red bar). Text is drawn with a small bitmap font built
into this module (5x7 pixels, printable ASCII), so frames need no extra dependency
and look the same on every machine: gymnasium's ``RecordVideo`` and
stable-baselines3's ``make_vec_env`` (which asks for ``rgb_array``) work with the core
install.

:func:`draw_frame` is what ``CustomerEnv.render()`` calls; :func:`draw_text` and
:func:`text_width` draw and measure text on any uint8 image.
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Sequence

import numpy as np

HEIGHT, WIDTH = 400, 640
"""Frame size in pixels (both multiples of 16, as video encoders prefer)."""

MOVE_COLOURS = np.array(
    [[70, 130, 180], [60, 179, 113], [238, 180, 34], [148, 103, 189], [205, 92, 92], [64, 180, 170]], dtype=np.uint8
)
"""listen, empathize, apologize, offer_options, set_boundary, follow_up."""
MOVE_INITIALS = "LEAOBF"
"""The letter on each move's block: listen, empathize, apologize, offer_options, set_boundary (B), follow_up."""
TONE_COLOURS = np.array([[120, 200, 120], [230, 210, 90], [240, 140, 60], [210, 40, 40]], dtype=np.uint8)
TONE_NAMES = ("calm", "tense", "angry", "hostile")
ANGER_NAMES = ("calm", "annoyed", "upset", "angry", "furious")
TRUST_NAMES = ("none", "low", "some", "high")

GLYPH_WIDTH, GLYPH_HEIGHT = 5, 7
"""Size of one character of the built-in font, before scaling."""
ADVANCE, LINE_HEIGHT = 6, 11
"""Horizontal step per character and vertical step per text row, at scale 1."""

_FONT_ART = r"""
 !"#$%&'()*+,-./
..... ..#.. .#.#. .#.#. ..#.. ##... .##.. ..#.. ...#. .#... ..... ..... ..... ..... ..... .....
..... ..#.. .#.#. .#.#. .#### ##..# #..#. ..#.. ..#.. ..#.. ..#.. ..#.. ..... ..... ..... ....#
..... ..#.. .#.#. ##### #.#.. ...#. #.#.. ..... .#... ...#. #.#.# ..#.. ..... ..... ..... ...#.
..... ..#.. ..... .#.#. .###. ..#.. .#... ..... .#... ...#. .###. ##### ..... ##### ..... ..#..
..... ..#.. ..... ##### ..#.# .#... #.#.# ..... .#... ...#. #.#.# ..#.. .##.. ..... ..... .#...
..... ..... ..... .#.#. ####. #..## #..#. ..... ..#.. ..#.. ..#.. ..#.. ..#.. ..... .##.. #....
..... ..#.. ..... .#.#. ..#.. ...## .##.# ..... ...#. .#... ..... ..... .#... ..... .##.. .....
0123456789:;<=>?
.###. ..#.. .###. ##### ...#. ##### ..##. ##### .###. .###. ..... ..... ...#. ..... .#... .###.
#...# .##.. #...# ...#. ..##. #.... .#... ....# #...# #...# .##.. .##.. ..#.. ..... ..#.. #...#
#..## ..#.. ....# ..#.. .#.#. ####. #.... ...#. #...# #...# .##.. .##.. .#... ##### ...#. ....#
#.#.# ..#.. ...#. ...#. #..#. ....# ####. ..#.. .###. .#### ..... ..... #.... ..... ....# ...#.
##..# ..#.. ..#.. ....# ##### ....# #...# .#... #...# ....# .##.. .##.. .#... ##### ...#. ..#..
#...# ..#.. .#... #...# ...#. #...# #...# .#... #...# ...#. .##.. ..#.. ..#.. ..... ..#.. .....
.###. .###. ##### .###. ...#. .###. .###. .#... .###. .##.. ..... .#... ...#. ..... .#... ..#..
@ABCDEFGHIJKLMNO
.###. .###. ####. .###. ###.. ##### ##### .###. #...# .###. ..### #...# #.... #...# #...# .###.
#...# #...# #...# #...# #..#. #.... #.... #...# #...# ..#.. ...#. #..#. #.... ##.## #...# #...#
....# #...# #...# #.... #...# #.... #.... #.... #...# ..#.. ...#. #.#.. #.... #.#.# ##..# #...#
.##.# #...# ####. #.... #...# ####. ####. #.### ##### ..#.. ...#. ##... #.... #.#.# #.#.# #...#
#.#.# ##### #...# #.... #...# #.... #.... #...# #...# ..#.. ...#. #.#.. #.... #...# #..## #...#
#.#.# #...# #...# #...# #..#. #.... #.... #...# #...# ..#.. #..#. #..#. #.... #...# #...# #...#
.###. #...# ####. .###. ###.. ##### #.... .#### #...# .###. .##.. #...# ##### #...# #...# .###.
PQRSTUVWXYZ[\]^_
####. .###. ####. .#### ##### #...# #...# #...# #...# #...# ##### .###. ..... .###. ..#.. .....
#...# #...# #...# #.... ..#.. #...# #...# #...# #...# #...# ....# .#... #.... ...#. .#.#. .....
#...# #...# #...# #.... ..#.. #...# #...# #...# .#.#. .#.#. ...#. .#... .#... ...#. #...# .....
####. #...# ####. .###. ..#.. #...# #...# #.#.# ..#.. ..#.. ..#.. .#... ..#.. ...#. ..... .....
#.... #.#.# #.#.. ....# ..#.. #...# #...# #.#.# .#.#. ..#.. .#... .#... ...#. ...#. ..... .....
#.... #..#. #..#. ....# ..#.. #...# .#.#. #.#.# #...# ..#.. #.... .#... ....# ...#. ..... .....
#.... .##.# #...# ####. ..#.. .###. ..#.. .#.#. #...# ..#.. ##### .###. ..... .###. ..... #####
`abcdefghijklmno
.#... ..... #.... ..... ....# ..... ..##. ..... #.... ..#.. ...#. #.... .##.. ..... ..... .....
..#.. ..... #.... ..... ....# ..... .#..# .#### #.... ..... ..... #.... ..#.. ..... ..... .....
...#. .###. #.##. .###. .##.# .###. .#... #...# #.##. .##.. ..##. #..#. ..#.. ##.#. #.##. .###.
..... ....# ##..# #.... #..## #...# ###.. #...# ##..# ..#.. ...#. #.#.. ..#.. #.#.# ##..# #...#
..... .#### #...# #.... #...# ##### .#... .#### #...# ..#.. ...#. ##... ..#.. #.#.# #...# #...#
..... #...# #...# #...# #...# #.... .#... ....# #...# ..#.. #..#. #.#.. ..#.. #...# #...# #...#
..... .#### ####. .###. .#### .###. .#... .###. #...# .###. .##.. #..#. .###. #...# #...# .###.
pqrstuvwxyz{|}~
..... ..... ..... ..... .#... ..... ..... ..... ..... ..... ..... ...#. ..#.. .#... .....
..... ..... ..... ..... .#... ..... ..... ..... ..... ..... ..... ..#.. ..#.. ..#.. .....
####. .##.# #.##. .###. ###.. #...# #...# #...# #...# #...# ##### ..#.. ..#.. ..#.. .#...
#...# #..## ##..# #.... .#... #...# #...# #...# .#.#. #...# ...#. .#... ..#.. ...#. #.#.#
####. .#### #.... .###. .#... #...# #...# #.#.# ..#.. .#### ..#.. ..#.. ..#.. ..#.. ...#.
#.... ....# #.... ....# .#..# #..## .#.#. #.#.# .#.#. ....# .#... ..#.. ..#.. ..#.. .....
#.... ....# #.... ####. ..##. .##.# ..#.. .#.#. #...# .###. ##### ...#. ..#.. .#... .....
"""
"""The font: groups of characters, each followed by 7 rows of 5-pixel glyphs ('#' on)."""


def _parse_font(art: str) -> dict[str, np.ndarray]:
    lines = art.strip("\n").split("\n")
    glyphs: dict[str, np.ndarray] = {}
    for start in range(0, len(lines), GLYPH_HEIGHT + 1):
        chars, rows = lines[start], lines[start + 1 : start + 1 + GLYPH_HEIGHT]
        for k, char in enumerate(chars):
            cols = slice(k * (GLYPH_WIDTH + 1), k * (GLYPH_WIDTH + 1) + GLYPH_WIDTH)
            glyphs[char] = np.array([[c == "#" for c in row[cols]] for row in rows], dtype=bool)
    return glyphs


GLYPHS: dict[str, np.ndarray] = _parse_font(_FONT_ART)
"""Character -> (7, 5) bool bitmap, for every printable ASCII character."""


def text_width(text: str, scale: int = 1) -> int:
    """Width in pixels of ``text`` drawn by :func:`draw_text` at ``scale``."""
    return max(len(text) * ADVANCE - 1, 0) * scale


def draw_text(img: np.ndarray, x: int, y: int, text: str, colour: Sequence[int], scale: int = 1) -> int:
    """Draw one row of ``text`` with its top-left corner at (x, y); clipped to the image.

    Characters outside printable ASCII are drawn as ``?``.

    Args:
        img: (H, W, 3) uint8 image, changed in place.
        x: left edge in pixels.
        y: top edge in pixels.
        text: the text (one row; no wrapping).
        colour: RGB colour of the text.
        scale: integer magnification of the 5x7 font (1 or more).

    Returns:
        The x coordinate just right of the text.

    Raises:
        ValueError: if ``scale`` is not a positive integer.
    """
    if isinstance(scale, bool) or not isinstance(scale, (int, np.integer)) or scale < 1:
        raise ValueError(f"scale={scale!r}; allowed is an integer >= 1")
    height, width = img.shape[:2]
    colour = np.asarray(colour, dtype=img.dtype)
    for char in text:
        glyph = GLYPHS.get(char, GLYPHS["?"])
        if char != " ":
            mask = glyph.repeat(scale, axis=0).repeat(scale, axis=1) if scale > 1 else glyph
            top, left = max(y, 0), max(x, 0)
            bottom, right = min(y + mask.shape[0], height), min(x + mask.shape[1], width)
            if bottom > top and right > left:
                part = mask[top - y : bottom - y, left - x : right - x]
                img[top:bottom, left:right][part] = colour
        x += ADVANCE * scale
    return x


def _bar(img: np.ndarray, row: int, left: int, right: int, fraction: float, colour, height: int = 22) -> None:
    img[row : row + height, left:right] = (225, 225, 225)
    width = int(round((right - left) * min(max(fraction, 0.0), 1.0)))
    img[row : row + height, left : left + width] = colour


def _name(names: Sequence[str], value: int) -> str:
    return names[value] if 0 <= value < len(names) else str(value)


_AGENT = re.compile(r"^\[\s*\d+\]")


def conversation_rows(lines: Sequence[str], columns: int, rows: int, last: int = 3) -> list[tuple[str, str]]:
    """The text rows of the transcript box: the ``last`` lines of the conversation, wrapped.

    Only what is said and done is shown: agent lines (``[turn] Agent ...``), customer
    lines and stage directions (``[The customer hangs up.]``); the ``---`` header and
    footer and the ``(hidden: ...)`` lines are left out (the gauges and the outcome bar
    show those).

    Args:
        lines: transcript lines, as ``CustomerEnv`` renders them.
        columns: characters per row.
        rows: rows available; the most recent rows are kept.
        last: how many conversation lines to show.

    Returns:
        (kind, text) pairs, kind ``"agent"``, ``"customer"`` or ``"other"``.
    """
    said = [line.strip() for line in lines]
    said = [line for line in said if line and not line.startswith(("---", "(hidden"))]
    out: list[tuple[str, str]] = []
    for line in said[-last:] if last > 0 else []:
        kind = "agent" if _AGENT.match(line) else "customer" if line.startswith("Customer") else "other"
        out.extend((kind, part) for part in textwrap.wrap(line, columns, subsequent_indent="  ") or [""])
    return out[-rows:] if rows > 0 else []


_TEXT_COLOURS = {"agent": (30, 70, 140), "customer": (120, 30, 30), "other": (90, 90, 90)}


def draw_frame(
    anger: int,
    trust: int,
    patience: int,
    tone: int,
    turn: int,
    max_turns: int,
    moves: Sequence[int],
    ended: bool,
    success: bool,
    lines: Sequence[str] | None = None,
    outcome: str | None = None,
    episode_return: float | None = None,
) -> np.ndarray:
    """A (HEIGHT, WIDTH, 3) uint8 picture of one moment of a conversation.

    Args:
        anger: hidden anger, 0 (calm) ... 4 (furious).
        trust: hidden trust, 0 (none) ... 3 (high).
        patience: patience left, 0 ... 4.
        tone: the tone the customer shows, 0 (calm) ... 3 (hostile).
        turn: turns taken so far.
        max_turns: the turn limit.
        moves: move ids played so far (the last 24 are drawn).
        ended: whether the conversation is over.
        success: whether it ended solved and followed up (green outcome bar, else red).
        lines: the transcript so far (``CustomerEnv``'s ansi lines); the last three are
            drawn, wrapped. None draws no transcript box.
        outcome: the outcome name written on the outcome bar (default: ``success`` or
            ``ended``); ``"solved"`` (solved without a follow-up) colours it amber.
        episode_return: the conversation's return, written after the outcome.

    Returns:
        The image.
    """
    img = np.full((HEIGHT, WIDTH, 3), 250, dtype=np.uint8)
    ink = (40, 40, 40)
    label_x, bar_left, bar_right, value_x = 16, 136, 476, 488
    gauges = (
        ("ANGER", anger / 4, (200, 40, 40), f"{anger}/4 {_name(ANGER_NAMES, anger)}"),
        ("TRUST", trust / 3, (40, 160, 60), f"{trust}/3 {_name(TRUST_NAMES, trust)}"),
        ("PATIENCE", patience / 4, (60, 90, 200), f"{patience}/4"),
    )
    for i, (label, fraction, colour, value) in enumerate(gauges):
        row = 12 + 32 * i
        draw_text(img, label_x, row + 4, label, ink, scale=2)
        _bar(img, row, bar_left, bar_right, fraction, colour)
        draw_text(img, value_x, row + 4, value, ink, scale=2)
    row = 108
    draw_text(img, label_x, row + 4, "TONE", ink, scale=2)
    img[row : row + 22, bar_left : bar_left + 60] = TONE_COLOURS[tone] if 0 <= tone < len(TONE_COLOURS) else 128
    draw_text(img, bar_left + 72, row + 4, _name(TONE_NAMES, tone), ink, scale=2)
    row = 140
    draw_text(img, label_x, row + 4, "TURN", ink, scale=2)
    _bar(img, row + 6, bar_left, bar_right, turn / max_turns if max_turns else 0.0, (120, 120, 120), height=10)
    draw_text(img, value_x, row + 4, f"{turn}/{max_turns}", ink, scale=2)
    row = 172
    draw_text(img, label_x, row + 4, "MOVES", ink, scale=2)
    for i, move in enumerate(list(moves)[-20:]):
        x = bar_left + i * 24
        img[row : row + 22, x : x + 20] = MOVE_COLOURS[move]
        draw_text(img, x + 5, row + 4, MOVE_INITIALS[move], (255, 255, 255), scale=1)
    if lines is not None:
        top, bottom = 204, 346
        img[top:bottom, 12 : WIDTH - 12] = (236, 236, 236)
        columns = (WIDTH - 36) // ADVANCE
        rows = (bottom - top - 8) // LINE_HEIGHT
        for i, (kind, text) in enumerate(conversation_rows(lines, columns, rows)):
            draw_text(img, 18, top + 6 + i * LINE_HEIGHT, text, _TEXT_COLOURS[kind])
    if ended:
        colour = (40, 160, 60) if success else (215, 140, 20) if outcome == "solved" else (200, 40, 40)
        img[354:388, 12 : WIDTH - 12] = colour
        label = (outcome or ("success" if success else "ended")).replace("_", " ")
        if episode_return is not None:
            label += f"   return {episode_return:+.2f}"
        draw_text(img, 24, 364, label, (255, 255, 255), scale=2)
    return img
