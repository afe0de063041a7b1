"""An emulator process keeps what survives a full collection out of the next ones."""

from __future__ import annotations

import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent(
    """
    import gc, weakref
    from medialab_sandbox.lifecycle import keep_survivors_of_full_collections

    class Record:
        pass

    keep_survivors_of_full_collections()
    keep_survivors_of_full_collections()  # once is enough: a second call adds nothing
    kept = [Record() for _ in range(10_000)]
    assert gc.get_freeze_count() == 0
    gc.collect()
    survivors = gc.get_freeze_count()
    assert survivors >= 10_000, survivors
    # Out of the collector's sight, yet freed with its last reference.
    gone = weakref.ref(kept.pop())
    assert gone() is None
    # A full collection walks only what came since the last one.
    newer = [Record() for _ in range(100)]
    gc.collect()
    assert gc.get_freeze_count() >= survivors + 100 - 1
    print(len(gc.callbacks))
    """
)


def test_survivors_of_a_full_collection_are_kept_out_of_the_next_ones() -> None:
    run = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "1"
