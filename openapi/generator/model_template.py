"""Write the server's model template: the pinned generator's own, one line added.

HealthCheck's `checks` is a list of HealthCheck, and the generated class annotates
its properties with its own name while the class is still being defined; Python 3.11
accepts that only with `from __future__ import annotations`, which must come first in
the module. The generator's model template offers no hook before its first import, so
`make generate` takes the template from the pinned generator itself and puts that
line first: nothing of upstream's template is copied into the repository, and a newer
generator brings its own template along.

    python openapi/generator/model_template.py OUT_DIR
"""

from __future__ import annotations

import sys
import zipfile
from importlib import resources
from pathlib import Path

UPSTREAM_TEMPLATE = "python-flask/model.mustache"
ADDED_LINE = "from __future__ import annotations  # HealthCheck refers to itself\n\n"


def main(out_dir: str) -> int:
    jar = resources.files("openapi_generator_cli") / "openapi-generator.jar"
    with resources.as_file(jar) as jar_path, zipfile.ZipFile(jar_path) as archive:
        upstream = archive.read(UPSTREAM_TEMPLATE).decode("utf-8")
    target = Path(out_dir) / "model.mustache"
    target.write_text(ADDED_LINE + upstream, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
