"""Two builds of one model, timed in alternating runs in one process.

    python3 bench/compare_builds.py OLD.so NEW.so [--rows M] [--runs N] [--threads T]

The way to measure a kernel change on a shared machine whose speed drifts
by tens of percent within a minute: compile the same model against the
runtime before and after the change (each library links its own copy of
the runtime), then run the two in turn on the same inputs, so that drift
touches both alike. Reports min, 10th percentile and median per library;
compare the mins and p10s (medians carry the machine's noise).

Inputs: a language model (an `input_ids` input) gets `--rows` random token
ids and empty KV caches; any other model gets random normal values for each
float input, its dynamic dimensions set to `--rows` (the first) and 1.
"""
import argparse
import time

import numpy as np

from bench_common import lowbit


def inputs_for(model, rows, rng):
    feeds = {}
    for spec in model.inputs:
        if spec.name == "input_ids":
            feeds[spec.name] = rng.integers(1, 256, size=(1, rows)).astype(np.int64)
        elif spec.name.startswith("past."):
            feeds[spec.name] = np.zeros((1, spec.shape[1], 0, spec.shape[3]), spec.dtype)
        else:
            dims = [d if d is not None else (rows if i == 0 else 1) for i, d in enumerate(spec.shape)]
            feeds[spec.name] = rng.standard_normal(dims).astype(spec.dtype)
    return feeds


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("libraries", nargs=2, help="the two compiled models (same inputs)")
    parser.add_argument("--rows", type=int, default=64, help="tokens or rows of the first dynamic dimension")
    parser.add_argument("--runs", type=int, default=20, help="runs of each library")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    models = [lowbit.load(path) for path in args.libraries]
    feeds = inputs_for(models[0], args.rows, np.random.default_rng(0))
    times = [[], []]
    for model in models:
        model.set_num_threads(args.threads)
        model.run(feeds)  # warm-up: first-touch pages and caches
    for _ in range(args.runs):
        for model, spent in zip(models, times):
            start = time.perf_counter()
            model.run(feeds)
            spent.append(1e3 * (time.perf_counter() - start))
    for path, spent in zip(args.libraries, times):
        spent.sort()
        print(f"{path}: min {spent[0]:.3f} p10 {spent[len(spent) // 10]:.3f} "
              f"median {spent[len(spent) // 2]:.3f} ms over {len(spent)} runs")


if __name__ == "__main__":
    main()
