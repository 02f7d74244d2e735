"""The registry of candidates and deployment targets, read from the declarative `catalog/`."""

from __future__ import annotations

import functools
import importlib.util
import tomllib
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from advisor.candidates.registry import BUILDERS
from advisor.errors import ConfigError, UnknownKey, did_you_mean
from advisor.objectives import OBJECTIVES

# The objectives a target's weights name, from the one vocabulary (`advisor.objectives`).
METRICS = tuple(OBJECTIVES)


def _catalog_dir() -> Path:
    """The TOML catalog: `catalog/` beside the package in a checkout; installed (`pip install .`),
    the same files inside the package as `advisor/catalog/`."""
    package = Path(__file__).resolve().parent.parent
    installed = package / "catalog"
    return installed if (installed / "candidates.toml").is_file() else package.parent / "catalog"


@dataclass(frozen=True)
class CandidateSpec:
    """One catalog entry: what to train and how it relates to other entries."""

    key: str
    name: str
    family: str
    builder: str
    params: Mapping[str, Any] = field(default_factory=dict)
    requires: tuple[str, ...] = ()
    parent: str | None = None
    compression: str | None = None
    uses: tuple[str, ...] = ()
    # Entries the builder uses when this run trains them (an ensemble's candidate pool): they train
    # first, but unlike `uses` they are never trained as helpers, and a missing, failed or unknown
    # one is left out.
    pool: tuple[str, ...] = ()
    default: bool = True
    description: str = ""

    @property
    def depends_on(self) -> tuple[str, ...]:
        """Entries that must be trained first: the parent and whatever the builder uses."""
        return tuple(dict.fromkeys(([self.parent] if self.parent else []) + list(self.uses)))

    def missing_requirements(self) -> list[str]:
        return [pkg for pkg in self.requires if importlib.util.find_spec(pkg) is None]


@dataclass(frozen=True)
class TargetProfile:
    """Where inference runs: its prices, power, budgets and default priorities."""

    key: str
    name: str
    usd_per_hour: float
    cores: int
    watts_per_core: float
    usd_per_kwh: float
    memory_budget_mb: float
    latency_p99_ms: float
    source: str
    watts_per_device: float = 0.0
    predictions_per_month: float = 10_000_000
    peak_rows_per_s: float = 100.0
    energy_budget_j_per_month: float | None = None
    weights: Mapping[str, float] = field(default_factory=dict)
    limits: Mapping[str, float] = field(default_factory=dict)

    def override(self, **changes: Any) -> TargetProfile:
        """A copy with some figures replaced (a user's own price or power figure)."""
        unknown = [k for k in changes if k not in self.__dataclass_fields__]
        if unknown:
            raise ConfigError(
                f"Target field '{unknown[0]}' is not known; {did_you_mean(unknown[0], self.__dataclass_fields__)}."
            )
        return replace(self, **changes)


@dataclass(frozen=True)
class SignificanceRules:
    """How a target's figures become "a difference users cannot feel" (catalog/targets.toml)."""

    latency_fraction_of_expected_p99: float = 0.1
    latency_reason: str = ""
    size_fraction_of_memory_budget: float = 0.1
    size_reason: str = ""
    energy_fraction_of_budget: float = 0.1
    energy_reason: str = ""
    cost_usd_per_month: float = 1.0
    cost_fraction_of_monthly_price: float = 0.01
    cost_reason: str = ""
    throughput_reason: str = ""
    tie_confidence: float = 0.95
    broken_gain_fraction: float = 0.25
    quality_equal_error_ratio: float = 1.02


HOURS_PER_MONTH = 730.0


class Registry:
    """Holds catalog entries by key; rejects duplicates and unknown parents."""

    def __init__(self, specs: Iterable[CandidateSpec], builders: Iterable[str] | None = None) -> None:
        self._specs: dict[str, CandidateSpec] = {}
        for spec in specs:
            if spec.key in self._specs:
                raise ConfigError(f"Candidate key '{spec.key}' appears twice in the catalog; keys must be unique.")
            self._specs[spec.key] = spec
        order = list(self._specs)
        for spec in self._specs.values():
            for needed in spec.depends_on:
                if needed not in self._specs:
                    relation = "parent" if needed == spec.parent else "uses"
                    raise ConfigError(
                        f"Candidate '{spec.key}' names {relation} '{needed}', which is not in the catalog; "
                        f"{did_you_mean(needed, self._specs)}."
                    )
                if order.index(needed) > order.index(spec.key):
                    raise ConfigError(
                        f"Candidate '{spec.key}' needs '{needed}', which comes after it in the catalog; "
                        "move it above, since entries train in catalog order."
                    )
            if builders is not None and spec.builder not in builders and ":" not in spec.builder:
                raise ConfigError(
                    f"Candidate '{spec.key}' uses builder '{spec.builder}', which does not exist; "
                    f"{did_you_mean(spec.builder, builders)}."
                )

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self._specs.values())

    def __len__(self) -> int:
        return len(self._specs)

    def keys(self) -> list[str]:
        return list(self._specs)

    def get(self, key: str) -> CandidateSpec:
        try:
            return self._specs[key]
        except KeyError:
            raise UnknownKey(f"Candidate '{key}' is not in the catalog; {did_you_mean(key, self._specs)}.") from None

    def families(self) -> list[str]:
        return sorted({s.family for s in self._specs.values()})

    def select(self, keys: Iterable[str] | None = None, families: Iterable[str] | None = None) -> list[CandidateSpec]:
        """Entries by key, or the defaults, optionally limited to families, in catalog order.

        The no-skill baseline is always included: it is the reference every model must beat.
        So is everything a chosen entry needs (its parent, an ensemble's members); see
        `select_with_helpers` for which of those are helpers.
        """
        return self.select_with_helpers(keys, families)[0]

    def select_with_helpers(
        self, keys: Iterable[str] | None = None, families: Iterable[str] | None = None
    ) -> tuple[list[CandidateSpec], dict[str, str]]:
        """`select`'s entries, and the helpers among them: {key: why it is trained}.

        A helper is an entry the user did not choose (left out by key or by family) that is
        trained only because a chosen entry needs it (a compressed variant's parent, a student's
        teacher, an ensemble's members). Helpers are never recommended. The baseline is not a
        helper: it is always chosen, and never recommended anyway.
        """
        keys = list(keys) if keys else None
        families = list(families) if families else None
        if keys:
            chosen = {self.get(k).key for k in keys}
        else:
            chosen = {s.key for s in self._specs.values() if s.default}
        if families:
            known = self.families()
            for family in families:
                if family not in known:
                    raise UnknownKey(f"Family '{family}' is not in the catalog; {did_you_mean(family, known)}.")
            chosen = {k for k in chosen if self._specs[k].family in families}
        chosen |= {s.key for s in self._specs.values() if s.family == "baseline"}
        # Breadth first from the chosen entries in catalog order, so that a helper is credited to
        # the chosen entry that needs it directly where there is one.
        needed_by: dict[str, tuple[str, str]] = {}  # helper key -> (the entry that needs it, as what)
        pending = deque(k for k in self._specs if k in chosen)
        while pending:
            spec = self._specs[pending.popleft()]
            for needed in spec.depends_on:
                if needed not in chosen and needed not in needed_by:
                    needed_by[needed] = (spec.key, self._role(spec, needed))
                    pending.append(needed)
        helpers = {key: self._helper_reason(key, needed_by, keys, families) for key in self._specs if key in needed_by}
        return [s for s in self._specs.values() if s.key in chosen or s.key in needed_by], helpers

    def _role(self, spec: CandidateSpec, needed: str) -> str:
        """What `needed` is to `spec`, in words: its teacher, an ensemble member, its parent."""
        teacher = spec.params.get("teacher")
        if needed == teacher:
            return "its teacher"
        if needed in (spec.params.get("members") or ()) or (spec.family == "ensemble" and needed in spec.uses):
            return "an ensemble member"
        if needed == spec.parent:
            return "the model it is derived from"
        if spec.parent and needed in self._specs[spec.parent].depends_on:
            return "a member of its teacher" if spec.parent == teacher else "part of the model it is derived from"
        return "an input to its builder"

    def _helper_reason(
        self,
        key: str,
        needed_by: Mapping[str, tuple[str, str]],
        keys: list[str] | None,
        families: list[str] | None,
    ) -> str:
        needer, role = needed_by[key]
        root = needer
        while root in needed_by:  # needed by another helper: name the chosen entry at the end of the chain
            root = needed_by[root][0]
        reason = f"trained only because {self._specs[needer].name} ({needer}) needs it as {role}"
        if root != needer:
            reason += f", for {self._specs[root].name} ({root})"
        family = self._specs[key].family
        if families and family not in families:
            return f"{reason}; you left out the {family} family"
        if keys:
            return f"{reason}; you did not choose it"
        return f"{reason}; it is not a default candidate"


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"Catalog file '{path}' could not be read ({exc}); fix the file.") from None


def load_candidates(path: str | Path | None = None) -> Registry:
    path = Path(path) if path else _catalog_dir() / "candidates.toml"
    entries = _read_toml(path).get("candidate", [])
    specs = []
    for entry in entries:
        missing = [f for f in ("key", "name", "family", "builder") if f not in entry]
        if missing:
            raise ConfigError(
                f"A candidate in '{path}' has no '{missing[0]}'; every entry needs key, name, family and builder."
            )
        specs.append(
            CandidateSpec(
                key=entry["key"],
                name=entry["name"],
                family=entry["family"],
                builder=entry["builder"],
                params=dict(entry.get("params", {})),
                requires=tuple(entry.get("requires", ())),
                parent=entry.get("parent"),
                compression=entry.get("compression"),
                uses=tuple(entry.get("uses", ())),
                pool=tuple(entry.get("pool", ())),
                default=bool(entry.get("default", True)),
                description=entry.get("description", ""),
            )
        )
    return Registry(specs, builders=BUILDERS)


def load_targets(path: str | Path | None = None) -> dict[str, TargetProfile]:
    path = Path(path) if path else _catalog_dir() / "targets.toml"
    profiles: dict[str, TargetProfile] = {}
    data = _read_toml(path)
    for entry in data.get("target", []):
        profile = TargetProfile(
            **{k: v for k, v in entry.items() if k not in ("weights", "limits")},
            weights=dict(entry.get("weights", {})),
            limits=dict(entry.get("limits", {})),
        )
        if profile.key in profiles:
            raise ConfigError(f"Target key '{profile.key}' appears twice in '{path}'; keys must be unique.")
        profiles[profile.key] = profile
    return profiles


@functools.lru_cache(maxsize=8)
def load_significance(path: str | Path | None = None) -> SignificanceRules:
    """The `[significance]` rules, read once per file (every ranking asks for them)."""
    path = Path(path) if path else _catalog_dir() / "targets.toml"
    entry = _read_toml(path).get("significance", {})
    unknown = [k for k in entry if k not in SignificanceRules.__dataclass_fields__]
    if unknown:
        raise ConfigError(
            f"Significance rule '{unknown[0]}' in '{path}' is not known; "
            f"{did_you_mean(unknown[0], SignificanceRules.__dataclass_fields__)}."
        )
    return SignificanceRules(**entry)


def get_target(key: str | TargetProfile) -> TargetProfile:
    if isinstance(key, TargetProfile):
        return key
    profiles = load_targets()
    if key not in profiles:
        raise UnknownKey(f"Deployment target '{key}' is not known; {did_you_mean(key, profiles)}.")
    return profiles[key]
