"""The target column: the advisor's guess with its reason, a warning when the chosen column looks
like a row number or a date, and the person's confirmation before a run can start.

The target of an uploaded table is confirmed (or another picked) before a run can start, whatever
the reason for the guess; the bundled sample's target is stated by the sample, so it is asked
only when the column chosen looks wrong.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

import advisor
from app import ui

GUESS = "target_guess"  # (data source, advisor.TargetGuess)
CONFIRMED = "target_confirmed"  # (data source, column) the person confirmed


def remember_guess(frame: pd.DataFrame, source: str) -> str:
    """Guess the target of a newly active table; the column to pre-select."""
    guess = advisor.guess_target_with_reason(frame)
    st.session_state[GUESS] = (source, guess)
    st.session_state.pop(CONFIRMED, None)
    return guess.column


def needs_confirmation(guess: advisor.TargetGuess | None, column: str, doubt: str | None, sample: bool) -> bool:
    """A doubtful column always does; on an upload, so does the guessed column (a column the
    person picked themselves is their choice already)."""
    if doubt:
        return True
    return not sample and guess is not None and column == guess.column


def confirm_target(frame: pd.DataFrame, source: str) -> bool:
    """Show why the target was chosen and what looks wrong with it; whether a run may start."""
    column = st.session_state["target"]
    held = st.session_state.get(GUESS)
    guess = held[1] if held is not None and held[0] == source else None
    if guess is not None and column == guess.column:
        st.caption(f"Guessed target: **{ui.md(column)}**, because it is {ui.md(guess.reason)}.")
    doubt = advisor.target_doubt(frame, column)
    if doubt:
        st.warning(ui.md(f"Check the target: {doubt}."))
    sample = source == ui.SAMPLE_KEY
    if not needs_confirmation(guess, column, doubt, sample) or st.session_state.get(CONFIRMED) == (source, column):
        return True
    st.button(
        f"Yes, predict '{column}'",
        key="confirm_target",
        on_click=_confirm,
        args=(source, column),
        help="Or pick another column above. Run the advisor is enabled once the target is confirmed.",
    )
    st.caption("Confirm the target, or pick another column, to enable the run.")
    return False


def _confirm(source: str, column: str) -> None:
    st.session_state[CONFIRMED] = (source, column)
