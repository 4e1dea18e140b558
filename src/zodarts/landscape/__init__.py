"""The landscape of the search space on one dataset: sampled architectures retrained with
several seeds, recorded as a table (a tabular benchmark of the space on the user's own data),
and what follows from it: how much of the metric is the architecture, what random search can
expect, how proxies, a trained supernet and a searched genotype rank within it."""
