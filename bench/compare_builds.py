"""Two builds of one model, timed in alternating runs in one process.

    python3 bench/compare_builds.py OLD.so NEW.so [--rows M] [--runs N] [--threads T]

The way to measure a kernel change on a shared machine whose speed drifts
by tens of percent within a minute: compile the same model against the
runtime before and after the change (each library links its own copy of
the runtime), then run the two in turn on the same inputs, so that drift
touches both alike. Reports min, 10th percentile and median per library,
and the median over rounds of NEW's time divided by OLD's in the same
round, with its quartiles: the figure to quote. Each round runs the two
back to back (in alternating order), so a slow minute slows both and
cancels in the ratio; mins alone favour whichever build had one lucky run.

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
    for round_index in range(args.runs):
        order = (0, 1) if round_index % 2 == 0 else (1, 0)
        for which in order:
            start = time.perf_counter()
            models[which].run(feeds)
            times[which].append(1e3 * (time.perf_counter() - start))
    ratios = np.array(times[1]) / np.array(times[0])
    for path, spent in zip(args.libraries, times):
        spent = sorted(spent)
        print(f"{path}: min {spent[0]:.3f} p10 {spent[len(spent) // 10]:.3f} "
              f"median {spent[len(spent) // 2]:.3f} ms over {len(spent)} runs")
    q25, median, q75 = np.percentile(ratios, [25, 50, 75])
    print(f"new / old within a round: median {median:.3f} (quartiles {q25:.3f}, {q75:.3f})")


if __name__ == "__main__":
    main()
