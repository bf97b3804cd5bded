import os
import sys
from pathlib import Path

# helpers next to the tests (the project runs pytest with --import-mode=importlib)
sys.path.insert(0, str(Path(__file__).parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
