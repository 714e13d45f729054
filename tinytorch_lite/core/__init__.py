"""Core modules, one per course module: tensor, tokenization, embeddings, embedding_systems."""
