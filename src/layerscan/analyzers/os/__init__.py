"""OS detection and OS package-database analyzers.

- ``release``: os-release and the distro release files -> :class:`OSInfo`
  (``pick_os`` chooses among several files, ``infer_os`` covers distroless).
- ``dpkg``: Debian/Ubuntu ``status``, distroless ``status.d/*``, opkg ``status``,
  ``info/*.list`` / ``*.md5sums`` file ownership.
- ``apk``: Alpine/Wolfi ``lib/apk/db/installed``.
- ``rpm``: rpm databases (SQLite, BerkeleyDB hash, NDB) read by our own code.
- ``purl``: ``with_distro`` completes OS package purls once the OS is known.
"""
