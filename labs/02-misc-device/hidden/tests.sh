# Lab 02's hidden test: graded after submission, never shipped to students.
# The runner sources it after guest/tests.sh, so their helpers are available here.

concurrent_writers() { run_helper /lab/concurrent; }
