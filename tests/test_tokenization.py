"""Tests of the compiled tinytorch_lite.core.tokenization.CharTokenizer.

The references here are computed independently of the tokenizer (string.printable, Counter,
plain loops), so a wrong tokenizer cannot agree with them by construction.
"""

import json
import string
from collections import Counter
from types import SimpleNamespace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tinytorch_lite.core.tensor import Tensor
from tinytorch_lite.core.tokenization import CharTokenizer

SPECIAL_TOKENS = ["<pad>", "<unk>", "<bos>", "<eos>"]
DEFAULT_CHARACTERS = sorted(set(string.printable) - {"\r", "\x0b", "\x0c"})
DEFAULT_IDS = {char: 4 + position for position, char in enumerate(DEFAULT_CHARACTERS)}

in_vocab_text = st.text(alphabet=DEFAULT_CHARACTERS, max_size=60)
any_text = st.text(max_size=60)
small_alphabet_text = st.text(alphabet="abcdeé \n", max_size=20)
text_lists = st.lists(in_vocab_text, max_size=6)

fast = settings(max_examples=60, deadline=None)


@pytest.fixture(scope="module")
def tokenizer():
    return CharTokenizer()


# --- default vocabulary and the seed example -------------------------------------------------


def test_default_vocabulary_layout(tokenizer):
    assert tokenizer.tokens[:4] == SPECIAL_TOKENS
    assert (tokenizer.pad_id, tokenizer.unk_id, tokenizer.bos_id, tokenizer.eos_id) == (0, 1, 2, 3)
    assert tokenizer.vocab == DEFAULT_CHARACTERS
    assert tokenizer.vocab_size == 4 + len(DEFAULT_CHARACTERS) == 101
    assert {"\r", "\x0b", "\x0c"}.isdisjoint(tokenizer.token_to_id)
    assert all(tokenizer.token_to_id[token] == i for i, token in enumerate(tokenizer.tokens))


def test_seed_example():
    tokenizer = CharTokenizer()
    tokens = tokenizer.encode("Hello world!")
    assert tokens == [DEFAULT_IDS[char] for char in "Hello world!"]
    assert tokens == [46, 75, 82, 82, 85, 6, 93, 85, 88, 82, 74, 7]
    assert all(type(token) is int for token in tokens)
    assert tokenizer.decode(tokens) == "Hello world!"


def test_repr_names_the_vocabulary_size(tokenizer):
    assert repr(tokenizer) == "CharTokenizer(vocab_size=101)"


# --- encode -----------------------------------------------------------------------------------


@fast
@given(text=any_text)
def test_encode_matches_reference_and_stays_in_range(tokenizer, text):
    ids = tokenizer.encode(text)
    assert ids == [DEFAULT_IDS.get(char, 1) for char in text]
    assert all(0 < i < tokenizer.vocab_size for i in ids)  # never <pad>, never out of range


@fast
@given(text=any_text)
def test_encode_special_tokens_wrap_the_plain_ids(tokenizer, text):
    assert tokenizer.encode(text, add_special_tokens=True) == [2] + tokenizer.encode(text) + [3]


def test_encode_custom_vocab_ids_follow_the_specials():
    tokenizer = CharTokenizer(vocab=["b", "a", "日"])
    assert tokenizer.encode("ab日c") == [5, 4, 6, 1]
    assert CharTokenizer(vocab="xyz").vocab == ["x", "y", "z"]


# --- decode -----------------------------------------------------------------------------------


@fast
@given(text=in_vocab_text)
def test_decode_inverts_encode_on_in_vocabulary_text(tokenizer, text):
    assert tokenizer.decode(tokenizer.encode(text)) == text
    assert tokenizer.decode(tokenizer.encode(text, add_special_tokens=True)) == text


@fast
@given(text=any_text)
def test_decode_drops_unknown_characters_by_default(tokenizer, text):
    ids = tokenizer.encode(text)
    assert tokenizer.decode(ids) == "".join(char for char in text if char in DEFAULT_IDS)
    shown = "".join(char if char in DEFAULT_IDS else "<unk>" for char in text)
    assert tokenizer.decode(ids, skip_special_tokens=False) == shown


@fast
@given(ids=st.lists(st.integers(min_value=0, max_value=100), max_size=40))
def test_decode_writes_special_tokens_only_when_asked(tokenizer, ids):
    assert tokenizer.decode(ids, skip_special_tokens=False) == "".join(
        SPECIAL_TOKENS[i] if i < 4 else DEFAULT_CHARACTERS[i - 4] for i in ids
    )
    assert tokenizer.decode(ids) == "".join(DEFAULT_CHARACTERS[i - 4] for i in ids if i >= 4)


@pytest.mark.parametrize("wrap", [
    list,
    tuple,
    lambda ids: np.array(ids, dtype=np.int64),
    lambda ids: np.array(ids, dtype=np.int32),
    lambda ids: np.array(ids, dtype=np.uint8),
    lambda ids: SimpleNamespace(data=np.array(ids)),
], ids=["list", "tuple", "int64", "int32", "uint8", "tensor_like"])
def test_decode_accepts_lists_arrays_and_tensor_like(tokenizer, wrap):
    ids = [2] + [DEFAULT_IDS[char] for char in "hi there"] + [3, 0, 0]
    assert tokenizer.decode(wrap(ids)) == "hi there"


def test_decode_accepts_a_tensor_of_token_ids(tokenizer):
    token_ids, _ = tokenizer.encode_batch(["hello", "hi"])
    assert tokenizer.decode(Tensor(token_ids[1])) == "hi"
    assert [tokenizer.decode(Tensor(row)) for row in token_ids] == ["hello", "hi"]


def test_decode_of_nothing_is_empty(tokenizer):
    assert tokenizer.decode([]) == ""
    assert tokenizer.decode(np.zeros(0, dtype=np.int64)) == ""


# --- from_corpus ------------------------------------------------------------------------------


def reference_vocab(texts, min_freq):
    counts = Counter("".join(texts))
    kept = [char for char in counts if counts[char] >= min_freq]
    return sorted(kept, key=lambda char: (-counts[char], ord(char)))


@fast
@given(texts=st.lists(small_alphabet_text, max_size=6), min_freq=st.integers(min_value=1, max_value=4))
def test_from_corpus_keeps_frequent_characters_in_order(texts, min_freq):
    tokenizer = CharTokenizer.from_corpus(texts, min_freq=min_freq)
    assert tokenizer.vocab == reference_vocab(texts, min_freq)
    assert tokenizer.tokens[:4] == SPECIAL_TOKENS
    assert tokenizer.vocab_size == 4 + len(tokenizer.vocab)


@fast
@given(texts=st.lists(small_alphabet_text, min_size=1, max_size=6), data=st.data())
def test_from_corpus_does_not_depend_on_text_order(texts, data):
    shuffled = data.draw(st.permutations(texts))
    assert CharTokenizer.from_corpus(shuffled).vocab == CharTokenizer.from_corpus(texts).vocab


@fast
@given(texts=st.lists(any_text, max_size=5))
def test_from_corpus_round_trips_its_own_corpus(texts):
    tokenizer = CharTokenizer.from_corpus(texts)
    for text in texts:
        assert tokenizer.decode(tokenizer.encode(text)) == text
        assert tokenizer.unk_id not in tokenizer.encode(text)


def test_from_corpus_known_example():
    assert CharTokenizer.from_corpus(["zebra", "az"]).vocab == ["a", "z", "b", "e", "r"]
    assert CharTokenizer.from_corpus(iter(["abracadabra"]), min_freq=2).vocab == ["a", "b", "r"]
    assert CharTokenizer.from_corpus([]).vocab == []


# --- encode_batch -----------------------------------------------------------------------------


@fast
@given(texts=text_lists)
def test_encode_batch_pads_on_the_right_with_a_matching_mask(tokenizer, texts):
    token_ids, attention_mask = tokenizer.encode_batch(texts)
    length = max((len(text) for text in texts), default=0)
    assert token_ids.shape == attention_mask.shape == (len(texts), length)
    assert token_ids.dtype == attention_mask.dtype == np.int64
    for row, text in enumerate(texts):
        n = len(text)
        assert token_ids[row, :n].tolist() == tokenizer.encode(text)
        assert (token_ids[row, n:] == tokenizer.pad_id).all()
        assert attention_mask[row].tolist() == [1] * n + [0] * (length - n)
        assert tokenizer.decode(token_ids[row]) == text


@fast
@given(texts=text_lists, max_length=st.integers(min_value=1, max_value=30))
def test_encode_batch_truncates_to_max_length_when_asked(tokenizer, texts, max_length):
    token_ids, attention_mask = tokenizer.encode_batch(texts, max_length=max_length, truncation=True)
    assert token_ids.shape == attention_mask.shape == (len(texts), max_length)
    for row, text in enumerate(texts):
        kept = text[:max_length]
        assert tokenizer.decode(token_ids[row]) == kept
        assert attention_mask[row].tolist() == [1] * len(kept) + [0] * (max_length - len(kept))


def test_encode_batch_pads_to_max_length(tokenizer):
    token_ids, attention_mask = tokenizer.encode_batch(["ab", "c"], max_length=5)
    assert token_ids.tolist() == [[DEFAULT_IDS["a"], DEFAULT_IDS["b"], 0, 0, 0], [DEFAULT_IDS["c"], 0, 0, 0, 0]]
    assert attention_mask.tolist() == [[1, 1, 0, 0, 0], [1, 0, 0, 0, 0]]


def test_encode_batch_unknown_characters_are_real_tokens(tokenizer):
    token_ids, attention_mask = tokenizer.encode_batch(["é", "ab"])
    assert token_ids.tolist() == [[1, 0], [DEFAULT_IDS["a"], DEFAULT_IDS["b"]]]
    assert attention_mask.tolist() == [[1, 0], [1, 1]]


def test_encode_batch_too_long_text_says_how_to_fix(tokenizer):
    with pytest.raises(ValueError, match=r"texts\[1\] has 6 tokens, more than max_length=4.*truncation=True"):
        tokenizer.encode_batch(["abc", "abcdef"], max_length=4)


def test_encode_batch_without_padding(tokenizer):
    token_ids, attention_mask = tokenizer.encode_batch(["abc", "xyz"], padding=False)
    assert token_ids.tolist() == [tokenizer.encode("abc"), tokenizer.encode("xyz")]
    assert (attention_mask == 1).all()
    with pytest.raises(ValueError, match="padding=True"):
        tokenizer.encode_batch(["abc", "x"], padding=False)


def test_encode_batch_of_nothing(tokenizer):
    token_ids, attention_mask = tokenizer.encode_batch([])
    assert token_ids.shape == attention_mask.shape == (0, 0)


# --- save / load ------------------------------------------------------------------------------


@pytest.mark.parametrize("make", [
    CharTokenizer,
    lambda: CharTokenizer.from_corpus(["naïve café 日本語\n", "tab\there"]),
], ids=["default", "from_corpus"])
def test_save_load_round_trip(tmp_path, make):
    tokenizer = make()
    path = tmp_path / "tokenizer.json"
    tokenizer.save(path)
    restored = CharTokenizer.load(str(path))
    assert restored.tokens == tokenizer.tokens
    assert restored.token_to_id == tokenizer.token_to_id
    text = "naïve tab\t日本 Hello"
    assert restored.encode(text) == tokenizer.encode(text)


def test_saved_file_is_utf8_json(tmp_path):
    path = tmp_path / "tokenizer.json"
    CharTokenizer.from_corpus(["日本"]).save(path)
    raw = path.read_bytes()
    assert "日".encode("utf-8") in raw  # written as UTF-8, not as \u escapes
    payload = json.loads(raw.decode("utf-8"))
    assert payload["vocab"] == ["日", "本"]


def test_load_rejects_other_json(tmp_path):
    path = tmp_path / "other.json"
    path.write_text('{"vocab": ["a"]}', encoding="utf-8")
    with pytest.raises(ValueError, match="not a file written by CharTokenizer.save"):
        CharTokenizer.load(path)


# --- errors -----------------------------------------------------------------------------------


@pytest.mark.parametrize("call, message", [
    (lambda t: t.encode(123), "encode expects a str, got int"),
    (lambda t: t.encode(b"abc"), "got bytes; decode the bytes first"),
    (lambda t: t.encode(["a", "b"]), "encode_batch"),
    (lambda t: t.encode_batch("a string"), "encode_batch expects a list of strings, got str"),
    (lambda t: t.encode_batch(["ok", 7]), r"texts\[1\] is a int"),
    (lambda t: t.encode_batch(["ok"], max_length=2.5), "max_length must be an int, got float"),
    (lambda t: t.decode("hi"), "decode expects a list of ints"),
    (lambda t: t.decode(5), "decode expects a list of ints"),
    (lambda t: t.decode([1.5, 2.0]), "token ids must be integers"),
    (lambda t: t.decode(np.array([1.0])), "token ids must be integers, got dtype float64"),
    (lambda t: t.decode([True, False]), "token ids must be integers"),
    (lambda t: CharTokenizer.from_corpus("just one text"), r"wrap a single text in a list"),
    (lambda t: CharTokenizer.from_corpus(["a", None]), r"texts\[1\] is a NoneType"),
    (lambda t: CharTokenizer.from_corpus(["a"], min_freq=1.5), "min_freq must be an int"),
    (lambda t: CharTokenizer(vocab=5), "vocab must be a list of single characters"),
    (lambda t: CharTokenizer(vocab={"a": 4}), "ids are given by position"),
    (lambda t: CharTokenizer(vocab={"a", "b"}), r"a set has no fixed order: pass sorted"),
    (lambda t: CharTokenizer(vocab=["a", 1]), r"vocab\[1\] is a int"),
    (lambda t: t.save(123), "path must be a str or pathlib.Path"),
])
def test_wrong_types_raise_type_error_saying_what_was_expected(tokenizer, call, message):
    with pytest.raises(TypeError, match=message):
        call(tokenizer)


@pytest.mark.parametrize("call, message", [
    (lambda t: t.decode([4, 101]), r"token id 101 at position \(1,\) is out of range for vocab_size=101"),
    (lambda t: t.decode([-1]), r"token id -1 at position \(0,\) is out of range"),
    (lambda t: t.decode(np.zeros((2, 3), dtype=np.int64)), r"got shape \(2, 3\).*decode each row"),
    (lambda t: CharTokenizer(vocab=["ab"]), "single characters"),
    (lambda t: CharTokenizer(vocab="hello"), r"'l' twice \(positions 2 and 3\)"),
    (lambda t: CharTokenizer.from_corpus(["a"], min_freq=0), "min_freq must be at least 1"),
    (lambda t: t.encode_batch(["a"], max_length=0), "max_length must be at least 1"),
    (lambda t: t.encode_batch(["a"], truncation=True), "truncation=True needs max_length"),
])
def test_bad_values_raise_value_error(tokenizer, call, message):
    with pytest.raises(ValueError, match=message):
        call(tokenizer)
