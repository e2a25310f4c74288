"""The plan step of `fit`, after every epoch: stop the fold or go on, and how many epochs it gets.

A fold stops on the user's Stop, when its share of `max_minutes` is spent, or after `patience`
epochs without a better validation loss. Under a cosine schedule a time budget also re-plans the
number of epochs from the mean epoch time so far, and the cosine's T_max follows, so the LR still
anneals to its floor. Rank 0 decides for every rank (its clock, its Stop button): every rank must
enter the same collectives, so a decision is never taken from each rank's own clock.
"""

from __future__ import annotations

from collections.abc import Callable

from core.train import ddp
from core.train.config import TrainConfig
from core.train.ddp import DistInfo
from core.train.fold import Fold


def plan(cfg: TrainConfig, f: Fold, budget: float | None, clock: Callable[[], float], user_stop: bool,
         info: DistInfo) -> tuple[bool, bool]:
    """(stop after this epoch, the user asked to stop), rank 0's for every rank; may shrink `f.n_epochs`.

    `budget`: seconds this fold may take (None: no limit); `clock()`: seconds, as `f.started` was read.
    """
    fold_seconds = clock() - f.started
    over_budget = budget is not None and fold_seconds > budget
    planned = f.n_epochs
    if budget is not None and cfg.schedule == "cosine" and not over_budget:
        planned = epochs_within_budget(f.n_epochs, cfg.epochs, f.done, f.done - f.start_epoch, fold_seconds, budget)
    stop = user_stop or over_budget or bool(cfg.patience and f.bad_epochs >= cfg.patience)
    user_stop, stop, planned = ddp.broadcast_ints([user_stop, stop, planned], info)
    if planned != f.n_epochs:  # the cosine's T_max follows, so the LR still anneals to its floor
        f.sched.T_max, f.n_epochs = max(planned, 1), planned
    return bool(stop), bool(user_stop)


def epochs_within_budget(n_epochs: int, max_epochs: int, done: int, done_here: int, seconds: float, budget: float) -> int:
    """The number of epochs (at most `max_epochs`) that fits the time budget, from the mean
    epoch time so far (`done_here` epochs in `seconds`). A plan whose last epoch is done is final."""
    if done >= n_epochs:
        return n_epochs  # the LR has annealed to its floor: extending would only add floor-LR epochs
    fit_epochs = done + int((budget - seconds) // (seconds / max(done_here, 1)))
    return max(done, min(max_epochs, fit_epochs))
