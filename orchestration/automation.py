"""Declarative automation of what is derived from the feature groups: the training sets and the online sync.

`inputs_ready()` is true for an (unpartitioned) asset when one of its inputs has new data since the asset was
last requested, no input is being materialised, no blocking check of an input is still to run in a run in
progress (the input is materialised before its checks), the asset itself is not running, and no blocking check of
its inputs failed (a check that could not be evaluated does not hold it). Dagster's `eager()` is not used: downstream of time-partitioned groups it looks only at the
latest time partition and waits while any partition is missing, which, for groups whose partitions run back to
their start date, means never. A failed ERROR check holds the asset (the automation evaluation in the UI names
the failing sub-condition "no blocking check of an input failed"); the training set's own gate
(orchestration.gate) also covers older partitions it reads.

The conditions are evaluated by the automation-condition sensor of jobs/automation.py.
"""

from __future__ import annotations

from dagster import AutomationCondition


def inputs_ready() -> AutomationCondition:
    """New input data, inputs idle, their blocking checks passed, not already running."""
    updated = (AutomationCondition.any_deps_updated().since(AutomationCondition.newly_requested())
               .with_label("an input has new data since the last request"))
    # "no blocking check of an input failed", not "all passed": a drift check that could not be evaluated yet
    # (too few reference partitions) records no result, and must not hold the derived assets forever
    failed = AutomationCondition.any_checks_match(AutomationCondition.check_failed(), blocking_only=True)
    checks = (~AutomationCondition.any_deps_match(failed)).with_label("no blocking check of an input failed")
    idle = (~AutomationCondition.any_deps_in_progress()).with_label("no input being materialised")
    # an input's run has materialised it but not yet evaluated its checks: a failure may still come
    checking = AutomationCondition.any_checks_match(AutomationCondition.in_progress(), blocking_only=True)
    unchecked = (~AutomationCondition.any_deps_match(checking)).with_label("no blocking check of an input running")
    not_running = (~AutomationCondition.in_progress()).with_label("not already running")
    return (updated & checks & unchecked & idle & not_running).with_label("inputs ready")


__all__ = ["inputs_ready"]
