"""``render_mode="rgb_array"``: the conversation state drawn as an image with numpy.

The frame shows, as gauges, the hidden anger (red) and trust (green), the patience left
(blue), the tone the customer shows (a coloured swatch from calm to hostile), the turn
(a progress bar), the last moves as coloured blocks and the outcome. It needs no
extra dependency, so gymnasium's ``RecordVideo`` and stable-baselines3's
``make_vec_env`` (which asks for ``rgb_array``) work with the core install.
"""

from __future__ import annotations

import numpy as np

HEIGHT, WIDTH = 240, 480

MOVE_COLOURS = np.array(
    [[70, 130, 180], [60, 179, 113], [238, 180, 34], [148, 103, 189], [205, 92, 92], [64, 224, 208]], dtype=np.uint8
)
"""listen, empathize, apologize, offer_options, set_boundary, follow_up."""
TONE_COLOURS = np.array([[120, 200, 120], [230, 210, 90], [240, 140, 60], [210, 40, 40]], dtype=np.uint8)


def _bar(img: np.ndarray, row: int, fraction: float, colour, height: int = 22) -> None:
    img[row : row + height, 20 : WIDTH - 20] = (225, 225, 225)
    width = int(round((WIDTH - 40) * min(max(fraction, 0.0), 1.0)))
    img[row : row + height, 20 : 20 + width] = colour


def draw_frame(
    anger: int,
    trust: int,
    patience: int,
    tone: int,
    turn: int,
    max_turns: int,
    moves: list[int],
    ended: bool,
    success: bool,
) -> np.ndarray:
    """An (HEIGHT, WIDTH, 3) uint8 picture of one moment of a conversation."""
    img = np.full((HEIGHT, WIDTH, 3), 250, dtype=np.uint8)
    _bar(img, 15, anger / 4, (200, 40, 40))
    _bar(img, 45, trust / 3, (40, 160, 60))
    _bar(img, 75, patience / 4, (60, 90, 200))
    img[105:135, 20:80] = TONE_COLOURS[tone]
    _bar(img, 145, turn / max_turns, (120, 120, 120), height=10)
    for i, move in enumerate(moves[-24:]):
        x = 20 + i * 18
        img[165:195, x : x + 14] = MOVE_COLOURS[move]
    if ended:
        img[205:230, 20 : WIDTH - 20] = (40, 160, 60) if success else (200, 40, 40)
    return img
