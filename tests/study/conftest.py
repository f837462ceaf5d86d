"""tests/study/ mirrors study/'s sub-packages; the helpers shared by its folders
(engine_support.py, seed_protocols.py) live here and are importable from every one."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
