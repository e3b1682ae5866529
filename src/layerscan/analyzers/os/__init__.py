"""OS detection and OS package-database analyzers.

- ``release``: os-release and the distro release files -> :class:`OSInfo`.
- ``dpkg``: Debian/Ubuntu ``status``, distroless ``status.d/*``, opkg ``status``,
  ``info/*.list`` / ``*.md5sums`` file ownership.
- ``apk``: Alpine/Wolfi ``lib/apk/db/installed``.
- ``rpm``: rpm databases (SQLite, BerkeleyDB hash, NDB) read by our own code.
- ``purl``: ``with_distro`` completes OS package purls once the OS is known.

What the pipeline does with their results (after squash):

1. OS: collect ``(path, result.os)`` of the surviving release files and call
   ``release.pick_os``; if that gives None, ``release.infer_os(types of the
   packages)`` (distroless Debian: ``OSInfo("debian", "")``).
2. Each OS package: ``purl.with_distro(pkg, os_info)``.
3. dpkg file ownership: ``owned_files`` entries are keyed ``"deb:<name>"``
   (``"opkg:<name>"``); union the ``.list`` and ``.md5sums`` entries of the
   same key and set them as the package's ``installed_files`` (apk and rpm
   packages carry ``installed_files`` already).
"""
