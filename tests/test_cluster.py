"""The folder batch on a real Ray cluster started on loopback: the classic engine and the tiny model, a worker
killed mid-batch, Ctrl+C, and the command line. One cluster is shared by the whole module (starting Ray takes
seconds) and stopped at its end, where no process it started may be left."""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from collections.abc import Generator
from pathlib import Path

import numpy as np
import pytest
import ray
from PIL import Image

from core.batch import BatchOptions, BatchSummary, FileResult, pair_folder, prepare_batch, read_journal, run_batch
from core.batch.cluster import ClusterSpec, RayWorkers
from core.batch.cluster_run import run_batch_on_cluster
from core.common.cancel import CancelToken
from core.inpaint.classic import ClassicEngine
from core.job.settings import JobSettings

CLASSIC = JobSettings(engine="classic")


def node_address() -> str:
    """The one node's address (Ray reports the machine's routable address even when started for 127.0.0.1)."""
    (node,) = ray.nodes()
    return str(node["NodeManagerAddress"])


def _children(pid: int) -> set[int]:
    """Processes whose parent is ``pid`` (read from /proc: no psutil needed)."""
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid and fields[0] != "Z":
                found.add(int(entry.name))
    return found


@pytest.fixture(scope="module", autouse=True)
def cluster() -> Generator[None, None, None]:
    """A two-node-sized Ray cluster on 127.0.0.1 with explicit resources, shared by the module's tests."""
    os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
    before = _children(os.getpid())
    threads = {thread.ident for thread in threading.enumerate()}
    ray.init(
        address="local",
        num_cpus=4,
        num_gpus=0,
        include_dashboard=False,
        _node_ip_address="127.0.0.1",
        log_to_driver=False,
    )
    yield
    ray.shutdown()
    deadline = time.monotonic() + 20
    while _children(os.getpid()) - before and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not _children(os.getpid()) - before, "Ray left processes running"
    assert [t.name for t in threading.enumerate() if t.ident not in threads and t.is_alive()] == []


def make_folder(folder: Path, count: int, size: tuple[int, int] = (120, 160), ext: str = ".png") -> Path:
    (folder / "masks").mkdir(parents=True)
    rng = np.random.default_rng(count)
    for i in range(count):
        Image.fromarray(rng.integers(0, 256, (*size, 3), dtype=np.uint8)).save(folder / f"photo{i:03d}{ext}")
        mask = np.zeros(size, np.uint8)
        mask[size[0] // 4 : size[0] // 2, size[1] // 4 : size[1] // 2] = 255
        Image.fromarray(mask).save(folder / "masks" / f"photo{i:03d}.png")
    return folder


def local_outputs(folder: Path, out: Path) -> dict[str, bytes]:
    plan = prepare_batch(pair_folder(folder), out, BatchOptions(settings=CLASSIC))
    results = list(run_batch(plan, ClassicEngine()))  # type: ignore[arg-type]
    assert all(r.status == "done" for r in results)
    return {r.output.name: r.output.read_bytes() for r in results if r.output is not None}


def assert_complete(out: Path, expected: dict[str, bytes]) -> None:
    """Every output once, whole (decodes), byte for byte the local batch's; no temporary file left."""
    names = sorted(p.name for p in out.iterdir() if not p.name.startswith("moebius-batch"))
    assert names == sorted(expected)
    for name, data in expected.items():
        with Image.open(out / name) as image:
            image.load()
        assert (out / name).read_bytes() == data, name


def test_classic_engine_on_two_actors_matches_the_local_batch(tmp_path: Path) -> None:
    folder = make_folder(tmp_path / "in", 5)
    expected = local_outputs(folder, tmp_path / "local")
    plan = prepare_batch(pair_folder(folder), tmp_path / "out", BatchOptions(settings=CLASSIC))
    notes: list[str] = []
    reports = []

    results = list(run_batch_on_cluster(plan, ClusterSpec(actors=2), progress=reports.append, notes=notes))

    assert sorted(r.index for r in results) == [1, 2, 3, 4, 5]
    assert {r.status for r in results} == {"done"} and all(r.node == node_address() for r in results)
    assert_complete(tmp_path / "out", expected)
    assert f"2 CPU (1 thread each) workers on 1 node ({node_address()})" in notes[0]
    assert reports[-1].finished == 5 and reports[-1].nodes == {node_address(): 5}
    # The same journal as the local batch: a resume finds everything done.
    assert {name: record["status"] for name, record in read_journal(tmp_path / "out").files.items()} == {
        f"photo{i:03d}.png": "done" for i in range(5)
    }
    resumed = prepare_batch(pair_folder(folder), tmp_path / "out", BatchOptions(settings=CLASSIC, resume=True))
    assert not resumed.needs_engine
    assert [r.status for r in run_batch_on_cluster(resumed, ClusterSpec(actors=2))] == ["skipped"] * 5


def test_a_bad_photo_fails_once_and_the_rest_go_on(tmp_path: Path) -> None:
    folder = make_folder(tmp_path / "in", 3)
    (folder / "photo001.png").write_bytes(b"not a png at all")
    plan = prepare_batch(pair_folder(folder), tmp_path / "out", BatchOptions(settings=CLASSIC))

    results = {r.photo.name: r for r in run_batch_on_cluster(plan, ClusterSpec(actors=2))}

    assert results["photo001.png"].status == "failed" and results["photo001.png"].retries == 0
    assert results["photo000.png"].status == results["photo002.png"].status == "done"


def test_tiny_model_on_a_cpu_actor(tmp_path: Path) -> None:
    sys.path.insert(0, str(Path(__file__).parent))
    from tiny_model import write_tiny_model

    folder = make_folder(tmp_path / "in", 2, size=(512, 512), ext=".jpg")
    model_dir = write_tiny_model(tmp_path / "models", fmt="safetensors")
    settings = JobSettings(engine="moebius", steps=2, guidance=1.0, seed=5)
    plan = prepare_batch(pair_folder(folder), tmp_path / "out", BatchOptions(settings=settings, seed_policy="index"))

    results = sorted(run_batch_on_cluster(plan, ClusterSpec(actors=1, model_dir=str(model_dir))), key=lambda r: r.index)

    assert [(r.status, r.seed) for r in results] == [("done", 6), ("done", 7)]
    for result in results:
        assert result.output is not None
        with Image.open(result.output) as image:
            assert image.format == "JPEG" and image.size == (512, 512)


def test_a_worker_killed_mid_batch_has_its_photo_redone_elsewhere(tmp_path: Path) -> None:
    folder = make_folder(tmp_path / "in", 8, size=(600, 800))  # about 0.3 s a photo: the kill lands mid-photo
    expected = local_outputs(folder, tmp_path / "local")
    plan = prepare_batch(pair_folder(folder), tmp_path / "out", BatchOptions(settings=CLASSIC))
    workers = RayWorkers(ClusterSpec(actors=2), CLASSIC)
    workers.start()
    killed: list[int] = []
    summary = BatchSummary()
    results: list[FileResult] = []
    try:
        for result in run_batch_on_cluster(plan, ClusterSpec(actors=2), workers=workers):
            results.append(result)
            summary.add(result)
            busy = [slot for slot in workers.slots if slot.busy]
            if not killed and busy:
                killed.append(busy[0].pid)
                os.kill(busy[0].pid, signal.SIGKILL)
    finally:
        workers.close()

    assert killed
    assert sorted(r.index for r in results) == list(range(1, 9)) and {r.status for r in results} == {"done"}
    assert_complete(tmp_path / "out", expected)
    assert summary.counts["retried"] >= 1 and summary.to_json()["retried"] >= 1
    assert sum(r.retries for r in results) >= 1


def test_cancel_stops_the_cluster_job_and_leaves_no_partial_file(tmp_path: Path) -> None:
    folder = make_folder(tmp_path / "in", 8, size=(600, 800))
    plan = prepare_batch(pair_folder(folder), tmp_path / "out", BatchOptions(settings=CLASSIC))
    token = CancelToken()
    results = []
    for result in run_batch_on_cluster(plan, ClusterSpec(actors=2), cancel=token):
        results.append(result)
        token.cancel()

    statuses = [r.status for r in results]
    assert statuses[0] == "done" and "cancelled" in statuses and len(results) < 8
    outputs = [p.name for p in (tmp_path / "out").iterdir() if not p.name.startswith("moebius-batch")]
    assert not [name for name in outputs if name.endswith(".tmp")]
    done = sorted(r.output.name for r in results if r.status == "done" and r.output is not None)
    assert sorted(outputs) == done
    # The photos in flight were recorded as started, so a resume does them (and only them and the rest).
    resumed = prepare_batch(pair_folder(folder), tmp_path / "out", BatchOptions(settings=CLASSIC, resume=True))
    assert len([f for f in resumed.files if f.action == "process"]) == 8 - len(done)


def test_command_line_on_the_cluster(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import json

    from core.cli.batch import main

    folder = make_folder(tmp_path / "in", 3)
    status = main(
        [
            str(folder),
            "-o",
            str(tmp_path / "out"),
            "--engine",
            "classic",
            "--cluster",
            "local",
            "--actors",
            "2",
            "--json",
        ]
    )

    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert status == 0
    assert sorted(r["photo"] for r in records if r["kind"] == "file") == [
        str(folder / f"photo{i:03d}.png") for i in range(3)
    ]
    assert {r["node"] for r in records if r["kind"] == "file"} == {node_address()}
    assert records[-1]["kind"] == "summary" and records[-1]["done"] == 3 and records[-1]["retried"] == 0


def test_command_line_without_ray_says_how_to_install(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import core.cli.batch as cli

    monkeypatch.setattr(cli, "ray_available", lambda: False)
    folder = make_folder(tmp_path / "in", 1)

    status = cli.main([str(folder), "-o", str(tmp_path / "out"), "--engine", "classic", "--cluster", "local"])

    assert status == 2 and "pip install 'moebius-studio[cluster]'" in capsys.readouterr().err
    assert cli.main([str(folder), "-o", str(tmp_path / "out"), "--cluster", "10.0.0.1:6379"]) == 2
    assert "neither 'local' nor ray://HOST:PORT" in capsys.readouterr().err
