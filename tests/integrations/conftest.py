"""Shared fixtures of the serving-engine contract tests (run by scripts/test_integrations.sh,
each engine in its own virtual environment; not part of the main pytest run)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

SHARED = Path(__file__).resolve().parents[3] / "shared"
TOKENIZER = SHARED / "tokenizers" / "smollm2"
BASE_CONFIG = SHARED / "models" / "stories260k" / "config.json"
MODEL_VOCAB = 49152 + 64  # logits wider than the tokenizer, as many models have
# the serving integrations keep the engines' JSON whitespace convention ("flexible"), not
# Grammar.from_json_schema's default ("pretty"): reference grammars say so
SERVING_WS = "flexible"


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    """A model folder vLLM can configure on a CPU: the stories260k llama config (no
    weights needed) widened to SmolLM2's tokenizer, plus that tokenizer."""
    if not TOKENIZER.is_dir() or not BASE_CONFIG.is_file():
        pytest.skip(f"../shared is absent ({TOKENIZER}, {BASE_CONFIG})")
    d = tmp_path_factory.mktemp("tinymodel")
    cfg = json.loads(BASE_CONFIG.read_text())
    cfg.update(vocab_size=MODEL_VOCAB, bos_token_id=1, eos_token_id=2)
    (d / "config.json").write_text(json.dumps(cfg))
    for f in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
        shutil.copy(TOKENIZER / f, d / f)
    return d


def allowed(row) -> set[int]:
    bits = np.unpackbits(
        np.ascontiguousarray(row, dtype=np.int32).view(np.uint8), bitorder="little"
    )
    return set(np.flatnonzero(bits).tolist())


def reference_row(compiled, tokens) -> np.ndarray:
    """The mask of a fresh matcher on ``compiled`` fed ``tokens``."""
    import decoder

    m = decoder.Matcher(compiled)
    for t in tokens:
        assert m.commit(int(t)), f"reference matcher refused {t}"
    out = np.zeros(compiled.mask_words, dtype=np.int32)
    m.compute_mask(out)
    return out


def pick(row, rng, avoid=()) -> int:
    """An allowed token of a mask row (random, deterministic per rng), not in ``avoid``."""
    ids = sorted(allowed(row) - set(avoid))
    assert ids, "no token allowed"
    return int(ids[rng.integers(len(ids))])
