# Lab 01 guest tests. /init loaded the module with
#   count=5 start=-3 step=4 verbose=1
# so the samples are -3 1 5 9 13.

KO=/lab/modinit.ko

# The kernel log as plain messages, without the "[    0.512345] " timestamps.
klog() { dmesg | sed 's/^\[[ 0-9.]*\] //'; }

# The module's own messages (pr_info! prefixes them with "modinit: ").
modlog() { klog | sed -n 's/^modinit: //p'; }

# Show the last lines the module printed, to help the student see what happened.
show_log() {
    echo "the module printed:"
    modlog | tail -n "${1:-6}" | sed 's/^/    /'
}

# Unload if loaded; a failure here is reported by the test that needs it.
unload() { module_loaded modinit && rmmod modinit; }

# try_load PARAMS...: insmod, keeping the error text in $LOAD_ERR and status in $LOAD_RC.
try_load() {
    dmesg -c >/dev/null
    LOAD_ERR=$(insmod "$KO" "$@" 2>&1)
    LOAD_RC=$?
}

parameters_reach_init() {
    expect_eq "insmod $KO count=5 start=-3 step=4 verbose=1: exit status" 0 "$INSMOD_RC" \
        || return 1
    module_loaded modinit || { echo "modinit is not in /proc/modules after insmod"; return 1; }
    seen=$(modlog | grep '^parameters:' | tail -n 1)
    expect_eq "parameter line" "parameters: count=5 start=-3 step=4 verbose=true" "$seen" \
        && return 0
    modlog | grep -i "unknown parameter" | sed 's/^/    the kernel said: /'
    echo "hint: declare count: u32, start: i64, step: i64, verbose: bool in module!"
    echo "      and read them with module_parameters::NAME.value()"
    return 1
}

samples_on_load() {
    seen=$(modlog | sed -n 's/^\(sample [0-9]* = -*[0-9]*\)$/\1/p' | tr '\n' ',')
    expect_eq "sample lines (verbose=1)" \
        "sample 0 = -3,sample 1 = 1,sample 2 = 5,sample 3 = 9,sample 4 = 13," "$seen" || {
        show_log 8
        return 1
    }
    modlog | grep -qx 'ready with 5 samples' && return 0
    echo "no 'ready with 5 samples' line after the samples"
    show_log
    return 1
}

releases_on_unload() {
    module_loaded modinit || { echo "modinit is not loaded, nothing to unload"; return 1; }
    dmesg -c >/dev/null
    rmmod modinit || { echo "rmmod modinit failed"; return 1; }
    if module_loaded modinit; then
        echo "modinit is still in /proc/modules after rmmod"
        return 1
    fi
    seen=$(modlog | grep '^releasing' | tail -n 1)
    expect_eq "message from Drop at rmmod" "releasing 5 samples (last = 13)" "$seen" && return 0
    echo "hint: Drop for the module's type runs at rmmod; print from there"
    return 1
}

defaults_apply() {
    unload
    try_load
    if [ "$LOAD_RC" != 0 ]; then
        echo "insmod $KO without parameters failed: $LOAD_ERR"
        return 1
    fi
    seen=$(modlog | grep '^parameters:' | tail -n 1)
    expect_eq "parameter line without parameters" \
        "parameters: count=4 start=0 step=1 verbose=false" "$seen" || return 1
    if modlog | grep -q '^sample '; then
        echo "sample lines were printed although verbose defaults to false"
        return 1
    fi
    modlog | grep -qx 'ready with 4 samples' || {
        echo "expected 'ready with 4 samples' with the defaults"
        show_log
        return 1
    }
    dmesg -c >/dev/null
    rmmod modinit || { echo "rmmod modinit failed"; return 1; }
    seen=$(modlog | grep '^releasing' | tail -n 1)
    expect_eq "message at rmmod with the defaults" "releasing 4 samples (last = 3)" "$seen"
}

# expect_einval WHAT PARAMS...: the load must fail with EINVAL and leave nothing behind.
expect_einval() {
    what=$1
    shift
    unload
    try_load "$@"
    if [ "$LOAD_RC" = 0 ]; then
        echo "insmod modinit.ko $* succeeded, but $what must make init fail with EINVAL"
        show_log 4
        rmmod modinit
        return 1
    fi
    case $LOAD_ERR in
    *"Invalid argument"*) ;;
    *)
        echo "insmod modinit.ko $* failed with the wrong error:"
        echo "    $LOAD_ERR"
        echo "expected 'Invalid argument' (return Err(EINVAL) from init)"
        return 1
        ;;
    esac
    if module_loaded modinit; then
        echo "modinit is in /proc/modules although its init failed"
        return 1
    fi
    if modlog | grep -q '^ready with'; then
        echo "init printed 'ready with ...' and then failed: check the parameters first"
        return 1
    fi
    return 0
}

rejects_bad_count() {
    expect_einval "count=0" count=0 || return 1
    expect_einval "count=65 (the maximum is 64)" count=65 || return 1
    unload
    try_load count=64
    if [ "$LOAD_RC" != 0 ]; then
        echo "insmod modinit.ko count=64 failed ($LOAD_ERR), but 64 is the largest valid count"
        show_log 3
        return 1
    fi
    modlog | grep -qx 'ready with 64 samples' || {
        echo "count=64: expected 'ready with 64 samples'"
        show_log 3
        return 1
    }
    rmmod modinit || { echo "rmmod modinit failed after count=64"; return 1; }
}

reload_after_failure() {
    unload
    try_load count=0
    [ "$LOAD_RC" != 0 ] || { echo "insmod count=0 succeeded (it must fail)"; rmmod modinit; return 1; }
    try_load count=2 start=10 step=-5 verbose=1
    if [ "$LOAD_RC" != 0 ]; then
        echo "after a failed load, insmod modinit.ko count=2 start=10 step=-5 verbose=1 failed:"
        echo "    $LOAD_ERR"
        return 1
    fi
    seen=$(modlog | grep -e '^sample ' -e '^ready with' | tr '\n' ',')
    expect_eq "messages of the load after the failed one" \
        "sample 0 = 10,sample 1 = 5,ready with 2 samples," "$seen" || return 1
    dmesg -c >/dev/null
    rmmod modinit || { echo "rmmod modinit failed"; return 1; }
    seen=$(modlog | grep '^releasing' | tail -n 1)
    expect_eq "message at rmmod" "releasing 2 samples (last = 5)" "$seen"
}

# field NAME: the values modinfo shows for NAME, one per line. Busybox modinfo
# reads modules.dep before it looks at its arguments, so give it an empty one.
field() { modinfo -F "$1" "$KO"; }

modinfo_metadata() {
    mkdir -p "/lib/modules/$(uname -r)"
    touch "/lib/modules/$(uname -r)/modules.dep"
    bad=0
    desc=$(field description)
    [ -n "$desc" ] || { echo "modinfo shows no description (description: in module!)"; bad=1; }
    author=$(field author)
    [ -n "$author" ] || { echo "modinfo shows no author (authors: [...] in module!)"; bad=1; }
    expect_eq "modinfo license" "GPL" "$(field license)" || bad=1
    parmtypes=$(field parmtype | sort | tr '\n' ' ')
    expect_eq "modinfo parmtype lines (name:type)" \
        "count:u32 start:i64 step:i64 verbose:bool " "$parmtypes" || bad=1
    for p in count start step verbose; do
        text=$(field parm | sed -n "s/^$p://p")
        [ -n "$text" ] || { echo "modinfo shows no description for the parameter $p"; bad=1; }
    done
    return $bad
}
