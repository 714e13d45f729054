"""Plausible wrong solutions of module 11; each must make at least one graded test cell fail.

Each entry replaces the exact snippet `find` (inside a solution region of `notebook`) with
`replace`. Applying one and running the notebook must raise in a graded test cell.
"""

NOTEBOOK = "solutions/11_tokenization/tokenization.py"

WRONG_IMPLEMENTATIONS = [
    {
        "id": "encode_drops_unknown_characters",
        "notebook": NOTEBOOK,
        "description": "unknown characters are dropped instead of mapped to <unk>",
        "find": "ids = [self.token_to_id.get(char, self.unk_id) for char in text]",
        "replace": "ids = [self.token_to_id[char] for char in text if char in self.token_to_id]",
    },
    {
        "id": "encode_unknown_as_padding",
        "notebook": NOTEBOOK,
        "description": "unknown characters get id 0 (<pad>) instead of <unk> (1)",
        "find": "ids = [self.token_to_id.get(char, self.unk_id) for char in text]",
        "replace": "ids = [self.token_to_id.get(char, 0) for char in text]",
    },
    {
        "id": "encode_ids_not_shifted_by_specials",
        "notebook": NOTEBOOK,
        "description": "ids are positions in self.vocab, forgetting the four special tokens in front",
        "find": "ids = [self.token_to_id.get(char, self.unk_id) for char in text]",
        "replace": "ids = [self.vocab.index(char) if char in self.vocab else self.unk_id for char in text]",
    },
    {
        "id": "encode_bos_eos_swapped",
        "notebook": NOTEBOOK,
        "description": "<eos> is put at the start and <bos> at the end",
        "find": "ids = [self.bos_id] + ids + [self.eos_id]",
        "replace": "ids = [self.eos_id] + ids + [self.bos_id]",
    },
    {
        "id": "encode_special_tokens_always",
        "notebook": NOTEBOOK,
        "description": "<bos>/<eos> are added whatever add_special_tokens says",
        "find": "        if add_special_tokens:\n            ids = [self.bos_id] + ids + [self.eos_id]",
        "replace": "        ids = [self.bos_id] + ids + [self.eos_id]",
    },
    {
        "id": "decode_keeps_special_tokens",
        "notebook": NOTEBOOK,
        "description": "skip_special_tokens is ignored: <pad>, <bos>, ... are written out",
        "find": "self.tokens[i] for i in ids.tolist() if not (skip_special_tokens and i < first_char_id)",
        "replace": "self.tokens[i] for i in ids.tolist()",
    },
    {
        "id": "decode_skips_only_padding",
        "notebook": NOTEBOOK,
        "description": "only <pad> is skipped; <bos>, <eos> and <unk> stay in the text",
        "find": "if not (skip_special_tokens and i < first_char_id)",
        "replace": "if not (skip_special_tokens and i == self.pad_id)",
    },
    {
        "id": "decode_off_by_specials",
        "notebook": NOTEBOOK,
        "description": "ids are looked up in self.vocab, so every character is shifted by the four specials",
        "find": "self.tokens[i] for i in ids.tolist() if not (skip_special_tokens and i < first_char_id)",
        "replace": "self.vocab[i] for i in ids.tolist() if not (skip_special_tokens and i < first_char_id)",
    },
    {
        "id": "decode_skips_first_character",
        "notebook": NOTEBOOK,
        "description": "off by one: id 4 (the first character) is treated as special",
        "find": "if not (skip_special_tokens and i < first_char_id)",
        "replace": "if not (skip_special_tokens and i <= first_char_id)",
    },
    {
        "id": "from_corpus_ignores_min_freq",
        "notebook": NOTEBOOK,
        "description": "every character of the corpus is kept, whatever min_freq says",
        "find": "characters = [char for char, count in counts.items() if count >= min_freq]",
        "replace": "characters = list(counts)",
    },
    {
        "id": "from_corpus_min_freq_strict",
        "notebook": NOTEBOOK,
        "description": "characters seen exactly min_freq times are dropped (> instead of >=)",
        "find": "if count >= min_freq]",
        "replace": "if count > min_freq]",
    },
    {
        "id": "from_corpus_ties_by_first_appearance",
        "notebook": NOTEBOOK,
        "description": "Counter.most_common order: ties follow first appearance, not code point",
        "find": "characters.sort(key=lambda char: (-counts[char], ord(char)))",
        "replace": "characters.sort(key=lambda char: -counts[char])",
    },
    {
        "id": "from_corpus_sorted_by_code_point_only",
        "notebook": NOTEBOOK,
        "description": "characters are sorted alphabetically, frequency is ignored",
        "find": "characters.sort(key=lambda char: (-counts[char], ord(char)))",
        "replace": "characters.sort()",
    },
    {
        "id": "from_corpus_counts_only_last_text",
        "notebook": NOTEBOOK,
        "description": "the counter is reset for every text, so only the last text counts",
        "find": "        for text in texts:\n            counts.update(text)",
        "replace": "        for text in texts:\n            counts = Counter(text)",
    },
    {
        "id": "batch_left_padding",
        "notebook": NOTEBOOK,
        "description": "padding on the wrong side: tokens are aligned to the right",
        "find": "            token_ids[row, :len(ids)] = ids\n            attention_mask[row, :len(ids)] = 1",
        "replace": "            token_ids[row, length - len(ids):] = ids\n            attention_mask[row, length - len(ids):] = 1",
    },
    {
        "id": "batch_mask_inverted",
        "notebook": NOTEBOOK,
        "description": "the mask marks padding with 1 and real tokens with 0",
        "find": "        attention_mask = np.zeros((len(sequences), length), dtype=np.int64)\n"
                "        for row, ids in enumerate(sequences):\n"
                "            token_ids[row, :len(ids)] = ids\n"
                "            attention_mask[row, :len(ids)] = 1",
        "replace": "        attention_mask = np.ones((len(sequences), length), dtype=np.int64)\n"
                   "        for row, ids in enumerate(sequences):\n"
                   "            token_ids[row, :len(ids)] = ids\n"
                   "            attention_mask[row, :len(ids)] = 0",
    },
    {
        "id": "batch_mask_all_ones",
        "notebook": NOTEBOOK,
        "description": "the mask is all ones, padding included",
        "find": "attention_mask = np.zeros((len(sequences), length), dtype=np.int64)",
        "replace": "attention_mask = np.ones((len(sequences), length), dtype=np.int64)",
    },
    {
        "id": "batch_mask_from_unk_instead_of_pad",
        "notebook": NOTEBOOK,
        "description": "the mask is computed as token_ids > unk_id, so <unk> counts as padding",
        "find": "            attention_mask[row, :len(ids)] = 1",
        "replace": "            attention_mask[row] = token_ids[row] > self.unk_id",
    },
    {
        "id": "batch_float_arrays",
        "notebook": NOTEBOOK,
        "description": "np.zeros/np.full without dtype give float64 ids and mask",
        "find": "        token_ids = np.full((len(sequences), length), self.pad_id, dtype=np.int64)\n"
                "        attention_mask = np.zeros((len(sequences), length), dtype=np.int64)",
        "replace": "        token_ids = np.full((len(sequences), length), float(self.pad_id))\n"
                   "        attention_mask = np.zeros((len(sequences), length))",
    },
    {
        "id": "batch_pads_with_unk",
        "notebook": NOTEBOOK,
        "description": "short rows are filled with <unk> instead of <pad>",
        "find": "token_ids = np.full((len(sequences), length), self.pad_id, dtype=np.int64)",
        "replace": "token_ids = np.full((len(sequences), length), self.unk_id, dtype=np.int64)",
    },
]
