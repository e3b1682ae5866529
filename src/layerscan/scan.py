"""The scan pipeline: source -> walk -> analyzers (per layer, cached) -> squash -> Sbom.

Contract (implemented by the walk work):

    @dataclass(frozen=True)
    class ScanOptions:
        mode: str                      # "image" | "rootfs" | "fs"
        cache_dir: Path | None = None  # layer cache root; None disables the cache
        include_dev_deps: bool = False
        parallel: int = 2
        skip_dirs: tuple[str, ...] = ()

    scan_image(source: ImageSource, options: ScanOptions, progress: Progress = NULL_PROGRESS) -> Sbom
    scan_directory(path: Path, options: ScanOptions, progress: Progress = NULL_PROGRESS) -> Sbom
"""
