import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "python"))

SHARED = Path(os.environ.get("LOWBIT_SHARED_DIR", ROOT.parent / "shared"))


@pytest.fixture(scope="session")
def shared_models():
    models = SHARED / "models"
    if not models.is_dir():
        pytest.skip(f"shared models not found at {models} (set LOWBIT_SHARED_DIR)")
    return models
