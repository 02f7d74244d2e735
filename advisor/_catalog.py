"""The registry of candidates and deployment targets, read from the declarative `catalog/`."""

from __future__ import annotations

import importlib.util
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from advisor._errors import ConfigError, UnknownKey, did_you_mean

METRICS = ("accuracy", "latency", "throughput", "size", "energy", "cost")


def _catalog_dir() -> Path:
    from catalog import CATALOG_DIR

    return CATALOG_DIR


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
        So is everything a chosen entry needs (its parent, an ensemble's members).
        """
        if keys:
            chosen = {self.get(k).key for k in keys}
        else:
            chosen = {s.key for s in self._specs.values() if s.default}
        if families:
            families = list(families)
            known = self.families()
            for family in families:
                if family not in known:
                    raise UnknownKey(f"Family '{family}' is not in the catalog; {did_you_mean(family, known)}.")
            chosen = {k for k in chosen if self._specs[k].family in families}
        chosen |= {s.key for s in self._specs.values() if s.family == "baseline"}
        pending = list(chosen)
        while pending:
            for needed in self._specs[pending.pop()].depends_on:
                if needed not in chosen:
                    chosen.add(needed)
                    pending.append(needed)
        return [s for s in self._specs.values() if s.key in chosen]


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"Catalog file '{path}' could not be read ({exc}); fix the file.") from None


def load_candidates(path: str | Path | None = None) -> Registry:
    from advisor._models import BUILDERS

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
                default=bool(entry.get("default", True)),
                description=entry.get("description", ""),
            )
        )
    return Registry(specs, builders=BUILDERS)


def load_targets(path: str | Path | None = None) -> dict[str, TargetProfile]:
    path = Path(path) if path else _catalog_dir() / "targets.toml"
    profiles: dict[str, TargetProfile] = {}
    for entry in _read_toml(path).get("target", []):
        profile = TargetProfile(
            **{k: v for k, v in entry.items() if k not in ("weights", "limits")},
            weights=dict(entry.get("weights", {})),
            limits=dict(entry.get("limits", {})),
        )
        if profile.key in profiles:
            raise ConfigError(f"Target key '{profile.key}' appears twice in '{path}'; keys must be unique.")
        profiles[profile.key] = profile
    return profiles


def get_target(key: str | TargetProfile) -> TargetProfile:
    if isinstance(key, TargetProfile):
        return key
    profiles = load_targets()
    if key not in profiles:
        raise UnknownKey(f"Deployment target '{key}' is not known; {did_you_mean(key, profiles)}.")
    return profiles[key]
