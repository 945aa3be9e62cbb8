"""Timing several candidates fairly: interleaved round robin in one process, medians over rounds.

Drifts in machine load (other jobs on a shared machine) then hit every candidate alike.
"""
import statistics
import time


def interleaved_medians(calls, rounds, warmup=2):
  """Median seconds of each zero-argument callable, timed round robin.

  Args:
    calls: {name: callable}; each call must block until its work is done.
    rounds: timed rounds; every callable runs once per round.
    warmup: untimed calls of each first (tracing, compilation).
  """
  for call in calls.values():
    for _ in range(warmup):
      call()
  times = {name: [] for name in calls}
  for _ in range(rounds):
    for name, call in calls.items():
      start = time.perf_counter()
      call()
      times[name].append(time.perf_counter() - start)
  return {name: statistics.median(v) for name, v in times.items()}
