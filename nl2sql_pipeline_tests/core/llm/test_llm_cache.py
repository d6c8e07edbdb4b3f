"""The response cache under concurrent writers (processes and threads) and unreadable entries."""

from __future__ import annotations

import multiprocessing
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from nl2sql_pipeline.core.llm.cache import ResponseCache, cache_key

KEYS = [cache_key("http://h/v1", "m", [{"role": "user", "content": str(i)}], {"t": 0}) for i in range(40)]


def _writer(folder: str, tag: int) -> None:
    cache = ResponseCache(Path(folder))
    for _ in range(5):
        for key in KEYS:
            cache.put(key, {"text": f"writer {tag} " + "x" * 5000, "key": key})
            record = cache.get(key)
            assert record is not None and record["key"] == key  # never a torn read


def test_concurrent_processes_never_corrupt_entries(tmp_path: Path) -> None:
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(str(tmp_path), i)) for i in range(3)]
    for p in procs:
        p.start()
    _writer(str(tmp_path), 99)
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    cache = ResponseCache(tmp_path)
    assert len(cache) == len(KEYS)
    assert all(cache.get(k)["text"].split()[0] == "writer" for k in KEYS)
    assert not list(tmp_path.rglob("*.tmp"))  # every temporary file was renamed into place


def test_threads_share_one_cache(tmp_path: Path) -> None:
    cache = ResponseCache(tmp_path)
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda k: cache.put(k, {"text": k}), KEYS * 3))
    assert all(cache.get(k) == {"text": k} for k in KEYS)


def test_unreadable_entry_is_a_miss_and_is_removed(tmp_path: Path) -> None:
    cache = ResponseCache(tmp_path)
    cache.put(KEYS[0], {"text": "ok"})
    path = next(tmp_path.rglob("*.json"))
    path.write_text('{"text": "half writ')  # e.g. a disk that filled up under another tool
    assert cache.get(KEYS[0]) is None and not path.exists()


def test_key_depends_on_everything_that_shapes_the_answer() -> None:
    base = cache_key("http://h/v1", "m", [{"role": "user", "content": "q"}], {"temperature": 0.7})
    assert base == cache_key("http://h/v1/", "m", [{"role": "user", "content": "q"}], {"temperature": 0.7})
    assert len({base,
                cache_key("http://other/v1", "m", [{"role": "user", "content": "q"}], {"temperature": 0.7}),
                cache_key("http://h/v1", "m2", [{"role": "user", "content": "q"}], {"temperature": 0.7}),
                cache_key("http://h/v1", "m", [{"role": "user", "content": "q2"}], {"temperature": 0.7}),
                cache_key("http://h/v1", "m", [{"role": "user", "content": "q"}], {"temperature": 0.2})}) == 5
