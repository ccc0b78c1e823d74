import sys
from pathlib import Path

AGENTS = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(AGENTS))

DATASETS = AGENTS.parent.parent / "shared" / "datasets"
