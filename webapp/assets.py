"""Front-end libraries from npm, copied into the git-ignored `webapp/static/vendor/` (no CDN).

`package.json` + `package-lock.json` pin them exactly; `npm ci --ignore-scripts` installs them into
`webapp/node_modules/` and `build_assets()` copies the files the pages need, listed in `VENDOR_FILES`.
To add a library: add it to package.json (`npm install --save-exact --ignore-scripts NAME@VERSION`),
then add its files to `VENDOR_FILES`.

The process editor needs one bundle of its own (`editor_src/editor.js`: the bpmn-js Modeler, the
properties panel with its Camunda provider and our provider for roles and forms), built with esbuild
from the same lockfile into `static/vendor/editor/editor.js` (design: "Practical notes").
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from pathlib import Path

WEBAPP_DIR = Path(__file__).resolve().parent
NODE_MODULES = WEBAPP_DIR / "node_modules"
LOCKFILE = WEBAPP_DIR / "package-lock.json"
VENDOR_DIR = WEBAPP_DIR / "static" / "vendor"
# Written after a successful `npm ci`: the lockfile digest it installed.
_STAMP = NODE_MODULES / ".examenflow-lock.sha256"

# (file or folder under node_modules/, destination under static/vendor/). A folder is copied whole,
# so relative references (a stylesheet's ../font/…) keep working.
VENDOR_FILES: list[tuple[str, str]] = [
    # bpmn-js: the NavigatedViewer (global `BpmnJS`) and its stylesheets and icon font.
    ("bpmn-js/dist/bpmn-navigated-viewer.production.min.js", "bpmn-js/bpmn-navigated-viewer.production.min.js"),
    ("bpmn-js/dist/assets/diagram-js.css", "bpmn-js/assets/diagram-js.css"),
    ("bpmn-js/dist/assets/bpmn-js.css", "bpmn-js/assets/bpmn-js.css"),
    ("bpmn-js/dist/assets/bpmn-font/css/bpmn.css", "bpmn-js/assets/bpmn-font/css/bpmn.css"),
    ("bpmn-js/dist/assets/bpmn-font/font", "bpmn-js/assets/bpmn-font/font"),
    ("bpmn-js/LICENSE", "bpmn-js/LICENSE"),
    # The properties panel's stylesheet, for the process editor.
    ("@bpmn-io/properties-panel/dist/assets/properties-panel.css", "properties-panel/properties-panel.css"),
    ("bpmn-js-properties-panel/LICENSE", "properties-panel/LICENSE"),
]
EDITOR_SOURCE = WEBAPP_DIR / "editor_src" / "editor.js"
EDITOR_BUNDLE = VENDOR_DIR / "editor" / "editor.js"


def _lock_digest() -> str:
    return hashlib.sha256(LOCKFILE.read_bytes()).hexdigest()


def _install_needed() -> bool:
    if not NODE_MODULES.is_dir() or not _STAMP.is_file():
        return True
    return _STAMP.read_text().strip() != _lock_digest()


def _npm_ci() -> None:
    npm = shutil.which("npm")
    if npm is None:
        raise RuntimeError(
            "npm is niet gevonden. Installeer Node.js 20 of nieuwer (met npm) en voer "
            "`examenflow assets` opnieuw uit; zonder npm kunnen de front-end-bestanden "
            "(het BPMN-diagram) niet worden gebouwd."
        )
    try:
        proc = subprocess.run(
            [npm, "ci", "--ignore-scripts", "--no-audit", "--no-fund"],
            cwd=WEBAPP_DIR, capture_output=True, text=True, check=False,
        )
    except OSError as exc:
        raise RuntimeError(f"npm kon niet worden gestart: {exc}") from exc
    if proc.returncode != 0:
        tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-15:])
        raise RuntimeError(f"`npm ci` in {WEBAPP_DIR} is mislukt (code {proc.returncode}):\n{tail}")
    _STAMP.write_text(_lock_digest() + "\n")


def _copy(src: Path, dest: Path) -> None:
    if not src.exists():
        raise RuntimeError(
            f"{src.relative_to(WEBAPP_DIR)} ontbreekt na `npm ci`; klopt VENDOR_FILES in webapp/assets.py "
            "nog met de versie in package.json?"
        )
    dest.parent.mkdir(parents=True, exist_ok=True)
    if src.is_dir():
        shutil.copytree(src, dest, dirs_exist_ok=True)
    else:
        shutil.copy2(src, dest)


def build_assets(force: bool = False) -> Path:
    """Installs the npm packages if needed (no node_modules, a changed lockfile, or `force`) and copies
    the files in VENDOR_FILES into static/vendor/. Returns that folder. Raises RuntimeError (Dutch)."""
    if force or _install_needed():
        _npm_ci()
    for src, dest in VENDOR_FILES:
        _copy(NODE_MODULES / src, VENDOR_DIR / dest)
    _bundle_editor(force)
    return VENDOR_DIR


def _bundle_editor(force: bool) -> None:
    """esbuild's bundle of editor_src/editor.js, rebuilt when the source or the lockfile is newer."""
    if (not force and EDITOR_BUNDLE.is_file()
            and EDITOR_BUNDLE.stat().st_mtime >= max(EDITOR_SOURCE.stat().st_mtime, LOCKFILE.stat().st_mtime)):
        return
    esbuild = NODE_MODULES / ".bin" / "esbuild"
    if not esbuild.exists():
        raise RuntimeError("esbuild ontbreekt na `npm ci`; staat het in package.json?")
    EDITOR_BUNDLE.parent.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run(
        [str(esbuild), str(EDITOR_SOURCE), "--bundle", "--minify", "--format=iife", "--target=es2020",
         "--loader:.json=json", "--legal-comments=linked", f"--outfile={EDITOR_BUNDLE}"],
        cwd=WEBAPP_DIR, capture_output=True, text=True, check=False,
    )
    if proc.returncode != 0:
        tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-15:])
        raise RuntimeError(f"De editorbundel kon niet worden gebouwd (esbuild, code {proc.returncode}):\n{tail}")


def assets_present() -> bool:
    """True when every file of VENDOR_FILES is in static/vendor/ (say, before the demo serves pages)."""
    return EDITOR_BUNDLE.is_file() and all((VENDOR_DIR / dest).exists() for _src, dest in VENDOR_FILES)
