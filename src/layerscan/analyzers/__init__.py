"""Analyzer registry: one module per file format (DESIGN.md §1).

Add an analyzer by importing its class here and listing it in ``_CLASSES``.
"""

from __future__ import annotations

import importlib

from layerscan.analyzers.base import Analyzer

# "module:Class" entries, imported lazily so start-up stays fast.
_ENTRIES: tuple[str, ...] = (
    # OS
    "layerscan.analyzers.os.release:OSReleaseAnalyzer",
    "layerscan.analyzers.os.dpkg:DpkgAnalyzer",
    "layerscan.analyzers.os.apk:ApkAnalyzer",
    "layerscan.analyzers.os.rpm:RpmAnalyzer",
    # Java (language part 2)
    "layerscan.analyzers.java.archive:JavaArchiveAnalyzer",
    "layerscan.analyzers.java.pom:PomAnalyzer",
    "layerscan.analyzers.java.gradle_lock:GradleLockAnalyzer",
    "layerscan.analyzers.java.gradle_verification:GradleVerificationAnalyzer",
    "layerscan.analyzers.java.sbt_lock:SbtLockAnalyzer",
    # Go (language part 2)
    "layerscan.analyzers.golang.buildinfo:GoBinaryAnalyzer",
    "layerscan.analyzers.golang.gomod:GoModAnalyzer",
    "layerscan.analyzers.golang.vendor_modules:VendorModulesAnalyzer",
    # Rust (language part 2)
    "layerscan.analyzers.rust.auditable:RustBinaryAnalyzer",
    "layerscan.analyzers.rust.cargo_lock:CargoLockAnalyzer",
    # Conda (language part 2)
    "layerscan.analyzers.conda.meta:CondaMetaAnalyzer",
    "layerscan.analyzers.conda.environment:CondaEnvironmentAnalyzer",
    # Python, Node.js, Ruby, PHP, .NET (language part 1)
    "layerscan.analyzers.python.metadata:PythonMetadataAnalyzer",
    "layerscan.analyzers.python.egg:PythonEggAnalyzer",
    "layerscan.analyzers.python.wheel:PythonWheelAnalyzer",
    "layerscan.analyzers.python.requirements:RequirementsAnalyzer",
    "layerscan.analyzers.python.pipfile_lock:PipfileLockAnalyzer",
    "layerscan.analyzers.python.poetry_lock:PoetryLockAnalyzer",
    "layerscan.analyzers.python.uv_lock:UvLockAnalyzer",
    "layerscan.analyzers.python.pdm_lock:PdmLockAnalyzer",
    "layerscan.analyzers.python.pylock:PylockAnalyzer",
    "layerscan.analyzers.python.pyproject:PyprojectAnalyzer",
    "layerscan.analyzers.node.package_json:PackageJsonAnalyzer",
    "layerscan.analyzers.node.package_lock:PackageLockAnalyzer",
    "layerscan.analyzers.node.yarn_lock:YarnLockAnalyzer",
    "layerscan.analyzers.node.pnpm_lock:PnpmLockAnalyzer",
    "layerscan.analyzers.node.bun_lock:BunLockAnalyzer",
    "layerscan.analyzers.node.deno_lock:DenoLockAnalyzer",
    "layerscan.analyzers.ruby.gemspec:GemspecAnalyzer",
    "layerscan.analyzers.ruby.gemfile_lock:GemfileLockAnalyzer",
    "layerscan.analyzers.php.composer:ComposerLockAnalyzer",
    "layerscan.analyzers.php.composer:ComposerInstalledAnalyzer",
    "layerscan.analyzers.php.pecl_reg:PeclRegistryAnalyzer",
    "layerscan.analyzers.dotnet.deps_json:DepsJsonAnalyzer",
    "layerscan.analyzers.dotnet.packages_lock:PackagesLockAnalyzer",
    "layerscan.analyzers.dotnet.packages_config:PackagesConfigAnalyzer",
    "layerscan.analyzers.dotnet.project_assets:ProjectAssetsAnalyzer",
    "layerscan.analyzers.dotnet.paket_lock:PaketLockAnalyzer",
    "layerscan.analyzers.dotnet.pe_assembly:PEAssemblyAnalyzer",
    # binaries without package metadata (version strings)
    "layerscan.analyzers.binary.engine:BinaryClassifierAnalyzer",
)


def all_analyzers() -> list[Analyzer]:
    result = []
    for entry in _ENTRIES:
        module_name, _, cls_name = entry.partition(":")
        cls = getattr(importlib.import_module(module_name), cls_name)
        result.append(cls())
    return result


def analyzers_for(mode: str) -> list[Analyzer]:
    return [a for a in all_analyzers() if mode in a.modes]
