# Lab 04's hidden test: graded after submission, never shipped to students.
# The runner sources it after guest/tests.sh, so their helpers are available here.

# Binds timed at the end of reload_rings (display only, see probe_timing.c).
PROBE_TIMES=60

reload_rings() {
    rmmod io_views || { echo "rmmod io_views failed"; return 1; }
    if [ -e "$DBG" ]; then
        echo "$DBG is still there after rmmod: the debugfs directory must go with the driver"
        return 1
    fi
    insmod /lab/io_views.ko rings=5 || { echo "insmod io_views.ko rings=5 failed"; return 1; }
    rc=0
    load_snapshot 0 || rc=1
    if [ $rc = 0 ]; then
        parse_header "$SNAP"
        if [ "$H_COUNT" != 5 ]; then
            echo "loaded with rings=5: expected count 5 in snapshot 0, got $H_COUNT"
            rc=1
        fi
        want=$(fnv1a "$(expected_header 0 5)")
        seen=$(checksum_of 0 2)
        if [ "$seen" != "$want" ]; then
            echo "loaded with rings=5: expected BAR checksum $want for test 0, got '$seen'"
            rc=1
        fi
    fi
    # Display only, after the checks (bench/inline_helpers.py): the time of probe.
    [ $rc = 0 ] && dev=$(testdev) && echo "timing: $(/lab/probe_timing "${dev##*/}" $PROBE_TIMES)"
    rmmod io_views || { echo "second rmmod io_views failed"; rc=1; }
    return $rc
}
