"""Training ahead in a second process: the work split, the same weights as training here, errors in one line."""

import pytest
import torch

from sslab import methods
from sslab.data import dsprites
from sslab.errors import SslabError
from sslab.progress import Progress
from sslab.study import ahead
from sslab.study.ahead import Ahead, Job, finish, helper_share
from sslab.study.config import StudyConfig
from sslab.study.encoders import AHEAD, Trainer


def job(name: str, epochs: int, n: int) -> Job:
    return Job(name, methods.make_config(name, {"epochs": epochs}), torch.arange(n), torch.zeros(n, dtype=torch.int64))


def test_the_helper_takes_the_split_that_ends_soonest():
    sup, vae, simclr, neg = job("supervised", 8, 100), job("vae", 5, 100), job("simclr", 26, 100), job("simclr", 26, 100)
    jobs = [sup, vae, simclr, neg]
    assert helper_share(jobs) == [vae, neg]  # main: supervised, then simclr; the helper's vae is done by then
    assert finish(jobs, {1, 3}) == 3400 < finish(jobs, {3}) == 3900 < finish(jobs, set()) == 6500
    same = [job("vae", 1, 100) for _ in range(4)]
    share = helper_share(same)
    assert len(share) == 2 and finish(same, {k for k, j in enumerate(same) if j in share}) == 200  # half each
    assert helper_share(jobs[:1]) == []  # never the first
    many = [job("vae", 1, 100) for _ in range(30)]  # past SEARCH: the last half
    assert helper_share(many) == many[15:]


@pytest.fixture
def trainer(tmp_path, monkeypatch):
    monkeypatch.setattr(ahead, "MIN_IMAGES", 0)
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    images = dsprites.generate(200)
    cfg = StudyConfig(n_images=200, cache=False)
    t = Trainer(cfg, images, images.x, torch.device("cpu"), tmp_path, Progress("quiet"), "fp32")
    t.ahead = helper = Ahead(t)
    yield t
    helper.close(wait=0)
    torch.set_num_threads(before)


def test_the_helper_trains_what_this_process_would_and_hands_it_over(trainer):
    y = trainer.images.factors.classes("shape")
    mcfg = methods.make_config("supervised", {"epochs": 2, "batch_size": 32})
    jobs = [Job("supervised", mcfg, torch.arange(0, 100), y, " on a"),
            Job("supervised", mcfg, torch.arange(100, 200), y, " on b")]
    trainer.ahead.start(jobs)
    assert list(trainer.ahead.done) == ["supervised on b"] and torch.get_num_threads() == 1
    here, _ = trainer.train("supervised", mcfg, jobs[0].idx, y, " on a")
    assert trainer.ahead.done["supervised on b"].wait(60)
    trainer.ahead.poll()  # nothing left for the helper: every thread back here, before its result is read
    assert torch.get_num_threads() == 2 and trainer.ahead.proc is not None
    there, history = trainer.train("supervised", mcfg, jobs[1].idx, y, " on b")
    assert trainer.ahead.proc is None and torch.get_num_threads() == 2  # closed, threads given back
    assert len(history) == 2 and not (trainer.out / AHEAD).exists()  # handed over once, then removed
    torch.set_num_threads(1)  # the helper's thread count: the same arithmetic
    trainer.ahead = None
    again, _ = trainer.train("supervised", mcfg, jobs[1].idx, y, " on b")
    for k, v in again.state_dict().items():
        assert torch.equal(v, there.state_dict()[k]), k
    assert any(not torch.equal(v, there.state_dict()[k]) for k, v in here.state_dict().items())  # not "a" again


def test_an_error_in_the_helper_ends_in_one_line_where_its_training_is_needed(trainer):
    y = torch.zeros(200, dtype=torch.int64)
    mcfg = methods.make_config("vae", {"epochs": 1, "batch_size": 32})
    bad = Job("vae", mcfg, torch.arange(150, 250), y, " out of range")  # there are no images 200-249
    trainer.ahead.start([Job("vae", mcfg, torch.arange(100), y, " fine"), bad])
    with pytest.raises(SslabError, match=r"^vae out of range, trained in a second process: .*index"):
        trainer.train("vae", mcfg, bad.idx, y, " out of range")
    assert trainer.ahead.proc is None and torch.get_num_threads() == 2
