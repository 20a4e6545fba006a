"""The operator killed (SIGKILL) at random moments while it reconciles a fleet of ChatBots.

Each round starts the operator, kills it after a random delay (often in the middle of the resume
pass over the whole fleet), and edits the fleet while it is down: new prompts, new replica counts,
children deleted by hand, ChatBots deleted and created. After the last round the operator runs
until the fleet has converged, and every ChatBot must have exactly one Deployment, Service and
ConfigMap of its own, with its latest spec applied, and nothing may be left of deleted ones.

Size and randomness from the environment (`make chaos` runs the long version):
CHAOS_CHATBOTS (default 20), CHAOS_ROUNDS (default 3), CHAOS_SEED (default: random, printed).
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Iterator

import pytest

from tests.e2e.cluster import Cluster
from tests.e2e.fleet import CHILD_KINDS, Expected, Fleet, chatbot_manifest
from tests.e2e.operator_process import LocalOperator, Release, running_operator

CHATBOTS = int(os.environ.get("CHAOS_CHATBOTS", "20"))
ROUNDS = int(os.environ.get("CHAOS_ROUNDS", "3"))
SEED = int(os.environ.get("CHAOS_SEED") or random.SystemRandom().randrange(1_000_000))
# The operator is killed within this many seconds of passing its liveness check; with a large
# fleet that is during its resume pass, with a small one sometimes after it.
MAX_KILL_DELAY = float(os.environ.get("CHAOS_MAX_KILL_DELAY", "8"))


@pytest.fixture
def operator(
    operator_release: Release, namespace: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LocalOperator]:
    """Not conftest's: one per test, started by the test, and confined to the test's namespace, so
    that an operator of another test never helps it converge."""
    env = {"CHATBOT_OPERATOR_NAMESPACES": namespace}
    workdir = tmp_path_factory.mktemp("chaos-operator")
    with running_operator(operator_release, workdir, env, start=False) as process:
        yield process


def kill(operator: LocalOperator) -> None:
    """SIGKILL: no cleanup handlers, no final patches, nothing flushed."""
    assert operator.process is not None
    operator.assert_running()
    operator.process.kill()
    operator.process.wait(timeout=30)
    operator.stop()  # only closes the log: the process is gone


def edit_while_down(fleet: Fleet, rng: random.Random, round_number: int, next_id: Iterator[int]) -> list[str]:
    """A few random edits of the kinds users and other controllers make; returns what was done."""
    done: list[str] = []
    for _ in range(max(2, len(fleet.expected) // 10)):
        name = rng.choice(sorted(fleet.expected))
        action = rng.choice(("prompt", "prompt", "scale", "delete-child", "delete-child", "replace"))
        if action == "prompt":
            fleet.set_prompt(name, f"You are {name}, version {round_number}.{rng.randrange(1000)}.")
        elif action == "scale":
            fleet.scale(name, 3 - fleet.expected[name].replicas)  # 1 <-> 2
        elif action == "delete-child":
            kind = rng.choice(CHILD_KINDS)
            fleet.delete_child(name, kind)
            action = f"delete {kind}"
        else:
            fleet.delete(name)
            new = f"chaos-{next(next_id):04d}"
            fleet.expected[new] = Expected(prompt=f"You are {new}, version {round_number}.")
            fleet.cluster.apply(chatbot_manifest(new, fleet.expected[new]), namespace=fleet.namespace)
            action = f"replace with {new}"
        done.append(f"{name}: {action}")
    return done


def test_operator_killed_at_random_converges_with_no_orphaned_or_duplicated_children(
    cluster: Cluster, namespace: str, operator: LocalOperator
) -> None:
    rng = random.Random(SEED)
    print(f"chaos: {CHATBOTS} ChatBots, {ROUNDS} rounds, seed {SEED} (CHAOS_SEED={SEED} reproduces it)")
    fleet = Fleet(cluster, namespace)
    ids = iter(range(10**6))
    fleet.create(f"chaos-{next(ids):04d}" for _ in range(CHATBOTS))
    started = time.monotonic()
    for round_number in range(1, ROUNDS + 1):
        operator.start()
        delay = rng.uniform(0, MAX_KILL_DELAY)
        time.sleep(delay)
        kill(operator)
        edits = edit_while_down(fleet, rng, round_number, ids)
        print(f"round {round_number}: killed after {delay:.1f}s; then {len(edits)} edits: {'; '.join(edits)}")

    operator.start()
    # Generous: most of it is the resume pass over the fleet, on a machine shared with other tests.
    seconds = fleet.wait_converged(timeout=120 + 2.0 * len(fleet.expected))
    operator.assert_running()
    total = time.monotonic() - started
    print(
        f"chaos: converged {seconds:.0f}s after the last restart ({total:.0f}s in all); "
        f"{len(fleet.expected)} ChatBots, {len(fleet.deleted)} deleted, seed {SEED}"
    )
