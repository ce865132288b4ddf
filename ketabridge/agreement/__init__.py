"""When an engine's number agrees with metafor's: every tolerance rule of ketabridge, in one place.

tolerances.py  the tolerance of one quantity under one estimator (its class, the class's rtol and
               atol with their reasons, absolute floors) and the p-value tail rule
allowance.py   how far the fast engine may be from metafor in one batch glance column: the exact
               tolerance, widened where rounding grows with a statistic or the data's size

The cross-check harness (ketabridge.crosschecks) and the fast engine's verification
(ketabridge.batches.verify) both judge with these; nothing here imports either of them.
"""
