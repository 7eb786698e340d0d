"""The task state machine: every legal transition is listed here, once; anything else is an error.

    queued ──claim──▶ running ──▶ succeeded | failed | cancelled
       ▲                │ │ └──▶ dead        (retries exhausted, poison)
       │                │ └────▶ waiting ──signal/timer──▶ queued
       └──lease lost / retry / release─┘

A waiting task holds no worker slot: when its signal arrives (or its timer fires) it is queued again and any
worker resumes it from its checkpoints. An operator may requeue a dead task.
"""

from __future__ import annotations

from agentic.db.models import TaskState

TERMINAL: frozenset[TaskState] = frozenset({TaskState.SUCCEEDED, TaskState.FAILED, TaskState.CANCELLED})

TRANSITIONS: dict[TaskState, frozenset[TaskState]] = {
    TaskState.QUEUED: frozenset({TaskState.RUNNING, TaskState.CANCELLED}),
    TaskState.RUNNING: frozenset(
        {
            TaskState.QUEUED,  # lease expired, retry after a failure, or released on shutdown
            TaskState.WAITING,
            TaskState.SUCCEEDED,
            TaskState.FAILED,
            TaskState.CANCELLED,
            TaskState.DEAD,
        }
    ),
    TaskState.WAITING: frozenset({TaskState.QUEUED, TaskState.CANCELLED, TaskState.FAILED}),
    TaskState.DEAD: frozenset({TaskState.QUEUED}),  # operator requeue from the dead-letter queue
    TaskState.SUCCEEDED: frozenset(),
    TaskState.FAILED: frozenset(),
    TaskState.CANCELLED: frozenset(),
}


class IllegalTransition(Exception):
    """A transition the state machine does not allow."""

    def __init__(self, current: TaskState, target: TaskState) -> None:
        super().__init__(f"illegal task transition {current.value} → {target.value}")
        self.current = current
        self.target = target


def can_transition(current: TaskState, target: TaskState) -> bool:
    """True if `current → target` is legal."""
    return target in TRANSITIONS[current]


def check_transition(current: TaskState, target: TaskState) -> None:
    """Raise `IllegalTransition` unless `current → target` is legal."""
    if not can_transition(current, target):
        raise IllegalTransition(current, target)


def sources_of(target: TaskState) -> frozenset[TaskState]:
    """The states from which `target` may be reached (used in guarded UPDATE statements)."""
    return frozenset(state for state, targets in TRANSITIONS.items() if target in targets)
