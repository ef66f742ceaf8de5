from pathlib import Path

import pytest

REAL_DSPRITES = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "dsprites_subset.npz"


@pytest.fixture(scope="session")
def real_dsprites_path() -> Path:
    if not REAL_DSPRITES.is_file():
        pytest.skip(f"real dSprites subset not found at {REAL_DSPRITES}")
    return REAL_DSPRITES
