"""A collection on disk: manifest, Parquet metadata, fp16 vector shards, FAISS index."""
