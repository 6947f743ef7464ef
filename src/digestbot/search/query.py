"""The search query parser: what a user typed, as terms and one FTS5 expression; no I/O.

- ``parse_query`` first tells an arXiv id or URL apart from keywords (and refuses empty or
  over-long input), so the caller can answer an id with the paper itself.
- Keywords are split into terms (whitespace and punctuation; a switch between CJK and
  other scripts also starts a new term, so ``Transformer长上下文`` is two terms).
- ``term_expr`` turns one term into an FTS5 phrase (user text never reaches FTS5 syntax);
  ``grams`` gives the short tokens (CJK unigrams and bigrams, one- or two-character words)
  a paper's "grams" columns hold, so short terms match too. How the index uses them is in
  ``digestbot.search.index``.
"""

from __future__ import annotations

import itertools
import operator
import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final, Literal

from digestbot.content.schema import normalize_arxiv_id

#: Longer queries are refused (``Query.kind == "too_long"``) before any parsing.
MAX_QUERY_CHARS: Final = 256
#: Terms beyond this many are ignored; a longer term is cut to this many characters.
MAX_TERMS: Final = 12
MAX_TERM_CHARS: Final = 64

QueryKind = Literal["id", "keywords", "empty", "too_long"]

# -- text: CJK detection, terms, grams ----------------------------------------------------

_CJK_RANGES = (
    "\u2e80-\u2fdf"  # radicals
    "\u3040-\u30ff"  # hiragana, katakana
    "\u3100-\u312f\u31a0-\u31bf"  # bopomofo
    "\u3400-\u4dbf"  # CJK extension A
    "\u4e00-\u9fff"  # CJK unified ideographs
    "\uac00-\ud7af"  # hangul syllables
    "\uf900-\ufaff"  # compatibility ideographs
    "\U00020000-\U0003134f"  # extensions B-G
)
_CJK_CHAR = re.compile(f"[{_CJK_RANGES}]")
_CJK_RUN = re.compile(f"[{_CJK_RANGES}]+")
#: A word of one or two letters or digits (CJK runs are blanked out before this applies).
_SHORT_WORD = re.compile(r"\b[^\W_]{1,2}\b")
#: Script switches: a CJK run, or a run of anything else.
_SCRIPT_RUNS = re.compile(f"[{_CJK_RANGES}]+|[^{_CJK_RANGES}]+")
_SEPARATORS = re.compile(r"[\s,，、。；;！!？?：:|()（）\[\]【】{}「」『』《》<>〈〉\"“”'‘’`*^~=]+")
#: Short words too common to be worth indexing or searching alone.
_STOPWORDS = frozenset(
    {"a", "an", "as", "at", "be", "by", "do", "if", "in", "is", "it", "of", "on", "or", "so"}
    | {"to", "up", "we", "vs"}
)

_ARXIV_HOSTS = (
    r"(?:(?:www\.|export\.)?arxiv\.org|(?:www\.)?huggingface\.co|(?:www\.)?alphaxiv\.org)"
)
_ID_BODY = r"(\d{4}\.\d{4,5}(?:v\d+)?|[a-z][a-z\-]*(?:\.[A-Z]{2})?/\d{7}(?:v\d+)?)"
_ID_URL = re.compile(
    rf"^(?:https?://)?{_ARXIV_HOSTS}/(?:abs|pdf|html|papers)/{_ID_BODY}(?:\.pdf)?/?(?:[?#].*)?$",
    re.IGNORECASE,
)
_ID_BARE = re.compile(rf"^(?:arxiv:\s*)?{_ID_BODY}$", re.IGNORECASE)
_CONTROL = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2060-\u206f\ud800-\udfff\ufeff]"
)
#: Characters that often wrap a pasted id or link: ``<https://...>``, ``(2404.08634).``
_WRAPPERS = "<>()[]{}\"'“”‘’「」《》.,;:!?，。；：！？ "
_OLD_ID_PARTS = re.compile(r"^([a-z][a-z\-]*)(\.[a-z]{2})?/(\d{7}(?:v\d+)?)$", re.IGNORECASE)


def is_cjk(text: str) -> bool:
    return _CJK_CHAR.search(text) is not None


def _strip_symbols(term: str) -> str:
    """Drop punctuation and symbols at both ends (``(CLIP)`` → ``CLIP``, ``C++`` → ``C``)."""
    start, end = 0, len(term)
    while start < end and unicodedata.category(term[start])[0] in "PS":
        start += 1
    while end > start and unicodedata.category(term[end - 1])[0] in "PS":
        end -= 1
    return term[start:end]


def _normalize(text: str) -> str:
    """NFKC (full-width letters and digits become ASCII), no control characters, one space."""
    text = unicodedata.normalize("NFKC", text)
    text = _CONTROL.sub(" ", text)
    return " ".join(text.split())


def split_terms(text: str) -> list[str]:
    """The search terms in ``text``, lower-cased, de-duplicated, at most ``MAX_TERMS``."""
    out: list[str] = []
    seen: set[str] = set()
    for chunk in _SEPARATORS.split(_normalize(text)):
        for run in _SCRIPT_RUNS.findall(chunk):
            term = _strip_symbols(run).lower()[:MAX_TERM_CHARS]
            if not term or term in seen:
                continue
            if len(term) <= 2 and not is_cjk(term) and term in _STOPWORDS:
                continue
            seen.add(term)
            out.append(term)
            if len(out) == MAX_TERMS:
                return out
    return out


def nfkc(text: str) -> str:
    return text if unicodedata.is_normalized("NFKC", text) else unicodedata.normalize("NFKC", text)


def grams(*texts: str) -> str:
    """The short tokens of ``texts`` (NFKC already): CJK unigrams and bigrams, short words.

    Returned space-separated with a space at both ends, each token once, so the phrase
    ``" 注意 "`` matches only the bigram token under the trigram tokenizer.
    """
    text = "\n".join(texts).lower()
    tokens: dict[str, None] = {}
    runs = _CJK_RUN.findall(text)
    if runs:
        joined = "\x00".join(runs)
        tokens = dict.fromkeys(joined)
        tokens.update(dict.fromkeys(map(operator.add, joined, joined[1:])))
        tokens.pop("\x00", None)
        for before, after in itertools.pairwise(runs):  # pairs across the joins
            tokens.pop(before[-1] + "\x00", None)
            tokens.pop("\x00" + after[0], None)
        text = _CJK_RUN.sub(" ", text)
    tokens.update(dict.fromkeys(w for w in _SHORT_WORD.findall(text) if w not in _STOPWORDS))
    if not tokens:
        return ""
    return " " + " ".join(tokens) + " "


# -- the word index: terms answered by whole tokens (see digestbot.search.index) ---------

#: Between two CJK runs in a sequence column: a token no CJK bigram equals, so a phrase of
#: bigrams never joins the end of one run to the start of the next.
_RUN_BREAK = " 0 "
_NOT_ALNUM = re.compile(r"[\W_]+")


#: The word index's tokenizer: a word is a run of letters, digits, marks, punctuation and
#: symbols; ``word_text`` has blanked the separators terms are split at (and CJK runs)
#: already, so a word is what ``split_terms`` would keep whole.
WORDS_TOKENIZER: Final = "unicode61 remove_diacritics 0 categories 'L* N* Co M* P* S*'"


def word_able(term: str) -> bool:
    """Whether the word index answers ``term`` exactly as the trigram index would.

    A short term (a grams token) and a CJK term (a phrase of its bigrams) of letters and
    digits are; so is any other term of word characters (``gpt-4``, ``naïve``,
    ``2404.08634``: it is a substring of one word, found in the vocabulary). One holding
    a control or format character is left to the trigrams.
    """
    if len(term) <= 2 or is_cjk(term):
        return term.isalnum()
    return all(_word_char(char) for char in term)


def _word_char(char: str) -> bool:
    category = unicodedata.category(char)
    return category[0] in "LNMPS" or category == "Co"


def word_text(*texts: str) -> str:
    """``texts`` as the word index's words columns hold them: CJK runs and the separators
    terms are split at blanked, so each word is one unbroken run of a term's characters."""
    return _SEPARATORS.sub(" ", _CJK_RUN.sub(" ", "\n".join(texts)))


def _bigrams(run: str) -> str:
    """The bigrams of a CJK run, in order, space-separated: how a sequence column holds a
    run and how a CJK term is asked for there, so both sides are cut the same way."""
    return " ".join(map(operator.add, run, run[1:]))


def cjk_sequence(*texts: str) -> str:
    """Each run of CJK letters in ``texts`` as its bigrams in order, runs kept apart.

    A CJK term of three or more characters is then the phrase of its own bigrams, which
    matches exactly where the term is a substring of one run.
    """
    runs = [
        piece
        for run in _CJK_RUN.findall("\n".join(texts))
        for piece in _NOT_ALNUM.split(run)
        if len(piece) >= 2
    ]
    return _RUN_BREAK.join(map(_bigrams, runs))


def words_expr(
    terms: Sequence[str], words: Mapping[str, Sequence[str]], prefixes: Sequence[str]
) -> str:
    """The word index's FTS5 expression for ``terms`` (each ``word_able``), every one
    required: a short term is its token in the ``<prefix>grams`` columns, a CJK term the
    phrase of its bigrams in the ``<prefix>seq`` columns, any other term any of
    ``words[term]`` (the vocabulary's words holding it; no column filter, as a word of
    three characters or more is only ever in the ``words`` columns, and a filter would
    make FTS5 read every position list)."""
    parts = []
    for term in terms:
        if len(term) >= 3 and not is_cjk(term):
            parts.append("(" + " OR ".join(map(_phrase, words[term])) + ")")
            continue
        if len(term) <= 2:
            columns, match = "grams", _phrase(term)
        else:
            columns, match = "seq", _phrase(_bigrams(term))
        spec = " ".join(f"{prefix}{columns}" for prefix in prefixes)
        parts.append(f"{{{spec}}} : {match}")
    return " AND ".join(parts)


def _phrase(text: str) -> str:
    """``text`` as one FTS5 string: everything inside double quotes is literal."""
    return '"' + text.replace('"', '""') + '"'


def term_expr(term: str) -> str:
    """One term as an FTS5 phrase; a short one padded with spaces to match a grams token.

    No column filter is needed: the grams columns hold only tokens of one or two characters
    between spaces, so a longer term (which never holds a space) cannot match there, and a
    padded short term matches only whole tokens (or a spaced-out word in the text itself).
    """
    return _phrase(term if len(term) >= 3 else f" {term} ")


# -- queries ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Query:
    """What a user typed, understood: an arXiv id, keywords, nothing, or too much."""

    kind: QueryKind
    text: str = ""
    arxiv_id: str = ""
    terms: tuple[str, ...] = ()


def parse_query(text: str) -> Query:
    """Tell an arXiv id or URL (abs, pdf, Hugging Face papers) apart from keywords.

    ``2404.08634``, ``2404.08634v2``, ``arXiv:2404.08634``,
    ``https://arxiv.org/abs/2404.08634v1``, ``https://arxiv.org/pdf/2404.08634.pdf`` and
    ``https://huggingface.co/papers/2404.08634`` are all the id ``2404.08634``. Input longer
    than ``MAX_QUERY_CHARS`` is ``too_long`` (checked first, so it costs nothing); input with
    no searchable term is ``empty``.
    """
    stripped = text.strip()
    if len(stripped) > MAX_QUERY_CHARS:
        return Query("too_long")
    clean = _normalize(stripped)
    if not clean:
        return Query("empty")
    candidate = clean.strip(_WRAPPERS)
    match = _ID_URL.match(candidate) or _ID_BARE.match(candidate)
    if match is not None:
        raw = match.group(1)
        old_style = _OLD_ID_PARTS.match(raw)
        if old_style is not None:  # hep-th/9901001, cs.AI/0101001: fix the letter case
            archive, subject, number = old_style.groups()
            raw = f"{archive.lower()}{(subject or '').upper()}/{number}"
        try:
            return Query("id", clean, arxiv_id=normalize_arxiv_id(raw))
        except ValueError:
            pass
    terms = split_terms(clean)
    if not terms:
        return Query("empty", clean)
    return Query("keywords", clean, terms=tuple(terms))
