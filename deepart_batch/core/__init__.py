"""The shared vocabulary at the bottom of the import graph: no torch, no daemon, no pool.

states (job and input states, failure reasons, notice kinds), layout (where each file of a
box lives, and campaigns), formats (image formats in and out), timefmt (timestamps and
durations, read and written). Everything above may import these; these import nothing above.
"""
