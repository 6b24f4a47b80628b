"""``decoder.hf``: the Hugging Face ``transformers`` plug-in, kept importable under its old
name.  It lives in :mod:`decoder.integrations.hf`; this module only re-exports it."""

from __future__ import annotations

from .integrations.hf import *  # noqa: F403  (the plug-in's public names, listed once there)
from .integrations.hf import __all__  # noqa: F401
