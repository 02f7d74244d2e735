"""What a deployment target or intent preset sets, in words, for the sidebar's captions.

The presets themselves are data (`catalog/targets.toml`: the hardware targets, then the intents
such as a real-time web API or batch scoring); this module only says what choosing one does.
"""

from __future__ import annotations

import advisor

# The levels a preset sets, in the order the sidebar lists its sliders.
LEVEL_ORDER = ("latency", "throughput", "size", "cost", "energy")
LEVEL_NAMES = {"latency": "p99"}


def preset_caption(profile: advisor.TargetProfile) -> str:
    """'Sets the weights accuracy 4, latency 5, cost 1 (the rest 0); the limit Max p99 latency (ms)
    10 ms; equal below: p99 1 ms, ...': everything choosing `profile` changes in the sidebar and the ranking."""
    weights = [f"{name} {profile.weights[name]:g}" for name in advisor.METRICS if profile.weights.get(name)]
    weights_text = ", ".join(weights) + (" (the rest 0)" if len(weights) < len(advisor.METRICS) else "")
    limits = [
        f"{advisor.LIMITS[name].label.split(' (')[0].lower()} {_limit_text(name, value)}"
        for name, value in profile.limits.items()
        if name in advisor.LIMITS and value
    ]
    levels = advisor.significance_for(profile).levels
    level_texts = [_level_text(metric, levels[metric]) for metric in LEVEL_ORDER if metric in levels]
    volume = advisor.format_quantity(profile.predictions_per_month, "predictions")
    return (
        f"Sets the weights {weights_text}; "
        + (f"hard limits: {', '.join(limits)}; " if limits else "no hard limits; ")
        + f"{volume} a month; differences nobody notices: {'; '.join(level_texts)}."
    )


def latency_caption(profile: advisor.TargetProfile) -> str:
    """What the latency weight cannot separate on this target: p99s under its noticeable level."""
    level = advisor.significance_for(profile).levels["latency"]
    share = advisor.format_quantity(level / profile.latency_p99_ms, "%")
    expected = advisor.format_quantity(profile.latency_p99_ms, "ms")
    return (
        f"p99 latencies under {advisor.format_quantity(level, 'ms')} ({share} of the {expected} p99 this target "
        "expects) count as equal: the latency weight only separates candidates above it."
    )


def _limit_text(name: str, value: float) -> str:
    return advisor.format_quantity(value, advisor.LIMITS[name].unit)


def _level_text(metric: str, level: float) -> str:
    unit = advisor.OBJECTIVES[metric].unit
    figure = advisor.format_quantity(level, unit)
    if metric == "throughput":
        return f"throughput above {figure}"
    return f"{LEVEL_NAMES.get(metric, metric)} under {figure}"
