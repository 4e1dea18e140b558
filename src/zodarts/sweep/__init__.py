"""Sweeps: a grid of `zodarts run` trials (datasets × methods × budgets × seeds) run on Ray,
locally or on a cluster, and their combined report.

``grid`` builds and validates the trials, ``trials`` records them in the sweep folder and plans a
re-run, ``driver`` runs a whole sweep, ``runner`` drives Ray, ``worker`` is what a Ray worker
runs, ``progress`` is the live line, and ``summary``, ``report`` and ``plots`` make the report. Ray is imported only by
``runner``, so the report needs no Ray.
"""
