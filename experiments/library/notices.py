"""Silencing a dependency's import notice that is not about this project."""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import io


def quiet_gym_notice() -> None:
    """Import the old ``gym`` once, if installed, with the notice it prints to stderr silenced.

    d3rlpy (the ``data`` extra) depends on gym 0.26, whose import prints that gym is unmaintained;
    stable-baselines3 imports gym whenever it is installed, so without this every command that
    trains (and every Ray worker or spawned process that does) would print it. Importing
    ``difficult_customer.experiments`` calls this; the embedded Ray's workers call it at start. The
    project itself uses gymnasium only.
    """
    if importlib.util.find_spec("gym") is None:
        return
    with contextlib.redirect_stderr(io.StringIO()):
        importlib.import_module("gym")


__all__ = ["quiet_gym_notice"]
