"""nbgrader settings of the lab image, for every user (sys-prefix config, images/lab/Dockerfile).

The course id and exchange of the kdlab course: under `kdlab hub` the exchange is
a Docker volume every server mounts at nbgrader's default place, and students get
assignments from it in the Assignments tab (fetch, submit, fetch feedback). A
single student's `kdlab lab` has no exchange mounted, and the tab lists nothing.
"""

c = get_config()  # noqa: F821 (provided by traitlets when it loads this file)

c.CourseDirectory.course_id = "kdlab"
c.Exchange.root = "/srv/nbgrader/exchange"
# The record of what a student submitted (the key to their feedback) is kept in their
# work folder, which outlives the container (the hub removes it at every stop).
c.Exchange.cache = "/home/student/work/.nbgrader-cache"
