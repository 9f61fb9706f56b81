"""gunicorn settings for Anju: use them in every deployment (``gunicorn -c config/gunicorn.conf.py``).

The access log writes the request line and referer, which may hold a phone or ID number from a
search URL (issue #9 defect 2); this config sends it, and gunicorn's error log, through the same
redacting filter as Django's own logging (``anju.core.logredact``).
"""

import sys
from pathlib import Path

# gunicorn reads this file before it puts the working directory on sys.path.
_ROOT = str(Path(__file__).resolve().parent.parent)
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

from anju.core.logredact import gunicorn_logconfig  # noqa: E402

wsgi_app = "config.wsgi"
accesslog = "-"
logconfig_dict = gunicorn_logconfig()
