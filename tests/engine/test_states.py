"""The state machine, property-tested: random sequences of events never reach an illegal state."""

from __future__ import annotations

import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

from agentic.db.models import TaskState
from agentic.engine.states import TERMINAL, TRANSITIONS, IllegalTransition, can_transition, check_transition

STATES = list(TaskState)


@given(st.lists(st.sampled_from(STATES), max_size=60))
@settings(max_examples=500)
def test_random_event_sequences_only_follow_legal_edges(attempts: list[TaskState]) -> None:
    state = TaskState.QUEUED
    history = [state]
    for target in attempts:
        try:
            check_transition(state, target)
        except IllegalTransition:
            assert target not in TRANSITIONS[state]
            continue
        state = target
        history.append(state)
    for before, after in itertools.pairwise(history):
        assert after in TRANSITIONS[before]
    if history[-1] in TERMINAL:
        assert all(s == history[-1] for s in history[history.index(history[-1]) :])


def test_terminal_states_are_final() -> None:
    for state in TERMINAL:
        assert TRANSITIONS[state] == frozenset()
        for target in STATES:
            assert not can_transition(state, target)


def test_every_state_is_reachable_and_every_live_state_can_finish() -> None:
    reachable = {TaskState.QUEUED}
    frontier = [TaskState.QUEUED]
    while frontier:
        for target in TRANSITIONS[frontier.pop()]:
            if target not in reachable:
                reachable.add(target)
                frontier.append(target)
    assert reachable == set(STATES)
    for state in set(STATES) - TERMINAL - {TaskState.DEAD}:
        seen, stack = {state}, [state]
        while stack:
            for target in TRANSITIONS[stack.pop()]:
                if target not in seen:
                    seen.add(target)
                    stack.append(target)
        assert seen & TERMINAL, state


def test_no_state_skips_running_on_its_way_to_success() -> None:
    for state in STATES:
        if TaskState.SUCCEEDED in TRANSITIONS[state]:
            assert state is TaskState.RUNNING
