"""``openmmo loadtest``: bots that play like people, in stages, against a running world.

Kind: **process** (a tool). :mod:`scenario` describes a run (stages, behaviour, thresholds),
:mod:`stats` holds mergeable latency histograms, :mod:`bot` is one lean player,
:mod:`worker` runs a share of the bots in its own process, :mod:`runner` spawns the workers,
aggregates their numbers every second and checks the thresholds, :mod:`report` writes the JSON
and HTML reports.
"""
