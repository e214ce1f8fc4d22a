"""Kernel sources and the pair cache key (the build itself is exercised by ./setup and e2e)."""

from __future__ import annotations

import tarfile
from pathlib import Path

import pytest

from grader.engine import kernel


def test_local_tarball_identity_is_its_content(tmp_path: Path) -> None:
    tree = tmp_path / "linux-7.0"
    tree.mkdir()
    (tree / "Makefile").write_text("VERSION = 7\nPATCHLEVEL = 0\nSUBLEVEL = 0\nEXTRAVERSION =\n")
    archive = tmp_path / "linux-7.0.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(tree, arcname="linux-7.0")
    first = kernel.resolve_source(str(archive), tmp_path)
    assert first.identity.startswith("linux-7.0.tar.gz_") and first.tarball == archive
    again = kernel.resolve_source(str(archive), tmp_path)
    assert again.identity == first.identity
    assert kernel._tree_release(tree) == "7.0"


@pytest.mark.parametrize(("spec", "message"), [
    ("/nonexistent/linux-7.0.tar.xz", "no such file"),
    ("debian:linux-7.3", "expected debian:linux-source-X.Y"),
])
def test_bad_sources_say_what_to_do(spec: str, message: str, tmp_path: Path) -> None:
    with pytest.raises(kernel.KernelError, match=message):
        kernel.resolve_source(spec, tmp_path)


def test_not_a_tarball_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "linux.zip"
    path.write_text("x")
    with pytest.raises(kernel.KernelError, match=r"expected a \.tar"):
        kernel.resolve_source(str(path), tmp_path)


def test_key_changes_with_config_and_compiler_only() -> None:
    source = kernel.KernelSource("x", Path("/x.tar.xz"), "linux-source-7.3_7.3.4-1")
    key = kernel.pair_key(source, "CONFIG_RUST=y\n", "rustc 1.85.1")
    assert key == kernel.pair_key(source, "CONFIG_RUST=y\n", "rustc 1.85.1")
    assert key.startswith("linux-source-7.3-7.3.4-1-")  # readable, path-safe
    assert key != kernel.pair_key(source, "CONFIG_RUST=y\nCONFIG_PCI=y\n", "rustc 1.85.1")
    assert key != kernel.pair_key(source, "CONFIG_RUST=y\n", "rustc 1.86.0")


def test_missing_pair_says_how_to_build_one(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("KDLAB_KERNEL", raising=False)
    with pytest.raises(kernel.KernelError, match="kdlab kernel build"):
        kernel.find(cache=tmp_path)


def test_course_fragment_covers_what_the_labs_need() -> None:
    text = kernel.course_fragment().read_text()
    for symbol in ("CONFIG_RUST=y", "CONFIG_MODULES=y", "CONFIG_MODULE_UNLOAD=y", "CONFIG_PCI=y",
                   "CONFIG_PCI_MSI=y", "CONFIG_DEBUG_FS=y", "CONFIG_SERIAL_8250_CONSOLE=y",
                   "CONFIG_BLK_DEV_INITRD=y", "CONFIG_DEVTMPFS=y"):
        assert symbol in text
