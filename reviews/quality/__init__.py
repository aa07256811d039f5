"""Quality figures of synthetic data: diversity, fidelity to the real data, and privacy."""
