"""The rules at export: pure decisions on the selection's counts (gates, the audit gate, the
mix policy, the declared target models), which reviews/services/exports.py applies to every
export before it writes the file with writers.py."""
