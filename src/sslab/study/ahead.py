"""Training ahead in a second process. A CPU's threads serve one small network poorly: two dSprites SimCLR
encoders trained at once with one thread each got through 1.27x the images of one trained with both threads
(2-core AMD EPYC, `benchmarks/bench_pair.sh`). So a study hands a helper process the trainings it will reach
last (the encoder stage's, an analysis's retrainings), trains the first ones itself meanwhile, and on reaching
one of the helper's waits for it and loads it like a cached encoder. Each process keeps half the threads."""

from __future__ import annotations

import dataclasses
import itertools
import queue as queues
import signal
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import torch
import torch.multiprocessing as mp

from sslab import distributed, i18n
from sslab.errors import SslabError
from sslab.i18n import _
from sslab.progress import Task
from sslab.study.encoders import AHEAD, Trainer


SEARCH = 14  # jobs up to which every split between the two processes is tried
MIN_IMAGES = 50_000  # images seen below which a helper does not pay for its start (a few s of importing torch)


@dataclass(frozen=True, eq=False)  # eq: the same job, not equal tensors
class Job:
    """One training, as Trainer.train takes it: the encoder, its settings, the images at idx with labels y (N,)."""

    name: str
    mcfg: Any
    idx: torch.Tensor
    y: torch.Tensor
    tag: str = ""
    main: bool = False  # one of the study's own encoders (checkpointed, stored in the run folder)

    @property
    def label(self) -> str:
        return self.name + self.tag

    @property
    def cost(self) -> float:
        return self.mcfg.epochs * len(self.idx)  # images seen: a rough guide, enough to split the work


def finish(jobs: list[Job], helper: set[int]) -> float:
    """When the last of jobs is done (in images seen) if the helper trains those at `helper`, in order, and the
    main process the others, waiting for each of the helper's when it reaches it."""
    main = second = 0.0
    for k, job in enumerate(jobs):
        if k in helper:
            second += job.cost
            main = max(main, second)
        else:
            main += job.cost
    return main


def helper_share(jobs: list[Job]) -> list[Job]:
    """The helper's jobs: of every subset of all but the first (the main process starts on that at once), the one
    done soonest (the smaller on a tie); over SEARCH jobs, the last ones up to half the images seen."""
    if len(jobs) > SEARCH:
        total, taken, start = sum(j.cost for j in jobs), 0.0, len(jobs)
        while start > 1 and taken + jobs[start - 1].cost <= total / 2:
            taken, start = taken + jobs[start - 1].cost, start - 1
        return jobs[min(start, len(jobs) - 1):]
    subsets = (set(c) for r in range(1, len(jobs)) for c in itertools.combinations(range(1, len(jobs)), r))
    best = min(subsets, key=lambda h: (finish(jobs, h), len(h)), default=set())
    return [j for k, j in enumerate(jobs) if k in best]


class Ahead:
    """The main process's side: start a helper on the last of some trainings, wait for one when it is needed."""

    def __init__(self, trainer: Trainer):
        self.trainer = trainer
        self.proc: Any = None
        self.done: dict[str, threading.Event] = {}  # the helper's jobs: set when finished, failed or abandoned
        self.errors: dict[str, str] = {}
        self.threads = 0

    def usable(self) -> bool:
        t = self.trainer
        return (t.cfg.parallel and t.device.type == "cpu" and not t.images.mapped and not t.modules
                and distributed.world()[1] == 1 and torch.get_num_threads() >= 2)

    def start(self, jobs: list[Job]) -> None:
        """Hand the helper the last of these trainings (those not finished already); no-op where it cannot help."""
        jobs = [j for j in jobs if j.mcfg.epochs and not self.trainer.stored(j.name, j.mcfg, j.idx, j.y, j.main)]
        if self.proc is not None or len(jobs) < 2 or not self.usable():
            return
        ahead, t = helper_share(jobs), self.trainer
        if sum(j.cost for j in ahead) < MIN_IMAGES:
            return
        self.threads = torch.get_num_threads()
        context = mp.get_context("spawn")  # a fresh interpreter: nothing of this one's threads or locks
        lines = context.Queue()
        self.done = {j.label: threading.Event() for j in ahead}
        self.errors = {}
        self.proc = context.Process(target=_work, daemon=True, args=(
            t.cfg, dataclasses.replace(t.images, factors=None), t.precision, t.out, ahead, lines, self.threads // 2,
            i18n.current(), t.online))  # the pixels go through shared memory; the factors (unpicklable, unneeded) stay
        try:
            self.proc.start()
        except BaseException:
            self.proc, self.done = None, {}
            raise
        torch.set_num_threads(self.threads - self.threads // 2)
        threading.Thread(target=self._listen, args=(self.proc, lines, self.done), daemon=True).start()
        t.log("  " + _("{labels}: trained meanwhile in a second process ({n} of {m} threads each)").format(
            labels=", ".join(self.done), n=self.threads // 2, m=self.threads))

    def _listen(self, proc: Any, lines: Any, done: dict[str, threading.Event]) -> None:
        """Pass on the helper's log lines, and mark its jobs done or failed, until it ends."""
        while True:
            try:
                kind, label, text = lines.get(timeout=1.0)
            except queues.Empty:
                if proc.is_alive():
                    continue
                break  # it ended (or was killed) and everything it said has been read
            if kind == "log":
                self.trainer.log("  [" + _("second process") + "] " + text.strip())
                continue
            if kind == "error":
                self.errors[label] = text
            done[label].set()
        for label, event in done.items():
            if not event.is_set():
                self.errors.setdefault(label, "the second process ended before training it")
                event.set()

    def poll(self) -> None:
        """Once the helper has nothing left to train, this process takes every thread back (call it between
        steps of work: a thread count is set from the thread that computes)."""
        if self.proc is not None and torch.get_num_threads() != self.threads and all(
                e.is_set() for e in self.done.values()):
            torch.set_num_threads(self.threads)

    def wait(self, label: str) -> bool:
        """Block until the helper has finished `label`; False at once when it is not the helper's. Its error, if
        any, is raised here, in one line."""
        event = self.done.get(label)
        if event is None:
            return False
        if not event.is_set():
            with self.trainer.progress.task(_("waiting for {label} from the second process").format(label=label)):
                while not event.wait(0.5):  # in slices: Ctrl-C stays heard
                    pass
        del self.done[label]
        if not self.done:
            self.close()
        if label in self.errors:
            self.close()
            raise SslabError(_("{label}, trained in a second process: {error}").format(
                label=label, error=self.errors.pop(label)))
        return True

    def close(self, wait: float = 5.0) -> None:
        """Stop the helper (after `wait` seconds, if still running) and give this process its threads back."""
        if self.proc is None:
            return
        self.proc.join(timeout=wait)
        if self.proc.is_alive():
            self.proc.terminate()
            self.proc.join()
        self.proc, self.done = None, {}
        torch.set_num_threads(self.threads)


class _Lines:
    """The helper's progress: its log lines go to the main process, which shows them; no live bars."""

    def __init__(self, lines: Any):
        self.lines = lines

    def log(self, message: str) -> None:
        self.lines.put(("log", "", message))

    @contextmanager
    def task(self, desc: str, total: int | None = None, unit: str = ""):
        yield Task(desc, total, unit)


def _work(cfg: Any, images: Any, precision: str, out: Any, jobs: list[Job], lines: Any, threads: int,
          lang: str, online: Any = None) -> None:
    """The helper process: train each job in order, as the main process would, and say when each is done."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the main process's to handle: it ends this one
    torch.set_num_threads(threads)
    i18n.use(lang)
    trainer = Trainer(cfg, images, images.x, torch.device("cpu"), out, _Lines(lines), precision)
    trainer.keep, trainer.online = out / AHEAD, online
    for job in jobs:
        try:
            trainer.train(job.name, job.mcfg, job.idx, job.y, job.tag, job.main)
        except Exception as e:  # noqa: BLE001 - said in one line by the main process
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            lines.put(("error", job.label, first))
            return
        lines.put(("done", job.label, ""))
