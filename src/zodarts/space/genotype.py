"""The derived architecture: what a search returns and what ``build_network`` builds.

A genotype names, for each of the three stages, its depth (number of cells) and the operation on
each of the 6 edges of its (shared) cell. Edges are ordered by destination node:
``1←0, 2←0, 2←1, 3←0, 3←1, 3←2``. Convolution edges carry their kernel (``conv_5x5``).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from zodarts.errors import ConfigError
from zodarts.space.operations import OPS

FORMAT_VERSION = 1
NUM_NODES = 4
EDGES: tuple[tuple[int, int], ...] = tuple((j, i) for i in range(1, NUM_NODES) for j in range(i))
NUM_STAGES = 3


def live_edges(edges: tuple[str, ...] | list[str]) -> tuple[bool, ...]:
    """Per edge, whether its operation is live: not ``none``, its source reachable from the
    cell's input (node 0) and its destination reaching the cell's output (node 3), both through
    edges that are not ``none``.

    A dead operation either never reaches the output or reads a node that the input never
    reaches, whose value is always zero. Neither is part of what the cell computes from its
    input, so networks do not build them and parameter counts leave them out.
    """
    active = [op != "none" for op in edges]
    from_input = {0}
    for (j, i), on in zip(EDGES, active):  # by destination: a source is final when read
        if on and j in from_input:
            from_input.add(i)
    to_output = {NUM_NODES - 1}
    for (j, i), on in reversed(list(zip(EDGES, active))):  # a destination is final when read
        if on and i in to_output:
            to_output.add(j)
    return tuple(on and j in from_input and i in to_output for (j, i), on in zip(EDGES, active))


def cell_is_connected(edges: tuple[str, ...] | list[str]) -> bool:
    """Whether the cell's output (node 3) depends on its input (node 0): whether any operation
    is live (see ``live_edges``). A disconnected cell outputs a constant: the network built from
    it cannot learn (per-edge argmax can produce one, e.g. after DARTS's collapse to ``none``).
    """
    return any(live_edges(edges))


@dataclass(frozen=True)
class StageGenotype:
    depth: int
    edges: tuple[str, ...]

    @property
    def connected(self) -> bool:
        return cell_is_connected(self.edges)

    def pruned(self) -> "StageGenotype":
        """The same cell with its dead operations (see ``live_edges``) replaced by ``none``."""
        return StageGenotype(self.depth, tuple(op if live else "none" for op, live
                                               in zip(self.edges, live_edges(self.edges))))


@dataclass(frozen=True)
class Genotype:
    stages: tuple[StageGenotype, ...]
    in_channels: int
    num_classes: int
    C: int = 16
    image_size: int = 28

    def __post_init__(self) -> None:
        problems = []
        if len(self.stages) != NUM_STAGES:
            problems.append(f"expected {NUM_STAGES} stages, got {len(self.stages)}")
        for s, stage in enumerate(self.stages):
            if stage.depth < 1:
                problems.append(f"stage {s}: depth must be >= 1, got {stage.depth}")
            if len(stage.edges) != len(EDGES):
                problems.append(f"stage {s}: expected {len(EDGES)} edges, got {len(stage.edges)}")
            problems += [f"stage {s}: unknown operation {op!r} (known: {', '.join(OPS)})"
                         for op in stage.edges if op not in OPS]
        for field in ("in_channels", "num_classes", "C", "image_size"):
            if getattr(self, field) < 1:
                problems.append(f"{field} must be >= 1")
        if problems:
            raise ConfigError("invalid genotype: " + "; ".join(problems))

    def to_dict(self) -> dict:
        d = asdict(self)
        d["stages"] = [{"depth": s.depth, "edges": list(s.edges)} for s in self.stages]
        return {"format": FORMAT_VERSION, **d}

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent)

    @classmethod
    def from_dict(cls, d: dict) -> "Genotype":
        if not isinstance(d, dict):
            raise ConfigError(f"malformed genotype: expected a JSON object, got "
                              f"{type(d).__name__}")
        version = d.get("format")
        if version != FORMAT_VERSION:
            raise ConfigError(f"genotype format {version!r} is not supported "
                              f"(this zodarts reads format {FORMAT_VERSION})")
        try:
            stages = tuple(StageGenotype(int(s["depth"]), tuple(s["edges"])) for s in d["stages"])
            return cls(stages, int(d["in_channels"]), int(d["num_classes"]), int(d["C"]),
                       int(d.get("image_size", 28)))
        except KeyError as err:
            raise ConfigError(f"malformed genotype: missing field {err}") from None
        except (TypeError, ValueError) as err:
            raise ConfigError(f"malformed genotype: {err}") from None

    @classmethod
    def from_json(cls, text: str) -> "Genotype":
        try:
            return cls.from_dict(json.loads(text))
        except json.JSONDecodeError as err:
            raise ConfigError(f"genotype is not valid JSON: {err}") from None

    def save(self, path: str | Path) -> None:
        from zodarts.utils.io import atomic_write_text
        atomic_write_text(path, self.to_json() + "\n")

    @classmethod
    def load(cls, path: str | Path) -> "Genotype":
        path = Path(path)
        if not path.is_file():
            raise ConfigError(f"genotype file not found: {path}")
        try:
            return cls.from_json(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError) as err:
            raise ConfigError(f"{path}: cannot read genotype file: {err}") from None
        except ConfigError as err:
            raise ConfigError(f"{path}: {err}") from None

    def pruned(self) -> "Genotype":
        """The genotype with every dead operation replaced by ``none``: it builds the same
        network, and it says what that network is."""
        return replace(self, stages=tuple(s.pruned() for s in self.stages))

    def dead_ops(self) -> list[tuple[int, tuple[int, int], str]]:
        """``(stage, (j, i), op)`` for each dead operation: named here, never built."""
        return [(s, edge, op) for s, stage in enumerate(self.stages)
                for edge, op, pruned in zip(EDGES, stage.edges, stage.pruned().edges)
                if op != pruned]

    def disconnected_stages(self) -> list[int]:
        """Stages whose cell output does not depend on its input (see ``cell_is_connected``)."""
        return [s for s, stage in enumerate(self.stages) if not stage.connected]

    def describe(self) -> str:
        """One line per stage, e.g. ``stage 1 (C=32, 2 cells): 1←0 conv_3x3, ...``."""
        lines = []
        for s, stage in enumerate(self.stages):
            edges = ", ".join(f"{i}←{j} {op}" for (j, i), op in zip(EDGES, stage.edges))
            lines.append(f"stage {s} (C={self.C * 2 ** s}, {stage.depth} "
                         f"cell{'s' if stage.depth > 1 else ''}): {edges}")
        return "\n".join(lines)

    def describe_dead_ops(self) -> str | None:
        """One line naming the dead operations, grouped by stage; None when there are none."""
        dead = self.dead_ops()
        if not dead:
            return None
        stages = "; ".join(
            f"stage {s}: " + ", ".join(f"{i}←{j} {op}" for t, (j, i), op in dead if t == s)
            for s in sorted({t for t, _, _ in dead}))
        return ("dead ops, not built (their output never reaches the cell's output, or their "
                f"input is always zero): {stages}")
