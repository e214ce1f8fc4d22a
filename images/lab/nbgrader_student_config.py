"""nbgrader under `kdlab hub`: a student is their hub username (system config,
images/lab/Dockerfile).

Every user's Unix account in the lab image is `student` (with a uid of their own,
images/lab/start-lab), and nbgrader names submissions and finds feedback by the
Unix name unless told otherwise: the hub's name for the student is what the
exchange, collect and the gradebook must see. Set by the hub (KDLAB_ROLE,
JUPYTERHUB_USER), never by the student; the instructor's server is left alone
(formgrader works on every student).
"""

import os

c = get_config()  # noqa: F821 (provided by traitlets when it loads this file)

if os.environ.get("KDLAB_ROLE") == "student" and os.environ.get("JUPYTERHUB_USER"):
    c.CourseDirectory.student_id = os.environ["JUPYTERHUB_USER"]
