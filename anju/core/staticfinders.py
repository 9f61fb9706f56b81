"""Serve just the front-end files Anju uses from ``node_modules`` (installed by npm at setup).

Pointing STATICFILES_DIRS at whole packages would collect ~60 MB (ECharts alone ships
46 MB of variants); this finder exposes only the files listed in ``VENDOR_FILES``.
"""

from __future__ import annotations

import os

from django.conf import settings
from django.contrib.staticfiles.finders import BaseFinder
from django.core.checks import Error
from django.core.files.storage import FileSystemStorage

# prefix under /static/ → (directory inside node_modules, files in it)
VENDOR_FILES: dict[str, tuple[str, list[str]]] = {
    "vendor/bootstrap": (
        "bootstrap/dist",
        [
            "css/bootstrap.min.css",
            "css/bootstrap.min.css.map",
            "js/bootstrap.bundle.min.js",
            "js/bootstrap.bundle.min.js.map",
        ],
    ),
    "vendor/bootstrap-icons": (
        "bootstrap-icons/font",
        [
            "bootstrap-icons.min.css",
            "fonts/bootstrap-icons.woff2",
            "fonts/bootstrap-icons.woff",
        ],
    ),
    "vendor/htmx": ("htmx.org/dist", ["htmx.min.js"]),
    "vendor/echarts": ("echarts/dist", ["echarts.min.js"]),
}


class VendorFinder(BaseFinder):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.storages: dict[str, FileSystemStorage] = {}
        for prefix, (directory, _files) in VENDOR_FILES.items():
            storage = FileSystemStorage(location=os.path.join(settings.NODE_MODULES, directory))
            storage.prefix = prefix
            self.storages[prefix] = storage

    def check(self, **kwargs):
        missing = [
            os.path.join(directory, name)
            for directory, files in VENDOR_FILES.values()
            for name in files
            if not os.path.exists(os.path.join(settings.NODE_MODULES, directory, name))
        ]
        if missing:
            return [Error(f"Front-end files are missing ({missing[0]} …); run `npm ci`.", id="anju.E001")]
        return []

    def find(self, path, find_all=False, **kwargs):
        find_all = find_all or kwargs.get("all", False)
        matches = []
        for prefix, (_directory, files) in VENDOR_FILES.items():
            if path.startswith(prefix + "/") and path[len(prefix) + 1 :] in files:
                full = self.storages[prefix].path(path[len(prefix) + 1 :])
                if os.path.exists(full):
                    if not find_all:
                        return full
                    matches.append(full)
        return matches

    def list(self, ignore_patterns):
        for prefix, (_directory, files) in VENDOR_FILES.items():
            for name in files:
                if self.storages[prefix].exists(name):
                    yield name, self.storages[prefix]
