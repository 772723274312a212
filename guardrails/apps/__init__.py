"""Applications on top of the stack: demo, report, audit, CLI, estimators, scoring.

Nothing is re-exported here, so importing one application loads no other (the
scikit-learn estimators and the report's plotting stay unloaded until used).
"""
