"""text-render benchmark: 3 lines with 2 emoji on 1024², 2048² and 6000×4000 photos.

Run ``python -m bench.text_render`` (prints a table) or call ``run()`` for the figures.
Each size is measured in a fresh child process so that its peak RSS is the render's own
(the parent makes the input pictures, which takes more memory than rendering them).
Targets on a 2-core machine: < 150 ms at 2048², < 600 ms at 6000×4000, RSS < 400 MB. Wall
times are only meaningful on an otherwise idle machine; the CPU column (all threads) is not
moved much by other load.
"""

import io
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from PIL import Image, ImageFilter

TEXT = "Привет из MediaLab 🎉\nТри строки текста на фотографии\nи ещё одна с эмодзи 🙂"
REPEATS = {(1024, 1024): 30, (2048, 2048): 20, (6000, 4000): 10}  # input size → renders
QUICK_REPEATS = {(1024, 1024): 2}
TARGET_MS = {(2048, 2048): 150.0, (6000, 4000): 600.0}
TARGET_RSS_MB = 400.0


def make_photo(size: tuple[int, int]) -> bytes:
    """A JPEG that compresses like a photo: smooth colour fields plus sensor-like grain."""
    bands = [
        Image.linear_gradient("L").resize(size),
        Image.radial_gradient("L").resize(size),
        Image.linear_gradient("L").rotate(90).resize(size),
    ]
    grain = Image.effect_noise(size, 12)
    photo = Image.merge("RGB", [Image.blend(band, grain, 0.25) for band in bands])
    photo = photo.filter(ImageFilter.GaussianBlur(1))
    buffer = io.BytesIO()
    photo.save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def _measure(path: str, repeats: int) -> dict[str, float]:
    """Child side: render ``repeats`` times (after a warm-up) and report times and peak RSS.

    Imported here, so the parent (which only makes the pictures) never loads the renderer."""
    from medialab_contracts.text_style import TextStyle
    from text_render.render import render

    data = Path(path).read_bytes()
    style = TextStyle()
    render(data, TEXT, style)  # warm-up: fonts, emoji, thread pool
    times = []
    cpu_start = _cpu_seconds()
    for _ in range(repeats):
        start = time.perf_counter()
        render(data, TEXT, style)
        times.append((time.perf_counter() - start) * 1000)
    return {
        "median_ms": statistics.median(times),
        "p99_ms": _percentile(times, 0.99),
        # CPU time of all threads per render: unlike wall time, barely moved by other load.
        "cpu_ms": (_cpu_seconds() - cpu_start) * 1000 / repeats,
        "peak_rss_mb": _peak_rss_kib() / 1024,
    }


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _peak_rss_kib() -> int:
    """This process's own peak RSS. Linux's ``ru_maxrss`` survives exec, so a child would
    report its parent's peak at fork; ``VmHWM`` belongs to the current address space."""
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def run(quick: bool = False) -> dict[str, dict[str, float | bool]]:
    """Figures per input size, e.g. ``{"2048x2048": {"median_ms": …, "p99_ms": …,
    "peak_rss_mb": …, "ok": True}}``; ``quick``: the smallest size, two renders (for tests)."""
    repeats = QUICK_REPEATS if quick else REPEATS
    results: dict[str, dict[str, float | bool]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for size in repeats:
            path = Path(tmp) / f"{size[0]}x{size[1]}.jpg"
            path.write_bytes(make_photo(size))
            child = subprocess.run(
                [sys.executable, "-m", "bench.text_render", "--child", str(path), str(repeats[size])],
                cwd=Path(__file__).resolve().parents[1],
                check=True,
                capture_output=True,
                text=True,
            )
            figures: dict[str, float | bool] = dict(json.loads(child.stdout))
            target = TARGET_MS.get(size)
            figures["ok"] = (target is None or figures["median_ms"] < target) and figures[
                "peak_rss_mb"
            ] < TARGET_RSS_MB
            results[f"{size[0]}x{size[1]}"] = figures
    return results


def _table(results: dict[str, dict[str, float | bool]]) -> str:
    rows = [f"{'input':>10} {'median ms':>10} {'p99 ms':>8} {'CPU ms':>8} {'peak RSS MB':>12} {'target':>8}"]
    for name, fig in results.items():
        size = tuple(int(v) for v in name.split("x"))
        target = TARGET_MS.get(size)  # type: ignore[arg-type]
        verdict = ("ok" if fig["ok"] else "MISSED") if target else "-"
        times = f"{fig['median_ms']:>10.1f} {fig['p99_ms']:>8.1f} {fig['cpu_ms']:>8.1f}"
        rows.append(f"{name:>10} {times} {fig['peak_rss_mb']:>12.1f} {verdict:>8}")
    return "\n".join(rows)


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--child":
        print(json.dumps(_measure(sys.argv[2], int(sys.argv[3]))))
    else:
        print(_table(run()))
