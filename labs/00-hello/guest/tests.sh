# Lab 00 guest tests: the module was loaded by /init with count=3.

# The kernel log as plain messages, without the "[    0.512345] " timestamps.
klog() { dmesg | sed 's/^\[[ 0-9.]*\] //'; }

module_loads() {
    expect_eq "insmod exit status" 0 "$INSMOD_RC" || return 1
    module_loaded hello || { echo "hello is not in /proc/modules"; return 1; }
}

greets_count_times() {
    seen=$(klog | grep -o 'Hello from kdlab ([0-9]*/[0-9]*)' | tr '\n' ' ')
    expect_eq "greetings" "Hello from kdlab (1/3) Hello from kdlab (2/3) Hello from kdlab (3/3) " "$seen"
}

says_goodbye_on_unload() {
    rmmod hello || { echo "rmmod hello failed"; return 1; }
    klog | grep -q 'Goodbye from kdlab after 3 greetings' && return 0
    echo "no 'Goodbye from kdlab after 3 greetings' in the kernel log after rmmod; last lines:"
    klog | tail -n 3
    return 1
}
