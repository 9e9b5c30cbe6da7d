#!/usr/bin/env python3
"""Cost per frame of each vision analyzer (and of the frame decoders) at 640x480 and 1280x720.

Every analyzer runs on the same mixed set of drawn scenes (a cluttered shelf, an aisle with a
carton, a text panel, a QR label, a standing figure), so the figures compare; each call gets a
fresh :class:`Frame`, so a luminance view cached by one call is not reused by the next and every
figure includes the analyzer's own colour conversions. Warm-up calls (the OCR engine's model
load among them) are excluded and reported apart. Wall time per call gives the median, p95,
mean and max; process CPU time per call shows where an analyzer uses more than one core
(onnxruntime's threads).

    .venv/jazzy/bin/python bench/analyzer_cost.py                  # ~1-2 min on 2 cores
    .venv/jazzy/bin/python bench/analyzer_cost.py --frames 10      # quick look
    .venv/jazzy/bin/python bench/analyzer_cost.py --opencv-threads 1 --ocr-threads 1 \
        --out bench/results/analyzer_cost_single_thread.json      # the cost on one core

Writes ``bench/results/analyzer_cost.json`` (``--out``) and prints a Markdown table.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from importlib import metadata
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from muse_supervisor.perception.vision import (  # noqa: E402 - after the path set-up
    FloorAnalyzer,
    Frame,
    ImageHealthAnalyzer,
    MarkerAnalyzer,
    OcrAnalyzer,
    PersonAnalyzer,
    decode_compressed_image,
    decode_image,
    synthetic,
)
from muse_supervisor.perception.vision.analyzer import Analyzer  # noqa: E402

SIZES = ((640, 480), (1280, 720))


def scenes(width: int, height: int) -> list[np.ndarray]:
    """The mixed set every analyzer is measured on, drawn at ``width`` x ``height``."""
    return [
        synthetic.cluttered_scene(height, width, seed=1),
        synthetic.aisle_scene(height, width, seed=2, obstacle=True, debris=True),
        synthetic.text_panel('MOTOR 2 OVERCURRENT', height, width, scale=1.6 * width / 640),
        synthetic.qr_code_scene('DOCK-7', height, width),
        synthetic.standing_figure(height, width, figure_height=int(300 * height / 480)),
    ]


def measure(call: Callable[[int], object], frames: int, warmup: int) -> dict[str, float]:
    """Wall and CPU milliseconds of ``call(i)`` over ``frames`` calls after ``warmup`` calls."""
    for index in range(warmup):
        call(index)
    wall: list[float] = []
    cpu: list[float] = []
    for index in range(frames):
        wall_start, cpu_start = time.perf_counter(), time.process_time()
        call(warmup + index)
        wall.append((time.perf_counter() - wall_start) * 1000.0)
        cpu.append((time.process_time() - cpu_start) * 1000.0)
    ordered = sorted(wall)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return {
        'frames': frames,
        'median_ms': round(statistics.median(wall), 3),
        'p95_ms': round(p95, 3),
        'mean_ms': round(statistics.fmean(wall), 3),
        'max_ms': round(max(wall), 3),
        'cpu_median_ms': round(statistics.median(cpu), 3),
    }


def analyzer_call(analyzer: Analyzer, images: list[np.ndarray]) -> Callable[[int], object]:
    """One analyzer call on a fresh frame of the scene set, in turn."""

    def call(index: int) -> object:
        image = images[index % len(images)]
        return analyzer.analyze(Frame(image, float(index), 'bench', 'bench/image', index))

    return call


def decoder_calls(images: list[np.ndarray]) -> dict[str, Callable[[int], object]]:
    """Raw rgb8 and jpeg decoding of the same scenes, as the node would do per message."""
    raw = [np.ascontiguousarray(image[..., ::-1]).tobytes() for image in images]
    jpeg = [
        cv2.imencode('.jpg', image, [cv2.IMWRITE_JPEG_QUALITY, 90])[1].tobytes()
        for image in images
    ]
    height, width = images[0].shape[:2]

    def decode_raw(index: int) -> object:
        return decode_image(
            encoding='rgb8', height=height, width=width, step=width * 3, is_bigendian=False,
            data=raw[index % len(raw)], stamp=0.0,
        )  # fmt: skip

    def decode_jpeg(index: int) -> object:
        return decode_compressed_image(
            format='rgb8; jpeg compressed bgr8', data=jpeg[index % len(jpeg)], stamp=0.0
        )

    return {'decode:rgb8': decode_raw, 'decode:jpeg': decode_jpeg}


def versions() -> dict[str, str]:
    """Versions of what the figures depend on."""
    found = {'python': platform.python_version(), 'opencv': cv2.__version__}
    for package in ('numpy', 'rapidocr', 'onnxruntime'):
        try:
            found[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            found[package] = 'missing'
    return found


def main(argv: list[str] | None = None) -> int:
    """Measure, write the JSON, print the table."""
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument(
        '--frames', type=int, default=40, help='measured calls per analyzer and size'
    )
    parser.add_argument('--warmup', type=int, default=3, help='calls before measuring')
    parser.add_argument('--out', type=Path, default=REPO / 'bench/results/analyzer_cost.json')
    parser.add_argument(
        '--only', default='', help='comma-separated name prefixes, e.g. ocr,person'
    )
    parser.add_argument('--ocr-threads', type=int, default=-1, help='onnxruntime threads for OCR')
    parser.add_argument(
        '--opencv-threads', type=int, default=0,
        help="OpenCV's worker threads (0: leave OpenCV's default, one per core)",
    )  # fmt: skip
    args = parser.parse_args(argv)
    if args.frames < 1 or args.warmup < 0:
        parser.error('--frames must be at least 1 and --warmup not negative')
    wanted = tuple(prefix for prefix in args.only.split(',') if prefix)
    if args.opencv_threads > 0:
        cv2.setNumThreads(args.opencv_threads)
    load_before = os.getloadavg()

    ocr = OcrAnalyzer(threads=args.ocr_threads)
    load_start = time.perf_counter()
    ocr.warm_up()
    ocr_load_s = time.perf_counter() - load_start
    analyzers: list[Analyzer] = [
        ImageHealthAnalyzer(), FloorAnalyzer(), MarkerAnalyzer(), PersonAnalyzer(), ocr,
    ]  # fmt: skip

    rows = []
    for width, height in SIZES:
        images = scenes(width, height)
        calls: dict[str, Callable[[int], object]] = decoder_calls(images)
        calls.update({analyzer.name: analyzer_call(analyzer, images) for analyzer in analyzers})
        for name, call in calls.items():
            if wanted and not name.startswith(wanted):
                continue
            figures = measure(call, args.frames, args.warmup)
            rows.append({'name': name, 'size': f'{width}x{height}', **figures})
            print(f'{name:28s} {width}x{height}: median {figures["median_ms"]:8.2f} ms, '
                  f'p95 {figures["p95_ms"]:8.2f} ms', file=sys.stderr, flush=True)  # fmt: skip

    report = {
        'what': 'cost per frame of each vision analyzer and decoder (wall ms per call)',
        'command': ' '.join(
            ['bench/analyzer_cost.py', *(argv if argv is not None else sys.argv[1:])]
        ),
        'date_utc': datetime.datetime.now(datetime.UTC).strftime('%Y-%m-%dT%H:%M:%SZ'),
        'machine': {
            'cpus': os.cpu_count(),
            'platform': platform.platform(),
            'load_average_at_start': load_before,
            'load_average_at_end': os.getloadavg(),
            'opencv_threads': cv2.getNumThreads(),
            'ocr_threads': args.ocr_threads,
        },
        'versions': versions(),
        'scenes': 'cluttered shelf, aisle with carton and debris, text panel, QR label, standing '
        'figure (muse_supervisor.perception.vision.synthetic), cycled',
        'warmup_calls': args.warmup,
        'ocr_engine_load_s': round(ocr_load_s, 3),
        'results': rows,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + '\n')

    print('| analyzer | size | median ms | p95 ms | mean ms | CPU median ms |')
    print('| --- | --- | ---: | ---: | ---: | ---: |')
    for row in rows:
        figures = ' | '.join(
            f'{row[key]:.2f}' for key in ('median_ms', 'p95_ms', 'mean_ms', 'cpu_median_ms')
        )
        print(f'| `{row["name"]}` | {row["size"]} | {figures} |')
    print(f'\nOCR engine load (first call, excluded above): {ocr_load_s:.2f} s; wrote {args.out}')
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
