"""The rules at export: pure decisions on the selection's counts (gates, the mix policy, the
declared target models), which reviews/services/exports.py applies to every export, with the
audit gate (reviews/selectors/audit_gate.py, a read of the closed audits), before it writes the
file with writers.py and describes it with manifest.py."""
