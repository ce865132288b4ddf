"""The fast engine: metafor 3.8-1's rma.uni, trimfill, regtest and ranktest replayed with numpy
for many analyses at once, step for step, so that its numbers, failures and warnings are
metafor's. Pure numpy and scipy: it never starts R. ketabridge.batches checks it against metafor
on every run."""
