"""How ``course lab`` starts JupyterLab for a student.

JupyterLab in the course's environment also loads what an instructor needs (nbgrader's
formgrader, "Create Assignment", course and assignment lists) and, on a first start, asks
whether to fetch Jupyter's news. A student needs none of that: they need the notebooks,
working widgets and the **Validate** button. So the workspace gets a configuration folder
of its own, ``WORKSPACE/.course/`` (hidden in JupyterLab's file browser), that

* turns the instructor extensions off, on the server and in the page (``jupyter/``, put on
  ``JUPYTER_CONFIG_PATH`` so it wins over the environment's defaults);
* serves the Validate button from ``autograder/validate.py``, whose dialog names the exercise
  and says in one line what is wrong;
* turns the news and update pop-up off;
* keeps JupyterLab's own settings and layout for this workspace (``lab/``), so a student's
  theme or font size survives the next ``course lab`` and nothing of theirs elsewhere changes.

Files the student may have changed (their settings) are written only when missing; the
course's own configuration files are rewritten on every start.
"""

import json
import os
import sys
from pathlib import Path

CONFIG = ".course"

#: nbgrader's lab plugins that only an instructor uses; Validate (``validate-assignment``) stays.
INSTRUCTOR_PLUGINS = (
    "@jupyter/nbgrader:formgrader",
    "@jupyter/nbgrader:create-assignment",
    "@jupyter/nbgrader:course-list",
    "@jupyter/nbgrader:assignment-list",
    "@jupyter/nbgrader:menu",
)
#: JupyterLab's "Would you like to get notified about official Jupyter news?" and update checks.
POPUP_PLUGINS = ("@jupyterlab/apputils-extension:announcements",)
INSTRUCTOR_SERVER_EXTENSIONS = (
    "nbgrader.server_extensions.formgrader",
    "nbgrader.server_extensions.assignment_list",
    "nbgrader.server_extensions.course_list",
)
#: nbgrader's Validate handler is replaced by the course's (``autograder/validate.py``), which
#: serves the same URLs to nbgrader's own Validate button with readable results.
SERVER_EXTENSIONS = {**{name: False for name in INSTRUCTOR_SERVER_EXTENSIONS},
                     "nbgrader.server_extensions.validate_assignment": False,
                     "autograder.validate": True}
NOTIFICATION_SETTINGS = "@jupyterlab/apputils-extension/notification.jupyterlab-settings"

#: nbgrader's Validate runs the whole notebook; the course's notebooks shrink their demos
#: then (``course_lib.runtime.is_grading``), but a slow laptop still gets room per cell.
VALIDATE_CONFIG = """\
# Written by `course lab` on every start; nbgrader's Validate button reads it.
c = get_config()  # noqa: F821
c.Execute.timeout = 120
"""


def _write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    tmp.replace(path)


def write_lab_config(workspace):
    """Write ``workspace/.course/``; return ``(jupyter_config_dir, settings_dir, workspaces_dir)``."""
    base = Path(workspace).resolve() / CONFIG
    jupyter = base / "jupyter"
    server = {"ServerApp": {"jpserver_extensions": SERVER_EXTENSIONS}}
    _write(jupyter / "jupyter_server_config.json", json.dumps(server, indent=1) + "\n")
    page = {"disabledExtensions": {name: True for name in INSTRUCTOR_PLUGINS + POPUP_PLUGINS}}
    _write(jupyter / "labconfig" / "page_config.json", json.dumps(page, indent=1) + "\n")
    _write(jupyter / "nbgrader_config.py", VALIDATE_CONFIG)
    settings = base / "lab" / "user-settings"
    notification = settings / NOTIFICATION_SETTINGS
    if not notification.exists():
        _write(notification, json.dumps({"fetchNews": "false", "checkForUpdates": False}, indent=1) + "\n")
    workspaces = base / "lab" / "workspaces"
    workspaces.mkdir(parents=True, exist_ok=True)
    return jupyter, settings, workspaces


def lab_command(course_root, workspace, port=None, open_browser=True):
    """``(argv, env)`` that start JupyterLab on ``workspace`` the way the course wants it."""
    workspace = Path(workspace).resolve()
    jupyter, settings, workspaces = write_lab_config(workspace)
    argv = [sys.executable, "-m", "jupyterlab",
            f"--ServerApp.root_dir={workspace}", "--ServerApp.ip=127.0.0.1",
            f"--LabApp.user_settings_dir={settings}", f"--LabApp.workspaces_dir={workspaces}"]
    if port:
        argv.append(f"--ServerApp.port={port}")
    if not open_browser:
        argv.append("--no-browser")
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        argv.append("--allow-root")  # containers and CI machines run as root; Jupyter refuses that by default
    env = dict(os.environ)
    env["JUPYTER_CONFIG_PATH"] = os.pathsep.join(filter(None, [str(jupyter), env.get("JUPYTER_CONFIG_PATH")]))
    env["COURSE_ROOT"] = str(course_root)  # kernels find the course's data/ folder through it
    env.pop("MPLBACKEND", None)  # let ipykernel pick the inline backend
    env.pop("COURSE_GRADING", None)  # the student's own kernels show every demo
    return argv, env
