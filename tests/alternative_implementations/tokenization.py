"""Other correct ways students write the tokenizer's solution regions; each must keep full marks."""
from functools import partial

from implementation_catalogue import rewrite

NOTEBOOK = "solutions/11_tokenization/tokenization.py"
_alternative = partial(rewrite, NOTEBOOK)

ALTERNATIVE_IMPLEMENTATIONS = [
    _alternative("CharTokenizer.encode", "encode_loop_append", "a loop with append and an if/else", """
        ids = []
        if add_special_tokens:
            ids.append(self.bos_id)
        for char in text:
            if char in self.token_to_id:
                ids.append(self.token_to_id[char])
            else:
                ids.append(self.unk_id)
        if add_special_tokens:
            ids.append(self.eos_id)
        return ids
        """),
    _alternative("CharTokenizer.encode", "encode_map_numpy_tolist", "map over the text, a numpy round trip back to ints", """
        ids = np.array(list(map(lambda char: self.token_to_id.get(char, self.unk_id), text)), dtype=np.int64)
        if add_special_tokens:
            ids = np.concatenate([[self.bos_id], ids, [self.eos_id]])
        return ids.astype(np.int64).tolist()
        """),
    _alternative("CharTokenizer.encode", "encode_unpacking", "a conditional expression with list unpacking", """
        ids = [self.token_to_id[c] if c in self.token_to_id else self.unk_id for c in text]
        return [self.bos_id, *ids, self.eos_id] if add_special_tokens else ids
        """),
    _alternative("CharTokenizer.decode", "decode_loop", "a loop that builds a list of characters", """
        characters = []
        for i in ids:
            if skip_special_tokens and int(i) in (self.pad_id, self.unk_id, self.bos_id, self.eos_id):
                continue
            characters.append(self.tokens[int(i)])
        return "".join(characters)
        """),
    _alternative("CharTokenizer.decode", "decode_numpy_mask", "a boolean mask over the id array", """
        if skip_special_tokens:
            ids = ids[ids >= len(self.special_tokens)]
        return "".join(self.tokens[i] for i in ids)
        """),
    _alternative("CharTokenizer.decode", "decode_set_of_specials", "the special ids in a set, looked up by token_to_id", """
        special_ids = {self.token_to_id[token] for token in self.special_tokens}
        return "".join(self.tokens[i] for i in map(int, ids) if not skip_special_tokens or i not in special_ids)
        """),
    _alternative("CharTokenizer.from_corpus", "from_corpus_dict_sorted", "a plain dict of counts and sorted()", """
        counts = {}
        for text in texts:
            for char in text:
                counts[char] = counts.get(char, 0) + 1
        characters = sorted((c for c in counts if counts[c] >= min_freq), key=lambda c: (-counts[c], ord(c)))
        """),
    _alternative("CharTokenizer.from_corpus", "from_corpus_two_stable_sorts", "Counter of the joined texts, two stable sorts", """
        counts = Counter("".join(texts))
        characters = sorted(char for char, count in counts.items() if count >= min_freq)
        characters.sort(key=counts.__getitem__, reverse=True)
        """),
    _alternative("CharTokenizer.from_corpus", "from_corpus_most_common_resorted", "most_common(), then a sort by (-count, char)", """
        counts = Counter()
        for text in texts:
            counts += Counter(text)
        pairs = sorted(counts.most_common(), key=lambda pair: (-pair[1], pair[0]))
        characters = [char for char, count in pairs if count >= min_freq]
        """),
    _alternative("CharTokenizer.encode_batch", "encode_batch_pad_lists", "pads Python lists, then np.array with dtype int64", """
        token_ids = np.array([ids + [self.pad_id] * (length - len(ids)) for ids in sequences],
                             dtype=np.int64).reshape(len(sequences), length)
        attention_mask = np.array([[1] * len(ids) + [0] * (length - len(ids)) for ids in sequences],
                                  dtype=np.int64).reshape(len(sequences), length)
        """),
    _alternative("CharTokenizer.encode_batch", "encode_batch_mask_from_lengths", "the mask from a comparison with the lengths", """
        lengths = np.array([len(ids) for ids in sequences], dtype=np.int64)
        attention_mask = (np.arange(length)[None, :] < lengths[:, None]).astype(np.int64)
        token_ids = np.zeros((len(sequences), length), dtype=np.int64) + self.pad_id
        for row, ids in enumerate(sequences):
            token_ids[row, :lengths[row]] = ids
        """),
    _alternative("CharTokenizer.encode_batch", "encode_batch_element_loops", "two nested loops over positions", """
        token_ids = np.empty((len(sequences), length), dtype=np.int64)
        attention_mask = np.empty((len(sequences), length), dtype=np.int64)
        for row in range(len(sequences)):
            for column in range(length):
                real = column < len(sequences[row])
                token_ids[row, column] = sequences[row][column] if real else self.pad_id
                attention_mask[row, column] = int(real)
        """),
]
