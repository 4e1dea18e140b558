"""Statistics of tables of architectures × seeds: how much of a metric is the architecture
(:mod:`.variance`), what picking architectures gives (:mod:`.selection`), rank correlations (:mod:`.ranks`),
which features explain the spread (:mod:`.regression`), the verdict and its sequential rule
(:mod:`.verdict`, :mod:`.sequential`). Pure numpy and scipy: sweeps and landscapes both build on
it, and nothing here imports torch.
"""

from zodarts.stats.common import (N_BOOT, Estimate, Interval, balanced, bootstrap_interval,
                                  percentile_of, t_interval)
from zodarts.stats.ranks import RankCorrelation, rank_correlation
from zodarts.stats.selection import (architecture_quantiles, best_of_k, best_of_k_curve,
                                     held_out_best, placed_mean, reference, seed_noise)
from zodarts.stats.variance import VarianceSplit, variance_split

__all__ = ["N_BOOT", "Estimate", "Interval", "RankCorrelation", "VarianceSplit", "architecture_quantiles",
           "balanced", "best_of_k", "best_of_k_curve", "bootstrap_interval", "held_out_best",
           "percentile_of", "placed_mean", "rank_correlation", "reference", "seed_noise",
           "t_interval", "variance_split"]
