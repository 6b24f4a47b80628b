"""Contract tests: decoder driven by vLLM's own structured-output manager and its
logits-processor interfaces, on a CPU (vLLM 0.32 wheel; 0.33 ships the same interfaces).

Every mask row vLLM gets is compared with a fresh ``decoder.Matcher`` fed the same tokens.
"""

from __future__ import annotations

import json
import re
import time

import numpy as np
import pytest

vllm = pytest.importorskip(
    "vllm", reason="vLLM is not installed (scripts/test_integrations.sh builds its venv)"
)
torch = pytest.importorskip("torch")

from vllm.config import (  # noqa: E402
    DeviceConfig,
    ModelConfig,
    SchedulerConfig,  # noqa: E402
    SpeculativeConfig,
    VllmConfig,
)
from vllm.sampling_params import SamplingParams, StructuredOutputsParams  # noqa: E402
from vllm.v1.request import Request  # noqa: E402
from vllm.v1.sample.logits_processor import BatchUpdate, MoveDirectionality  # noqa: E402
from vllm.v1.structured_output import StructuredOutputManager  # noqa: E402
from vllm.v1.structured_output.backend_types import StructuredOutputOptions as SO  # noqa: E402

import decoder  # noqa: E402
from decoder.integrations.compiler import CompileTimeout  # noqa: E402
from decoder.integrations.vllm import (  # noqa: E402
    DecoderBackend,
    DecoderGrammar,
    DecoderLogitsProcessor,
)

from .conftest import MODEL_VOCAB, SERVING_WS, allowed, pick, reference_row  # noqa: E402

STOP = [2, 0]  # <|im_end|>, <|endoftext|>
SCHEMA = {
    "type": "object",
    "properties": {
        "n": {"type": "integer", "minimum": 0, "maximum": 99},
        "ok": {"type": "boolean"},
    },
    "required": ["n", "ok"],
    "additionalProperties": False,
}
CASES = {  # name: (StructuredOutputsParams kwargs, reference grammar, validator of the text)
    "json": (
        dict(json=SCHEMA),
        lambda: decoder.Grammar.from_json_schema(SCHEMA, whitespace=SERVING_WS),
        lambda s: set(json.loads(s)) == {"n", "ok"},
    ),
    "json_object": (
        dict(json_object=True),
        lambda: decoder.Grammar.from_json_schema({"type": "object"}, whitespace=SERVING_WS),
        lambda s: isinstance(json.loads(s), dict),
    ),
    "regex": (
        dict(regex=r"[a-c]{2,4}-[0-9]+"),
        lambda: decoder.Grammar.from_regex(r"[a-c]{2,4}-[0-9]+"),
        lambda s: re.fullmatch(r"[a-c]{2,4}-[0-9]+", s),
    ),
    "choice": (
        dict(choice=["yes", "no way", "a.b*"]),
        lambda: decoder.Grammar.from_regex(r"yes|no way|a\.b\*"),
        lambda s: s in ("yes", "no way", "a.b*"),
    ),
    "grammar": (
        dict(grammar='start: "(" start ")" | "x"'),
        lambda: decoder.Grammar.from_lark('start: "(" start ")" | "x"'),
        lambda s: re.fullmatch(r"(\(*)x(\)*)", s) and s.count("(") == s.count(")"),
    ),
}


def toward_end(m, row, rng, tries: int = 40) -> int:
    """Among some allowed tokens, one that leaves the fewest bytes to a complete output."""
    ids = sorted(allowed(row) - set(STOP))
    best = None
    for t in rng.choice(ids, size=min(tries, len(ids)), replace=False).tolist():
        f = m.fork()
        f.commit(t)
        left = f.min_completion_bytes()
        if left >= 0 and (best is None or left < best[0]):
            best = (left, t)
    return best[1]


def make_config(model_dir, *, spec_tokens: int = 0, max_num_seqs: int = 16) -> VllmConfig:
    mc = ModelConfig(
        model=str(model_dir), tokenizer=str(model_dir), dtype="float32", max_model_len=512
    )
    kw = {}
    if spec_tokens:
        kw["speculative_config"] = SpeculativeConfig(
            method="ngram",
            num_speculative_tokens=spec_tokens,
            prompt_lookup_max=3,
            prompt_lookup_min=1,
        )
    return VllmConfig(
        model_config=mc,
        device_config=DeviceConfig(device="cpu"),
        scheduler_config=SchedulerConfig(
            max_num_seqs=max_num_seqs, max_model_len=512, is_encoder_decoder=False
        ),
        **kw,
    )


@pytest.fixture(scope="module")
def hf_tokenizer(tiny_model_dir):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(tiny_model_dir))


@pytest.fixture(scope="module")
def ref_vocab(hf_tokenizer):
    return decoder.Vocabulary.from_tokenizer(
        hf_tokenizer, model_vocab_size=MODEL_VOCAB, eos_ids=STOP
    )


def manager_for(config, backend_kw=None) -> StructuredOutputManager:
    mgr = StructuredOutputManager(config)
    mgr.backend = DecoderBackend(
        config,
        tokenizer=mgr.tokenizer,
        vocab_size=config.model_config.get_vocab_size(),
        **(backend_kw or {}),
    )
    return mgr


def new_request(rid: str, so_kwargs: dict) -> Request:
    sp = SamplingParams(
        max_tokens=64, stop_token_ids=STOP, structured_outputs=StructuredOutputsParams(**so_kwargs)
    )
    sp.structured_outputs._backend = "decoder"
    req = Request(rid, prompt_token_ids=[1, 2, 3], sampling_params=sp, pooling_params=None)
    return req


def wait_ready(reqs, timeout=60.0):
    end = time.monotonic() + timeout
    while not all(r.structured_output_request.is_grammar_ready for r in reqs):
        assert time.monotonic() < end, "grammar compilation did not finish"
        time.sleep(0.01)


@pytest.fixture(scope="module")
def config(tiny_model_dir):
    return make_config(tiny_model_dir)


def test_backend_shape_and_width(config):
    mgr = manager_for(config)
    assert mgr.backend.vocab_size == MODEL_VOCAB
    bm = mgr.backend.allocate_token_bitmask(4)
    assert bm.dtype == torch.int32 and tuple(bm.shape) == (4, (MODEL_VOCAB + 31) // 32)
    assert bool((bm == -1).all())


def test_manager_runs_every_request_type_to_termination(config, ref_vocab, hf_tokenizer):
    """Async compile through the manager's pool, then fill/accept until a stop token; every row
    equals a fresh matcher's; the outputs are valid; padding ids past the tokenizer never allowed."""
    mgr = manager_for(config)
    reqs = {name: new_request(name, kw) for name, (kw, _, _) in CASES.items()}
    for r in reqs.values():
        mgr.grammar_init(r)
    wait_ready(reqs.values())
    refs = {name: decoder.compile_grammar(mk(), ref_vocab) for name, (_, mk, _) in CASES.items()}
    out = {name: [] for name in reqs}
    rng = np.random.default_rng(0)
    ids = list(reqs)
    for _ in range(120):
        live = [n for n in ids if not reqs[n].structured_output_request.grammar.is_terminated()]
        if not live:
            break
        bm = mgr.grammar_bitmask({n: reqs[n] for n in live}, live, {})
        assert bm.shape == (len(live), (MODEL_VOCAB + 31) // 32)
        for i, n in enumerate(live):
            row = bm[i]
            np.testing.assert_array_equal(row, reference_row(refs[n], out[n]), err_msg=n)
            assert not any(t >= hf_tokenizer.vocab_size for t in allowed(row) if t not in STOP)
            m = decoder.Matcher(refs[n])
            for t in out[n]:
                m.commit(t)
            # finish once the output is complete (a stop token), else any allowed token
            finish = m.is_accepting() and (
                len(out[n]) > 4 or rng.random() < 0.5 or not allowed(row) - set(STOP)
            )
            tok = (
                2
                if finish
                else (pick(row, rng, STOP) if len(out[n]) < 6 else toward_end(m, row, rng))
            )
            assert mgr.accept_tokens(reqs[n], [tok])
            out[n].append(tok)
    for n, (_, _, valid) in CASES.items():
        g = reqs[n].structured_output_request.grammar
        assert g.is_terminated(), n
        text = hf_tokenizer.decode(out[n][:-1])
        assert valid(text), (n, text)


def test_stop_tokens_are_the_requests_and_rollback_undoes_termination(config, ref_vocab):
    mgr = manager_for(config)
    req = new_request("r", dict(regex="ab"))
    mgr.grammar_init(req)
    wait_ready([req])
    g: DecoderGrammar = req.structured_output_request.grammar
    bm = mgr.backend.allocate_token_bitmask(1)
    g.fill_bitmask(bm, 0)
    assert not (
        allowed(bm[0].numpy()) & set(STOP)
    ), "stop tokens allowed before the grammar accepts"
    ab = [
        t for t in range(MODEL_VOCAB) if t < len(ref_vocab.tokens) and ref_vocab.tokens[t] == b"ab"
    ]
    assert ab and g.accept_tokens("r", ab)
    g.fill_bitmask(bm, 0)
    assert allowed(bm[0].numpy()) == set(STOP)  # exactly the request's stop ids
    assert g.accept_tokens("r", [0]) and g.is_terminated()
    assert g.accept_tokens("r", [5, 6])  # after termination tokens are ignored, as vLLM expects
    g.rollback(1)
    assert not g.is_terminated()
    g.fill_bitmask(bm, 0)
    assert allowed(bm[0].numpy()) == set(STOP)
    assert not g.accept_tokens("r", [ab[0]])  # not allowed: the request fails


def test_speculative_drafts_fill_accept_rollback(tiny_model_dir, ref_vocab):
    """With k drafts the manager fills row i, accepts draft i, ..., fills the bonus row, then
    rolls back k; every row must equal the reference state, and the state must be unchanged."""
    config = make_config(tiny_model_dir, spec_tokens=3)
    assert config.num_speculative_tokens == 3
    mgr = manager_for(config)
    req = new_request("s", dict(json=SCHEMA))
    mgr.grammar_init(req)
    wait_ready([req])
    ref = decoder.compile_grammar(
        decoder.Grammar.from_json_schema(SCHEMA, whitespace=SERVING_WS), ref_vocab
    )
    rng = np.random.default_rng(1)
    prefix = []
    for step in range(4):
        drafts, m = [], decoder.Matcher(ref)
        for t in prefix:
            m.commit(t)
        for _ in range(3):
            row = np.zeros(ref.mask_words, np.int32)
            m.compute_mask(row)
            drafts.append(pick(row, rng, STOP))
            m.commit(drafts[-1])
        bad_at = 1 if step == 2 else None  # one round with a draft the grammar refuses
        if bad_at is not None:
            drafts[bad_at] = ref_vocab.tokens.index(b"zzz") if b"zzz" in ref_vocab.tokens else 5
        assert (
            mgr.validate_tokens(req, list(drafts)) == drafts[: bad_at if bad_at is not None else 3]
        )
        bm = mgr.grammar_bitmask({"s": req}, ["s"], {"s": list(drafts)})
        assert bm.shape[0] == 4
        good = drafts[: bad_at + 1] if bad_at is not None else drafts
        for i in range(4):
            k = min(i, bad_at) if bad_at is not None else i
            np.testing.assert_array_equal(
                bm[i], reference_row(ref, prefix + good[:k]), err_msg=f"row {i}"
            )
        # the state is back where it was: accept what the verifier kept
        kept = drafts[:bad_at] if bad_at is not None else drafts[:2]
        assert req.structured_output_request.grammar.matcher.num_steps == len(prefix)
        assert mgr.accept_tokens(req, kept)
        prefix += kept


def test_large_batch_fills_on_vllms_thread_pool(tiny_model_dir, ref_vocab):
    """Above 128 requests vLLM fills in parallel threads (fill_bitmask must not hold the GIL)."""
    config = make_config(tiny_model_dir, max_num_seqs=256)
    mgr = manager_for(config)
    reqs = {f"r{i}": new_request(f"r{i}", dict(regex=r"[0-9]{1,3}(\.[0-9]+)?")) for i in range(140)}
    for r in reqs.values():
        mgr.grammar_init(r)
    wait_ready(reqs.values())
    ref = decoder.compile_grammar(decoder.Grammar.from_regex(r"[0-9]{1,3}(\.[0-9]+)?"), ref_vocab)
    rng = np.random.default_rng(2)
    outs = {n: [] for n in reqs}
    for n, r in reqs.items():  # different states per request
        for _ in range(int(rng.integers(0, 3))):
            t = pick(reference_row(ref, outs[n]), rng, STOP)
            assert mgr.accept_tokens(r, [t])
            outs[n].append(t)
    bm = mgr.grammar_bitmask(reqs, list(reqs), {})
    for i, n in enumerate(reqs):
        np.testing.assert_array_equal(bm[i], reference_row(ref, outs[n]), err_msg=n)
    assert mgr.backend.compiler.stats["hits"] >= 139  # one compile, the rest from the cache


def test_compile_deadline_fails_only_that_request(config):
    mgr = manager_for(config, dict(deadline_s=1e-4))
    big = {
        "type": "object",
        "properties": {
            f"k{i}": {"type": "string", "pattern": f"[a-z]{{{i},{i + 9}}}"} for i in range(40)
        },
    }
    req = new_request("slow", dict(json=big))
    mgr.grammar_init(req)
    wait_ready([req])
    err = req.structured_output_request.grammar
    assert isinstance(err, CompileTimeout) and "deadline" in str(err)


def test_unsupported_specs_give_clear_errors(config):
    mgr = manager_for(config)
    with pytest.raises(decoder.DecoderError, match="reversed"):  # GBNF, a reversed range
        mgr.backend.compile_grammar(SO.GRAMMAR, "root ::= [z-a]+")
    with pytest.raises(decoder.DecoderError, match="tags is empty"):  # legacy form, no structures
        mgr.backend.compile_grammar(
            SO.STRUCTURAL_TAG, json.dumps({"structures": [], "triggers": ["<"]})
        )
    g = mgr.backend.compile_grammar(SO.GRAMMAR, 'root ::= "a" b-c\nb-c ::= "b" | "c"')
    assert g.validate_tokens([]) == []
    tag = {
        "type": "structural_tag",
        "format": {
            "type": "tag",
            "begin": "<f>",
            "end": "</f>",
            "content": {"type": "json_schema", "json_schema": {"type": "boolean"}},
        },
    }
    g = mgr.backend.compile_grammar(SO.STRUCTURAL_TAG, json.dumps(tag))
    enc = mgr.tokenizer.encode("<f>true</f>", add_special_tokens=False)
    assert g.validate_tokens(enc) == enc and g.matcher.num_steps == 0  # no side effect
    assert g.accept_tokens("t", enc) and g.matcher.is_accepting()


# ---------------------------------------------------------------- logits processor


def _params(spec):
    return SamplingParams(
        max_tokens=32, stop_token_ids=STOP, extra_args={"decoder": spec} if spec else None
    )


def _finite(logits_row) -> set[int]:
    return set(torch.isfinite(logits_row).nonzero().flatten().tolist())


def test_logits_processor_v1_batches_added_removed_moved(config, ref_vocab):
    lp = DecoderLogitsProcessor(config, torch.device("cpu"), False)
    assert not lp.is_argmax_invariant()
    DecoderLogitsProcessor.validate_params(_params({"regex": "a+"}))
    with pytest.raises(ValueError, match="exactly one of"):
        DecoderLogitsProcessor.validate_params(_params({"regex": "a", "choice": ["b"]}))
    with pytest.raises(ValueError):
        DecoderLogitsProcessor.validate_params(_params({"json_schema": {"type": "nope"}}))
    refs = {
        "re": decoder.compile_grammar(decoder.Grammar.from_regex("[ab]+"), ref_vocab),
        "js": decoder.compile_grammar(
            decoder.Grammar.from_json_schema(SCHEMA, whitespace=SERVING_WS), ref_vocab
        ),
    }
    outs = {"re": [], "js": [], "free": []}
    specs = {"re": {"regex": "[ab]+"}, "js": {"json_schema": SCHEMA}, "free": None}
    where = {"re": 0, "free": 1, "js": 2}
    lp.update_state(
        BatchUpdate(
            batch_size=3,
            removed=[],
            moved=[],
            added=[(i, _params(specs[n]), [1, 2], outs[n]) for n, i in where.items()],
        )
    )
    rng = np.random.default_rng(3)

    def step():
        logits = torch.randn(len(where), MODEL_VOCAB)
        lp.update_state(None)
        lp.apply(logits)
        for n, i in where.items():
            if n == "free":
                assert torch.isfinite(logits[i]).all()
                outs[n].append(int(rng.integers(100)))
                continue
            ref = reference_row(refs[n], outs[n])
            assert _finite(logits[i]) == allowed(ref), n
            outs[n].append(pick(ref, rng, STOP))

    step()
    step()
    # swap the constrained rows, then remove the free one and move js into its slot
    lp.update_state(
        BatchUpdate(batch_size=3, removed=[], added=[], moved=[(0, 2, MoveDirectionality.SWAP)])
    )
    where = {"js": 0, "free": 1, "re": 2}
    step()
    lp.update_state(
        BatchUpdate(
            batch_size=2, removed=[1], added=[], moved=[(2, 1, MoveDirectionality.UNIDIRECTIONAL)]
        )
    )
    where = {"js": 0, "re": 1}
    del outs["free"]
    step()
    # a new request reuses a freed index
    outs["ch"] = []
    refs["ch"] = decoder.compile_grammar(decoder.Grammar.from_regex("yes|no"), ref_vocab)
    lp.update_state(
        BatchUpdate(
            batch_size=3,
            removed=[],
            moved=[],
            added=[(2, _params({"choice": ["yes", "no"]}), None, outs["ch"])],
        )
    )
    where["ch"] = 2
    step()
    assert lp.stats["left"] == 0


class _ReqStates:
    """What the V2 interface's ``LogitsProcRequestState`` exposes that the processor reads."""

    def __init__(self, prompt_lens, tokens):
        class _Np:
            pass

        self.prompt_len = _Np()
        self.prompt_len.np = np.array(prompt_lens, dtype=np.int32)
        self.all_token_ids = _Np()
        self.all_token_ids.gpu = torch.tensor(tokens, dtype=torch.int32)


def test_logits_processor_v2_rows_drafts_and_gaps(config, ref_vocab):
    from vllm.v1.worker.gpu.sample.logits_processor import LogitsContext
    from vllm.v1.worker.gpu.sample.logits_processor import LogitsProcessor as V2

    assert issubclass(DecoderLogitsProcessor, V2)
    ref = decoder.compile_grammar(
        decoder.Grammar.from_json_schema(SCHEMA, whitespace=SERVING_WS), ref_vocab
    )
    # a valid output to replay: pick tokens from the reference
    rng = np.random.default_rng(4)
    out = []
    for _ in range(8):
        out.append(pick(reference_row(ref, out), rng, STOP))
    prompt = [1, 5, 6]
    table = np.zeros((4, 64), dtype=np.int32)
    table[3, :3] = prompt
    table[3, 3 : 3 + len(out)] = out
    rs = _ReqStates([0, 0, 0, 3], table)
    lp = DecoderLogitsProcessor(config, rs)
    assert lp.add_request(3, _params({"json_schema": SCHEMA}))
    assert not lp.add_request(1, _params(None))

    def run(rows):  # rows: (slot, position, input token)
        ctx = LogitsContext(
            expanded_idx_mapping=torch.tensor([r[0] for r in rows]),
            idx_mapping=torch.tensor(sorted({r[0] for r in rows})),
            idx_mapping_np=np.array(sorted({r[0] for r in rows})),
            expanded_local_pos=torch.zeros(len(rows), dtype=torch.int32),
            input_ids=torch.tensor([r[2] for r in rows]),
            pos=torch.tensor([r[1] for r in rows]),
            seq_lens_upper_bound_np=np.array([r[1] + 1 for r in rows]),
        )
        logits = torch.randn(len(rows), MODEL_VOCAB)
        lp.apply(logits, ctx)
        return logits

    # prefill row (last prompt position) next to an unconstrained request's row
    lg = run([(1, 9, 7), (3, 2, prompt[-1])])
    assert torch.isfinite(lg[0]).all()
    assert _finite(lg[1]) == allowed(reference_row(ref, []))
    # decode: the previous step's token is this row's input
    lg = run([(3, 3, out[0])])
    assert _finite(lg[0]) == allowed(reference_row(ref, out[:1]))
    # speculative rows: bonus token + 2 drafts (the second draft refused by the grammar)
    lg = run([(3, 4, out[1]), (3, 5, out[2]), (3, 6, 2)])
    assert _finite(lg[0]) == allowed(reference_row(ref, out[:2]))
    assert _finite(lg[1]) == allowed(reference_row(ref, out[:3]))
    assert torch.isfinite(lg[2]).all()  # after a refused draft: not constrained, and discarded
    # the verifier kept out[2]; a different token replaced the refused draft: rollback + commit
    lg = run([(3, 6, out[3])])
    assert _finite(lg[0]) == allowed(reference_row(ref, out[:4]))
    # a gap (preemption, re-prefill): the committed tokens are read back from all_token_ids
    lg = run([(3, 3 + len(out) - 1, out[-1])])
    assert _finite(lg[0]) == allowed(reference_row(ref, out))
    assert lp.stats["gaps"] == 1 and lp.stats["left"] == 0


def test_entry_point_is_registered_for_both_loaders():
    from importlib.metadata import entry_points

    eps = [e for e in entry_points(group="vllm.logits_processors") if e.name == "decoder"]
    if not eps:
        pytest.skip(
            "decoder is not installed as a distribution here (entry points come with pip install)"
        )
    from vllm.v1.sample.logits_processor import _load_logitsprocs_plugins
    from vllm.v1.worker.gpu.sample.logits_processor.loader import _load_v2_logitsprocs_plugins

    assert DecoderLogitsProcessor in _load_logitsprocs_plugins()
    assert DecoderLogitsProcessor in _load_v2_logitsprocs_plugins()
