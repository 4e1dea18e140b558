"""The search space: operations, cells, the supernet, genotypes, standalone networks and the
resource model. Nothing here decides how α moves."""

from zodarts.space.genotype import EDGES, Genotype, StageGenotype, live_edges
from zodarts.space.network import Network, build_network
from zodarts.space.operations import KERNEL_SIZES, OP_NAMES, OPS
from zodarts.space.resources import (BUDGET_MISS_HINT, budget_bands, budget_check, count_flops,
                                     count_params, count_params_all_ops, resolve_budget,
                                     sample_connected, sample_genotype)
from zodarts.space.supernet import RELAXATIONS, SuperNet

__all__ = ["EDGES", "Genotype", "StageGenotype", "live_edges", "Network", "build_network",
           "KERNEL_SIZES", "OP_NAMES", "OPS", "BUDGET_MISS_HINT", "budget_bands", "budget_check",
           "count_flops", "count_params", "count_params_all_ops", "resolve_budget",
           "sample_connected", "sample_genotype", "RELAXATIONS", "SuperNet"]
