"""Real English sentences found on every machine, with no download: the Python standard library's
own documentation (the Zen of Python and the docstrings of a fixed list of stdlib modules).

The activations of the golden tensors (kernels/models/real_tensors.py) come from running the real
model on this text. It is deterministic for a given Python version; docstrings change a little
between Python releases, so the exact sentences (and tensors) may differ between, say, 3.11 and
3.12, and tests compare statistics, not values. Pure Python (no torch).
"""

from __future__ import annotations

import codecs
import contextlib
import functools
import importlib
import inspect
import io
import random
import re

__all__ = ["SOURCE_MODULES", "all_sentences", "real_text"]

#: stdlib modules whose docstrings are mostly prose (not tables of flags or code)
SOURCE_MODULES = (
    "argparse", "bisect", "calendar", "collections", "contextlib", "dataclasses", "datetime",
    "decimal", "difflib", "fractions", "functools", "heapq", "itertools", "json", "pathlib",
    "random", "shutil", "statistics", "string", "tempfile", "textwrap", "threading", "zipfile",
)

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z])")
_MIN_WORDS, _MAX_WORDS = 5, 40


def _zen_of_python() -> str:
    with contextlib.redirect_stdout(io.StringIO()):  # `import this` prints the Zen on first import
        this = importlib.import_module("this")
    return codecs.decode(this.s, "rot13")


def _docstrings(module_name: str) -> list[str]:
    module = importlib.import_module(module_name)
    docs = [inspect.getdoc(module) or ""]
    for name, member in sorted(vars(module).items()):
        if name.startswith("_") or getattr(member, "__module__", None) != module.__name__:
            continue
        if inspect.isclass(member) or inspect.isfunction(member):
            docs.append(inspect.getdoc(member) or "")
    return docs


def _is_prose(sentence: str) -> bool:
    """A sentence of words, not code, a signature or a list of options."""
    words = sentence.split()
    if not _MIN_WORDS <= len(words) <= _MAX_WORDS or sentence[-1] not in ".!?":
        return False
    if any(mark in sentence for mark in (">>>", "::", "==", "->", "()", "[", "{", "_", "=", "*", "|")):
        return False
    letters = sum(c.isalpha() or c.isspace() for c in sentence)
    return letters >= 0.9 * len(sentence)


@functools.cache
def all_sentences() -> tuple[str, ...]:
    """Every usable sentence of the sources, de-duplicated, in a fixed order (Zen first)."""
    zen = [line.strip() for line in _zen_of_python().splitlines()[2:] if line.strip()]
    texts = [" ".join(zen)] + [doc for m in SOURCE_MODULES for doc in _docstrings(m)]
    seen: dict[str, None] = {}
    for text in texts:
        for paragraph in re.split(r"\n\s*\n", text):
            for sentence in _SENTENCE_END.split(" ".join(paragraph.split())):
                if _is_prose(sentence):
                    seen.setdefault(sentence, None)
    return tuple(seen)


def real_text(n_sentences: int, seed: int = 0) -> list[str]:
    """``n_sentences`` distinct sentences drawn without replacement; the same (n, seed) gives the same list."""
    if isinstance(n_sentences, bool) or not isinstance(n_sentences, int) or n_sentences < 1:
        raise ValueError(f"n_sentences must be a positive integer, got {n_sentences!r}")
    pool = all_sentences()
    if n_sentences > len(pool):
        raise ValueError(f"n_sentences must be at most {len(pool)} (the sentences available), got {n_sentences}")
    return random.Random(seed).sample(pool, n_sentences)
