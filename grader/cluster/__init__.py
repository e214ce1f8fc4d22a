"""Grading on many hosts: `kdlab grade --cluster`, `kdlab worker`, images without a registry.

Contract: the distributed engine is Dask (distributed), never one of kdlab's own.
The instructor's `kdlab grade` stays the only writer of grades (journal, gradebook,
CSV, feedback: grader.batch.run); what goes to a grading host is one small picklable
request per submission (the driver source, not a path) plus the batch's Job (the
lab's grading files as an archive), and what comes back is the sandbox's Outcome.
A grading host is a Dask worker started by `kdlab worker`: it runs each submission
in its own locked-down container on its own Docker engine (grader.batch.sandbox),
as many at once as its `sandbox` resource says, and only with the instructor's
grader image (checked by image ID, or by its kernel pair and context labels).

Modules: task (what runs on a grading host), client (the instructor's side: a
grader.batch.run.Runner over a Dask client), worker (`kdlab worker`), images
(`kdlab image save/load`), cli (the commands).
"""
