# Lab 01's hidden test: graded after submission, never shipped to students.
# The runner sources it after guest/tests.sh, so their helpers are available here.

rejects_overflow() {
    # 9223372036854775800 + 2 * 5 does not fit in an i64.
    expect_einval "a sample that overflows i64" count=3 start=9223372036854775800 step=5
}
