"""The documentation generated from the code matches the code."""
import subprocess
import sys
from pathlib import Path

import lowbit

ROOT = Path(__file__).resolve().parents[2]


def test_supported_ops_doc_is_current():
    fresh = subprocess.run([sys.executable, str(ROOT / "scripts" / "supported_ops_md.py"), lowbit.find_tool("lowbitc")],
                           capture_output=True, text=True, check=True).stdout
    assert (ROOT / "docs" / "SupportedOps.md").read_text() == fresh, "run scripts/gen-docs.sh"


def test_tablegen_docs_are_current():
    build_docs = Path(lowbit.find_tool("lowbitc")).parents[1] / "docs"
    for doc in ("Dialects/OnnxDialect.md", "Dialects/LowbitDialect.md", "Passes/LowbitPasses.md", "Passes/OnnxPasses.md", "Passes/ConversionPasses.md",
                "Passes/TransformsPasses.md"):
        assert (ROOT / "docs" / doc).read_text() == (build_docs / doc).read_text(), \
            f"docs/{doc} is stale: run scripts/gen-docs.sh"
