"""Choosing one candidate for what a team values.

- `pareto`: losses and utilities per objective, the Pareto front, the weighted pick and its reasons.
- `significance`: paired-bootstrap ties and the noticeable-difference levels of each target.
- `stability`: how far each weight can move, and how often timing noise changes the pick.
"""
