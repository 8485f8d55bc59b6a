"""rgb_array frames: the built-in font, text in the frame, and recording a conversation as a video."""

from __future__ import annotations

import itertools

import gymnasium as gym
import numpy as np
import pytest

from difficult_customer import (
    agents,
    envs,  # noqa: F401  (registers DifficultCustomer-v0)
)
from difficult_customer.envs.customer_env import CustomerEnv
from difficult_customer.envs.frame import (
    ADVANCE,
    GLYPH_HEIGHT,
    GLYPH_WIDTH,
    GLYPHS,
    HEIGHT,
    WIDTH,
    conversation_rows,
    draw_frame,
    draw_text,
    text_width,
)

INK = (10, 20, 30)
CUSTOMER_INK = (120, 30, 30)
AGENT_INK = (30, 70, 140)
TRANSCRIPT_BOX = (slice(204, 346), slice(12, WIDTH - 12))


def ink_pixels(img: np.ndarray, colour=INK) -> np.ndarray:
    return np.all(img == np.array(colour, dtype=np.uint8), axis=-1)


# ------------------------------------------------------------------- font
def test_font_has_every_printable_ascii_character_and_they_differ():
    assert set(GLYPHS) == {chr(c) for c in range(32, 127)}
    assert all(g.shape == (GLYPH_HEIGHT, GLYPH_WIDTH) and g.dtype == bool for g in GLYPHS.values())
    assert len({g.tobytes() for g in GLYPHS.values()}) == len(GLYPHS)
    assert not GLYPHS[" "].any()
    assert all(GLYPHS[c].any() for c in GLYPHS if c != " ")


def test_draw_text_draws_the_glyphs_where_asked():
    img = np.zeros((20, 40, 3), dtype=np.uint8)
    end = draw_text(img, 2, 3, "Hi", INK)
    assert end == 2 + 2 * ADVANCE
    drawn = ink_pixels(img)
    assert np.array_equal(drawn[3 : 3 + GLYPH_HEIGHT, 2 : 2 + GLYPH_WIDTH], GLYPHS["H"])
    assert np.array_equal(drawn[3 : 3 + GLYPH_HEIGHT, 2 + ADVANCE : 2 + ADVANCE + GLYPH_WIDTH], GLYPHS["i"])
    assert drawn.sum() == GLYPHS["H"].sum() + GLYPHS["i"].sum()  # nothing outside the glyphs


def test_draw_text_scales_and_measures():
    img = np.zeros((30, 40, 3), dtype=np.uint8)
    draw_text(img, 0, 0, "A", INK, scale=3)
    drawn = ink_pixels(img)
    assert drawn.sum() == GLYPHS["A"].sum() * 9
    assert np.array_equal(drawn[: GLYPH_HEIGHT * 3 : 3, : GLYPH_WIDTH * 3 : 3], GLYPHS["A"])
    assert text_width("abc", 2) == (3 * ADVANCE - 1) * 2
    assert text_width("") == 0


def test_draw_text_replaces_unknown_characters_and_clips_at_the_edges():
    one, other = np.zeros((10, 10, 3), np.uint8), np.zeros((10, 10, 3), np.uint8)
    draw_text(one, 0, 0, "\u00e9", INK)
    draw_text(other, 0, 0, "?", INK)
    assert np.array_equal(one, other)
    img = np.zeros((5, 8, 3), dtype=np.uint8)
    draw_text(img, -3, -2, "WWW", INK)  # partly outside: drawn clipped, no error
    draw_text(img, 50, 50, "W", INK)  # wholly outside: nothing
    assert 0 < ink_pixels(img).sum() < 3 * GLYPHS["W"].sum()


@pytest.mark.parametrize("scale", [0, -1, 1.5, True])
def test_draw_text_refuses_a_bad_scale(scale):
    with pytest.raises(ValueError, match=r"scale=.*; allowed is an integer >= 1"):
        draw_text(np.zeros((8, 8, 3), np.uint8), 0, 0, "x", INK, scale=scale)


# ----------------------------------------------------------------- frames
def test_old_positional_signature_still_works():
    img = draw_frame(2, 1, 3, 1, 4, 16, [0, 1, 3], False, False)
    assert img.shape == (HEIGHT, WIDTH, 3) and img.dtype == np.uint8
    assert not ink_pixels(img[TRANSCRIPT_BOX], CUSTOMER_INK).any()  # no lines given: no transcript


def test_frame_gauges_follow_the_values():
    calm = draw_frame(0, 3, 4, 0, 0, 16, [], False, False)
    furious = draw_frame(4, 0, 1, 3, 0, 16, [], False, False)
    red = (200, 40, 40)
    assert ink_pixels(furious, red).sum() > ink_pixels(calm, red).sum()
    green = (40, 160, 60)
    assert ink_pixels(calm, green).sum() > ink_pixels(furious, green).sum()


def test_frame_draws_the_last_lines_of_the_conversation():
    lines = [
        "--- conversation 1 (persona hidden) ---",
        "     Customer [angry, complains]: The part came late.",
        "[ 1] Agent (listen): Tell me more.",
        "     (hidden: anger 2/4, trust 1/3, heard 1, patience 4, abuse none)",
        "     Customer [tense, softens]: Okay. Thank you.",
    ]
    with_text = draw_frame(2, 1, 4, 1, 1, 16, [0], False, False, lines=lines)
    box = with_text[TRANSCRIPT_BOX]
    assert ink_pixels(box, CUSTOMER_INK).any() and ink_pixels(box, AGENT_INK).any()
    other = draw_frame(2, 1, 4, 1, 1, 16, [0], False, False, lines=[*lines[:-1], "     Customer [tense, unmoved]: No."])
    assert not np.array_equal(with_text[TRANSCRIPT_BOX], other[TRANSCRIPT_BOX])


def test_conversation_rows_keep_what_is_said_wrapped_to_the_width():
    lines = [
        "--- conversation 1 (persona hidden) ---",
        "     Customer [angry, complains]: " + "word " * 40,
        "[ 1] Agent (listen): Tell me more.",
        "     (hidden: anger 2/4, trust 1/3, heard 1, patience 4, abuse none)",
        "     Customer [tense, softens]: Okay.",
        "     [The customer hangs up.]",
        "--- outcome: walked_away, return -0.70 ---",
    ]
    rows = conversation_rows(lines, columns=30, rows=50, last=3)
    assert [kind for kind, _ in itertools.groupby(kind for kind, _ in rows)] == ["agent", "customer", "other"]
    assert rows[0][1].startswith("[ 1] Agent") and ("customer", "Customer [tense, softens]:") in rows
    assert all(len(text) <= 30 for _, text in rows)
    many = conversation_rows(lines, columns=30, rows=4, last=4)
    assert len(many) == 4 and many[-1] == ("other", "[The customer hangs up.]")  # the most recent rows


def test_outcome_bar_colour_and_text():
    lines = ["     Customer [calm, thanks]: Thank you."]
    success = draw_frame(0, 3, 4, 0, 6, 16, [0, 1, 3, 5], True, True, lines=lines, outcome="solved_and_followed_up")
    solved = draw_frame(0, 3, 4, 0, 6, 16, [0, 1, 3], True, False, lines=lines, outcome="solved")
    lost = draw_frame(
        4, 0, 0, 3, 3, 16, [3, 3, 3], True, False, lines=lines, outcome="walked_away", episode_return=-0.7
    )
    bar = (slice(354, 388), slice(12, WIDTH - 12))
    assert ink_pixels(success[bar], (40, 160, 60)).mean() > 0.5
    assert ink_pixels(solved[bar], (215, 140, 20)).mean() > 0.5
    assert ink_pixels(lost[bar], (200, 40, 40)).mean() > 0.5
    assert ink_pixels(lost[bar], (255, 255, 255)).any()  # the outcome written on the bar


# ------------------------------------------------------- the environment's frames
def play_frames(env: CustomerEnv, seed: int = 3) -> list[np.ndarray]:
    policy = agents.make("guide_004")
    obs, _ = env.reset(seed=seed)
    frames = [env.render()]
    done = False
    while not done:
        action, _ = policy.predict(obs)
        obs, _, terminated, truncated, _ = env.step(int(action))
        frames.append(env.render())
        done = terminated or truncated
    return frames


def test_env_frames_have_the_declared_shape_and_change_every_turn():
    frames = play_frames(CustomerEnv("mixture", render_mode="rgb_array"))
    assert len(frames) > 2
    assert all(f.shape == (HEIGHT, WIDTH, 3) and f.dtype == np.uint8 for f in frames)
    assert all(not np.array_equal(a, b) for a, b in zip(frames, frames[1:], strict=False))


def test_env_frames_show_the_conversation_text():
    frames = play_frames(CustomerEnv("mixture", render_mode="rgb_array"))
    assert ink_pixels(frames[0][TRANSCRIPT_BOX], CUSTOMER_INK).any()  # the opening complaint
    assert ink_pixels(frames[1][TRANSCRIPT_BOX], AGENT_INK).any()  # the first move
    assert not np.array_equal(frames[1][TRANSCRIPT_BOX], frames[2][TRANSCRIPT_BOX])


def test_render_collection_gathers_one_frame_per_step():
    env = gym.make("DifficultCustomer-v0", persona="genuine_grievance", render_mode="rgb_array")
    env = gym.wrappers.RenderCollection(env)
    obs, _ = env.reset(seed=1)
    steps = 0
    for move in (0, 1, 3, 5):
        obs, _, terminated, truncated, _ = env.step(move)
        steps += 1
        if terminated or truncated:
            break
    frames = env.render()
    assert len(frames) == steps + 1
    assert all(f.shape == (HEIGHT, WIDTH, 3) for f in frames)
    assert len({f.tobytes() for f in frames}) == len(frames)
    env.close()


def test_record_video_writes_a_video_of_a_conversation(tmp_path):
    pytest.importorskip("moviepy", reason="RecordVideo needs moviepy (pip install moviepy; in the dev extra)")
    env = gym.make("DifficultCustomer-v0", persona="mixture", render_mode="rgb_array")
    folder = tmp_path / "videos"
    env = gym.wrappers.RecordVideo(env, str(folder), episode_trigger=lambda episode: True, disable_logger=True)
    policy = agents.make("tone_reader")
    obs, _ = env.reset(seed=5)
    done = False
    while not done:
        action, _ = policy.predict(obs)
        obs, _, terminated, truncated, _ = env.step(int(action))
        done = terminated or truncated
    env.close()
    videos = list(folder.glob("*.mp4"))
    assert len(videos) == 1 and videos[0].stat().st_size > 1000
    from moviepy import VideoFileClip

    with VideoFileClip(str(videos[0])) as clip:
        assert tuple(clip.size) == (WIDTH, HEIGHT)
        assert clip.duration > 1  # one frame per turn at render_fps 1
