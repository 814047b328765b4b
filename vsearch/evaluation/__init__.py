"""Evaluation: benchmark folders (`pairs`), Recall@K (`recall`), scoring a model or a collection
(`benchmark`), reranker sweeps (`rerank`) and saved results (`records`)."""
