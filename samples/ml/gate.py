"""Decide whether the model ships."""


def decide(score_xgb: float, score_lin: float) -> str:
    return "ship" if max(score_xgb, score_lin) >= 0.3 else "hold"
