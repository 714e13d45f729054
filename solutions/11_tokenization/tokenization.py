# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Module 11: Tokenization
#
# A language model never sees text. It sees integers: each piece of text is replaced by the
# id of a *token*, and the first layer of the model (the embedding table of the next module)
# turns every id into a row of learned numbers, $\mathbf{e}_t = W[t]$. The tokenizer decides
# what the pieces are, how many distinct ids exist, and therefore how large that table is.
#
# In this module you build `CharTokenizer`, a character-level tokenizer with the interface of
# the tokenizers used for real models:
#
# - `encode` turns a string into a list of ids, `decode` turns ids back into a string;
# - special tokens mark padding, unknown characters, and the start and end of a sequence;
# - `from_corpus` builds a vocabulary from example text;
# - `encode_batch` packs several texts of different lengths into one rectangular array with an
#   attention mask, the shape a model consumes.
#
# By the end you can explain the trade-off between vocabulary size and sequence length, and why
# every batch of text comes with a mask.

# %%
#| default_exp core.tokenization

# %%
#| export
import json
import os
import string
from collections import Counter

import numpy as np

from tinytorch_lite.core.tensor import check_token_ids

# %% [markdown]
# ## Characters, words or subwords?
#
# There are three common choices of what one token is.
#
# | unit | vocabulary size | sequence length | unknown text |
# |---|---|---|---|
# | character (or byte) | small: ~100 printable ASCII characters, 256 bytes | long: one token per character | rare: every word is spelled out |
# | word | huge: every word form is its own token | short: one token per word | common: new words, names and typos |
# | subword (BPE, WordPiece, Unigram) | tens of thousands | in between | rare: unknown words split into known pieces |
#
# Let us measure the first two on a small piece of text.

# %%
sample = (
    "Language models read numbers, not letters. A tokenizer cuts text into pieces and gives "
    "every piece an id. Short pieces, like single characters, need only a small table of ids, "
    "but a sentence becomes a long list of them. Long pieces, like whole words, keep the list "
    "short, yet every new word, name or typo asks for another row in the table. Subword "
    "tokenizers split rare words into common fragments and keep frequent words whole."
)
half = sample[: len(sample) // 2]
for name, text in [("first half", half), ("whole text", sample)]:
    words = text.split()
    print(f"{name}: characters {len(text):3} tokens, {len(set(text)):2} distinct | "
          f"words {len(words):2} tokens, {len(set(words)):2} distinct")

# %% [markdown]
# Characters give a sequence several times longer, from a small set of distinct tokens that
# hardly grows once the common letters have been seen. Words give a short sequence, but nearly
# every new word is a new token: the set keeps growing with the text ("words," and "words" even
# count as two). Subword tokenizers sit in between: for common English text one token of
# OpenAI's tokenizers covers about four characters (OpenAI help center, *What are tokens and how
# to count them?*).
#
# Both numbers cost something later:
#
# - **Vocabulary size $V$** sets the size of the embedding table, $V \times D$ numbers for
#   embedding dimension $D$ (and usually an output layer of the same size).
# - **Sequence length $T$** sets the cost of attention, which compares every position with every
#   other one: $T^2$ pairs per layer.
#
# GPT-2 uses a byte-level BPE vocabulary of 50,257 tokens and, in its smallest version, $D = 768$
# (Radford et al., 2019, *Language Models are Unsupervised Multitask Learners*, section 2.2 and
# table 2). Compare its embedding table with the one of our character vocabulary (101 tokens, see
# below); the character table is hundreds of times smaller, at the price of sequences about four
# times longer.

# %%
embedding_dim = 768
sizes = {"GPT-2 BPE": 50_257, "characters": 101}
for name, vocab_size in sizes.items():
    parameters = vocab_size * embedding_dim
    print(f"{name:>10}: {vocab_size:>6} x {embedding_dim} = {parameters:>10,} parameters, "
          f"{parameters * 4 / 1e6:7.1f} MB in float32")
print(f"the GPT-2 table is {sizes['GPT-2 BPE'] / sizes['characters']:.0f} times larger")

# %% [markdown]
# We build the character tokenizer: it is small enough to write in one sitting, it never
# meets a word it cannot spell, and its interface is the one a subword tokenizer has too.
#
# ## Special tokens
#
# Four ids are reserved for tokens that are not characters:
#
# | token | id | used for |
# |---|---|---|
# | `<pad>` | 0 | filling up short sequences in a batch (see below) |
# | `<unk>` | 1 | any character that is not in the vocabulary |
# | `<bos>` | 2 | beginning of sequence: gives the model a first position to predict from |
# | `<eos>` | 3 | end of sequence: lets a model learn when to stop generating |
#
# Giving `<pad>` the id 0 is the usual convention. In the next module you pass it to the embedding
# table as `padding_idx=tokenizer.pad_id`: that row stays zero and never learns, so padding adds
# nothing to the model. The characters get the ids from 4 on, in the order of the vocabulary list.
#
# ## The default vocabulary
#
# `CharTokenizer()` with no argument must be useful at once, so it comes with the printable
# ASCII characters: `string.printable` without the three whitespace characters that are hard to
# see and rare in text, carriage return `\r`, vertical tab `\x0b` and form feed `\x0c`. Space,
# newline `\n` and tab `\t` stay. The characters are sorted by code point, which gives
# `\t`=4, `\n`=5, space=6 and then `!` to `~` (ids 7 to 100): 101 tokens in all. Windows line
# endings `\r\n` therefore encode `\r` as `<unk>`; replace them with `\n` before encoding.

# %%
#| export
_DEFAULT_CHARACTERS = sorted(set(string.printable) - set("\r\x0b\x0c"))
_FILE_FORMAT = "tinytorch_lite.CharTokenizer"

# %%
print(len(_DEFAULT_CHARACTERS), "characters:", repr("".join(_DEFAULT_CHARACTERS)))

# %% [markdown]
# The checks of the inputs live in small helpers, so that the class further down shows only the
# ideas. Each error says what was expected and how to fix the call.

# %%
#| export
def _check_vocab(vocab):
    """Return ``vocab`` as a list of distinct single characters, or raise saying what is wrong."""
    if isinstance(vocab, (str, list, tuple)):
        vocab = list(vocab)
    elif isinstance(vocab, (set, frozenset)):
        raise TypeError("vocab must be ordered, since ids are given by position; "
                        "a set has no fixed order: pass sorted(your_set)")
    else:
        raise TypeError(f"vocab must be a list of single characters (or None for printable ASCII), "
                        f"got {type(vocab).__name__}; ids are given by position, from 4 on")
    first_seen = {}
    for position, char in enumerate(vocab):
        if not isinstance(char, str):
            raise TypeError(f"vocab[{position}] is a {type(char).__name__}; expected a str of one character")
        if len(char) != 1:
            raise ValueError(f"vocab[{position}] is {char!r}; a CharTokenizer vocabulary holds single characters")
        if char in first_seen:
            raise ValueError(f"vocab lists {char!r} twice (positions {first_seen[char]} and {position}); "
                             "each character needs exactly one id")
        first_seen[char] = position
    return vocab


def _check_texts(texts, caller):
    """Return ``texts`` as a list of str; a bare str is one text, not a list, and is refused."""
    if isinstance(texts, (str, bytes)) or not hasattr(texts, "__iter__"):
        raise TypeError(f"{caller} expects a list of strings, got {type(texts).__name__}; "
                        "wrap a single text in a list: [text]")
    texts = list(texts)
    for position, text in enumerate(texts):
        if not isinstance(text, str):
            raise TypeError(f"texts[{position}] is a {type(text).__name__}; {caller} expects a list of strings")
    return texts


def _check_positive_int(value, name):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if value < 1:
        raise ValueError(f"{name} must be at least 1, got {value}")
    return int(value)


def _as_id_array(ids, vocab_size):
    """Return ``ids`` (list, numpy array or Tensor) as a 1-D integer array of valid ids."""
    expected = "a list of ints, a 1-D numpy integer array or a Tensor"
    if isinstance(ids, np.ndarray):
        array = ids
    elif isinstance(ids, (list, tuple)):
        array = np.asarray(ids) if len(ids) else np.zeros(0, dtype=np.int64)
    elif hasattr(ids, "data") and not isinstance(ids, (str, bytes, np.generic)):
        array = np.asarray(ids.data)
    else:
        raise TypeError(f"decode expects {expected}, got {type(ids).__name__}")
    if array.dtype.kind not in "iu":
        raise TypeError(f"token ids must be integers, got dtype {array.dtype}; decode expects {expected}")
    if array.ndim != 1:
        raise ValueError(f"decode takes one sequence of ids (1-D), got shape {array.shape}; "
                         "for a batch decode each row: [tokenizer.decode(row) for row in token_ids]")
    return check_token_ids(array, vocab_size)  # TokenIdError (a ValueError) for an id outside the vocabulary


def _check_path(path):
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a str or pathlib.Path, got {type(path).__name__}")
    return path

# %% [markdown]
# ## Batches, padding and attention masks
#
# A model processes many texts at once as one array of shape `(B, T)`: `B` texts, `T` positions.
# Texts have different lengths, so the short ones are filled up on the right with `<pad>`. The
# model must not treat padding as text, so the batch comes with an **attention mask** of the same
# shape: 1 where a real token sits, 0 where padding sits. Attention uses it to ignore padded
# positions, and a loss uses it to skip them.
#
# ```
# texts           token_ids (T = 5)          attention_mask
# "hi"            h  i  <pad> <pad> <pad>    1 1 0 0 0
# "hello"         h  e  l     l     o        1 1 1 1 1
# ```
#
# A model has a longest sequence it can handle (`max_seq_length` of its position table). When a
# text is longer than `max_length`, `encode_batch` refuses unless asked to cut it
# (`truncation=True` keeps the first `max_length` tokens): silently losing text is a bug that
# is hard to find later.
#
# ## Your tasks
#
# The class below is complete except for four regions, each marked with its task number.
#
# 1. **`encode`**: map every character to its id with `self.token_to_id`, using `self.unk_id`
#    for characters that are not in it; with `add_special_tokens=True` put `self.bos_id` before
#    and `self.eos_id` after.
# 2. **`decode`**: `ids` is already checked and converted to a 1-D integer numpy array. Look each
#    id up in `self.tokens` (the list whose position `i` holds the token with id `i`) and join
#    the strings; leave out the four special tokens when `skip_special_tokens` is true.
# 3. **`from_corpus`**: count how often each character occurs over all `texts`, keep those
#    seen at least `min_freq` times, and sort them most frequent first, ties by code point
#    (`ord`). Hint: `collections.Counter` counts the characters of a string with `update`.
# 4. **`encode_batch`**: the texts are already encoded into `sequences` (with your `encode`, so
#    do Task 1 first) and `length` (the `T` of the batch) is known. Fill `token_ids` (`pad_id`
#    everywhere except the real tokens, on the left) and `attention_mask`, both int64 arrays of
#    shape `(B, T)`.

# %% nbgrader={"grade": false, "grade_id": "char_tokenizer", "locked": false, "schema_version": 3, "solution": true}
#| export
class CharTokenizer:
    """Character-level tokenizer: one token per character, plus four special tokens.

    Ids 0 to 3 are ``<pad>``, ``<unk>``, ``<bos>`` and ``<eos>``; the characters of ``vocab``
    (a list of single characters) follow from id 4, in the given order. ``vocab=None`` gives the
    default vocabulary: the printable ASCII characters without ``\\r``, ``\\x0b`` and ``\\x0c``,
    sorted by code point (101 tokens). Characters outside the vocabulary encode to ``<unk>``.

    Attributes:
        vocab: the characters, without the special tokens.
        tokens: all tokens; ``tokens[i]`` is the token with id ``i``.
        token_to_id: the inverse of ``tokens``.

    Example:
        >>> tokenizer = CharTokenizer()
        >>> tokenizer.encode("Hi!")
        [46, 79, 7]
        >>> tokenizer.decode([2, 46, 79, 7, 3])
        'Hi!'
    """

    special_tokens = ("<pad>", "<unk>", "<bos>", "<eos>")
    pad_id, unk_id, bos_id, eos_id = 0, 1, 2, 3

    def __init__(self, vocab=None):
        self.vocab = _check_vocab(_DEFAULT_CHARACTERS if vocab is None else vocab)
        self.tokens = list(self.special_tokens) + self.vocab
        self.token_to_id = {token: i for i, token in enumerate(self.tokens)}

    @property
    def vocab_size(self):
        """Number of ids, special tokens included: the row count of an embedding table."""
        return len(self.tokens)

    def __repr__(self):
        return f"CharTokenizer(vocab_size={self.vocab_size})"

    def encode(self, text, add_special_tokens=False):
        """Return the ids of the characters of ``text`` as a list of ints.

        Unknown characters become ``unk_id``. With ``add_special_tokens=True`` the result is
        ``[bos_id, *ids, eos_id]``.
        """
        if not isinstance(text, str):
            hint = ("decode the bytes first: data.decode('utf-8')" if isinstance(text, bytes)
                    else "to encode several texts use encode_batch([...])")
            raise TypeError(f"encode expects a str, got {type(text).__name__}; {hint}")
        # one id per character (self.unk_id if unknown); [bos, ..., eos] if add_special_tokens.
        ### BEGIN SOLUTION
        ids = [self.token_to_id.get(char, self.unk_id) for char in text]
        if add_special_tokens:
            ids = [self.bos_id] + ids + [self.eos_id]
        return ids
        ### END SOLUTION

    def decode(self, ids, skip_special_tokens=True):
        """Return the text of the token ids ``ids``.

        ``ids`` is a list of ints, a 1-D numpy integer array, or an object whose ``.data`` is
        one (a ``Tensor``). Special tokens (``<unk>`` included) are left out when
        ``skip_special_tokens`` is true, and written as ``"<pad>"`` etc. otherwise.
        """
        ids = _as_id_array(ids, self.vocab_size)
        # look each id up in self.tokens and join; skip ids 0-3 if skip_special_tokens.
        ### BEGIN SOLUTION
        first_char_id = len(self.special_tokens)
        return "".join(
            self.tokens[i] for i in ids.tolist() if not (skip_special_tokens and i < first_char_id)
        )
        ### END SOLUTION

    @classmethod
    def from_corpus(cls, texts, min_freq=1):
        """Build a tokenizer from the characters of ``texts`` (a list of strings).

        Keeps the characters that occur at least ``min_freq`` times over all texts, most
        frequent first, ties broken by code point, so that one corpus always gives the same ids.
        """
        texts = _check_texts(texts, "from_corpus")
        min_freq = _check_positive_int(min_freq, "min_freq")
        # set `characters` to those seen >= min_freq times, most frequent first, ties by ord.
        ### BEGIN SOLUTION
        counts = Counter()
        for text in texts:
            counts.update(text)
        characters = [char for char, count in counts.items() if count >= min_freq]
        characters.sort(key=lambda char: (-counts[char], ord(char)))
        ### END SOLUTION
        return cls(vocab=characters)

    def encode_batch(self, texts, max_length=None, padding=True, truncation=False):
        """Encode a list of texts into ``(token_ids, attention_mask)``, int64 arrays of shape (B, T).

        Short texts are padded on the right with ``pad_id``; ``attention_mask`` is 1 at real
        tokens and 0 at padding. T is ``max_length`` when given, otherwise the longest text.
        A text longer than ``max_length`` raises ``ValueError`` unless ``truncation=True``, which
        keeps its first ``max_length`` tokens. With ``padding=False`` all texts must have length T.
        """
        sequences = [self.encode(text) for text in _check_texts(texts, "encode_batch")]
        if max_length is None:
            if truncation:
                raise ValueError("truncation=True needs max_length, the length to cut texts to")
            length = max((len(ids) for ids in sequences), default=0)
        else:
            length = _check_positive_int(max_length, "max_length")
            for position, ids in enumerate(sequences):
                if len(ids) > length and not truncation:
                    raise ValueError(f"texts[{position}] has {len(ids)} tokens, more than max_length={length}; "
                                     "pass truncation=True to cut it or raise max_length")
            sequences = [ids[:length] for ids in sequences]
        if not padding:
            for position, ids in enumerate(sequences):
                if len(ids) != length:
                    raise ValueError(f"with padding=False every text needs {length} tokens, "
                                     f"texts[{position}] has {len(ids)}; pass padding=True")
        # fill int64 `token_ids` (pad_id after each text) and `attention_mask`, shape (B, length).
        ### BEGIN SOLUTION
        token_ids = np.full((len(sequences), length), self.pad_id, dtype=np.int64)
        attention_mask = np.zeros((len(sequences), length), dtype=np.int64)
        for row, ids in enumerate(sequences):
            token_ids[row, :len(ids)] = ids
            attention_mask[row, :len(ids)] = 1
        ### END SOLUTION
        return token_ids, attention_mask

    def save(self, path):
        """Write the vocabulary to ``path`` as UTF-8 JSON; ``CharTokenizer.load(path)`` reads it."""
        payload = {"format": _FILE_FORMAT, "special_tokens": list(self.special_tokens), "vocab": self.vocab}
        with open(_check_path(path), "w", encoding="utf-8") as file:
            json.dump(payload, file, ensure_ascii=False, indent=1)
            file.write("\n")

    @classmethod
    def load(cls, path):
        """Read a tokenizer written by ``save``."""
        with open(_check_path(path), encoding="utf-8") as file:
            payload = json.load(file)
        if not isinstance(payload, dict) or payload.get("format") != _FILE_FORMAT:
            raise ValueError(f"{os.fspath(path)} is not a file written by CharTokenizer.save "
                             f"(expected a JSON object with \"format\": \"{_FILE_FORMAT}\")")
        if payload.get("special_tokens") != list(cls.special_tokens):
            raise ValueError(f"{os.fspath(path)} has special tokens {payload.get('special_tokens')}, "
                             f"expected {list(cls.special_tokens)}")
        return cls(vocab=payload["vocab"])


# %% [markdown]
# ## Task 1: encode
#
# The tests below check your work; run them after each task. The graded tests have hidden parts
# too, so make sure your code follows the docstring, not only the visible asserts.

# %% nbgrader={"grade": true, "grade_id": "test_encode_known_and_unknown", "locked": true, "points": 2, "schema_version": 3, "solution": false}
"""Check that encode maps each character to its id and unknown characters to <unk>."""
tokenizer = CharTokenizer()
assert (tokenizer.vocab_size, tokenizer.pad_id, tokenizer.unk_id) == (101, 0, 1), \
    f"the default vocabulary has 101 tokens with <pad>=0, <unk>=1; got {tokenizer.vocab_size}"
ids = tokenizer.encode("Hi!")
expected = [tokenizer.token_to_id["H"], tokenizer.token_to_id["i"], tokenizer.token_to_id["!"]]
assert ids == expected, f"encode('Hi!') should be {expected}, got {ids}; hint: look each character up in self.token_to_id"
assert isinstance(ids, list) and all(type(i) is int for i in ids), \
    f"encode should return a list of Python ints, got {type(ids).__name__} {ids!r}"
ids = tokenizer.encode("café")
expected = [tokenizer.token_to_id[c] for c in "caf"] + [tokenizer.unk_id]
assert ids == expected, f"encode('café') should be {expected}, got {ids}; hint: 'é' is not in the vocabulary, so it becomes unk_id"
### BEGIN HIDDEN TESTS
hello = "Hello world!"
assert tokenizer.encode(hello) == [ord(c) - 26 for c in hello], \
    f"printable characters from '!' on have id ord(c) - 26; got {tokenizer.encode(hello)}"
got = tokenizer.encode("\t\n ")
assert got == [4, 5, 6], f"tab, newline and space are ids 4, 5, 6; got {got}"
assert tokenizer.encode("") == [], f"the empty string encodes to [], got {tokenizer.encode('')}"
assert tokenizer.encode("日a本\r") == [1, tokenizer.token_to_id["a"], 1, 1], \
    f"every unknown character, wherever it is, becomes <unk>; got {tokenizer.encode('日a本' + chr(13))}"
custom = CharTokenizer(vocab=["b", "a"])
assert custom.encode("abc") == [5, 4, 1], \
    f"with vocab ['b', 'a'] the ids are b=4, a=5, so 'abc' is [5, 4, 1]; got {custom.encode('abc')}"
try:
    tokenizer.encode(123)
except TypeError:
    pass
else:
    raise AssertionError("encode(123) should raise TypeError")
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_encode_special_tokens", "locked": true, "points": 1, "schema_version": 3, "solution": false}
"""Check that add_special_tokens=True wraps the ids in <bos> ... <eos>, and only then."""
tokenizer = CharTokenizer()
a, b = tokenizer.token_to_id["a"], tokenizer.token_to_id["b"]
got = tokenizer.encode("ab", add_special_tokens=True)
assert got == [tokenizer.bos_id, a, b, tokenizer.eos_id], \
    f"encode('ab', add_special_tokens=True) should be [2, {a}, {b}, 3], got {got}"
got = tokenizer.encode("ab")
assert got == [a, b], f"by default encode adds no special tokens: expected [{a}, {b}], got {got}"
### BEGIN HIDDEN TESTS
got = tokenizer.encode("", add_special_tokens=True)
assert got == [2, 3], f"the empty string with special tokens is [<bos>, <eos>] = [2, 3], got {got}"
got = tokenizer.encode("é", add_special_tokens=True)
assert got == [2, 1, 3], f"encode('é', add_special_tokens=True) should be [2, 1, 3], got {got}"
### END HIDDEN TESTS

# %% [markdown]
# ## Task 2: decode

# %% nbgrader={"grade": true, "grade_id": "test_decode_round_trip", "locked": true, "points": 2, "schema_version": 3, "solution": false}
"""Check that decode turns ids back into the text they came from."""
tokenizer = CharTokenizer()
text = "Hello world!\n\tsee you"
ids = [tokenizer.token_to_id[c] for c in text]
got = tokenizer.decode(ids)
assert got == text, f"decode should give back {text!r}, got {got!r}; hint: self.tokens[i] is the token with id i"
got = tokenizer.decode([])
assert got == "", f"decode([]) should be '', got {got!r}"
### BEGIN HIDDEN TESTS
every = "".join(tokenizer.vocab)
got = tokenizer.decode([tokenizer.token_to_id[c] for c in every])
assert got == every, f"every character of the default vocabulary should round-trip, got {got!r}"
custom = CharTokenizer(vocab=["z", "y", "x"])
got = custom.decode([6, 5, 4, 4])
assert got == "xyzz", f"with vocab ['z', 'y', 'x'], ids [6, 5, 4, 4] are 'xyzz', got {got!r}"
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_decode_special_tokens_and_inputs", "locked": true, "points": 2, "schema_version": 3, "solution": false}
"""Check that decode skips special tokens by default and accepts arrays and Tensor-like objects."""
from types import SimpleNamespace

tokenizer = CharTokenizer()
h, i = tokenizer.token_to_id["h"], tokenizer.token_to_id["i"]
ids = [tokenizer.bos_id, h, i, tokenizer.eos_id, tokenizer.pad_id, tokenizer.pad_id]
got = tokenizer.decode(ids)
assert got == "hi", f"decode({ids}) should skip the special tokens and give 'hi', got {got!r}"
got = tokenizer.decode(ids, skip_special_tokens=False)
assert got == "<bos>hi<eos><pad><pad>", \
    f"with skip_special_tokens=False the special tokens are written out: expected '<bos>hi<eos><pad><pad>', got {got!r}"
got = tokenizer.decode(np.array(ids))
assert got == "hi", f"decode should accept a numpy int array, got {got!r}"
got = tokenizer.decode(SimpleNamespace(data=np.array(ids)))
assert got == "hi", f"decode should accept an object whose .data is an int array (a Tensor), got {got!r}"
### BEGIN HIDDEN TESTS
got = tokenizer.decode([h, tokenizer.unk_id, i])
assert got == "hi", f"<unk> is a special token and is skipped by default: expected 'hi', got {got!r}"
got = tokenizer.decode([h, tokenizer.unk_id, i], skip_special_tokens=False)
assert got == "h<unk>i", f"expected 'h<unk>i', got {got!r}"
got = tokenizer.decode(np.array([4, 5, 6], dtype=np.int32), skip_special_tokens=False)
assert got == "\t\n ", f"ids 4, 5, 6 are the first characters, not special tokens: expected '\\t\\n ', got {got!r}"
for bad_ids, error in [([0, 101], ValueError), ([-1], ValueError), (np.array([1.0, 2.0]), TypeError), ("hi", TypeError)]:
    try:
        tokenizer.decode(bad_ids)
    except error:
        pass
    else:
        raise AssertionError(f"decode({bad_ids!r}) should raise {error.__name__}")
### END HIDDEN TESTS

# %% [markdown]
# ## Task 3: a vocabulary from a corpus

# %% nbgrader={"grade": true, "grade_id": "test_from_corpus_order", "locked": true, "points": 2, "schema_version": 3, "solution": false}
"""Check that from_corpus orders characters by frequency, ties by code point."""
tokenizer = CharTokenizer.from_corpus(["abracadabra"])
expected = ["a", "b", "r", "c", "d"]
assert tokenizer.vocab == expected, \
    f"'abracadabra' has a x5, b x2, r x2, c x1, d x1, so the vocabulary is {expected}; got {tokenizer.vocab}"
assert tokenizer.token_to_id["a"] == 4 and tokenizer.vocab_size == 9, \
    f"the characters come after the 4 special tokens: expected a=4 and vocab_size 9, " \
    f"got a={tokenizer.token_to_id.get('a')} and vocab_size {tokenizer.vocab_size}"
tokenizer = CharTokenizer.from_corpus(["zebra", "az"])
expected = ["a", "z", "b", "e", "r"]
assert tokenizer.vocab == expected, \
    f"counts are summed over all texts and ties go by code point: expected {expected}, got {tokenizer.vocab}; " \
    "hint: Counter.most_common breaks ties by first appearance, sort with a key instead"
### BEGIN HIDDEN TESTS
tokenizer = CharTokenizer.from_corpus(["b a\n", "aB", "é"])
expected = ["a", "\n", " ", "B", "b", "é"]
assert tokenizer.vocab == expected, f"expected {expected} (a x2, then the rest by code point), got {tokenizer.vocab}"
tokenizer = CharTokenizer.from_corpus(("cc", "bbb", "a"))
assert tokenizer.vocab == ["b", "c", "a"], f"from_corpus should accept a tuple: expected ['b', 'c', 'a'], got {tokenizer.vocab}"
tokenizer = CharTokenizer.from_corpus([])
assert tokenizer.vocab == [] and tokenizer.vocab_size == 4, \
    f"an empty corpus leaves only the 4 special tokens, got {tokenizer.vocab}"
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_from_corpus_min_freq", "locked": true, "points": 1, "schema_version": 3, "solution": false}
"""Check that from_corpus drops characters seen fewer than min_freq times."""
tokenizer = CharTokenizer.from_corpus(["abracadabra"], min_freq=2)
assert tokenizer.vocab == ["a", "b", "r"], \
    f"with min_freq=2, c and d (seen once) are dropped: expected ['a', 'b', 'r'], got {tokenizer.vocab}"
assert "c" not in tokenizer.token_to_id, "c is rarer than min_freq and should not get an id"
### BEGIN HIDDEN TESTS
tokenizer = CharTokenizer.from_corpus(["ab", "a", "cc"], min_freq=2)
assert tokenizer.vocab == ["a", "c"], f"counts are summed over texts: expected ['a', 'c'], got {tokenizer.vocab}"
tokenizer = CharTokenizer.from_corpus(["abc"], min_freq=5)
assert tokenizer.vocab == [], f"no character is seen 5 times, expected [], got {tokenizer.vocab}"
tokenizer = CharTokenizer.from_corpus(["aaab"], min_freq=3)
assert tokenizer.vocab == ["a"], f"min_freq=3 keeps a character seen exactly 3 times, got {tokenizer.vocab}"
try:
    CharTokenizer.from_corpus(["abc"], min_freq=0)
except ValueError:
    pass
else:
    raise AssertionError("min_freq=0 should raise ValueError")
### END HIDDEN TESTS

# %% [markdown]
# ## Task 4: batches with padding and attention masks

# %% nbgrader={"grade": true, "grade_id": "test_encode_batch_padding_and_mask", "locked": true, "points": 2, "schema_version": 3, "solution": false}
"""Check that encode_batch pads on the right with <pad> and marks real tokens with 1 in the mask."""
tokenizer = CharTokenizer()
token_ids, attention_mask = tokenizer.encode_batch(["hi", "hello", ""])
assert token_ids.shape == (3, 5) and attention_mask.shape == (3, 5), \
    f"3 texts, the longest 5 characters: expected shape (3, 5), got {token_ids.shape} and {attention_mask.shape}"
assert token_ids.dtype == np.int64 and attention_mask.dtype == np.int64, \
    f"both arrays should be int64, got {token_ids.dtype} and {attention_mask.dtype}"
expected = tokenizer.encode("hi") + [tokenizer.pad_id] * 3
assert token_ids[0].tolist() == expected, \
    f"'hi' padded on the right should be {expected}, got {token_ids[0].tolist()}"
expected = [[1, 1, 0, 0, 0], [1, 1, 1, 1, 1], [0, 0, 0, 0, 0]]
assert attention_mask.tolist() == expected, \
    f"the mask is 1 at real tokens and 0 at padding: expected {expected}, got {attention_mask.tolist()}"
### BEGIN HIDDEN TESTS
assert token_ids[1].tolist() == tokenizer.encode("hello"), f"the longest text is not padded, got {token_ids[1].tolist()}"
assert token_ids[2].tolist() == [0] * 5, f"the empty text is all padding, got {token_ids[2].tolist()}"
token_ids, attention_mask = tokenizer.encode_batch(["é!", "x"])
assert token_ids.tolist() == [[1, 7], [tokenizer.token_to_id["x"], 0]], \
    f"an unknown character is <unk> (1), not padding: expected [[1, 7], [{tokenizer.token_to_id['x']}, 0]], got {token_ids.tolist()}"
assert attention_mask.tolist() == [[1, 1], [1, 0]], \
    f"<unk> is a real token with mask 1: expected [[1, 1], [1, 0]], got {attention_mask.tolist()}"
token_ids, attention_mask = tokenizer.encode_batch(["ab"], max_length=4)
assert token_ids.tolist() == [tokenizer.encode("ab") + [0, 0]] and attention_mask.tolist() == [[1, 1, 0, 0]], \
    f"with max_length=4 the batch is padded to 4: got {token_ids.tolist()} and {attention_mask.tolist()}"
token_ids, attention_mask = tokenizer.encode_batch([])
assert token_ids.shape == (0, 0) and attention_mask.shape == (0, 0), f"an empty batch has shape (0, 0), got {token_ids.shape}"
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_encode_batch_max_length", "locked": true, "points": 2, "schema_version": 3, "solution": false}
"""Check that encode_batch truncates to max_length only when asked, and pads to max_length."""
tokenizer = CharTokenizer()
token_ids, attention_mask = tokenizer.encode_batch(["abcdef", "ab"], max_length=4, truncation=True)
expected = [tokenizer.encode("abcd"), tokenizer.encode("ab") + [0, 0]]
assert token_ids.tolist() == expected, \
    f"truncation=True keeps the first max_length=4 tokens and pads the rest: expected {expected}, got {token_ids.tolist()}"
assert attention_mask.tolist() == [[1, 1, 1, 1], [1, 1, 0, 0]], \
    f"expected mask [[1, 1, 1, 1], [1, 1, 0, 0]], got {attention_mask.tolist()}"
try:
    tokenizer.encode_batch(["abcdef"], max_length=4)
except ValueError as error:
    assert "truncation" in str(error), f"the error should say how to fix it (truncation=True), got: {error}"
else:
    raise AssertionError("a text longer than max_length without truncation=True should raise ValueError")
### BEGIN HIDDEN TESTS
token_ids, attention_mask = tokenizer.encode_batch(["abc", "xyz"], padding=False)
assert token_ids.tolist() == [tokenizer.encode("abc"), tokenizer.encode("xyz")] and attention_mask.min() == 1, \
    f"texts of equal length need no padding, got {token_ids.tolist()} and {attention_mask.tolist()}"
token_ids, attention_mask = tokenizer.encode_batch(["a", "bcdefgh"], max_length=3, truncation=True)
assert attention_mask.tolist() == [[1, 0, 0], [1, 1, 1]], f"expected mask [[1, 0, 0], [1, 1, 1]], got {attention_mask.tolist()}"
assert token_ids[1].tolist() == tokenizer.encode("bcd"), f"truncation keeps the start of the text, got {token_ids[1].tolist()}"
try:
    tokenizer.encode_batch(["abc", "x"], padding=False)
except ValueError:
    pass
else:
    raise AssertionError("texts of different lengths with padding=False should raise ValueError")
### END HIDDEN TESTS

# %% [markdown]
# ## Putting it together
#
# The tokenizer feeds the next module: `token_ids` index the rows of an embedding table with
# `vocab_size` rows, and `attention_mask` travels along to the attention layers. A tokenizer
# built from a corpus is saved next to the model, because the ids mean nothing without it.

# %%
import tempfile
from pathlib import Path

tokenizer = CharTokenizer()
tokens = tokenizer.encode("Hello world!")
print("tokens:", tokens)
print("decoded:", repr(tokenizer.decode(tokens)))

corpus = ["the cat sat on the mat", "the dog sat on the log"]
small = CharTokenizer.from_corpus(corpus)
token_ids, attention_mask = small.encode_batch(["the cat", "a dog!"])
print(f"{small}: vocab {''.join(small.vocab)!r}")
print("token_ids:\n", token_ids)
print("attention_mask:\n", attention_mask)

with tempfile.TemporaryDirectory() as directory:
    path = Path(directory) / "tokenizer.json"
    small.save(path)
    restored = CharTokenizer.load(path)
assert restored.tokens == small.tokens

# %% [markdown]
# ## Summary
#
# - A tokenizer maps text to integer ids and back; the number of ids, `vocab_size`, is the number
#   of rows of the embedding table.
# - Characters give a tiny vocabulary and long sequences, words the opposite; subwords trade
#   between the two and are what large models use.
# - Special tokens have fixed ids: `<pad>`=0, `<unk>`=1, `<bos>`=2, `<eos>`=3.
# - A batch is a `(B, T)` array padded on the right, with an attention mask of 1 for real tokens
#   and 0 for padding.
#
# ## Exercises (not graded)
#
# 1. Build a tokenizer from a longer text with `min_freq=1` and `min_freq=5`. How many characters
#    fall out, and what fraction of the text becomes `<unk>`?
# 2. Left padding is used when a model generates text after the prompt. Which lines of
#    `encode_batch` would change?
# 3. A byte-level tokenizer encodes `text.encode("utf-8")` and has exactly 256 + 4 ids. What does
#    it gain over `CharTokenizer`, and how much longer does a text in Chinese become?
