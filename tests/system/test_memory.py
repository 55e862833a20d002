"""app/memory.py: which objects the garbage collector walks in the server, and when closed
sessions' objects are collected.

``gc.freeze`` changes the whole interpreter, so every check runs in a fresh Python process
with a Tornado event loop, as in the server.  The served app's side (a class closes, its
memory goes back) is checked by tests/test_load.py.
"""
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytest.importorskip("tornado")

ROOT = Path(__file__).resolve().parents[2]

PRELUDE = textwrap.dedent('''
    import asyncio, gc, logging, sys, weakref
    from tornado.ioloop import IOLoop
    from app import memory
    logging.basicConfig(level=logging.INFO, stream=sys.stdout, format="%(message)s")
    memory.COLLECT_DELAY_S = 0.05
    memory.MIN_INTERVAL_S = 0.3

    class Node:
        """A cycle, like widgets and models that refer to each other."""
        def __init__(self):
            self.me = self
            self.payload = [self]

    def run_loop(seconds):
        async def wait():
            await asyncio.sleep(seconds)
        IOLoop.current().run_sync(wait)
''')


def run_script(body: str) -> str:
    code = PRELUDE + textwrap.dedent(body)
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert res.returncode == 0, res.stdout + res.stderr
    return res.stdout


def test_frozen_session_objects_are_not_walked_and_are_collected_after_a_close():
    out = run_script('''
        memory.ENABLED = True
        base = memory.freeze_baseline()
        assert base > 1000 and gc.get_freeze_count() == base
        session = Node()
        alive = weakref.ref(session)
        memory.session_ready()
        assert gc.get_freeze_count() > base           # the session's objects left the collector's sight
        del session
        gc.collect()
        assert alive() is not None, "a frozen cycle must survive ordinary collections"
        memory.frozen_garbage()
        run_loop(1.6)                                 # delay, first pass, one loop second, second pass
        assert alive() is None, "the close did not lead to a collection of the frozen cycle"
        assert gc.get_freeze_count() > 0              # the survivors are out of sight again
        print("cycles", memory.stats()["full_cycles"])
    ''')
    assert "cycles 1" in out
    assert "collected the garbage of closed sessions" in out


def test_a_batch_of_closes_costs_one_collection():
    out = run_script('''
        memory.ENABLED = True
        memory.freeze_baseline()
        refs = []
        for _ in range(5):
            n = Node(); refs.append(weakref.ref(n)); del n
        memory.session_ready()
        for _ in range(5):
            memory.frozen_garbage()                   # five tabs close together
        run_loop(1.6)
        assert all(r() is None for r in refs)
        print("cycles", memory.stats()["full_cycles"])
    ''')
    assert "cycles 1" in out


def test_what_finalizers_hand_to_the_loop_is_freed_by_the_second_pass():
    out = run_script('''
        memory.ENABLED = True
        memory.freeze_baseline()

        class Data:
            """What a closed session leaves.  (Neither a weak reference nor a finalizer can tell
            whether it was freed: Python clears the weak references of every unreachable object
            and runs their finalizers before it learns which ones a finalizer resurrected.)"""
            def __init__(self):
                self.me = self

        class Pending:
            """Like a coroutine or future whose finalizer schedules a callback holding its data."""
            def __init__(self):
                self.me = self
                self.data = Data()
            def __del__(self):
                IOLoop.current().add_callback(lambda data=self.data: None)

        gc.disable()              # only the module's own collections run: nothing else may free the data
        p = Pending()
        memory.session_ready()
        del p
        memory.frozen_garbage()
        run_loop(1.6)
        gc.unfreeze()             # look at frozen objects too, without collecting them
        left = [o for o in gc.get_objects() if type(o) is Data]
        assert not left, "the data held by the finalizer's callback outlived the collection"
        print("ok")
    ''')
    assert "ok" in out


def test_outside_a_served_app_nothing_is_frozen():
    out = run_script('''
        assert not memory.ENABLED
        before = gc.get_freeze_count()
        memory.session_ready()
        memory.frozen_garbage()                       # no loop needed: nothing is scheduled
        assert gc.get_freeze_count() == before
        print("ok")
    ''')
    assert "ok" in out


def test_long_collections_are_logged():
    out = run_script('''
        memory.watch_pauses()
        memory.SLOW_PAUSE_S = 0.0
        keep = [Node() for _ in range(20000)]
        gc.collect()
        s = memory.stats()
        assert s["count"] >= 1 and s["max_s"] > 0, s
        print("ok")
    ''')
    assert "full garbage collection paused the server" in out and "ok" in out
