"""The toolchain check names what is missing, with the package to install."""

from __future__ import annotations

from grader.engine import toolchain


def test_missing_tools_are_named_with_their_package(monkeypatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    report = toolchain.missing_report()
    assert "rustc (compiles Rust kernel code): not found; Debian package: rustc" in report
    assert "qemu (boots the kernel): not found; Debian package: qemu-system-x86" in report
    assert "scripts/in-toolchain" in report


def test_the_toolchain_image_is_complete() -> None:
    # Runs where the suite runs (the toolchain image): everything must be there.
    assert toolchain.missing_report() == ""
    rustc = next(f for f in toolchain.check() if f.tool.name == "rustc")
    assert rustc.version is not None and rustc.version >= (1, 85, 0)


def test_a_kernel_build_asks_only_for_its_own_tools(monkeypatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    names = {f.tool.name for f in toolchain.check(toolchain.KERNEL_BUILD_TOOLS)}
    assert names == toolchain.KERNEL_BUILD_TOOLS
    report = toolchain.missing_report(toolchain.check(toolchain.KERNEL_BUILD_TOOLS))
    assert "clang (LLVM=1 kernel build): not found" in report
    assert "qemu" not in report and "busybox" not in report
