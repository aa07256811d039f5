"""The similarity engine: embeddings, FAISS neighbours, near-duplicate groups,
clusters and novelty. Everything here runs in workers or the CLI, never in a
web request."""
