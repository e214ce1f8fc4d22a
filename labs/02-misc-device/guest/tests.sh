# Lab 02 guest tests: /init loaded scratch.ko; the device is /dev/kdlab-scratch.

DEV=/dev/kdlab-scratch
NAME=kdlab-scratch
T=/lab/scratchtest

# run_helper PROGRAM ARGS...: a C helper with a time limit (a read that never ends
# must not eat the whole run).
run_helper() {
    timeout 10 "$@"
    rc=$?
    case $rc in
    0) return 0 ;;
    124 | 137 | 143) echo "${1##*/} ${*#* } did not finish within 10 s (a read or write that never returns?)" ;;
    esac
    return 1
}

device_node_appears() {
    expect_eq "insmod exit status" 0 "$INSMOD_RC" || return 1
    if [ ! -c "$DEV" ]; then
        echo "$DEV is not there (or not a character device)"
        echo "misc devices registered: $(ls /sys/class/misc | tr '\n' ' ')"
        return 1
    fi
    # Misc devices share major number 10.
    major=$(cut -d: -f1 "/sys/class/misc/$NAME/dev" 2>/dev/null)
    expect_eq "major number of $NAME (misc devices use 10)" 10 "$major"
}

write_then_read() {
    if ! printf 'hello' >"$DEV"; then
        echo "writing 'hello' to $DEV failed"
        return 1
    fi
    if ! printf ' world' >"$DEV"; then
        echo "writing ' world' to $DEV failed"
        return 1
    fi
    # Each redirection opens the device anew: the data must be shared by all opens.
    seen=$(timeout 3 cat "$DEV" | head -c 200)
    case $seen in
    "hello world") return 0 ;;
    "hello worldhello world"*)
        echo "cat $DEV printed 'hello world' again and again: read must start at the"
        echo "file position, advance it, and return 0 at the end"
        return 1
        ;;
    esac
    expect_eq "cat $DEV after printf 'hello' and printf ' world' (separate opens)" \
        "hello world" "$seen"
    [ -n "$seen" ] || echo "hint: a write through one open file must be visible through another"
    return 1
}

ioctl_len_and_clear() { run_helper $T ioctl; }
read_offsets() { run_helper $T offsets; }
bounds_enforced() { run_helper $T bounds; }
partial_user_buffer() { run_helper $T partial; }

unload_removes_node() {
    rmmod scratch || { echo "rmmod scratch failed"; return 1; }
    bad=0
    [ -e "$DEV" ] && { echo "$DEV is still there after rmmod"; bad=1; }
    [ -e "/sys/class/misc/$NAME" ] && { echo "/sys/class/misc/$NAME is still there after rmmod"; bad=1; }
    return $bad
}
